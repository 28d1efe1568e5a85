"""One callback POST: its timeout bounds the whole attempt, so a receiver cannot hold it by dripping."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from chalicelib.addresses import AddressGuard, parse_callback_url
from chalicelib.webhook import WebhookLimits, post

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class Receiver:
    """A loopback receiver that reads the request, then sends its answer `gap` seconds a byte."""

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sent = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.recv(65536)
            try:
                if not self.gap:
                    conn.sendall(ANSWER)
                    self.sent = len(ANSWER)
                    return
                for byte in ANSWER:
                    conn.sendall(bytes([byte]))
                    self.sent += 1
                    time.sleep(self.gap)
            except OSError:
                return  # the client gave up

    def close(self) -> None:
        self.server.close()
        self.thread.join(10)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def send(receiver: Receiver, timeout: float) -> int:
    target = parse_callback_url(f"http://127.0.0.1:{receiver.port}/hook")
    guard = AddressGuard(allow_private=True)
    return post(target, guard.address_for(target), guard, b"{}", {}, WebhookLimits(timeout_seconds=timeout))


def test_a_receiver_that_answers_gets_its_status_read(receivers: list[Receiver]) -> None:
    receivers.append(Receiver(gap=0))

    assert send(receivers[0], timeout=2) == 200


def test_a_receiver_dripping_its_answer_past_the_timeout_fails_the_attempt(receivers: list[Receiver]) -> None:
    # Each byte comes well within the timeout, as a per-read timeout would allow; the whole answer
    # (72 bytes at 0.1 s) would take 7 s, past the attempt's 1 s.
    receivers.append(Receiver(gap=0.1))

    with pytest.raises((OSError, http.client.HTTPException)):
        send(receivers[0], timeout=1)

    assert receivers[0].sent < len(ANSWER)
