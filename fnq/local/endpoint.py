"""The embedded AWS endpoint of `fn start`: moto's server application, served from this process.

moto's own `ThreadedMotoServer` serves the same application; this one puts `CaptureMiddleware`
in front of it (the saved state follows every write), serves it on a port bound at once (so a
busy `--aws-port` fails before anything starts), and stops within a tenth of a second. Moto's
server application, request handler and backends are used as moto builds them.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from fnq.local.capture import CaptureMiddleware
from fnq.local.inprocess import InProcessEndpoint, WsgiApp

LOOPBACK = "127.0.0.1"
# How long a stop waits for the serving loop to notice (socketserver's poll interval).
POLL_SECONDS = 0.1


class EmbeddedEndpoint:
    def __init__(self, port: int = 0) -> None:
        """Bind `port` on 127.0.0.1 (0: any free port); raises OSError if it is taken."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        self.app: WsgiApp = DomainDispatcherApplication(create_backend_app)
        self.capture = CaptureMiddleware(self.app)
        try:
            self._server: BaseWSGIServer = make_server(
                LOOPBACK, port, self.capture, threaded=True, request_handler=MotoRequestHandler
            )
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
        else:
            self._server.server_close()

    def __enter__(self) -> EmbeddedEndpoint:
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
