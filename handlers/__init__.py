"""The airdrop bot: one module per feature area, plain synchronous handler functions."""
