"""The Mini App captcha: initData validation, the slider challenge, device fingerprints, its HTTP routes."""
