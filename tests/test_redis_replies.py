"""One bytes->str rule for Redis replies, whatever decode_responses says."""
from __future__ import annotations

import redis

from botrunner.redis_replies import text


def test_bytes_and_str_read_the_same():
    assert text(b"botrunner:1:lane:3") == text("botrunner:1:lane:3") == "botrunner:1:lane:3"
    assert text(bytearray(b"x")) == text(memoryview(b"x")) == "x"


def test_undecodable_bytes_are_replaced_not_raised():
    assert text(b"ok\xff") == "ok\ufffd"


def test_other_values_go_through_str():
    assert text(5) == "5"
    assert text(1.5) == "1.5"


def test_replies_from_both_client_modes(redis_url):
    for decode in (False, True):
        stream = f"stream-{decode}"
        client = redis.Redis.from_url(redis_url, decode_responses=decode)
        client.xgroup_create(stream, "workers", id="0", mkstream=True)
        entry_id = client.xadd(stream, {"k": "v"})
        [(name, [(read_id, _)])] = client.xreadgroup("workers", "worker-1", {stream: ">"}, count=1)
        [consumer] = client.xinfo_consumers(stream, "workers")
        assert isinstance(name, str) is decode                       # the two modes really differ
        assert (text(name), text(read_id), text(consumer["name"])) == (stream, text(entry_id), "worker-1")
        client.close()
