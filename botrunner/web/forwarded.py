"""The client address of a request: the TCP peer, or X-Forwarded-For when the peer is a trusted proxy.

Only a proxy in WEB_TRUSTED_PROXIES may speak for the client; its X-Forwarded-For is read from the
right, skipping further trusted proxies, so a client cannot forge its address by sending the
header itself (nginx's $proxy_add_x_forwarded_for appends the real peer last).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parsed networks (settings already validated them)."""
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def parse_address(text: str | None) -> Address | None:
    """An IP address, or None for anything else (a unix socket peer, garbage in a header)."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def inside(address: Address | None, nets: Iterable[Network]) -> bool:
    return address is not None and any(address.version == net.version and address in net for net in nets)


def client_address(peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]) -> Address | None:
    """The client's address: the peer unless it is a trusted proxy, then the right-most untrusted hop."""
    address = parse_address(peer)
    if not forwarded_for or not inside(address, proxies):
        return address
    for hop in reversed(forwarded_for.split(",")):
        hop_address = parse_address(hop)
        if hop_address is None:
            return None           # a hop we cannot read: believe nobody behind it
        if not inside(hop_address, proxies):
            return hop_address
        address = hop_address
    return address
