"""Where a completion callback may be sent: the SSRF rules, checked twice (docs/SECURITY.md).

A callback URL is the client's choice and the platform makes the request, from inside its own
network: without rules, a call could make the worker POST to the cloud's metadata service
(169.254.169.254), to the local stack's AWS endpoint, or to any private host. So the URL's
address must be a public one:

* at registration (a route's `callback_url`, a call's `Fn-Callback-Url`), for a literal address
  and for every address a name resolves to: 400 naming the rule;
* again at delivery, against the one address the request is sent to (resolved once; the
  connection goes to that address and the Host header names the host), and against the peer of
  the connected socket, so a name that resolves elsewhere by then (DNS rebinding) is refused too.

`allow_private` (FNQ_CALLBACK_ALLOW_PRIVATE; `fn start` sets it, its receivers are on loopback)
lifts the address rules; the scheme and the URL's shape are checked still.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

from chalicelib import inputs
from chalicelib.errors import InvalidInputError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port → the addresses the host resolves to, in the order a client would try them.
Resolver = Callable[[str, int], list[str]]

MAX_CALLBACK_URL_BYTES = 2048
SCHEMES = {"http": 80, "https": 443}

# Each rule: its name (what a refusal says) and the networks it covers. The IPv4 ones also
# apply to an IPv4 address carried inside an IPv6 one (mapped, compatible, 6to4, NAT64, Teredo).
_V4_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unspecified", ("0.0.0.0/8",)),
    ("loopback", ("127.0.0.0/8",)),
    ("private (RFC 1918)", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    ("shared address space (RFC 6598)", ("100.64.0.0/10",)),
    ("link-local (incl. the cloud metadata address 169.254.169.254)", ("169.254.0.0/16",)),
    ("multicast", ("224.0.0.0/4",)),
    ("reserved", ("240.0.0.0/4", "192.0.0.0/24", "198.18.0.0/15")),
    ("documentation", ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")),
)
_V6_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unspecified", ("::/128",)),
    ("loopback", ("::1/128",)),
    ("unique local (fc00::/7)", ("fc00::/7",)),
    ("link-local (fe80::/10)", ("fe80::/10",)),
    ("site-local (fec0::/10)", ("fec0::/10",)),
    ("multicast", ("ff00::/8",)),
    ("documentation", ("2001:db8::/32",)),
    ("discard-only (100::/64)", ("100::/64",)),
)


def _compiled(
    rules: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[tuple[str, tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]], ...]:
    return tuple((name, tuple(ipaddress.ip_network(n) for n in nets)) for name, nets in rules)


V4_RULES = _compiled(_V4_RULES)
V6_RULES = _compiled(_V6_RULES)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
COMPATIBLE = ipaddress.ip_network("::/96")


class CallbackRefused(Exception):
    """A delivery's address breaks the rules (or its URL cannot be sent to): no request is made."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and routes to (mapped, compatible, 6to4, NAT64, Teredo)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64 or (address in COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: Address) -> str | None:
    """The rule `address` breaks, as a refusal says it; None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "link-local (an IPv6 address with a zone)"
        inner = embedded_ipv4(address)
        if inner is not None:
            rule = address_refusal(inner)
            return f"{rule}, inside an IPv6 address" if rule else None
        rules = V6_RULES
    else:
        rules = V4_RULES
    for name, networks in rules:
        if any(address in network for network in networks):
            return name
    if not address.is_global:
        return "not a public address"
    return None


class CallbackTarget(NamedTuple):
    """A callback URL taken apart: where to connect and what to ask for.

    Only built (parse_callback_url) and read: a NamedTuple, a fifth of a frozen dataclass's cost
    to define on the cold start (docs/ARCHITECTURE.md, "The cold start").
    """

    url: str
    scheme: str
    host: str  # a name, or an address without brackets
    port: int
    target: str  # path and query, as the request line sends them

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def parse_callback_url(url: object) -> CallbackTarget:
    """The URL's parts, or 400 saying what is wrong with it (its address is not checked here)."""
    if not isinstance(url, str) or not url:
        raise InvalidInputError("Invalid callback URL: expected an http or https URL")
    if inputs.utf8_len(url) > MAX_CALLBACK_URL_BYTES:
        raise InvalidInputError(f"Invalid callback URL: at most {MAX_CALLBACK_URL_BYTES} bytes")
    if any(ord(c) <= 32 or ord(c) >= 127 for c in url):
        raise InvalidInputError(
            "Invalid callback URL: spaces, controls and non-ASCII characters must be encoded"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInputError(f"Invalid callback URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidInputError("Invalid callback URL: only http and https are allowed")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError("Invalid callback URL: credentials in the URL are not allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidInputError("Invalid callback URL: it names no host")
    if parts.fragment:
        raise InvalidInputError("Invalid callback URL: a fragment is never sent; remove it")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CallbackTarget(url, scheme, host, port or SCHEMES[scheme], target)


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (a literal address is itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class AddressGuard:
    """The rules above, with the stack's setting and a resolver (a seam for the tests)."""

    def __init__(self, allow_private: bool = False, resolve: Resolver = resolve_host) -> None:
        self.allow_private = allow_private
        self._resolve = resolve

    def registered(self, url: object) -> str:
        """The URL, if a callback may be registered to it; else 400 naming the rule it breaks."""
        target = parse_callback_url(url)
        if self.allow_private:
            return target.url
        literal = literal_address(target.host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [ipaddress.ip_address(a) for a in self._resolve(target.host, target.port)]
            except (OSError, UnicodeError, ValueError) as exc:
                raise InvalidInputError(
                    f"Invalid callback URL: host {target.host} does not resolve ({exc})"
                ) from exc
        for address in addresses:
            rule = address_refusal(address)
            if rule:
                where = f"{target.host} resolves to {address}, " if literal is None else f"{address} is "
                raise InvalidInputError(
                    f"Callback URL refused: {where}{rule}; callbacks go to public addresses only"
                )
        return target.url

    def address_for(self, target: CallbackTarget) -> str:
        """The one address a delivery connects to, resolved now; CallbackRefused if the rules refuse it."""
        literal = literal_address(target.host)
        try:
            found = [str(literal)] if literal is not None else self._resolve(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise ConnectionError(f"{target.host} does not resolve: {exc}") from exc
        if not found:
            raise ConnectionError(f"{target.host} does not resolve")
        self.check_peer(found[0])
        return found[0]

    def check_peer(self, address: str) -> None:
        """CallbackRefused unless the address (the resolved one, or the socket's peer) may be reached."""
        if self.allow_private:
            return
        rule = address_refusal(ipaddress.ip_address(address))
        if rule:
            raise CallbackRefused(f"refused: {address} is {rule}")
