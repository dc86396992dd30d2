"""Client IP resolution and truncation (IPv4 /24, IPv6 /48).

One rule decides who the client is, for every purpose (rate limits, security events, the security log, consent
records, whether a request came over TLS): `client_ip(peer, forwarded_for, rule)` with the `ProxyRule` the settings
make (`ProxyRule.of(settings.trusted_proxies, settings.trusted_proxy_hops)`). Before, `ATELIER_TRUSTED_PROXY_HOPS`
picked the N-th `X-Forwarded-For` entry from whatever peer for rate limits, while `ATELIER_TRUSTED_PROXIES` walked
the chain only from listed proxies for the logs and consent records: one request could count against one address and
be recorded under another. `ATELIER_TRUSTED_PROXIES` is the setting; the hop count still works on its own outside
production, never together with it (config/settings.py refuses both, and refuses in production any rule that would
believe every peer: `*`, a /0 network, or a hop count, which believes whoever connects).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from config.values import value

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@value
class ProxyRule:
    """Whose `X-Forwarded-For` (and `X-Forwarded-Proto`) is believed: peers in `networks` (`any_peer` for `*`), or,
    with the deprecated `hops`, the N-th entry from the right whoever the peer is. Empty: only the socket peer."""

    networks: tuple[IPNetwork, ...] = ()
    any_peer: bool = False
    hops: int = 0

    @staticmethod
    @lru_cache(maxsize=16)
    def _parse(proxies: tuple[str, ...], hops: int) -> ProxyRule:
        networks: list[IPNetwork] = []
        for item in proxies:
            if item != "*":
                networks.append(ipaddress.ip_network(item.strip(), strict=False))  # ValueError names the entry
        return ProxyRule(tuple(networks), "*" in proxies, hops)

    @classmethod
    def of(cls, proxies: Sequence[str] = (), hops: int = 0) -> ProxyRule:
        """The rule from the settings' two names (config/settings.py refuses them together)."""
        return cls._parse(tuple(proxies), hops)

    @property
    def trusts_every_peer(self) -> bool:
        """Whether anyone who connects can choose the address they are recorded and counted under."""
        return self.any_peer or self.hops > 0 or any(network.prefixlen == 0 for network in self.networks)

    @property
    def believes_forwarding(self) -> bool:
        return self.any_peer or self.hops > 0 or bool(self.networks)

    def trusts(self, address: IPAddress | None) -> bool:
        """Whether `address` (the socket peer, or a hop of the chain) is one of our proxies."""
        if self.any_peer:
            return True
        return address is not None and any(address in network for network in self.networks)


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


def _rule(rule: ProxyRule | Sequence[str]) -> ProxyRule:
    return rule if isinstance(rule, ProxyRule) else ProxyRule.of(rule)


def forwarding_believed(peer: str | None, rule: ProxyRule | Sequence[str]) -> bool:
    """Whether this peer's forwarding headers (`X-Forwarded-For`, `X-Forwarded-Proto`) are believed."""
    found = _rule(rule)
    return found.hops > 0 or (found.believes_forwarding and found.trusts(parse_ip(peer)))


def client_ip(peer: str | None, forwarded_for: str | None, rule: ProxyRule | Sequence[str]) -> IPAddress | None:
    """The client's address, the one rule for every purpose: the socket peer; or, only when the peer is a trusted
    proxy, the right-most X-Forwarded-For hop that is not one (with `*`, the right-most hop); or, with the deprecated
    hop count, the N-th hop from the right. A malformed or short chain: the peer, what we saw ourselves."""
    found = _rule(rule)
    address = parse_ip(peer)
    if not forwarded_for or not forwarding_believed(peer, found):
        return address
    hops = [parse_ip(part) for part in forwarded_for.split(",")]
    if found.hops > 0:
        chosen = hops[-found.hops] if len(hops) >= found.hops else None
        return chosen if chosen is not None else address
    for hop in reversed(hops):
        if hop is None:
            return address  # a malformed chain: believe only what we saw ourselves
        if found.any_peer or not found.trusts(hop):
            return hop
    return address


def truncate_ip(address: IPAddress | str | None) -> str | None:
    """The network an address belongs to: /24 for IPv4, /48 for IPv6, as a plain address string."""
    parsed = parse_ip(address) if isinstance(address, str) else address
    if parsed is None:
        return None
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False).network_address)
