"""The embedded AWS endpoint of `fn start`: moto's server application, served from this process.

moto's own `ThreadedMotoServer` serves the same application; this one puts `CaptureMiddleware`
in front of it (the saved state follows every write), serves it on a port bound at once (so a
busy `--aws-port` fails before anything starts), and stops within a tenth of a second (its open
connections with it). Moto's server application and backends are used as moto builds them, and
its request handler's environ (S3 metadata names with underscores kept).

It also keeps connections open between requests (HTTP/1.1 keep-alive). werkzeug's server closes
every connection after one answer (it cannot tell where a request's unread body ends), so each
AWS request of the API and the worker paid for a TCP connection on both sides and a new server
thread (a PutItem from one boto3 client: 2.2 ms, 1.5 ms on a kept connection). Here a
request's body is read whole before the application sees it and the answer is buffered whole (a
moto answer is in memory already), so the next request on the connection starts where this one
ended; a connection has one thread for its life.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import socket
import threading
from typing import Any

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import ThreadedWSGIServer

from fnq.local.capture import CaptureMiddleware
from fnq.local.inprocess import InProcessEndpoint, WsgiApp, call_app

log = logging.getLogger(__name__)
WERKZEUG_LOG = logging.getLogger("werkzeug")

LOOPBACK = "127.0.0.1"
# How long a stop waits for the serving loop to notice (socketserver's poll interval).
POLL_SECONDS = 0.1
# A connection idle this long is closed (its thread ends); clients reconnect when they need to.
IDLE_SECONDS = 120.0
# Answers up to this size leave in one write with their headers.
WRITE_BUFFER = 64 * 1024
NO_BODY_STATUSES = frozenset({204, 304})
# Hop-by-hop framing is the server's to set, not the application's.
FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


def keep_alive_handler() -> type[Any]:
    """moto's request handler (its environ: S3 metadata with underscores), serving keep-alive."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveHandler(MotoRequestHandler):  # type: ignore[misc]
        protocol_version = "HTTP/1.1"
        timeout = IDLE_SECONDS
        disable_nagle_algorithm = True
        wbufsize = WRITE_BUFFER
        server: KeepAliveServer

        def setup(self) -> None:
            super().setup()
            self.server.opened(self.connection)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                self.server.closed(self.connection)

        def handle_expect_100(self) -> bool:
            # http.server answers "Expect: 100-continue" itself; out now, not left in the buffer
            # while the client waits for it to send the body.
            answered = bool(super().handle_expect_100())
            self.wfile.flush()
            return answered

        def run_wsgi(self) -> None:
            if self.request_version != "HTTP/1.1":
                self.close_connection = True
            environ = self.make_environ()
            length = environ.get("CONTENT_LENGTH") or "0"
            if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's decoder reads to its end
                body = environ["wsgi.input"].read()
            elif length.isdigit():
                body = self.rfile.read(int(length))
            else:
                self.close_connection = True
                self.send_error(400, "Content-Length is not a number")
                return
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                status, headers, data = call_app(self.server.app, environ)
            except Exception:
                log.exception("the embedded AWS failed a request: %s", self.requestline)
                self.close_connection = True
                error = InternalServerError()
                status, headers, data = (
                    "500 INTERNAL SERVER ERROR",
                    error.get_headers(),
                    error.get_body().encode(),
                )
            self._answer(status, headers, data)

        def _answer(self, status: str, headers: list[tuple[str, str]], data: bytes) -> None:
            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason)
            framed = {name.lower(): value for name, value in headers if name.lower() in FRAMING}
            for name, value in headers:
                if name.lower() not in FRAMING:
                    self.send_header(name, value)
            if self.command == "HEAD":
                # The length of the body a GET would have: the application's to say.
                if "content-length" in framed:
                    self.send_header("Content-Length", framed["content-length"])
                data = b""
            elif int(code) in NO_BODY_STATUSES or int(code) < 200:
                data = b""
            else:
                self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if data:
                self.wfile.write(data)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if WERKZEUG_LOG.isEnabledFor(logging.INFO):  # fn start turns it down: skip the formatting
                super().log_request(code, size)

        def log_error(self, format: str, *args: Any) -> None:
            if not format.startswith("Request timed out"):  # an idle keep-alive connection
                super().log_error(format, *args)

    return KeepAliveHandler


class KeepAliveServer(ThreadedWSGIServer):
    """werkzeug's threaded server, one thread a connection, which knows its open connections."""

    def __init__(self, host: str, port: int, app: WsgiApp) -> None:
        super().__init__(host, port, app, keep_alive_handler())
        self._connections: set[Any] = set()
        self._connections_lock = threading.Lock()

    def opened(self, connection: Any) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def closed(self, connection: Any) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """End every open connection: a stopped endpoint answers nothing more, even on them."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # SHUT_RDWR: a thread waiting for a request reads the end
                connection.shutdown(socket.SHUT_RDWR)


class EmbeddedEndpoint:
    def __init__(self, port: int = 0) -> None:
        """Bind `port` on 127.0.0.1 (0: any free port); raises OSError if it is taken."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.app: WsgiApp = DomainDispatcherApplication(create_backend_app)
        self.capture = CaptureMiddleware(self.app)
        try:
            self._server = KeepAliveServer(LOOPBACK, port, self.capture)
        except SystemExit as exc:  # werkzeug prints "Address already in use" and exits instead
            raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE)) from exc
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, name="aws", daemon=True
        )
        self._thread.start()

    def in_process(self, access_key: str, region: str) -> InProcessEndpoint:
        """Requests to the endpoint application itself, bypassing the capture (see inprocess.py)."""
        return InProcessEndpoint(self.app, access_key, region, host=f"{LOOPBACK}:{self.port}")

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self._server.close_connections()

    def __enter__(self) -> EmbeddedEndpoint:
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
