"""Where a callback may go: the address rules, one address at a time, and the guard around them."""

from __future__ import annotations

import ipaddress

import pytest

from chalicelib.addresses import AddressGuard, CallbackRefused, address_refusal, parse_callback_url
from chalicelib.errors import InvalidInputError

# (address, the rule it breaks; None: public, a callback may go there)
ADDRESSES: list[tuple[str, str | None]] = [
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private (RFC 1918)"),
    ("172.16.0.1", "private (RFC 1918)"),
    ("172.31.255.255", "private (RFC 1918)"),
    ("192.168.1.1", "private (RFC 1918)"),
    ("100.64.0.1", "shared address space (RFC 6598)"),
    ("169.254.169.254", "link-local (incl. the cloud metadata address 169.254.169.254)"),
    ("169.254.0.1", "link-local (incl. the cloud metadata address 169.254.169.254)"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "reserved"),
    ("240.0.0.1", "reserved"),
    ("198.18.0.1", "reserved"),
    ("192.0.2.1", "documentation"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fc00::1", "unique local (fc00::/7)"),
    ("fd12:3456::1", "unique local (fc00::/7)"),
    ("fe80::1", "link-local (fe80::/10)"),
    ("fe80::1%eth0", "link-local (an IPv6 address with a zone)"),
    ("fec0::1", "site-local (fec0::/10)"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("::ffff:127.0.0.1", "loopback, inside an IPv6 address"),
    (
        "::ffff:169.254.169.254",
        "link-local (incl. the cloud metadata address 169.254.169.254), inside an IPv6 address",
    ),
    ("::ffff:10.1.2.3", "private (RFC 1918), inside an IPv6 address"),
    ("::127.0.0.1", "loopback, inside an IPv6 address"),  # IPv4-compatible (deprecated)
    ("2002:7f00:1::", "loopback, inside an IPv6 address"),  # 6to4 of 127.0.0.1
    (
        "2002:a9fe:a9fe::",
        "link-local (incl. the cloud metadata address 169.254.169.254), inside an IPv6 address",
    ),
    ("64:ff9b::a00:1", "private (RFC 1918), inside an IPv6 address"),  # NAT64 of 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback, inside an IPv6 address"),  # Teredo of 127.0.0.1
    ("93.184.216.34", None),
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("172.32.0.1", None),  # just past 172.16/12
    ("2606:4700:4700::1111", None),
    ("::ffff:8.8.8.8", None),
    ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize(("address", "rule"), ADDRESSES, ids=[a for a, _ in ADDRESSES])
def test_each_address_is_refused_by_the_rule_it_breaks_or_allowed_when_public(
    address: str, rule: str | None
) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == rule


def test_registration_refuses_a_name_that_resolves_to_a_refused_address_naming_it() -> None:
    guard = AddressGuard(
        resolve=lambda host, port: {"ok.test": ["93.184.216.34"], "in.test": ["8.8.8.8", "10.0.0.7"]}[host]
    )
    assert guard.registered("https://ok.test/hook") == "https://ok.test/hook"
    with pytest.raises(InvalidInputError) as refused:
        guard.registered("https://in.test/hook")
    assert refused.value.message == (
        "Callback URL refused: in.test resolves to 10.0.0.7, private (RFC 1918); "
        "callbacks go to public addresses only"
    )


def test_registration_refuses_a_name_that_does_not_resolve() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(InvalidInputError, match=r"host nowhere\.test does not resolve"):
        AddressGuard(resolve=nowhere).registered("http://nowhere.test/")


def test_allowing_private_addresses_lifts_the_address_rules_but_not_the_url_rules() -> None:
    guard = AddressGuard(allow_private=True)
    assert guard.registered("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    guard.check_peer("169.254.169.254")
    with pytest.raises(InvalidInputError, match="only http and https"):
        guard.registered("file:///etc/passwd")


def test_delivery_connects_to_the_first_address_resolved_now_and_refuses_it_when_not_public() -> None:
    answers = ["127.0.0.1", "93.184.216.34"]
    guard = AddressGuard(resolve=lambda host, port: answers)
    target = parse_callback_url("https://hooks.test:8443/a?b=c")
    with pytest.raises(CallbackRefused, match=r"^refused: 127.0.0.1 is loopback$"):
        guard.address_for(target)
    answers.reverse()
    assert guard.address_for(target) == "93.184.216.34"
    assert (target.host_header, target.target) == ("hooks.test:8443", "/a?b=c")
    assert parse_callback_url("http://[2606:4700::1]/").host_header == "[2606:4700::1]"
