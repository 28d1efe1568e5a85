"""Invoking a route: an async call is recorded, then queued; a sync call runs inline and is
recorded once, when it ends (one write: see Runner.run_sync).

Persist, then publish: the record is written before its id is sent, so a message always finds
its call; a call whose message never left is marked failed (dead), never left queued.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple

from chalicelib import inputs
from chalicelib.addresses import AddressGuard
from chalicelib.callbacks import header_callback_url
from chalicelib.errors import (
    CapacityError,
    ConflictError,
    HeadersTooLargeError,
    InvalidInputError,
    InvocationEndedError,
    ServiceUnavailableError,
    UriTooLongError,
    app_not_found,
    route_not_found,
)
from chalicelib.ids import new_call_id
from chalicelib.inputs import size_text
from chalicelib.models import (
    SQS_MAX_DELAY_SECONDS,
    App,
    Call,
    CallRequest,
    CallStatus,
    FunctionSpec,
    Route,
    RouteType,
)
from chalicelib.ports import CallQueue, CallStore, Execution, PayloadStore, RouteStore, Runner
from chalicelib.rules import is_app_name

log = logging.getLogger(__name__)

# Delayed calls (beside Fn's API): an async invoke may carry `Fn-Delay: <seconds>` or
# `Fn-Not-Before: <RFC 3339 time>`. Up to SQS's 15 minutes the message itself is delayed; beyond,
# the call waits queued without a message and the sweeper sends it when due.
MAX_DELAY = timedelta(days=14)


def not_before_of(headers: dict[str, list[str]], now: datetime) -> datetime | None:
    """The earliest start an invoke asks for (None: at once); 400 for a malformed or too far one."""
    named = {name.lower(): values[0] for name, values in headers.items() if values}
    if "fn-delay" in named:
        try:
            seconds = int(named["fn-delay"])
        except ValueError as exc:
            raise InvalidInputError("Fn-Delay must be a whole number of seconds") from exc
        # Bounded before it becomes a time: 10^18 seconds is past any date (an OverflowError).
        start = now + timedelta(seconds=max(-1, min(seconds, int(MAX_DELAY.total_seconds()) + 1)))
    elif "fn-not-before" in named:
        try:
            start = datetime.fromisoformat(named["fn-not-before"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInputError("Fn-Not-Before must be an RFC 3339 time") from exc
        if start.tzinfo is None:
            raise InvalidInputError("Fn-Not-Before must be an RFC 3339 time with its offset")
    else:
        return None
    if start - now > MAX_DELAY:
        raise InvalidInputError(f"a call may be delayed by at most {MAX_DELAY.days} days")
    return start if start > now else None


IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY = 255


# Request headers that never reach a function, its input or the call record (docs/TOKENS.md):
# credentials addressed to someone else. A proxy's, and AWS's session token, which a client that
# signs requests sends for AWS, never for the function (fnq's API checks no AWS signature).
WITHHELD_ALWAYS = frozenset({"proxy-authorization", "x-amz-security-token"})


def withheld_headers(api_requires_token: bool) -> frozenset[str]:
    """Lower-case names of the headers a function must not see.

    When the API requires a token, `Authorization` carries it (the stack's, or a scoped token):
    withheld. On an open API it is the caller's own and reaches the function, as in Fn.
    """
    return WITHHELD_ALWAYS | {"authorization"} if api_requires_token else WITHHELD_ALWAYS


# The messages between the HTTP layer and the invoker, and its limits (made once by wiring.py),
# are only built and read: NamedTuples, as immutable, and a fifth of a frozen dataclass's cost to
# define on the cold start (docs/ARCHITECTURE.md, "The cold start").
class IncomingRequest(NamedTuple):
    method: str
    url: str
    headers: dict[str, list[str]]
    body: bytes
    content_type: str = ""


class InvokeResult(NamedTuple):
    call_id: str
    route_headers: dict[str, list[str]]
    execution: Execution | None = None  # None for async calls


class InvokeLimits(NamedTuple):
    max_request_bytes: int  # larger bodies are refused (413)
    inline_body_bytes: int  # larger bodies go to the payload store, the record points to them
    lease_grace_seconds: int  # a lease lasts the function's timeout plus this margin
    # With heartbeats, every lease (a claim's, a renewal's) lasts this long; 0: timeout + grace.
    lease_seconds: int = 0
    # How long an async call's Idempotency-Key answers with that call (as Stripe's keys: a day).
    idempotency_seconds: int = 24 * 3600


def idempotency_key(headers: dict[str, list[str]]) -> str:
    """The request's Idempotency-Key ("" without one); 400 for a key that cannot be one."""
    for name, values in headers.items():
        if name.lower() == IDEMPOTENCY_HEADER and values:
            key = values[0].strip()
            if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
                raise InvalidInputError(
                    f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"
                )
            return key
    return ""


def request_fingerprint(app_name: str, path: str, request: IncomingRequest) -> str:
    """What makes two requests "the same" for an Idempotency-Key: method, target, type and body.

    The query string is part of the target; the host is not (one API may have several names),
    nor other headers (clients add dates, tracing ids, tokens that change between retries).
    """
    query = request.url.partition("?")[2]
    digest = hashlib.sha256()
    for part in (request.method.upper(), app_name, path, query, request.content_type):
        digest.update(part.encode() + b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def publish(
    queue: CallQueue, calls: CallStore, call_id: str, now: Callable[[], datetime], delay_seconds: int = 0
) -> None:
    """Send a recorded queued call's id; if the send fails, fail the call (dead) and re-raise."""
    try:
        queue.send(call_id, delay_seconds=delay_seconds)
    except ServiceUnavailableError:
        try:
            calls.fail_queued(call_id, now(), "could not enqueue the call; it was not run")
        except Exception:
            log.exception("call %s: not enqueued and not marked failed", call_id)
        raise


def check_recordable(request: IncomingRequest) -> None:
    """A call records its request's URL and headers: they must be HTTP's and fit the record."""
    for name in request.headers:
        if not inputs.is_header_name(name):
            raise InvalidInputError(f"Invalid request header name {name!r}: {inputs.HEADER_NAME_RULE}")
    size = inputs.headers_bytes(request.headers)
    if size > inputs.MAX_REQUEST_HEADER_BYTES:
        raise HeadersTooLargeError(
            f"Request header fields too large ({size_text(size)} bytes of names and values; "
            f"at most {size_text(inputs.MAX_REQUEST_HEADER_BYTES)})"
        )
    size = inputs.utf8_len(request.url)
    if size > inputs.MAX_URL_BYTES:
        raise UriTooLongError(
            f"Request URL too long ({size_text(size)} bytes; at most {size_text(inputs.MAX_URL_BYTES)})"
        )


class Invoker:
    def __init__(
        self,
        routes: RouteStore,
        calls: CallStore,
        queue: CallQueue,
        payloads: PayloadStore,
        runner: Callable[[], Runner],  # made at the first sync call (wiring.py)
        clock: Callable[[], datetime],
        limits: InvokeLimits,
        # Withholding Authorization unless told the API is open: forgetting to say leaks nothing.
        withheld: frozenset[str] = withheld_headers(api_requires_token=True),
        guard: AddressGuard | None = None,
    ) -> None:
        self._routes = routes
        self._calls = calls
        self._queue = queue
        self._payloads = payloads
        self._runner = runner
        self._clock = clock
        self._limits = limits
        self._withheld = withheld  # lower-case header names, see withheld_headers()
        self._guard = guard or AddressGuard()  # refusing every non-public address unless told

    def invoke(self, app_name: str, path: str, request: IncomingRequest) -> InvokeResult:
        if len(request.body) > self._limits.max_request_bytes:
            raise inputs.content_too_large(len(request.body), self._limits.max_request_bytes)
        check_recordable(request)
        app, route = self._lookup(app_name, "/" + path.strip("/"))
        now = self._clock()
        call_id = new_call_id(now)
        not_before = not_before_of(request.headers, now)
        if not_before is not None and route.type is not RouteType.ASYNC:
            raise InvalidInputError("Fn-Delay and Fn-Not-Before apply to async routes only")
        # Fn-Callback-Url wins over the route's callback_url (checked when the route was saved).
        asked = header_callback_url(request.headers)
        callback_url = self._guard.registered(asked) if asked else route.callback_url
        call = replace(
            self._new_call(call_id, app, route, request, now),
            not_before=not_before,
            callback_url=callback_url,
        )
        if route.type is RouteType.ASYNC:
            key = idempotency_key(request.headers)
            if key:
                first = self._insert_once(call, key, request, now)
                if first != call_id:
                    return InvokeResult(first, route.headers)  # a repeat: nothing new runs
            else:
                self._calls.insert_call(call)  # persist first ...
            delay = 0 if not_before is None else (not_before - now).total_seconds()
            if delay <= SQS_MAX_DELAY_SECONDS:
                publish(self._queue, self._calls, call_id, self._clock, int(delay))  # ... then publish
            return InvokeResult(call_id, route.headers)
        # A sync call is recorded by runner.run_sync: once, at its end (or at its first heartbeat).
        try:
            execution = self._runner().run_sync(self._started(call, now))
        # Busy, not broken (the runner recorded it): retry soon. Or cut at the API's time limit
        # (fn start): nothing to record. Neither is a failure of this call to be recorded below.
        except (CapacityError, InvocationEndedError):
            raise
        except Exception as exc:
            log.exception("sync call %s failed before running", call_id)
            raise ServiceUnavailableError("Could not run the function, try again") from exc
        return InvokeResult(call_id, route.headers, execution)

    def _insert_once(self, call: Call, key: str, request: IncomingRequest, now: datetime) -> str:
        """Insert the call under its Idempotency-Key; answer the id of the call that holds the key.

        A repeat of the same request gets the first call's id; the same key on another request is
        a 409 naming the first call (the client reused a key by mistake: running either would be
        wrong).
        """
        fingerprint = request_fingerprint(call.app_name, call.path, request)
        until = now + timedelta(seconds=self._limits.idempotency_seconds)
        first, held = self._calls.insert_call_once(call, key, fingerprint, until)
        if held != fingerprint:
            raise ConflictError(f"Idempotency-Key {key!r} was used for call {first} with a different request")
        return first

    def _lookup(self, app_name: str, path: str) -> tuple[App, Route]:
        # Names no app or route can have are not looked up: DynamoDB would refuse them as keys.
        if not is_app_name(app_name):
            raise app_not_found()
        if inputs.utf8_len(path) > inputs.MAX_PATH_BYTES:
            raise route_not_found()
        app, route = self._routes.get_app_and_route(app_name, path)
        if app is None:
            raise app_not_found()
        if route is None:
            raise route_not_found()
        return app, route

    def _new_call(
        self, call_id: str, app: App, route: Route, request: IncomingRequest, now: datetime
    ) -> Call:
        body: bytes | None = request.body
        body_key = None
        if len(request.body) > self._limits.inline_body_bytes:
            body_key = call_id
            self._payloads.put_payload(body_key, request.body)
            body = None
        return Call(
            id=call_id,
            app_name=app.name,
            path=route.path,
            type=route.type,
            status=CallStatus.QUEUED,
            created_at=now,
            function=FunctionSpec(
                bundle=route.bundle,
                format=route.format,
                timeout=route.timeout,
                idle_timeout=route.idle_timeout,
                memory=route.memory,
                config={**app.config, **route.config},  # route wins, as in Fn
                max_retries=route.max_retries,
            ),
            request=CallRequest(
                method=request.method,
                url=request.url,
                # Stripped here, where the snapshot is made: the record, the function's
                # environment and its json input are all built from this snapshot.
                headers={k: v for k, v in request.headers.items() if k.lower() not in self._withheld},
                content_type=request.content_type,
                body=body,
                body_key=body_key,
                body_size=len(request.body),
            ),
            lease_seconds=self._limits.lease_seconds or route.timeout + self._limits.lease_grace_seconds,
        )

    @staticmethod
    def _started(call: Call, now: datetime) -> Call:
        """The sync call as it runs: its first and only attempt, started when it was accepted."""
        return replace(call, status=CallStatus.RUNNING, started_at=now, attempt=1, attempt_started_at=now)
