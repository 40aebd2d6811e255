"""Lua scripts sent in one pipeline, on one Redis and on a Redis Cluster alike.

A pipeline carries EVALSHA (the script body is not resent with every call). A node that does not
know a script (fresh, restarted without persistence, a replica just promoted) answers NOSCRIPT;
then every script of the pipeline is loaded on every master and the pipeline runs once more.
Only scripts that are safe to run twice go through here (intake deduplicates, lease renewals and
journal reads are idempotent). On a cluster the pipeline is split by node and each node's part
sent at once; each script touches one slot (botrunner.redis_keys), so no call is refused as
cross-slot. A pipeline is not a transaction: each script is atomic, the pipeline as a whole is not.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

Call = tuple[AsyncScript, Sequence[Any], Sequence[Any]]     # (script, KEYS, ARGV)


async def pipelined(client: Any, calls: Sequence[Call], tail: Callable[[Any], None] | None = None) -> list[Any]:
    """Run the calls (then whatever `tail` adds, e.g. WAIT) in one pipeline; their replies in order."""
    async def run() -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            for script, keys, args in calls:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            if tail is not None:
                tail(pipe)
            return list(await pipe.execute())
    try:
        return await run()
    except NoScriptError:
        for source in {script.script for script, _, _ in calls}:
            await client.script_load(source)
        return await run()
