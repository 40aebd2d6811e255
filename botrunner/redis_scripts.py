"""Lua scripts sent in one pipeline, on one Redis and on a Redis Cluster alike.

A pipeline carries EVALSHA (the script body is not resent with every call), packed by hiredis
(botrunner.packed_pipeline). A node that does not know a script (fresh, restarted without
persistence, a replica just promoted) answers NOSCRIPT; then every script of the pipeline is loaded
on every node (replicas too) and the pipeline runs once more.
Only scripts that are safe to run twice go through here (intake deduplicates, lease renewals and
journal reads are idempotent). On a cluster the pipeline is split by node and each node's part
sent at once; each script touches one slot (botrunner.redis_keys), so no call is refused as
cross-slot. A pipeline is not a transaction: each script is atomic, the pipeline as a whole is not.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, cast

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException

from botrunner.packed_pipeline import PackedPipeline

Call = tuple[AsyncScript, Sequence[Any], Sequence[Any]]     # (script, KEYS, ARGV)
STREAM_READS = ("XREAD", "XREADGROUP")


async def pipelined(client: Any, calls: Sequence[Call], tail: Callable[[Any], None] | None = None) -> list[Any]:
    """Run the calls (then whatever `tail` adds, e.g. WAIT) in one pipeline; their replies in order.

    Only the calls refused with NOSCRIPT run again (after loading): the others already ran, and their
    replies (a flag that changed) must not be taken from a second run. A tail (WAIT) runs again after
    them; each of its replies is the smaller of the two."""
    async def run(batch: Sequence[Call]) -> list[Any]:
        pipe = PackedPipeline(client)
        for script, keys, args in batch:
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        if tail is not None:
            tail(pipe)
        try:
            return await pipe.execute()
        except RuntimeError as exc:           # see ScriptedCluster.execute_command
            raise RedisConnectionError(f"connection closed under the pipeline: {exc}") from exc
    results = await run(calls)
    missing = [i for i, reply in enumerate(results[:len(calls)]) if isinstance(reply, NoScriptError)]
    if missing:
        for source in {calls[i][0].script for i in missing}:
            await load_everywhere(client, cast(str, source))
        again = await run([calls[i] for i in missing])
        for i, reply in zip(missing, again):
            results[i] = reply
        for k in range(len(calls), len(results)):        # the tail's replies (one WAIT per cluster master)
            first, second = results[k], again[k - len(calls) + len(missing)]
            results[k] = min(first, second) if isinstance(first, int) and isinstance(second, int) else second
    for reply in results:
        if isinstance(reply, Exception):
            raise reply
    return results


async def load_everywhere(client: Any, source: str | bytes) -> None:
    """SCRIPT LOAD on one Redis, or on every node of a cluster, replicas included: a replica promoted
    by a failover then knows the script already (scripts are not replicated)."""
    if isinstance(client, RedisCluster):
        await client.execute_command("SCRIPT LOAD", source, target_nodes=RedisCluster.ALL_NODES)
    else:
        await client.script_load(source)


class ClusterScript(AsyncScript):
    """A registered script that, on NOSCRIPT, loads itself on every node (a promoted replica did not
    have it, and right after a failover the client's list of masters may still name the old one)."""

    async def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        try:
            return await super().__call__(keys, args, client)
        except NoScriptError:
            await load_everywhere(self.registered_client, cast(str, self.script))
            return await super().__call__(keys, args, client)


class ScriptedCluster(RedisCluster):
    """redis-py's asyncio RedisCluster whose registered scripts survive a failover (ClusterScript), and
    which never forgets the node it was started from, and which finds a stream read's slot itself.

    redis-py drops a node from its startup nodes on every connection error and re-reads the slot map
    from the rest; many lane reads failing at once during a failover can empty that list, after which
    the client can never reconnect ("Please provide at least one reachable node: None", redis-py issue
    3693). Here the nodes named at start are put back before every re-read.

    XREAD / XREADGROUP have "movable keys": redis-py asks a node (COMMAND GETKEYS, one more round trip)
    before every such read to learn its slot. Their keys are the first half of what follows STREAMS,
    so they are taken from there instead (the lane reader issues one per lane and read)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.nodes_manager
        seeds = dict(manager.startup_nodes)

        class Seeded(type(manager)):        # type: ignore[misc]  # NodesManager has __slots__: no attribute to set
            __slots__ = ()

            async def initialize(self) -> None:
                for name, node in seeds.items():
                    self.startup_nodes.setdefault(name, node)
                await super().initialize()
        manager.__class__ = Seeded

    async def _determine_slot(self, command: str, *args: Any) -> int:
        if str(command).upper() not in STREAM_READS:
            return await super()._determine_slot(command, *args)
        words = [arg.upper() if isinstance(arg, str) else arg for arg in args]
        if "STREAMS" not in words and b"STREAMS" not in words:
            return await super()._determine_slot(command, *args)
        rest = args[(words.index("STREAMS") if "STREAMS" in words else words.index(b"STREAMS")) + 1:]
        slots = {self.keyslot(key) for key in rest[:len(rest) // 2]}
        if len(slots) != 1:
            raise RedisClusterException(f"{command} - all keys must map to the same key slot")
        return slots.pop()

    def register_script(self, script: Any) -> Any:
        return ClusterScript(cast(Any, self), script)

    def pubsub(self, **kwargs: Any) -> Any:
        """Classic pub/sub on one node: a cluster delivers every PUBLISH to every node's subscribers, so
        any live node will do (redis-py's asyncio cluster client has no pubsub of its own). A node
        that fails ends the subscription with a connection error; the caller subscribes again."""
        nodes = list(self.nodes_manager.nodes_cache.values()) or list(self.nodes_manager.startup_nodes.values())
        node = random.choice(nodes)
        pool = ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)   # host, port too
        return Redis.from_pool(pool).pubsub(**kwargs)

    async def publish(self, channel: Any, message: Any) -> int:
        """PUBLISH through any node (redis-py's asyncio cluster client has no publish of its own)."""
        return int(await self.execute_command("PUBLISH", channel, message, target_nodes=RedisCluster.RANDOM))

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """As redis-py's, but a command caught by the client closing its connections (it does so on any
        node's connection error) fails as a ConnectionError, the error every caller treats as "Redis
        unreachable, retry", instead of a RuntimeError from the closed transport."""
        try:
            return await super().execute_command(*args, **kwargs)
        except RuntimeError as exc:
            raise RedisConnectionError(f"connection closed under the command: {exc}") from exc
