"""One POST of a callback, to the address the guard allowed and to nothing else.

http.client, not urllib: urllib resolves the host itself (a second lookup the guard never saw)
and follows redirects. Here the connection goes to the address resolved once, the Host header
(and TLS's server name and certificate check) name the URL's host, the peer of the connected
socket is checked again, redirects are answered as they are (a 3xx is a failed delivery), and at
most `max_response_bytes` of the answer are read.

The timeout bounds the whole attempt, not each step: a socket timeout alone applies to each read,
and a receiver that drips its answer a byte at a time could hold the worker's thread for as long
as it liked. A timer shuts the socket down when the attempt's time is up; the read in progress
then ends, and the attempt fails.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from chalicelib.addresses import AddressGuard, CallbackTarget


@dataclass(frozen=True)
class WebhookLimits:
    timeout_seconds: float = 5.0  # the whole attempt: connect, send, the answer
    max_response_bytes: int = 4096


class _Pinned(http.client.HTTPConnection):
    """An HTTP connection to `address`, whatever its host name resolves to now."""

    def __init__(self, target: CallbackTarget, address: str, guard: AddressGuard, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address
        self._guard = guard
        self._deadline = time.monotonic() + timeout
        self._cutter: threading.Timer | None = None

    def _connected(self) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self._guard.check_peer(str(sock.getpeername()[0]))
        except BaseException:
            sock.close()
            raise
        self._cutter = threading.Timer(max(0.0, self._deadline - time.monotonic()), _cut, (sock,))
        self._cutter.daemon = True
        self._cutter.start()
        return sock

    def close(self) -> None:
        if self._cutter is not None:
            self._cutter.cancel()
        super().close()

    def connect(self) -> None:
        self.sock = self._connected()


def _cut(sock: socket.socket) -> None:
    """The attempt's time is up: end whatever read or write is in progress on `sock`."""
    with contextlib.suppress(OSError):  # closed already: the attempt ended in time
        sock.shutdown(socket.SHUT_RDWR)


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
    or http.client.HTTPException when there is no whole answer within `limits.timeout_seconds`.
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
