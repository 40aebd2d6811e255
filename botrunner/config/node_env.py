"""The Node airdrop bot's environment names, so its .env works unchanged under botrunner.

Invariant: a botrunner name always wins over an alias of it; an alias only fills a name the operator
left unset. Names of the Node bot that botrunner has no use for are reported once, by name only
(never with their values, which may be secrets), and a name that looks like a misspelt botrunner
setting gets a "did you mean" hint. Nothing here reads os.environ: `load_settings` hands the merged
source in.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

#: Node name -> botrunner name (same meaning, same value syntax).
ALIASES = {
    "TELEGRAM_BOT_TOKEN": "BOT_TOKEN",
    "MONGODB_URI": "MONGODB_URL",
    "MONGO_URI": "MONGODB_URL",
    "MONGODB_DATABASE": "MONGODB_DB",
    "MONGODB_DB_NAME": "MONGODB_DB",
    "MIN_WITHDRAWAL": "MIN_WITHDRAW_POINTS",
    "POINT_TO_TOKEN_RATIO": "POINTS_TO_TOKEN_CONVERSION_RATE",
    "ADMIN_TELEGRAM_ID": "ADMIN_CHAT_ID",
    "WALLET_PRIVATE_KEY": "CLAIM_SIGNER_PRIVATE_KEY",
    "TOKEN_CONTRACT_ADDRESS": "CLAIM_CONTRACT_ADDRESS",
    "USER_DATA_EXPORT_INTERVAL": "USER_DATA_EXPORT_INTERVAL_HOURS",
}

#: The Node bot's captcha switches (each defaulted to true there). MINIAPP_CAPTCHA_ENABLED is a
#: botrunner setting of its own (the slider, served at MINIAPP_URL); SVG_CAPTCHA_ENABLED is the image
#: captcha, CAPTCHA_ENABLED. With the image switched off but the Mini App unable to run (off, or no
#: MINIAPP_URL), the image stays on unless both switches are off: the Node bot had a captcha then.
CAPTCHA_SWITCHES = ("MINIAPP_CAPTCHA_ENABLED", "SVG_CAPTCHA_ENABLED")

#: Names botrunner accepts but whose Node meaning it does not copy, with what it does instead.
FIXED = {
    "TRANSFER_REQUIRE_CONFIRMATION": "botrunner always asks for a confirmation before a transfer",
    "MINIAPP_CAPTCHA_URL": "botrunner serves the Mini App itself: set MINIAPP_URL to its public URL "
                           "(https://<domain>/miniapp/, see docs/miniapp.md)",
}

#: Names of the Node bot's .env (features inventory, section 6) that botrunner does not read.
NODE_ONLY = frozenset("""
ADMIN_KEY ADMIN_JWT_SECRET REFRESH_TOKEN_SECRET SUPER_ADMIN_USER_IDS ADMIN_PANEL_URL CORS_ORIGINS TRUST_PROXY
JWT_ADMIN_EXPIRES_IN JWT_REFRESH_EXPIRES_IN ADMIN_FRONTEND_BUILD_PATH ADMIN_PORT API_SERVER_PORT MINIAPP_PORT
FRONTEND_URL MAINTENANCE_DURATION MAINTENANCE_REASON BOT_OFFLINE_MESSAGE BOT_OFFLINE_REASON WEBHOOK_PORT
TELEGRAM_KEEPALIVE_MSECS TELEGRAM_KEEPALIVE_MAX_SOCKETS TELEGRAM_KEEPALIVE_INTERVAL_MS
POINTS_INSTAGRAM_FOLLOW POINTS_PER_MONTH CAPTCHA_REWARD WALLET_CONNECTION_BONUS SHOW_REFERRER_NOTIFICATION
DAILY_TASK_RESET_INTERVAL TASK_TELEGRAM_CHANNEL TASK_TELEGRAM_CHANNEL_ID TASK_INSTAGRAM_PROFILE
WALLETCONNECT_PROJECT_ID CHAIN_ID RPC_URL EXPLORER_URL
CLAIM_FUNCTION_SIGNATURE CLAIM_ARGS_TEMPLATE WITHDRAW_CONFIRMATIONS
WALLETCONNECT_APPROVAL_TIMEOUT_MS WALLETCONNECT_CONNECTION_EXPIRY_MS WALLETCONNECT_MAX_RETRY_ATTEMPTS
WALLETCONNECT_RETRY_DELAY_MS QR_CODE_EXPIRY_TIME DAILY_QR_LIMIT
SHOW_METAMASK_WALLET SHOW_TRUST_WALLET SHOW_COINBASE_WALLET SHOW_RAINBOW_WALLET SHOW_BITGET_WALLET
SHOW_PHANTOM_WALLET SHOW_EXODUS_WALLET SHOW_ATOMIC_WALLET SHOW_SAFEPAL_WALLET SHOW_TOKENPOCKET_WALLET
REQUIRE_AT_LEAST_ONE_CAPTCHA CAPTCHA_FOR_EXISTING_USERS CAPTCHA_RISK_LOW CAPTCHA_RISK_MEDIUM CAPTCHA_RISK_HIGH
CAPTCHA_RISK_CRITICAL CAPTCHA_RENDER_MAX_CONCURRENCY CAPTCHA_SUSPICIOUS_TTL_MINUTES
MINIAPP_URL_DEV PUBLIC_URL NGROK_URL BLOCKED_COUNTRIES ALLOWED_COUNTRIES SUSPICIOUS_COUNTRIES
BLACKLIST_IPS SECURITY_BLOCK_THRESHOLD SECURITY_FLAG_THRESHOLD SECURITY_MULTI_ACCOUNT_THRESHOLD
SECURITY_DEVICE_COLLISION_THRESHOLD BOT_DETECTION_THRESHOLD FINGERPRINT_ENCRYPTION_KEY
AUTO_BLOCK_VIOLATIONS DEVICE_FINGERPRINTING_ENABLED MONGODB_HOST MONGODB_PORT MONGODB_USERNAME
MONGODB_PASSWORD REDIS_USERNAME REDIS_DB RATE_LIMIT_REDIS_URL REDIS_KEEPALIVE_INTERVAL_MS
STORAGE_KEEPALIVE_INTERVAL_MS FILE_DB_PATH FILE_BATCH_SIZE LOG_FILE_ENABLED LOG_FILE_PATH
LOG_ROTATION_DAYS LOG_CONSOLE_LEVEL LOG_DISABLE DISABLE_LOGS BOT_MONITORING_ENABLED BOT_MONITORING_BATCH_SIZE
BOT_MONITORING_BATCH_INTERVAL BOT_MONITORING_SAMPLE_RATE BOT_MONITORING_MAX_QUEUE FEATURE_BACKGROUND_JOBS
ENABLE_ASYNC_BROADCAST HIGH_QUEUE_LOAD_FACTOR HIGH_QUEUE_LOG_MIN_INTERVAL_MS SUPPRESS_QUEUE_LOAD_LOGS
BROADCAST_WORKER_CONCURRENCY ENABLE_AUTO_BACKUP USER_DATA_EXPORT_RUN_ON_START PREFER_REPLY_OVER_EDIT
REPLACE_MODE REPLACE_COOLDOWN_MS NODE_ENV
""".split())

#: Misspelling hints only for names that are this close to a botrunner name (difflib ratio).
HINT_CUTOFF = 0.85


def apply_aliases(source: Mapping[str, str]) -> dict[str, str]:
    """`source` with every alias copied to its botrunner name where that name is unset."""
    merged = dict(source)
    for alias, name in ALIASES.items():
        if _is_set(source, alias) and not _is_set(merged, name):
            merged[name] = source[alias]
    if _is_set(source, "SVG_CAPTCHA_ENABLED") and not _is_set(merged, "CAPTCHA_ENABLED"):
        miniapp_off = _off(source.get("MINIAPP_CAPTCHA_ENABLED") or "true")
        miniapp_runs = not miniapp_off and _is_set(merged, "MINIAPP_URL")
        image = not _off(source["SVG_CAPTCHA_ENABLED"]) or not (miniapp_runs or miniapp_off)
        merged["CAPTCHA_ENABLED"] = "true" if image else "false"
    if _is_set(source, "BOT_STATUS") and not _is_set(merged, "MAINTENANCE_MODE"):
        # The Node bot went offline for anything but the literal 'true'; here only an explicit
        # "off" word does, so a typo never silently locks every user out.
        merged["MAINTENANCE_MODE"] = "true" if _off(source["BOT_STATUS"]) else "false"
    return merged


def notices(source: Mapping[str, str], known: Iterable[str]) -> list[str]:
    """Lines for the operator, by variable name only: unused Node names, fixed meanings, misspellings."""
    known = set(known)
    accepted = known | set(ALIASES) | set(CAPTCHA_SWITCHES) | set(FIXED) | {"BOT_STATUS"}
    present = sorted(n for n in source if _is_set(source, n))
    lines = []
    unused = [n for n in present if n in NODE_ONLY]
    if unused:
        lines.append("not used by botrunner: " + ", ".join(unused))
    lines += [f"{n}: {FIXED[n]}" for n in present if n in FIXED]
    for name in present:
        if name in accepted or name in NODE_ONLY:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=HINT_CUTOFF)
        if close:
            lines.append(f"{name} is not a botrunner setting; did you mean {close[0]}?")
    return lines


def _is_set(source: Mapping[str, str], name: str) -> bool:
    return (source.get(name) or "").strip() != ""


def _off(raw: str) -> bool:
    return raw.strip().lower() in {"0", "false", "no", "off", "offline", "disabled"}
