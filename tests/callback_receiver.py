"""A real HTTP receiver of completion callbacks, on loopback, in the test process.

It answers each POST with the next status of its script (then 200), and keeps every delivery
as it arrived: path, headers (case-insensitive) and the raw body, for the signature check.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs" / "CALLBACKS.md"


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: Message
    body: bytes

    @property
    def call(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


class Receiver:
    def __init__(self, statuses: list[int]) -> None:
        self.script = list(statuses)
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self.url = ""

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.deliveries) >= count:
                    return list(self.deliveries)
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.deliveries)} deliveries after {timeout} s, wanted {count}")
            time.sleep(0.05)


@contextmanager
def receiving(statuses: list[int] | None = None) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 at a free port; `url` is its /hook."""
    receiver = Receiver(statuses or [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                receiver.deliveries.append(Delivery(self.path, self.headers, body))
                status = receiver.script.pop(0) if receiver.script else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def documented_snippet(language: str) -> str:
    """The verification snippet of docs/CALLBACKS.md in `language`, exactly as the page shows it."""
    found = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), re.S)
    assert len(found) == 1, f"docs/CALLBACKS.md should hold one {language} block, holds {len(found)}"
    return str(found[0])


def verified_by_the_documented_python(secret: str, delivery: Delivery) -> bool:
    """Runs docs/CALLBACKS.md's Python snippet verbatim on a delivery as it arrived."""
    namespace: dict[str, Any] = {}
    exec(documented_snippet("python"), namespace)
    headers: Mapping[str, str] = delivery.headers  # type: ignore[assignment]
    return bool(namespace["verify"](secret, headers, delivery.body))
