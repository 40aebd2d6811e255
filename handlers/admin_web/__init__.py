"""The airdrop bot's admin web: one-time Telegram login, server-side sessions, roles, CSRF, an audit
log and a JSON API under /admin/api/ (docs/admin-api.md), mounted as a web feature by http.py."""
