"""Client IP resolution and truncation (IPv4 /24, IPv6 /48)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(value: str | None) -> IPAddress | None:
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, trusted: Sequence[str]) -> bool:
    for item in trusted:
        if item == "*":
            return True
        try:
            if address in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[str]) -> IPAddress | None:
    """The peer address, or — only when the peer is a trusted proxy — the right-most untrusted X-Forwarded-For hop."""
    address = parse_ip(peer)
    if address is None or not trusted_proxies or not forwarded_for or not _trusted(address, trusted_proxies):
        return address
    hops = [parse_ip(part) for part in forwarded_for.split(",")]
    for hop in reversed(hops):
        if hop is None:
            return address  # a malformed chain: believe only what we saw ourselves
        if not _trusted(hop, trusted_proxies) or "*" in trusted_proxies:
            return hop
    return address


def truncate_ip(address: IPAddress | str | None) -> str | None:
    """The network an address belongs to: /24 for IPv4, /48 for IPv6, as a plain address string."""
    parsed = parse_ip(address) if isinstance(address, str) else address
    if parsed is None:
        return None
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False).network_address)
