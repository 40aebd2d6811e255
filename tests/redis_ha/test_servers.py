"""The replicated test servers themselves (tests/redis_ha/servers.py): a set that fails to come up
leaves no process behind, and a wait that times out says what every node was doing."""
from __future__ import annotations

import pytest

from tests.redis_ha import servers
from tests.redis_ha.servers import SentinelSet, free_port


def test_a_port_the_kernel_offers_again_is_not_handed_out_twice(monkeypatch):
    offered = iter([47001, 47003, 47001, 47003, 47005])       # what bind(port 0) returns, in turn

    class Socket:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def bind(self, address):
            self.port = next(offered)

        def getsockname(self):
            return "127.0.0.1", self.port
    monkeypatch.setattr(servers.socket, "socket", Socket)
    monkeypatch.setattr(servers, "_handed_out", set())
    assert [free_port(), free_port(), free_port()] == [47001, 47003, 47005]


def test_a_set_whose_sentinels_never_agree_leaves_nothing_running(monkeypatch):
    ha = SentinelSet()
    real_wait = ha.wait_until

    def wait_until(predicate, timeout, what):
        if what.startswith("Sentinels"):
            raise TimeoutError(what)
        return real_wait(predicate, timeout, what)
    monkeypatch.setattr(ha, "wait_until", wait_until)
    with pytest.raises(TimeoutError):
        with ha:
            pass
    nodes = ha.servers + ha.sentinels
    assert all(node.process is not None for node in nodes)           # all were started ...
    assert all(node.process.poll() is not None for node in nodes)    # ... and none outlived the failure
    assert not ha.dir.exists()


def test_a_wait_that_times_out_describes_every_node():
    with SentinelSet() as ha:
        replica = ha.servers[1]
        replica.kill()
        with pytest.raises(TimeoutError) as raised:
            ha.wait_until(lambda: ha._synced(replica), 0.3, "the replica")
        text = str(raised.value)
        assert text.startswith("timed out after 0.3 s waiting for the replica\n")
        assert f"--- r1 :{replica.port} exited with -9: no answer" in text
        assert f"--- m0 :{ha.master.port} pid {ha.master.process.pid} running: master with" in text
        assert f"names 127.0.0.1:{ha.master.port} (master), 1 replicas, 2 other Sentinels, tilt 0" in text
        blocks = text.split("\n--- ")[1:]
        assert len(blocks) == len(ha.servers + ha.sentinels)
        for node, block in zip(ha.servers + ha.sentinels, blocks):    # and the end of each node's log
            shown = "\n".join(line[4:] for line in block.splitlines()[1:])
            assert len(shown) > 0 and shown in (node.directory / "log").read_text()
