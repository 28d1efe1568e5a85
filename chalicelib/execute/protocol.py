"""Fn's `json` format (fn-api.md §3.1): one JSON object per line each way. Pure.

Request::

    {"call_id": ..., "deadline": ..., "body": "...", "content_type": ...,
     "protocol": {"type": "http", "method": ..., "request_url": ..., "headers": {"Name": ["v"]}}}

Response::

    {"body": "...", "content_type": ..., "protocol": {"status_code": 200, "headers": {"X": ["y"]}}}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.execute.environment import canonical_header
from chalicelib.ids import format_time
from chalicelib.ports import Invocation

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Built once: json.dumps with any option builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


class ProtocolError(Exception):
    """The function answered something that is not a json-format response."""


@dataclass(frozen=True)
class JsonResponse:
    body: bytes
    content_type: str = ""
    status_code: int = 200
    headers: dict[str, list[str]] = field(default_factory=dict)


def encode_request(invocation: Invocation) -> bytes:
    """One line. A body that is not UTF-8 is passed with U+FFFD in place of bad bytes, as Go's
    encoding/json does for Fn (the format has no way to carry raw bytes)."""
    request = {
        "call_id": invocation.call_id,
        "deadline": format_time(invocation.deadline),
        "body": invocation.body.decode("utf-8", "replace"),
        "content_type": invocation.content_type,
        "protocol": {
            "type": "http",
            "method": invocation.method,
            "request_url": invocation.request_url,
            "headers": {canonical_header(k): list(v) for k, v in invocation.headers.items()},
        },
    }
    return _ENCODER.encode(request).encode() + b"\n"


def decode_response(line: bytes) -> JsonResponse:
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"invalid json response from function: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProtocolError("invalid json response from function: not an object")
    body = raw.get("body", "")
    if not isinstance(body, str):
        raise ProtocolError("invalid json response from function: body is not a string")
    content_type = raw.get("content_type") or ""
    protocol = raw.get("protocol") or {}
    if not isinstance(content_type, str) or not isinstance(protocol, dict):
        raise ProtocolError("invalid json response from function: bad content_type or protocol")
    status = protocol.get("status_code") or 200
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ProtocolError(f"invalid json response from function: status_code {status!r}")
    return JsonResponse(
        # A lone surrogate ("\\ud800") is valid JSON but not UTF-8: U+FFFD instead, as Go does.
        body=_LONE_SURROGATE.sub("\ufffd", body).encode(),
        content_type=content_type,
        status_code=status,
        headers=_headers(protocol.get("headers") or {}),
    )


def _headers(raw: Any) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise ProtocolError("invalid json response from function: headers is not an object")
    headers: dict[str, list[str]] = {}
    for name, values in raw.items():
        items = values if isinstance(values, list) else [values]
        headers[str(name)] = [str(v) for v in items]
    return headers
