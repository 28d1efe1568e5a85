"""Chalice's local HTTP server, made to refuse what API Gateway refuses, in Fn's JSON envelope.

Chalice's handler (`chalice.local.ChaliceRequestHandler`) is a development server: it trusts
`Content-Length` (and reads a body of any size into memory), leaves an unread chunked body in the
connection, answers methods it does not know with `http.server`'s HTML 501 page, and writes any
response header it is given (a name with CR/LF injects a header; one outside latin-1 raises and
drops the connection). Deployed,
API Gateway stands in front and none of that reaches the app. Locally this handler stands in
its place, so `fn start` answers a hostile request with a 4xx in Fn's shape, never a dropped
connection or an HTML page.

It also keeps the deployed API's time limit (stage.py): a request still running when API Gateway
would have answered 504, or Lambda ended the API function, is answered 504 in Fn's envelope and
its invocation is ended as Lambda ends one (runner.end_sync_calls: the sync call's function is
killed and nothing more is written for it; a call recorded `running` is failed by the sweeper).

And it admits function invocations (`/r/...`) a few at a time (`Admission`): deployed, each
request is a Lambda invocation of its own; here every request is a thread of one interpreter, and
a burst of 200 sync calls made 200 threads runnable at once, each holding the GIL in turn, so that
`/version` or a listing waited behind all of them for over a second. Invocations past the limit
wait, idle, for their turn (the wait counts against the time limit above); the rest of the API is
never queued behind them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from chalice.local import ChaliceRequestHandler, ForbiddenError, LocalGateway, LocalGatewayException

from chalicelib import inputs
from chalicelib.errors import API_TIMED_OUT, InvocationEndedError
from chalicelib.http.bodies import body_limit
from chalicelib.http.responses import failure
from chalicelib.runner import end_sync_calls

log = logging.getLogger(__name__)

# How much of a refused request's body is read (and dropped) so that its client reads the answer.
DISCARD_MAX_BYTES = 256 * 1024 * 1024
DISCARD_SECONDS = 10.0


def valid_header(name: str, value: str) -> bool:
    """Whether a response header can be sent as it is, by the app's own rule (chalicelib/inputs.py):
    a token name, a value with no CR, LF or NUL and nothing outside latin-1."""
    return inputs.is_header_name(name) and inputs.header_value_problem(value) is None


# Function invocations running at once in fn start's API (FNQ_API_INVOCATIONS): enough for every
# process the executor's default caps allow, few enough that the GIL goes round them quickly.
ENV_API_INVOCATIONS = "FNQ_API_INVOCATIONS"
DEFAULT_API_INVOCATIONS = 16
INVOCATION_PREFIX = "/r/"


class Admission:
    """Function invocations (`/r/...`) admitted `limit` at a time; other requests pass at once."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, limit))

    @classmethod
    def from_env(cls, environ: Any) -> Admission:
        return cls(int(environ.get(ENV_API_INVOCATIONS) or DEFAULT_API_INVOCATIONS))

    def enter(self, path: str, seconds: float) -> bool | None:
        """Wait up to `seconds` for a turn: True, admitted (call `leave`); False, no turn came;
        None, the request is not an invocation and needs none."""
        if not path.startswith(INVOCATION_PREFIX):
            return None
        return self._slots.acquire(timeout=seconds)

    def leave(self) -> None:
        self._slots.release()


class TimedGateway(LocalGateway):  # type: ignore[misc]
    """Chalice's LocalGateway with the deployed API's time limit: each request is an invocation
    on a thread of its own, answered 504 and ended (see the module docstring) past `seconds`,
    counted from its arrival, its wait for a turn (`admission`) included."""

    def __init__(
        self, app_object: Any, config: Any, seconds: float, admission: Admission | None = None
    ) -> None:
        super().__init__(app_object, config)
        self._seconds = seconds
        self._admission = admission

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        deadline = time.monotonic() + self._seconds
        admitted = self._admission.enter(path, self._seconds) if self._admission else None
        if admitted is False:
            log.error("API invocation %s %s: no turn within %.2f seconds", method, path[:200], self._seconds)
            return failure(InvocationEndedError(API_TIMED_OUT)).to_dict()
        try:
            return self._invoke(method, path, headers, body, deadline)
        finally:
            if admitted and self._admission:
                self._admission.leave()

    def _invoke(self, method: str, path: str, headers: Any, body: bytes | None, deadline: float) -> Any:
        outcome: dict[str, Any] = {}

        def invoke() -> None:
            try:
                outcome["response"] = super(TimedGateway, self).handle_request(method, path, headers, body)
            except BaseException as exc:  # re-raised on the request's thread, as if raised there
                outcome["error"] = exc

        invocation = threading.Thread(target=invoke, name="api-invocation", daemon=True)
        invocation.start()
        invocation.join(max(0.0, deadline - time.monotonic()))
        if invocation.is_alive():
            ended = end_sync_calls(invocation)
            # Lambda's words for a timed-out invocation, as the deployed API's log would show them.
            log.error(
                "API invocation %s %s: Task timed out after %.2f seconds (%d sync call(s) ended)",
                method,
                path.split("?", 1)[0][:200],
                self._seconds,
                ended,
            )
            return failure(InvocationEndedError(API_TIMED_OUT)).to_dict()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["response"]


class FnRequestHandler(ChaliceRequestHandler):
    """ChaliceRequestHandler with API Gateway's refusals, worded as Fn's `{"error": {...}}`, and
    its time limit (`request_seconds`; None: none), invocations taking turns (`admission`).

    `max_request_bytes`: the body limit of the settings the server started with, read once."""

    def __init__(
        self,
        request: Any,
        client_address: Any,
        server: Any,
        app_object: Any,
        config: Any,
        *,
        max_request_bytes: int,
        request_seconds: float | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._max_request_bytes = max_request_bytes
        # ChaliceRequestHandler's own __init__, with the gateway that keeps the time limit: the
        # base class's __init__ handles the connection's requests, so the gateway comes first.
        if request_seconds:
            self.local_gateway = TimedGateway(app_object, config, request_seconds, admission)
        else:
            self.local_gateway = LocalGateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def __getattr__(self, name: str) -> Any:
        # http.server looks a method's handler up as `do_<METHOD>` and answers an HTML 501 when
        # there is none; every method Chalice does not route (TRACE, CONNECT, FOO) lands here.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self) -> None:
        self._refuse(405, f"Method {self.command} is not allowed")
        self._discard_unread_body()

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        if self.headers.get("transfer-encoding"):
            raise _Refusal(411, "Send the body with a Content-Length header (chunked is not accepted)")
        raw = self.headers.get("content-length", "0").strip()
        if not raw.isdigit():
            raise _Refusal(400, f"Invalid Content-Length header: {raw[:40]!r}")
        # Refused before it is read: Chalice would hold the whole body in memory first.
        limit = body_limit(self.path, self._max_request_bytes)
        if int(raw) > limit:
            raise _Refusal(413, inputs.content_too_large(int(raw), limit).message)
        headers, body = super()._parse_payload()
        return headers, body

    def _generic_handle(self) -> None:
        try:
            super()._generic_handle()
        except _Refusal as refusal:
            self._refuse(refusal.status, refusal.message)
            self._discard_unread_body()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def send_header(self, keyword: str, value: str) -> None:
        # The app filters what functions send (and says so in the call's log); this is the last
        # line, so that nothing a function wrote can split the response or drop the connection.
        if not valid_header(str(keyword), str(value)):
            log.warning("dropped a response header that HTTP cannot carry: %r", str(keyword)[:80])
            return
        super().send_header(keyword, value)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (414 URI too long, 431 headers too large, 400 bad request
        # line) come as an HTML page; Fn's clients read JSON.
        self._refuse(code, message or self.responses.get(code, ("Error",))[0])

    def _send_error_response(self, error: LocalGatewayException) -> None:
        # Chalice answers a path no route matches as API Gateway does (403 "Missing
        # Authentication Token"); Fn answers 404 "Path not found", as the app's catch-alls do.
        if isinstance(error, ForbiddenError) and b"Missing Authentication Token" in (error.body or b""):
            path = self.path.split("?", 1)[0]
            self._refuse(404, f"Path not found: {path}")
            return
        super()._send_error_response(error)

    def _refuse(self, status: int, message: str) -> None:
        # The request's body (if any) was not read: this connection cannot carry another request.
        self.close_connection = True
        body = json.dumps({"error": {"message": message}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _discard_unread_body(self) -> None:
        """Read and drop the body a refused request declared, after answering it.

        Closing a socket with unread bytes resets the connection, and a client still sending the
        body (most send it all before reading) then never sees the answer: a 413 became a broken
        pipe. So the body is read and dropped, in small pieces (never held), within bounds.
        """
        raw = self.headers.get("content-length", "").strip() if getattr(self, "headers", None) else ""
        if not raw.isdigit():
            return
        left = min(int(raw), DISCARD_MAX_BYTES)
        deadline = time.monotonic() + DISCARD_SECONDS
        with contextlib.suppress(OSError):
            self.connection.settimeout(DISCARD_SECONDS)
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read(min(left, 64 * 1024))
                if not chunk:
                    return
                left -= len(chunk)


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
