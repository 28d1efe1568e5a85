"""Faults injected where botocore sends a request: the service answers with an error, as AWS would.

The client's own retry logic and error parsing run unchanged; only the reply is a failure. A
faulted request never reaches moto (as a throttled request is never applied): the fault stands in
front of moto's stub for that client and passes every other request through to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any, **__: Any) -> bytes:
        body, self._body = self._body, b""
        return body


@dataclass
class Fault:
    """Fail `operation` `times` times (always when None), after letting `after` requests through."""

    operation: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None
    after: int = 0
    sent: int = 0
    seen: int = 0
    active: bool = True

    def applies(self, event_name: str) -> bool:
        if not self.active or event_name.split(".")[-1] != self.operation:
            return False
        self.seen += 1
        return self.seen > self.after and (self.times is None or self.sent < self.times)

    def response(self, request: Any) -> AWSResponse:
        self.sent += 1
        return AWSResponse(request.url, self.status, self.headers, _Raw(self.body))  # type: ignore[arg-type]


def inject(client: Any, fault: Fault) -> Fault:
    """Put `fault` in front of moto's stub on this client's sends (moto answers everything else)."""
    from moto.core.models import botocore_stubber

    def send(request: Any, event_name: str = "", **kwargs: Any) -> AWSResponse | None:
        if fault.applies(event_name):
            return fault.response(request)
        response: AWSResponse | None = botocore_stubber(event_name, request, **kwargs)
        return response

    client.meta.events.unregister("before-send", botocore_stubber)
    client.meta.events.register("before-send", send)
    return fault


def dynamodb_throttling(operation: str, times: int | None = None, after: int = 0) -> Fault:
    body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}'
    return Fault(
        operation, 400, body, {"Content-Type": "application/x-amz-json-1.0"}, times=times, after=after
    )


def s3_internal_error(operation: str, times: int | None = None) -> Fault:
    body = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
    return Fault(operation, 500, body, {"Content-Type": "application/xml"}, times=times)


def sqs_unavailable(operation: str, times: int | None = None) -> Fault:
    body = b'{"__type":"com.amazonaws.sqs#ServiceUnavailable","message":"Service unavailable"}'
    return Fault(operation, 503, body, {"Content-Type": "application/x-amz-json-1.0"}, times=times)
