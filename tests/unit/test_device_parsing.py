"""User-agent parsing, client IP resolution and IP truncation."""

from __future__ import annotations

import pytest

from shared.devices.network import client_ip, truncate_ip
from shared.devices.useragent import parse_user_agent, preferred_language, screen_resolution


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0 Safari/537.36",
            ("Chrome", "Windows", "desktop"),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0",
            ("Edge", "Windows", "desktop"),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:132.0) Gecko/20100101 Firefox/132.0",
            ("Firefox", "macOS", "desktop"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
            ("Chrome", "Android", "mobile"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
            ("Chrome", "Android", "tablet"),
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Safari/604.1",
            ("Safari", "iPadOS", "tablet"),
        ),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ("other", "other", "bot")),
        ("curl/8.5.0", ("curl", "other", "other")),
    ],
)
def test_user_agents(ua: str, expected: tuple[str, str, str]) -> None:
    info = parse_user_agent(ua)
    assert (info.browser, info.os, info.device_type) == expected


def test_missing_user_agent() -> None:
    assert parse_user_agent(None).browser is None


def test_language_and_screen() -> None:
    assert preferred_language("fr-FR,fr;q=0.9") == "fr-FR"
    assert preferred_language("*") is None
    assert preferred_language("<script>") is None
    assert screen_resolution("1920X1080") == "1920x1080"
    assert screen_resolution("0x0") is None
    assert screen_resolution("1920x1080; drop table") is None


def test_truncation() -> None:
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("2001:db8:abcd:12:34::9") == "2001:db8:abcd::"
    assert truncate_ip("::ffff:203.0.113.77") == "203.0.113.0"
    assert truncate_ip("testclient") is None


def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies() -> None:
    assert str(client_ip("10.0.0.1", "192.0.2.7", [])) == "10.0.0.1"
    assert str(client_ip("10.0.0.1", "192.0.2.7", ["10.0.0.0/8"])) == "192.0.2.7"
    assert str(client_ip("10.0.0.1", "192.0.2.7, 10.0.0.3", ["10.0.0.0/8"])) == "192.0.2.7"
    assert str(client_ip("203.0.113.1", "192.0.2.7", ["10.0.0.0/8"])) == "203.0.113.1"
    assert str(client_ip("10.0.0.1", "garbage", ["10.0.0.0/8"])) == "10.0.0.1"
    assert str(client_ip("172.16.0.1", "198.51.100.4", ["*"])) == "198.51.100.4"


def test_one_rule_with_the_deprecated_hop_count_and_a_believe_everyone_list() -> None:
    from shared.devices.network import ProxyRule, forwarding_believed

    hops = ProxyRule.of((), 1)
    assert str(client_ip("203.0.113.1", "192.0.2.7, 198.51.100.2", hops)) == "198.51.100.2"
    assert str(client_ip("203.0.113.1", "garbage", hops)) == "203.0.113.1"
    assert hops.trusts_every_peer
    assert ProxyRule.of(["*"]).trusts_every_peer
    assert ProxyRule.of(["::/0"]).trusts_every_peer
    assert not ProxyRule.of(["10.0.0.0/8"]).trusts_every_peer
    assert forwarding_believed("10.0.0.1", ["10.0.0.0/8"])
    assert not forwarding_believed("203.0.113.1", ["10.0.0.0/8"])
    assert not forwarding_believed("10.0.0.1", [])
