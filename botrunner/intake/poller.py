"""The poller: long-polls getUpdates while this worker holds the poll lease, and feeds intake.

Every worker runs one; only the lease holder polls. The next getUpdates(offset) is sent only
after intake has stored the previous batch, so an update is confirmed to Telegram only once it
is durable in a lane. A 409 or a failed renewal stops polling at once. The long-poll timeout is
kept below two thirds of the lease TTL, so when a holder dies (kill -9) its last request has
ended on the server before the lease can expire: two getUpdates are never in flight.
"""
from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from loguru import logger

from botrunner.backoff import Backoff
from botrunner.errors import ApiError, FatalApiError, LeaseLost, NotReplicated
from botrunner.intake.poll_lease import PollLease
from botrunner.intake.raw_api import api_base, call_api
from botrunner.intake.store import Intake, prepare


def long_poll_timeout(poll_timeout_s: int, lease_ttl_ms: int) -> int:
    """The getUpdates timeout actually used: POLL_TIMEOUT_S, capped at half the lease TTL.

    The lease is renewed every TTL/3, so it expires at least 2/3 TTL after the holder's last
    request was sent; a request held at most TTL/2 has ended by then."""
    return max(0, min(poll_timeout_s, lease_ttl_ms // 2000))


class Poller:
    """Take the poll lease when it is free; while held, poll and store batches; give it back on stop."""

    def __init__(self, lease: PollLease, intake: Intake, api_url: str, token: str, lanes: int,
                 poll_timeout_s: int) -> None:
        self.lease = lease
        self.intake = intake
        self.base = api_base(api_url, token)
        self.lanes = lanes
        self.timeout = long_poll_timeout(poll_timeout_s, lease.ttl_ms)
        self.stopping = asyncio.Event()
        self.updates_stored = 0

    async def run(self) -> None:
        """Until stop(): try to take the lease; hold it while polling. Raises FatalApiError on 401."""
        acquire_every = min(0.5, self.lease.ttl_ms / 4000)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2)) as session:
            while not self.stopping.is_set():
                try:
                    if await self.lease.acquire():
                        await self._hold(session)
                except FatalApiError:
                    raise
                except Exception as exc:  # Redis down or the like: never let the poller die
                    logger.warning("Poller: {!r}; retrying", exc)
                    self.lease.forget()
                if not self.stopping.is_set():
                    await _sleep_or(self.stopping, acquire_every)

    def stop(self) -> None:
        """Finish the poll in flight, store it, release the lease."""
        self.stopping.set()

    async def _hold(self, session: aiohttp.ClientSession) -> None:
        renewing = asyncio.create_task(self._keep_renewed())
        polling = asyncio.create_task(self._poll_until_stopped(session))
        try:
            await asyncio.wait({renewing, polling}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (polling, renewing):     # a lost lease cancels the request in flight at once
                task.cancel()
            await asyncio.gather(renewing, polling, return_exceptions=True)
            await self.lease.release()
        failure = None if polling.cancelled() else polling.exception()
        if failure is not None:
            raise failure

    async def _keep_renewed(self) -> None:
        while True:
            await asyncio.sleep(self.lease.renew_interval_s)
            try:
                if not await self.lease.renew():
                    return
            except Exception as exc:
                logger.warning("Poll lease renewal failed ({!r}); stopping polling", exc)
                self.lease.forget()
                return

    async def _poll_until_stopped(self, session: aiohttp.ClientSession) -> None:
        offset = await self.intake.offset()
        backoff = Backoff()
        while not self.stopping.is_set() and self.lease.held:
            timeout = await self._fit_in_lease()
            if not self.lease.held:
                break
            try:
                updates = await call_api(session, self.base, "getUpdates",
                                         {"offset": offset, "timeout": timeout, "limit": 100},
                                         timeout=timeout + 15)
            except ApiError as exc:
                await self._on_api_error(exc, backoff)
                continue
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                delay = backoff.next_delay()
                logger.warning("getUpdates failed ({!r}); retrying in {:.1f}s", exc, delay)
                await asyncio.sleep(delay)
                continue
            updates = updates if isinstance(updates, list) else []
            offset = await self._store(updates, offset)
            backoff.reset()
            if not updates and self.timeout == 0:
                await asyncio.sleep(0.2)         # no long poll possible with a tiny lease TTL: don't spin

    async def _fit_in_lease(self) -> int:
        """The long-poll timeout of the next request: the request must end before the lease can lapse.

        A poll may start just before a renewal is due (up to 0.8 TTL after the last one) and be held
        TTL/2: renew first when what is left would not cover it, and never ask for more than is left."""
        margin = self.lease.ttl_ms * 0.1 / 1000.0
        if self.lease.remaining_s < self.timeout + margin:
            await self.lease.renew()
        return max(0, min(self.timeout, int(self.lease.remaining_s - margin)))

    async def _store(self, updates: list, offset: int) -> int:
        batch = prepare(updates, self.lanes, offset)
        try:
            added = await self.intake.store(batch, self.lease.value or "")
        except LeaseLost:
            logger.warning("Intake refused a batch: the poll lease moved on; stopping polling")
            self.lease.forget()
            return offset
        except NotReplicated as exc:     # not confirmed: the same getUpdates(offset) fetches it again
            logger.warning("Intake: {}; not confirming the batch to Telegram, fetching it again", exc)
            return offset
        self.updates_stored += added
        if len(batch.entries) > added:
            logger.info("Intake skipped {} update(s) already seen", len(batch.entries) - added)
        return batch.next_offset

    async def _on_api_error(self, exc: ApiError, backoff: Backoff) -> None:
        await self._record_error(exc)
        if exc.code == 401:
            logger.critical("The Bot API rejected the bot token (401 {}): check BOT_TOKEN; stopping", exc.description)
            raise FatalApiError(exc.description)
        if exc.code == 409:
            # stop at once and let the lease expire rather than release it: the next worker to try
            # waits a full TTL, so a foreign consumer of this token is not fought in a tight loop
            logger.error("getUpdates answered 409 ({}): another getUpdates consumer or a webhook is active on "
                         "this token; stopping polling and letting the poll lease expire", exc.description)
            if "webhook" in exc.description.lower():
                logger.error("A webhook is set for this bot (left by an earlier deployment?). botrunner long-polls: "
                             "remove it with deleteWebhook, without drop_pending_updates so no update is lost: "
                             "curl '<TELEGRAM_API_URL>/bot<BOT_TOKEN>/deleteWebhook'")
            self.lease.forget()
            return
        if exc.code == 429:
            logger.warning("getUpdates answered 429: retrying after {}s", exc.retry_after)
            await asyncio.sleep(exc.retry_after or 1.0)
            return
        delay = backoff.next_delay()
        logger.warning("getUpdates answered {} {}; retrying in {:.1f}s", exc.code, exc.description, delay)
        await asyncio.sleep(delay)


    async def _record_error(self, exc: ApiError) -> None:
        """Keep the last getUpdates error for `botrunner status` (a 409 or 401 is otherwise only in the journal)."""
        record = json.dumps({"code": exc.code, "description": exc.description, "at": int(time.time() * 1000)})
        try:
            await self.intake.client.set(self.intake.keys.poll_error, record, ex=7 * 86400)
        except Exception as err:  # status is a convenience: never let it stop the poller
            logger.debug("Could not record the poll error for status: {!r}", err)


async def _sleep_or(event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except asyncio.TimeoutError:
        pass

