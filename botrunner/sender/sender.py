"""The sender: a handler's queued Bot API calls, through the cluster-wide limiter and the outbox journal.

Per call: ask the limiter (one Redis round trip, fenced by the update's lane lease) -> wait the slot
it reserved -> send -> journal (for the last call of an update, the completion script may journal it).
A call to the chat of the update being handled is a reply (per-chat and group limits only); a call
to any other chat is a notification (the global budget too); `_bulk=True` marks a broadcast.
429: freeze the scope (chat, group, or the whole bot) for every worker, then retry through the
limiter. 5xx and network errors: bounded retries with backoff. 403 / "chat not found": no retry;
the chat is flagged and later sends to it are skipped until the user writes again. A call whose
request cannot be built from its values (TypeError / ValueError) fails at once, like a 400.
"""
from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loguru import logger
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError

from botrunner.backoff import Backoff
from botrunner.errors import LaneLost
from botrunner.intake.store import routing_id
from botrunner.lanes.leases import Fence
from botrunner.metrics import record
from botrunner.sender.client import BotApiClient
from botrunner.sender.flood_limiter import BROADCAST, COUNTED, NOTIFY, REPLY, FloodLimiter
from botrunner.sender.journal import Delivery, OutboxJournal, call_key, update_user
from botrunner.sender.metrics import SendMetrics

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from botrunner.config.settings import Settings
    from botrunner.redis_batch import ScriptBatcher
    from botrunner.redis_keys import Keys

MAX_429 = 10          # a call refused this many times in a row gives up (the scope keeps its freeze)
BULK_FLAG = "_bulk"   # ctx.call(..., _bulk=True): a broadcast, sent only from the global slots replies leave
# ctx.call(..., _remember_as="name"): once sent, the message_id is kept at Keys.remembered(name) for a day
# (a bot that must delete or edit that message later, e.g. the Mini App prompt, finds it there)
REMEMBER_FLAG = "_remember_as"

BlockedHook = Callable[[int, bool], object]   # (user_id, blocked); may return an awaitable


class RateLimited(str):
    """The failure reason of a call refused MAX_429 times in a row; `retry_after`: the last one, seconds."""

    retry_after: float

    def __new__(cls, reason: str, retry_after: float) -> RateLimited:
        self = super().__new__(cls, reason)
        self.retry_after = retry_after
        return self


def target_chat(params: dict[str, Any]) -> int | str | None:
    """The chat a call goes to (numeric strings as ints, so "42" and 42 share one bucket)."""
    chat = params.get("chat_id")
    if isinstance(chat, str) and chat.lstrip("-").isdigit():
        return int(chat)
    return chat if isinstance(chat, (int, str)) else None


def send_class_of(chat: int | str | None, reply_to: int | None, bulk: bool) -> str:
    """reply (into the chat of the update being handled), notify (another chat) or broadcast (bulk)."""
    if bulk:
        return BROADCAST
    return REPLY if reply_to is not None and chat == reply_to else NOTIFY


def seconds(exc: RetryAfter) -> float:
    """retry_after of a 429 in seconds (PTB 22 stores a timedelta; its int accessor is deprecated)."""
    value = getattr(exc, "_retry_after", None) or exc.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def is_gone(exc: TelegramError) -> bool:
    """403 (blocked, deactivated, kicked) or 400 "chat not found": the chat cannot be reached."""
    return isinstance(exc, Forbidden) or (isinstance(exc, BadRequest) and "chat not found" in exc.message.lower())


class Sender:
    """Sends one worker's outgoing calls; one instance per worker, on its event loop."""

    def __init__(self, client: BotApiClient, limiter: FloodLimiter, journal: OutboxJournal,
                 metrics: SendMetrics | None = None, attempts: int = 5,
                 on_blocked: BlockedHook | None = None) -> None:
        self.client = client
        self.limiter = limiter
        self.journal = journal
        self.metrics = metrics or SendMetrics()
        self.attempts = attempts
        self.on_blocked = on_blocked

    async def open(self) -> None:
        await self.client.open()

    async def close(self) -> None:
        await self.client.close()

    async def deliver(self, update_id: int, update: dict[str, Any], outbox: list[tuple[str, dict[str, Any]]],
                      fence: Fence | None = None, delivery: Delivery | None = None) -> None:
        """Send an update's outbox in order, skipping calls the journal already confirmed.

        `delivery`: the journal as the completion's begin read it (else it is read here, one round trip
        more); with `defer_last` the last call's outcome is left in it for the completion script.
        With a fence (the update's lane lease), a worker that lost the lane sends nothing more: LaneLost."""
        if delivery is None:
            if not outbox and update_user(update)[0] is None:
                return
            delivery = await self.begin(update_id, update, fence)
        reply_to = routing_id(update)
        for seq, (method, params) in enumerate(outbox):
            key = call_key(seq, method, params)
            if key in delivery.confirmed:
                self.metrics.skipped_journal += 1
                continue
            remember = params.get(REMEMBER_FLAG)
            if remember is not None:
                params = {k: v for k, v in params.items() if k != REMEMBER_FLAG}
            outcome, result = await self.send_call(method, params, reply_to, fence)
            if delivery.defer_last and seq == len(outbox) - 1 and remember is None:
                delivery.last_call = (key, outcome)       # journaled by the completion script, next
            else:
                await self.journal.confirm(update_id, key, outcome, fence)
            delivery.confirmed.add(key)
            if remember is not None and outcome == "sent" and isinstance(result, dict) and "message_id" in result:
                await self.journal.remember(str(remember), int(result["message_id"]))

    async def begin(self, update_id: int, update: dict[str, Any], fence: Fence | None = None) -> Delivery:
        """The journal read and the user's blocked flag on their own (when no completion `begin` did them)."""
        user_id, kicked = update_user(update)
        changed, done = await self.journal.begin(update_id, user_id, kicked, fence)
        if changed and user_id is not None:
            await self.user_flag_changed(user_id, kicked)
        return Delivery(done)

    async def send(self, method: str, params: dict[str, Any]) -> Any:
        """One call outside any update (no journal); the result, or None when it failed for good."""
        outcome, result = await self.send_call(method, params)
        return result if outcome == "sent" else None

    async def send_call(self, method: str, params: dict[str, Any], reply_to: int | None = None,
                        fence: Fence | None = None, reserved: bool = False) -> tuple[str, Any]:
        """(outcome, detail): outcome 'sent' (detail: the result), 'failed' (detail: the reason) or
        'blocked' (detail: None) -- final, never retried here. A failure by MAX_429 429s in a row has a
        RateLimited reason: nothing was delivered, so a caller may send it again later (broadcasts do).
        `reply_to`: the chat of the update being handled; a call into it is a reply. `fence`: that
        update's lane lease; LaneLost (nothing sent) when this worker no longer holds it. `reserved`: the
        caller already took this call's first slot (a broadcast pacer); a retry asks the limiter again."""
        params = dict(params)
        chat = target_chat(params)
        send_class = send_class_of(chat, reply_to, bool(params.pop(BULK_FLAG, False)))
        retry = Backoff(first=0.4, cap=5.0)     # 5xx and network errors
        limited = 0
        while True:
            if reserved:
                reserved = False
            elif not await self._wait_for_slot(method, chat, send_class, bool(params.get("allow_paid_broadcast")),
                                               fence):
                self.metrics.skipped_blocked += 1
                return "blocked", None
            try:
                result = await self.client.call(method, params)
            except RetryAfter as exc:
                limited += 1
                scope = await self.limiter.freeze(chat, seconds(exc))
                self.metrics.count_429(scope)
                record.send_limited(method, scope)
                logger.warning("{} to chat {}: 429 retry after {}s; {} frozen for every worker", method, chat,
                               seconds(exc), scope)
                if limited >= MAX_429:
                    outcome, why = self._failed(method, chat, f"still rate-limited after {MAX_429} tries")
                    return outcome, RateLimited(why, seconds(exc))
                continue
            except (Forbidden, BadRequest, ChatMigrated) as exc:
                if chat is not None and is_gone(exc):
                    record.send(method, "403")
                    await self._flag(chat, exc)
                    return "blocked", None
                return self._failed(method, chat, str(exc))
            except NetworkError as exc:      # 5xx, timeouts, refused connections
                delay = retry.next_delay()
                if retry.failures >= self.attempts:
                    return self._failed(method, chat, f"{retry.failures} attempts: {exc!r}")
                self.metrics.retries += 1
                record.send(method, "retry")
                await asyncio.sleep(delay)
                continue
            except TelegramError as exc:     # 401/404/409 and the like: retrying cannot help
                return self._failed(method, chat, repr(exc))
            except (TypeError, ValueError) as exc:   # the request cannot be built from these values (a
                # file name UTF-8 cannot carry ...): the same again next time; raised, it wedged the chat
                return self._failed(method, chat, f"cannot be sent as given: {exc!r}")
            self.metrics.sent += 1
            record.send(method, "ok")
            return "sent", result

    async def _wait_for_slot(self, method: str, chat: int | str | None, send_class: str, paid: bool,
                             fence: Fence | None = None) -> bool:
        """Wait until the limiter lets this call go; False when the chat blocked the bot."""
        started = time.monotonic()
        while True:
            status, wait_s = await self.limiter.acquire(chat, method in COUNTED, send_class, paid, fence)
            if status == -2:
                raise LaneLost(f"the lane of the update sending {method} to chat {chat} changed owner; not sent")
            if status < 0:
                return False
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            if status > 0:       # a reserved slot: go; a bulk call asks again after the hint
                self.metrics.waited_ms += int((time.monotonic() - started) * 1000)
                record.limiter_waited(time.monotonic() - started)
                return True

    async def _flag(self, chat: int | str, exc: TelegramError) -> None:
        self.metrics.blocked += 1
        if await self.limiter.mark_blocked(chat):
            logger.info("Chat {} cannot be reached ({}); flagged, later sends are skipped until it writes", chat,
                        exc.message)
            if isinstance(chat, int) and chat > 0:
                await self.user_flag_changed(chat, True)

    async def user_flag_changed(self, user_id: int, blocked: bool) -> None:
        """Tell the bot (services.on_blocked_bot hooks) that a user blocked or unblocked it."""
        if self.on_blocked is None:
            return
        try:
            outcome = self.on_blocked(user_id, blocked)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:
            logger.warning("on_blocked_bot hook failed for user {}: {!r}", user_id, exc)

    def _failed(self, method: str, chat: int | str | None, why: str) -> tuple[str, str]:
        self.metrics.failed += 1
        record.send(method, "error")
        logger.warning("{} to chat {} failed: {}", method, chat, why)
        return "failed", why


def build_sender(settings: Settings, client: aioredis.Redis, keys: Keys, on_blocked: BlockedHook | None,
                 batcher: ScriptBatcher | None = None) -> Sender:
    """The worker's sender from Settings: PTB client on aiohttp, the Redis limiter and journal (their
    per-call scripts through the worker's batcher)."""
    from botrunner.sender.flood_limiter import Limits
    api = BotApiClient(settings.telegram_api_url, settings.bot_token, settings.send_pool_size, settings.send_timeout_s)
    return Sender(api, FloodLimiter(client, keys, Limits.from_settings(settings), batcher),
                  OutboxJournal(client, keys, batcher), SendMetrics(), settings.send_attempts, on_blocked)


async def learn_username(client: BotApiClient, found: Callable[[str], None]) -> None:
    """getMe until it answers (capped backoff); hands the bot's username to `found`."""
    backoff = Backoff(first=1.0, cap=30.0, jitter=False)
    while True:
        try:
            me = await client.get_me()
        except TelegramError as exc:
            delay = backoff.next_delay()
            logger.warning("getMe failed ({!r}); retrying in {:.0f}s", exc, delay)
            await asyncio.sleep(delay)
            continue
        logger.info("Bot API: this bot is @{}", me.username)
        found(me.username or "")
        return
