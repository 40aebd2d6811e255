"""A non-transactional pipeline of raw commands packed by hiredis (in C), on one Redis or a Redis Cluster.

redis-py's pipelines pack a request in Python, argument by argument (70 us of a worker's CPU per
one-reply update; a limiter call alone has 26 arguments, an intake lane script two per update), and
its cluster pipeline builds an object per command. Here the replies come back in command order, an
error reply standing in for its result (as `execute(raise_on_error=False)`), raw (no response callbacks:
the commands sent are EVALSHA and WAIT).

One Redis: every command on one pooled connection, with that connection's retries, as redis-py's
Pipeline does. A cluster: each command goes to the master of its slot as redis-py's own routing finds
it (the client's slot map), or to the node it names (`target_nodes`: a WAIT after that node's writes);
each node's part is one packed request on one of its connections, the nodes concurrently, so the
commands of one node (a lane's scripts) run in the order given. Then, as redis-py's ClusterPipeline:
a command answered MOVED / ASK / TRYAGAIN is sent again alone, in order, through the client (which
patches its slot map and follows the redirection); a connection error or an uncovered slot closes the
client's connections, re-reads the slot map and sends again the commands not yet answered (or answered
with an error), up to the client's retries.
"""
from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from hiredis import pack_command
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AskError, DataError, MovedError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

if sys.version_info >= (3, 11, 3):     # as redis-py chooses (it depends on async-timeout before 3.11.3)
    from asyncio import timeout as async_timeout  # type: ignore[attr-defined, unused-ignore]
else:
    from async_timeout import timeout as async_timeout  # type: ignore[import-not-found, no-redef, unused-ignore]

Command = tuple[Any, ...]
REDIRECTED = (MovedError, AskError, TryAgainError)
UNANSWERED = object()       # a reply slot not filled yet


class PackedPipeline:
    """Commands queued with redis-py's pipeline call (`execute_command`, `target_nodes` on a cluster),
    sent by `execute`; what a tail such as botrunner.lease.WaitTail is given to add its commands to."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.commands: list[Command] = []
        self.targets: dict[int, Any] = {}         # command index -> the node it names

    def execute_command(self, *args: Any, target_nodes: Any = None) -> PackedPipeline:
        if target_nodes is not None:
            self.targets[len(self.commands)] = target_nodes
        self.commands.append(args)
        return self

    async def execute(self) -> list[Any]:
        return await send(self.client, self.commands, self.targets)


async def send(client: Any, commands: Sequence[Command], targets: dict[int, Any] | None = None) -> list[Any]:
    """The replies of `commands` in order (an error reply, or a failed node's error, in its place)."""
    if not commands:
        return []
    if isinstance(client, RedisCluster):
        return await _on_cluster(client, commands, targets or {})
    return await _on_one(client, commands)


def pack(commands: Sequence[Command]) -> bytes:
    try:
        return b"".join([pack_command(command) for command in commands])
    except TypeError as exc:      # None, a bool, a list: redis-py refuses those with DataError too
        raise DataError(f"a command argument Redis cannot take: {exc}") from None


async def _on_one(client: Any, commands: Sequence[Command]) -> list[Any]:
    """One pooled connection, retried (after a reconnect) by its own Retry as redis-py's Pipeline is."""
    pool = client.connection_pool
    connection = await pool.get_connection()
    try:
        packed = pack(commands)
        return await connection.retry.call_with_retry(lambda: _round_trip(connection, packed, len(commands)),
                                                      lambda error: connection.disconnect())
    finally:
        await pool.release(connection)


async def _round_trip(connection: Any, packed: bytes, replies: int) -> list[Any]:
    """Send the packed commands, read their replies in order (an error reply stands in for its result),
    the whole round trip within the connection's socket timeout. A failure part-way closes the connection,
    so no reply is left unread on a pooled one, and raises what redis-py raises (TimeoutError,
    ConnectionError: the errors its Retry retries).

    Straight on the connection's stream writer and its reply parser (hiredis), as redis-py's own
    `send_packed_command` and `read_response` do, but with one timeout per round trip instead of a task
    (`asyncio.wait_for`) for the write and a timeout per reply: 76 -> 42 us of CPU for a pipeline of ten
    scripts (`python benchmarks/packed_pipeline.py`)."""
    if not connection.is_connected:
        await connection.connect()
    await connection.check_health()           # a PING first when idle past health_check_interval, as redis-py
    try:
        async with async_timeout(connection.socket_timeout):
            connection._writer.write(packed)
            await connection._writer.drain()
            parser = connection._parser         # an error reply is returned as its ResponseError, not raised
            results = [await parser.read_response() for _ in range(replies)]
    except asyncio.TimeoutError:
        await connection.disconnect(nowait=True)
        raise RedisTimeoutError(f"Timeout in a pipeline of {replies} command(s) on {connection._host_error()}") from None
    except OSError as exc:
        await connection.disconnect(nowait=True)
        raise RedisConnectionError(f"Error in a pipeline on {connection._host_error()}: {exc!r}") from exc
    except BaseException:
        await connection.disconnect(nowait=True)
        raise
    if connection.health_check_interval:       # busy: no PING before the next one
        connection.next_health_check = asyncio.get_running_loop().time() + connection.health_check_interval
    return results


async def _on_cluster(client: RedisCluster, commands: Sequence[Command], targets: dict[int, Any]) -> list[Any]:
    """redis-py's PipelineStrategy.execute: rounds until every command is answered or the retries are spent."""
    replies: list[Any] = [UNANSWERED] * len(commands)
    retries = client.retry.get_retries()
    while True:
        try:
            if client._initialize:
                await client.initialize()
            await _cluster_round(client, commands, targets, replies)
            return replies
        except RedisCluster.ERRORS_ALLOW_RETRY:
            if retries <= 0:
                raise
            retries -= 1
            await client.aclose()           # connections closed, slot map read again before the next round
            await asyncio.sleep(0.25)


async def _cluster_round(client: RedisCluster, commands: Sequence[Command], targets: dict[int, Any],
                         replies: list[Any]) -> None:
    """Send the commands not answered yet, each node's part in one request; then each redirected one alone."""
    todo = [i for i, reply in enumerate(replies) if reply is UNANSWERED or isinstance(reply, Exception)]
    parts: dict[str, tuple[Any, list[int]]] = {}
    for i in todo:
        node = await _node_of(client, commands[i], targets.get(i))
        parts.setdefault(node.name, (node, []))[1].append(i)
    packed = [(node, indexes, pack([commands[i] for i in indexes])) for node, indexes in parts.values()]
    if len(packed) == 1:
        await _node_round(*packed[0], replies)
    else:
        failed = [r for r in await asyncio.gather(*(_node_round(*part, replies) for part in packed),
                                                  return_exceptions=True) if isinstance(r, BaseException)]
        if failed:
            raise failed[0]
    for i in todo:                  # in call order: a lane's scripts still run in the order given
        if isinstance(replies[i], REDIRECTED):
            try:
                replies[i] = await client.execute_command(*commands[i])
            except Exception as exc:
                replies[i] = exc
    _replace_failed_default(client, parts, replies)


async def _node_of(client: RedisCluster, command: Command, target: Any) -> Any:
    """The one node a command goes to: the node it names, else its slot's master (redis-py's routing)."""
    if target is not None and not client._is_node_flag(target):
        nodes = client._parse_target_nodes(target)
    else:
        nodes = await client._determine_nodes(*command, node_flag=target)
    if not nodes:
        raise RedisClusterException(f"No targets were found to execute {command[:2]} command on")
    if len(nodes) > 1:
        raise RedisClusterException(f"Too many targets for command {command[:2]}")
    return nodes[0]


async def _node_round(node: Any, indexes: list[int], packed: bytes, replies: list[Any]) -> None:
    """One node's part on one of its connections (ClusterNode.execute_pipeline): a failure to send
    raises; a failure while reading stands in for each reply not read (the connection is closed)."""
    connection = node.acquire_connection()
    try:
        await connection.send_packed_command(packed, False)
        for i in indexes:
            try:
                replies[i] = await connection.read_response()
            except Exception as exc:
                replies[i] = exc
    finally:
        node.release(connection)


def _replace_failed_default(client: RedisCluster, parts: dict[str, tuple[Any, list[int]]], replies: list[Any]) -> None:
    """As redis-py: when the default node (the one keyless commands use) failed a command, pick another."""
    default = client.get_default_node()
    part = parts.get(default.name) if default is not None else None
    if part is not None and any(type(replies[i]) in RedisCluster.ERRORS_ALLOW_RETRY for i in part[1]):
        client.replace_default_node()
