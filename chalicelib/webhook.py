"""One POST of a callback, to the address the guard allowed and to nothing else.

http.client, not urllib: urllib resolves the host itself (a second lookup the guard never saw)
and follows redirects. Here the connection goes to the address resolved once, the Host header
(and TLS's server name and certificate check) name the URL's host, the peer of the connected
socket is checked again, redirects are answered as they are (a 3xx is a failed delivery), the
connect and each read have the timeout and at most `max_response_bytes` of the answer are read.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass

from chalicelib.addresses import AddressGuard, CallbackTarget


@dataclass(frozen=True)
class WebhookLimits:
    timeout_seconds: float = 5.0
    max_response_bytes: int = 4096


class _Pinned(http.client.HTTPConnection):
    """An HTTP connection to `address`, whatever its host name resolves to now."""

    def __init__(self, target: CallbackTarget, address: str, guard: AddressGuard, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address
        self._guard = guard

    def _connected(self) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self._guard.check_peer(str(sock.getpeername()[0]))
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        self.sock = self._connected()


class _PinnedTls(_Pinned):
    """HTTPS to `address`: the certificate is checked against the URL's host (SNI too)."""

    def connect(self) -> None:
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self._connected(), server_hostname=self.host)


def post(
    target: CallbackTarget,
    address: str,
    guard: AddressGuard,
    body: bytes,
    headers: dict[str, str],
    limits: WebhookLimits,
) -> int:
    """POST `body` to the target through `address`; answers the HTTP status.

    Raises CallbackRefused when the connected peer breaks the rules, OSError (timeouts included)
    or http.client.HTTPException when there is no answer.
    """
    kind = _PinnedTls if target.scheme == "https" else _Pinned
    connection = kind(target, address, guard, limits.timeout_seconds)
    try:
        connection.putrequest("POST", target.target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", target.host_header)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        response.read(limits.max_response_bytes)  # bounded: the answer's body is not used
        return int(response.status)
    finally:
        connection.close()
