"""Domain errors. No HTTP in here: `http/responses.py` maps each class to a status in one table.

The message of every error is what the client reads in Fn's envelope
`{"error": {"message": ...}}`, so messages follow Fn's wording where Fn has one.
"""

from __future__ import annotations

from typing import Any


class FnqError(Exception):
    """Root of every error fnq raises on purpose."""

    # Seconds after which the same request may succeed, for errors that pass (the HTTP layer
    # sends it as Retry-After); None when retrying will not help.
    retry_after: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(FnqError):
    """The request is malformed or breaks a validation rule (Fn: 400)."""


class UnauthorizedError(FnqError):
    """The API requires a bearer token and the request carried none or another (401)."""


class ForbiddenError(FnqError):
    """The request's token is valid but lacks the right, or the app, the request needs (403)."""


class NotFoundError(FnqError):
    """The app, route, call, log or path does not exist (Fn: 404)."""


class ConflictError(FnqError):
    """The resource exists already, or an immutable field was changed (Fn: 409)."""


class PayloadTooLargeError(FnqError):
    """A request body, or a record made from it, is over a limit (Fn: 413)."""


class HeadersTooLargeError(PayloadTooLargeError):
    """The request's header fields are more than a call can record (431)."""


class UriTooLongError(PayloadTooLargeError):
    """The request's URL is longer than a call can record (414)."""


class NotAcceptableError(FnqError):
    """No representation matches the client's Accept header (Fn: 406)."""


class FunctionFailedError(FnqError):
    """A sync call's function failed: non-zero exit, bad output, memory (Fn: 502)."""


class FunctionTimeoutError(FnqError):
    """A sync call's function ran past its timeout (Fn: 504 `Timed out`)."""


class InvocationEndedError(FnqError):
    """The request ran past the API's time limit and its invocation was ended (504); deployed,
    API Gateway answers it (infra/functions.yaml), locally fn start's API (fnq/local/api_server.py)."""


# What a request past the API's time limit is answered: deployed by API Gateway's
# INTEGRATION_TIMEOUT response (infra/functions.yaml holds the same words: tests/infra checks).
API_TIMED_OUT = (
    "Endpoint request timed out: the request ran past the API's time limit "
    "(a function that runs this long belongs on an async route)"
)
# What API Gateway answers a path none of the API's resources match (deeper than the catch-alls),
# by its MISSING_AUTHENTICATION_TOKEN response: Fn's words, without the path, which a static
# gateway response cannot put into JSON safely.
PATH_NOT_FOUND = "Path not found"


class ServiceUnavailableError(FnqError):
    """A dependency (queue, store) refused the work; the client may retry (Fn: 503)."""


class CapacityError(ServiceUnavailableError):
    """Every process this server may run for the function (or at all) is busy, and none came free
    in the time a call may wait (503 with Retry-After)."""

    retry_after = 1


class TransitionError(FnqError):
    """A conditional state change found the call in another state.

    Carries the record as it is now (when the store could read it in the same request), so
    the caller decides what the duplicate or late arrival means without another read.
    """

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current


def app_not_found() -> NotFoundError:
    return NotFoundError("App not found")


def route_not_found() -> NotFoundError:
    return NotFoundError("Route not found")


def call_not_found() -> NotFoundError:
    return NotFoundError("Call not found")


def token_not_found() -> NotFoundError:
    return NotFoundError("Token not found")
