"""A protocol peer for the CLI: a real HTTP server on a loopback port that answers like Fn.

It is not a fake of fnq's internals: it speaks Fn's v1 wire format (fn-api.md §6) from a script
each test writes, and records every request, so tests assert the exact bytes the CLI sends and
prints. The same tests can later run against the real API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from click.testing import Result


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class FnPeer:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    script: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)

    def on(
        self,
        method: str,
        path: str,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer `method path` (query included; a trailing `*` matches any rest) with this reply.

        Scripting the same request again queues the replies in order."""
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            # Fn writes success bodies with json.Marshal: compact, no trailing newline.
            raw = json.dumps(body if body is not None else {}, separators=(",", ":")).encode()
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        self.script.setdefault((method, path), []).append(Reply(status, raw, all_headers))

    def reply_for(self, method: str, path: str) -> Reply:
        queue = self.script.get((method, path))
        if not queue:
            # A scripted path ending in `*` answers every path it prefixes.
            queue = next(
                (
                    q
                    for (m, p), q in self.script.items()
                    if m == method and p.endswith("*") and path.startswith(p[:-1])
                ),
                None,
            )
        if not queue:
            message = {"error": {"message": f"Path not found: {path}"}}
            return Reply(404, (json.dumps(message) + "\n").encode(), {"Content-Type": "application/json"})
        # The last scripted reply sticks, so polling tests can end on a terminal state.
        return queue.pop(0) if len(queue) > 1 else queue[0]

    @property
    def seen(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]


def handler_for(peer: FnPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            peer.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
            reply = peer.reply_for(self.command, self.path)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


RunFn = Callable[..., Result]


class FakeClock:
    """Time for polling tests: `sleep` advances `now` instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def call_json(**fields: Any) -> dict[str, Any]:
    call = {
        "id": "01C92S7X4NNG8G00GZJ0000002",
        "status": "success",
        "app_name": "myapp",
        "path": "/hello",
        "created_at": "2018-05-30T12:00:00.000Z",
        "started_at": "2018-05-30T12:00:01.000Z",
        "completed_at": "2018-05-30T12:00:02.500Z",
    }
    call.update(fields)
    return call


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
