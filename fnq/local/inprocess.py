"""AWS API requests handed straight to the embedded endpoint's WSGI application, in this process.

`fn start` serves its embedded AWS (the moto server) from its own process. Saving and restoring
that state speaks the AWS wire protocol to the endpoint, as any client does, so it depends on the
APIs (DynamoDB's JSON operations, S3's REST objects) and not on how moto stores things. Only the
transport differs: a request is given to the WSGI application directly rather than over a socket.
Over HTTP each request opens a connection and a server thread (about 1.6 ms with the lightest
client, 3-5 ms with boto3); in-process it costs what the endpoint's own work costs (0.7 ms for an
S3 PUT), which is what makes restoring 10,000 calls' logs take seconds rather than half a minute.

The endpoint checks no signatures; the Authorization header only tells it which service a request
is for (moto dispatches on the credential scope), with the same fake key every client of the
embedded endpoint uses, so the requests reach the same account and region.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from werkzeug.test import EnvironBuilder, run_wsgi_app

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

DYNAMODB_TARGET = "DynamoDB_20120810."
DYNAMODB_CONTENT_TYPE = "application/x-amz-json-1.0"


class EndpointError(RuntimeError):
    """The endpoint refused a request that should have succeeded."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


def call_app(app: WsgiApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """The application's whole answer to `environ`: status line, headers, body."""
    chunks, status, headers = run_wsgi_app(app, environ, buffered=True)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return status, headers.to_wsgi_list(), body


def authorization(access_key: str, region: str, service: str) -> str:
    """A SigV4-shaped header naming `service`: enough for the endpoint to route the request."""
    scope = f"{access_key}/20000101/{region}/{service}/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"


def object_path(bucket: str, key: str) -> str:
    """The path-style URL path of an object, its key percent-encoded as S3 clients send it."""
    return f"/{bucket}/{quote(key, safe='/~')}"


class InProcessEndpoint:
    """DynamoDB and S3 requests to the endpoint application `app`, answered in this thread."""

    def __init__(self, app: WsgiApp, access_key: str, region: str, host: str = "127.0.0.1") -> None:
        self._app = app
        self._host = host
        self._dynamodb_auth = authorization(access_key, region, "dynamodb")
        self.s3_authorization = authorization(access_key, region, "s3")

    def request(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes = b"", query: str = ""
    ) -> Reply:
        builder = EnvironBuilder(
            path=path,
            method=method,
            headers=[("Host", self._host), *headers.items()],
            data=body,
            query_string=query or None,
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        # moto's S3 reads the key from the raw request URI, as a server gives it, percent-encoded.
        environ["RAW_URI"] = environ["REQUEST_URI"] = path + (f"?{query}" if query else "")
        status, reply_headers, data = call_app(self._app, environ)
        return Reply(int(status.split(" ", 1)[0]), dict(reply_headers), data)

    def dynamodb(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """One DynamoDB operation (`GetItem`, `BatchWriteItem`, ...) in the JSON wire format."""
        reply = self.request(
            "POST",
            "/",
            {
                "X-Amz-Target": DYNAMODB_TARGET + operation,
                "Content-Type": DYNAMODB_CONTENT_TYPE,
                "Authorization": self._dynamodb_auth,
            },
            json.dumps(payload).encode(),
        )
        answer: dict[str, Any] = json.loads(reply.body) if reply.body else {}
        if reply.status != 200:
            raise EndpointError(f"DynamoDB {operation}: {reply.status} {answer}")
        return answer

    def get_object(self, bucket: str, key: str) -> Reply:
        """GetObject; a missing object answers 404 (not an error here)."""
        reply = self.request("GET", object_path(bucket, key), {"Authorization": self.s3_authorization})
        if reply.status not in (200, 404):
            raise EndpointError(f"S3 GetObject {key}: {reply.status} {reply.body[:200]!r}")
        return reply

    def put_object(
        self, bucket: str, key: str, body: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> None:
        headers = {"Authorization": self.s3_authorization, "Content-Type": content_type}
        headers.update({f"x-amz-meta-{name}": value for name, value in metadata.items()})
        reply = self.request("PUT", object_path(bucket, key), headers, body)
        if reply.status != 200:
            raise EndpointError(f"S3 PutObject {key}: {reply.status} {reply.body[:200]!r}")
