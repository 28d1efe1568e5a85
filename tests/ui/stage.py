"""A stage prefix in front of an API, as API Gateway puts `/api` in front of the deployed one.

`http://localhost:P/api/<rest>` is forwarded to `<api>/<rest>` as it is (method, headers, body,
and the answer's status and headers, redirects included); any other path is 404. Enough to show
that the dashboard's relative URLs keep the prefix.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}


def handler_for(api_url: str, prefix: str) -> type[BaseHTTPRequestHandler]:
    api = urlsplit(api_url)

    class Forward(BaseHTTPRequestHandler):
        def forward(self) -> None:
            if not self.path.startswith(prefix + "/"):
                self.send_error(404, "outside the stage")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream = http.client.HTTPConnection(api.hostname or "localhost", api.port, timeout=30)
            try:
                upstream.request(self.command, self.path[len(prefix) :], body, headers)
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: pytest shows the test's own output

    return Forward


@contextmanager
def stage_prefix(api_url: str, prefix: str = "/api") -> Iterator[str]:
    """Serve `api_url` under `prefix` on a free loopback port; yields the stage's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(api_url, prefix))
    thread = threading.Thread(target=server.serve_forever, name="stage", daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}{prefix}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
