"""Fn's response shapes, and the one place where errors become HTTP statuses.

Fn's body for every error is `{"error": {"message": ...}}`; the message is the error's own
(chalicelib/errors.py words them as Fn does), the status comes from the table below.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Response  # type: ignore[attr-defined]

from chalicelib import errors

JSON = "application/json; charset=utf-8"

STATUS: dict[type[errors.FnqError], int] = {
    errors.InvalidInputError: 400,
    errors.UnauthorizedError: 401,
    errors.ForbiddenError: 403,
    errors.NotFoundError: 404,
    errors.NotAcceptableError: 406,
    errors.ConflictError: 409,
    errors.TransitionError: 409,
    errors.PayloadTooLargeError: 413,
    errors.UriTooLongError: 414,
    errors.HeadersTooLargeError: 431,
    errors.FunctionFailedError: 502,
    errors.ServiceUnavailableError: 503,
    errors.CapacityError: 503,
    errors.FunctionTimeoutError: 504,
    errors.InvocationEndedError: 504,
}


def ok(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Fn marshals success bodies without a trailing newline.
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": JSON, **(headers or {})},
    )


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # Fn encodes error bodies with json.Encoder, which adds a trailing newline.
    body = json.dumps({"error": {"message": message}}, separators=(",", ":")) + "\n"
    return Response(body=body, status_code=status, headers={"Content-Type": JSON, **(headers or {})})


def status_of(exc: errors.FnqError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def failure(exc: errors.FnqError) -> Response:
    retry = {} if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return error_response(status_of(exc), exc.message, retry)
