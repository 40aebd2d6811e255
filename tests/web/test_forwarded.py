"""Client addresses: the peer, or X-Forwarded-For only when the peer is a trusted proxy (no I/O)."""
from __future__ import annotations

import ipaddress

import pytest

from botrunner.web.forwarded import client_address, inside, networks

PROXIES = networks(["127.0.0.1/32", "::1/128", "10.0.0.0/8"])
TELEGRAM = networks(["149.154.160.0/20", "91.108.4.0/22"])


@pytest.mark.parametrize("peer, xff, expected", [
    ("149.154.167.1", None, "149.154.167.1"),                          # direct
    ("203.0.113.9", "149.154.167.1", "203.0.113.9"),                   # untrusted peer: header ignored
    ("127.0.0.1", "149.154.167.1", "149.154.167.1"),                   # nginx on this host
    ("127.0.0.1", "149.154.167.1, 10.1.2.3", "149.154.167.1"),         # two trusted hops
    ("127.0.0.1", "149.154.167.1, 203.0.113.9", "203.0.113.9"),        # a forged first hop is not believed
    ("::ffff:127.0.0.1", "91.108.4.7", "91.108.4.7"),                  # IPv4-mapped peer
    ("127.0.0.1", "not-an-ip", None),
    (None, None, None),
])
def test_client_address(peer, xff, expected):
    found = client_address(peer, xff, PROXIES)
    assert found == (ipaddress.ip_address(expected) if expected else None)


def test_inside_telegram_networks():
    assert inside(ipaddress.ip_address("149.154.175.255"), TELEGRAM)
    assert not inside(ipaddress.ip_address("149.154.176.0"), TELEGRAM)
    assert not inside(ipaddress.ip_address("::1"), TELEGRAM) and not inside(None, TELEGRAM)
