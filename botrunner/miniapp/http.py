"""The Mini App's HTTP routes, a web feature (botrunner.web.server) mounted under MINIAPP_PATH.

GET  {path}/             the page (botrunner.miniapp.page)
POST {path}/api/session  {"init_data"}: 200 with a slider challenge, 401 when initData is refused
POST {path}/api/verify   {"init_data", "challenge_id", "position", "trace", "fingerprint"}: 200 once the
                         answer is right; the verification then goes to the user's lane as a bot event
Invariant: every API request proves who it is for with fresh, signed initData (the user id comes
from it, never from the request); the page never learns the target. Every request counts against
MINIAPP_RATE_LIMIT_MAX per 5 min per client IP (shared by all workers, in Redis) and
MINIAPP_MAX_CONNECTIONS in flight per worker; bodies over MAX_BODY_BYTES get 413. The decision
about the device (one device, one account) is taken by the lane handler, not here: here only the
same account and device again within MINIAPP_REPEAT_WINDOW_S (429) and new accounts per IP per day.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from loguru import logger

from botrunner.config.settings import Settings
from botrunner.intake.events import store_event
from botrunner.miniapp import page
from botrunner.miniapp.challenge import COUNT_ATTEMPT, ChallengeError, Challenges
from botrunner.miniapp.fingerprint import device_hash, ip_hash
from botrunner.miniapp.init_data import TELEGRAM_PUBLIC_KEYS, InitData, InitDataError, validate
from botrunner.web.forwarded import client_address, networks

if TYPE_CHECKING:
    from botrunner.web.env import WebEnv

EVENT = "miniapp.verified"
RATE_WINDOW_S = 300
MAX_BODY_BYTES = 64 * 1024
DAY_S = 86400
PROMPT = "miniapp-prompt:{}"            # the sender's _remember_as name of a user's web_app prompt
# a new account on this IP within the day: add it unless the cap is reached (ARGV: user, cap, ttl)
IP_ACCOUNTS = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if tonumber(ARGV[2]) > 0 and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return 1
"""


def enabled(settings: Settings) -> bool:
    """Served when the Mini App captcha is on (MINIAPP_CAPTCHA_ENABLED and MINIAPP_URL)."""
    return settings.miniapp_on


def mount(app: web.Application, env: WebEnv) -> None:
    api = MiniAppApi(env)
    sub = web.Application(middlewares=[api.guard])
    sub.router.add_get("/", api.page)
    sub.router.add_post("/api/session", api.session)
    sub.router.add_post("/api/verify", api.verify)
    path = env.settings.miniapp_path.rstrip("/")

    async def to_slash(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(path + "/" + (f"?{request.query_string}" if request.query_string else ""))

    app.router.add_get(path, to_slash)                # before the prefix resource, so it wins
    app.add_subapp(path, sub)


def refuse(status: int, reason: str, **headers: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status, headers=headers or None)


class MiniAppApi:
    """The routes of one worker; state lives in Redis, so any worker answers any request."""

    def __init__(self, env: WebEnv) -> None:
        s = env.settings
        self.env = env
        self.settings = s
        self.redis = env.redis
        self.prefix = env.keys.prefix
        self.challenges = Challenges(env.redis, env.keys.prefix)
        self.proxies = networks(s.web_trusted_proxies)
        self.public_key = TELEGRAM_PUBLIC_KEYS.get(s.miniapp_public_key, s.miniapp_public_key)
        self.in_flight = 0
        self._count = env.redis.register_script(COUNT_ATTEMPT)
        self._ip_accounts = env.redis.register_script(IP_ACCOUNTS)

    # --- limits, for every route ---
    @web.middleware
    async def guard(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if self.in_flight >= self.settings.miniapp_max_connections:
            return refuse(503, "busy, retry", **{"Retry-After": "1"})
        self.in_flight += 1
        try:
            ip = self.client_ip(request)
            count = await self._count(keys=[f"{self.prefix}miniapp:rate:{ip}"], args=[RATE_WINDOW_S])
            if int(count) > self.settings.miniapp_rate_limit_max:
                return refuse(429, "too many requests, wait a few minutes", **{"Retry-After": str(RATE_WINDOW_S)})
            return await handler(request)
        except Refused as exc:
            return exc.response
        finally:
            self.in_flight -= 1

    def client_ip(self, request: web.Request) -> str:
        address = client_address(request.remote, request.headers.get("X-Forwarded-For"), self.proxies)
        return str(address) if address is not None else "unknown"

    async def body(self, request: web.Request) -> dict[str, Any]:
        """The JSON object of a POST; Refused (413 / 400) otherwise."""
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise _json_error(413, "request too large")
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            raise _json_error(413, "request too large")
        try:
            data = json.loads(raw)
        except ValueError:
            raise _json_error(400, "body is not JSON") from None
        if not isinstance(data, dict):
            raise _json_error(400, "body is not a JSON object")
        return data

    def init_data(self, data: dict[str, Any]) -> InitData:
        raw = data.get("init_data")
        try:
            return validate(raw if isinstance(raw, str) else "", self.settings.bot_token,
                            self.settings.miniapp_init_data_max_age_s, public_key_hex=self.public_key)
        except InitDataError as exc:
            raise _json_error(401, str(exc)) from None

    # --- routes ---
    async def page(self, request: web.Request) -> web.Response:
        return page.response(self.settings.miniapp_path.rstrip("/") + "/api/")

    async def session(self, request: web.Request) -> web.Response:
        init = self.init_data(await self.body(request))
        challenge = await self.challenges.issue(init.user_id)
        return web.json_response({"ok": True, **challenge.public(), "first_name": str(init.user.get("first_name", ""))})

    async def verify(self, request: web.Request) -> web.Response:
        s = self.settings
        data = await self.body(request)
        init = self.init_data(data)
        uid, ip = init.user_id, self.client_ip(request)
        window = s.miniapp_attempts_window_s
        if not (await self.challenges.count_attempt("user", str(uid), s.miniapp_attempts_per_user, window)
                and await self.challenges.count_attempt("ip", ip, s.miniapp_attempts_per_ip, window)):
            return refuse(429, "too many attempts, try again later", **{"Retry-After": str(window)})
        try:
            device = device_hash(data.get("fingerprint"), s.fingerprint_salt)
        except ValueError as exc:
            return refuse(400, str(exc))
        recent = f"{self.prefix}miniapp:recent:{uid}:{device}"
        if s.miniapp_repeat_window_s and await self.redis.exists(recent):
            return refuse(429, "already verified a moment ago", **{"Retry-After": str(s.miniapp_repeat_window_s)})
        try:
            await self.challenges.answer(str(data.get("challenge_id", "")), uid, data.get("position"), data.get("trace"))
        except ChallengeError as exc:
            return refuse(422, str(exc))
        network = ip_hash(ip, s.fingerprint_salt)
        day_key = f"{self.prefix}miniapp:ip-accounts:{network}"
        if not await self._ip_accounts(keys=[day_key], args=[uid, s.miniapp_registrations_per_ip_per_day, DAY_S]):
            logger.info("Mini App: user {} refused, MINIAPP_REGISTRATIONS_PER_IP_PER_DAY reached on its network", uid)
            return refuse(429, "too many new accounts from this network today")
        if s.miniapp_repeat_window_s:
            await self.redis.set(recent, 1, ex=s.miniapp_repeat_window_s)
        prompt = await self.redis.getdel(self.env.keys.remembered(PROMPT.format(uid)))     # deleted once
        user = {k: init.user[k] for k in ("first_name", "last_name", "username", "language_code") if k in init.user}
        update_id = await store_event(self.redis, self.env.keys, s.lanes, EVENT, uid, {
            "device": device, "ip": network, "prompt_message_id": int(prompt) if prompt else None, "user": user},
            s.intake_wait_replicas, s.intake_wait_timeout_ms)
        logger.info("Mini App: user {} solved the slider (event {})", uid, update_id)
        return web.json_response({"ok": True})


class Refused(Exception):
    """Raised inside a route; the guard answers with the JSON refusal."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.response = refuse(status, reason)


def _json_error(status: int, reason: str) -> Refused:
    return Refused(status, reason)
