"""Ports: what the use cases need from the outside world, as Protocols whose docstrings are the contract.

Adapters live in `chalicelib/aws/` (the only modules that import boto3) and are chosen in
`wiring.py`; `cache.py` wraps the app and route stores in the same ports.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from chalicelib.models import (
    App,
    Call,
    CallbackAttempt,
    CallStatus,
    Route,
    RouteFormat,
    RouteType,
    RunStats,
    Token,
)


@dataclass(frozen=True)
class ClaimLimits:
    """What the claiming invocation can still give a call; a call whose function asks for more is
    not claimed. None: no limit."""

    max_timeout: int | None = None  # seconds: the invocation's remaining time less a margin
    max_memory: int | None = None  # MB: what the calls already running have left


@dataclass(frozen=True)
class CallQuery:
    """Which calls of one app to list, newest first. `before_id` is exclusive, `min_id` inclusive."""

    app_name: str
    path: str | None = None
    status: CallStatus | None = None
    cursor: str | None = None  # a previous page's `next_cursor`, opaque: where the listing goes on
    before_id: str | None = None  # to_time as an id bound: only ids strictly below it
    min_id: str | None = None  # from_time as an id bound: only ids at or above it
    limit: int = 30


@dataclass(frozen=True)
class CallPage:
    """One page of a listing: newest first; `next_cursor` is "" when there is nothing more.

    A page may hold fewer than the limit and still have a next page (it stopped at its read
    budget), or hold the limit exactly and be the last.
    """

    calls: list[Call]
    next_cursor: str


class AppStore(Protocol):
    def create_app(self, app: App) -> App:
        """Insert; raises ConflictError("App already exists") if the name is taken."""
        raise NotImplementedError

    def get_app(self, name: str) -> App:
        """Raises NotFoundError("App not found")."""
        raise NotImplementedError

    def put_app(self, app: App) -> App:
        """Replace an existing app (update); raises NotFoundError if it is gone meanwhile."""
        raise NotImplementedError

    def list_apps(self, after_name: str | None, limit: int) -> list[App]:
        """Apps ordered by name, names strictly after `after_name`, at most `limit`."""
        raise NotImplementedError

    def delete_app(self, name: str) -> None:
        """Delete the app, its routes and its call records. Raises NotFoundError."""
        raise NotImplementedError


class RouteStore(Protocol):
    """Routes of apps. A store may answer `get_app_and_route` from a cache (cache.CachedRouteStore)."""

    def get_route(self, app_name: str, path: str) -> Route:
        """Raises NotFoundError("Route not found")."""
        raise NotImplementedError

    def get_app_and_route(self, app_name: str, path: str) -> tuple[App | None, Route | None]:
        """Both in one round trip (the invoke path's lookup); None for what does not exist."""
        raise NotImplementedError

    def create_route(self, route: Route) -> Route:
        """Insert; raises ConflictError("Route already exists")."""
        raise NotImplementedError

    def put_route(self, route: Route) -> Route:
        """Create or replace."""
        raise NotImplementedError

    def list_routes(self, app_name: str, after_path: str | None, limit: int) -> list[Route]:
        """Routes of the app ordered by path, paths strictly after `after_path`."""
        raise NotImplementedError

    def delete_route(self, app_name: str, path: str) -> None:
        """Raises NotFoundError("Route not found")."""
        raise NotImplementedError


class CallStore(Protocol):
    """Call records. Every status change is one conditional write on the current status.

    A failed condition raises TransitionError carrying the record as it is now.
    """

    def insert_call(self, call: Call) -> None:
        """Write a new record (a queued async call, or a sync call as it ended); the id must be new."""
        raise NotImplementedError

    def insert_call_once(self, call: Call, key: str, fingerprint: str, until: datetime) -> tuple[str, str]:
        """Write the call unless the app's idempotency `key` is held by a live earlier call.

        The key (held until `until`) and the call are written together or not at all. Answers the
        id and request fingerprint of the call holding the key: `call`'s own when it was written.
        """
        raise NotImplementedError

    def get_call(self, call_id: str) -> Call:
        """Raises NotFoundError("Call not found")."""
        raise NotImplementedError

    def list_calls(self, query: CallQuery) -> CallPage:
        """Newest first, at most `query.limit`, through an index keyed by id (and status when one is
        asked for): never a scan. Items read per page are bounded by the page, whatever the number
        of calls; raises InvalidInputError("Invalid cursor") for a cursor it did not make."""
        raise NotImplementedError

    def claim(self, call_id: str, now: datetime, limits: ClaimLimits | None = None) -> Call:
        """queued → running, or running with a lease expired before `now` → running (next attempt).

        Increments `attempt`, sets `started_at` on the first attempt and the lease to
        `now + lease_seconds`. Returns the record after the write, with the request body and the
        function snapshot. Raises TransitionError (with the current record) otherwise, and
        NotFoundError for an unknown id. With `limits`, a call whose function snapshot asks for a
        longer timeout or more memory is not claimed either: TransitionError, with the record
        still queued (or running under its expired lease).
        """
        raise NotImplementedError

    def finish(
        self,
        call_id: str,
        attempt: int,
        status: CallStatus,
        now: datetime,
        error: str = "",
        stats: RunStats | None = None,
        attempt_started_at: datetime | None = None,
        dead: bool = False,
    ) -> Call:
        """running (held by `attempt`) → a terminal status, with completed_at, error, stats.

        `dead` marks an error the platform gave up on (attempts exhausted, dead-lettered).

        Appends the attempt to `attempts`. Raises TransitionError when another attempt holds the
        call (this one's lease expired and was taken over) or the call was cancelled.
        """
        raise NotImplementedError

    def requeue(
        self,
        call_id: str,
        attempt: int,
        now: datetime,
        error: str,
        attempt_started_at: datetime | None = None,
    ) -> Call:
        """running (held by `attempt`) → queued: the attempt failed and will be tried again."""
        raise NotImplementedError

    def fail_queued(self, call_id: str, now: datetime, error: str) -> Call:
        """queued → error (dead), e.g. the message could not be sent or was dead-lettered."""
        raise NotImplementedError

    def redrive(self, call_id: str, now: datetime) -> Call:
        """error (dead) → queued, with `redrive_base` = attempt. TransitionError for any other call."""
        raise NotImplementedError

    def cancel(self, call_id: str, now: datetime) -> Call:
        """queued or running → cancelled."""
        raise NotImplementedError

    def renew(self, call_id: str, attempt: int, now: datetime, lease_seconds: int) -> None:
        """Heartbeat: the lease of a call still running under `attempt` ends `lease_seconds` after now.

        Raises TransitionError when the call moved on (cancelled, taken over, finished).
        """
        raise NotImplementedError

    def record_callback(self, call_id: str, attempt: CallbackAttempt) -> Call:
        """Append one callback delivery attempt to the call, only if it holds `attempt.number - 1`
        of them: a duplicate delivery message records nothing (TransitionError). Never changes
        the call's status."""
        raise NotImplementedError


class OpenCallStore(Protocol):
    """What the sweeper needs: open calls past their deadline, found by key, and its two moves."""

    def due_calls(self, now: datetime, limit: int) -> list[Call]:
        """Queued calls past their due time and running calls past their lease (up to `limit` per shard)."""
        raise NotImplementedError

    def expire_lease(
        self,
        call_id: str,
        attempt: int,
        now: datetime,
        target: CallStatus,
        error: str,
        attempt_started_at: datetime | None = None,
    ) -> Call:
        """running (this attempt, lease expired) → `target` (queued or error), the attempt recorded."""
        raise NotImplementedError

    def resend_due(self, call_id: str, now: datetime) -> Call:
        """queued past its due time → queued with a new due time. TransitionError if not due."""
        raise NotImplementedError


class CallbackSecretStore(Protocol):
    """Each app's callback signing secret, one item beside the app (deleted with it)."""

    def get_secret(self, app_name: str) -> str | None:
        """The app's secret (a strongly consistent read: a rotation is seen at once), or None."""
        raise NotImplementedError

    def add_secret(self, app_name: str, secret: str) -> str:
        """Store `secret` unless the app has one already; answers the one the app holds now."""
        raise NotImplementedError

    def replace_secret(self, app_name: str, secret: str) -> None:
        """Rotate: the app's secret is `secret` from now on."""
        raise NotImplementedError


class CallAndOpenCallStore(CallStore, OpenCallStore, Protocol):
    """Both sides of the call table: what wraps the store for everyone (callbacks.NotifyingCallStore)."""


class TokenStore(Protocol):
    """Scoped API tokens, found by id with one read (every request with a token reads one)."""

    def create_token(self, token: Token) -> Token:
        """Insert; raises ConflictError("Token already exists") if the id is taken."""
        raise NotImplementedError

    def find_token(self, token_id: str) -> Token | None:
        """The token as stored now (a strongly consistent read: a revoked token is gone at once)."""
        raise NotImplementedError

    def list_tokens(self, after_id: str | None, limit: int) -> list[Token]:
        """Tokens ordered by id, ids strictly after `after_id`, at most `limit`."""
        raise NotImplementedError

    def delete_token(self, token_id: str) -> None:
        """Revoke: delete the token. Raises NotFoundError("Token not found")."""
        raise NotImplementedError


@dataclass(frozen=True)
class CallbackDelivery:
    """A callback delivery attempt, as its message carries it (callbacks.py)."""

    call_id: str
    app_name: str
    attempt: int  # this attempt's number among all of the call's (the call's `callbacks` + 1)
    # The number of the first attempt for this ending of the call: a redriven call that ends
    # again starts after the attempts of its earlier ending, with a fresh allowance.
    first: int = 1


class CallQueue(Protocol):
    def send(self, call_id: str, delay_seconds: int = 0) -> None:
        """Put the call's id on the calls queue. Raises ServiceUnavailableError on failure."""
        raise NotImplementedError

    def send_callback(self, delivery: CallbackDelivery, delay_seconds: int = 0) -> None:
        """Put a callback delivery attempt on the calls queue, delayed by up to SQS's 900 s.
        Raises ServiceUnavailableError on failure."""
        raise NotImplementedError

    def redeliver_after(self, seconds_by_receipt: Mapping[str, int]) -> None:
        """Received messages (by receipt handle) come back after these many seconds (0: at once).

        Best effort: a message whose change fails comes back after the queue's visibility timeout.
        """
        raise NotImplementedError


class LogStore(Protocol):
    def put_log(
        self, app_name: str, call_id: str, log: bytes, outcome: Mapping[str, str] | None = None
    ) -> None:
        """Store the call's log, with the attempt's outcome beside it (S3 metadata).

        The outcome makes the log a durable record of what the attempt did, so a worker taking over
        a call whose outcome was never written to the table records it instead of running again.
        """
        raise NotImplementedError

    def get_log_outcome(self, app_name: str, call_id: str) -> dict[str, str] | None:
        """The outcome stored with the log, or None when there is no log."""
        raise NotImplementedError

    def delete_logs(self, app_name: str) -> None:
        """Delete every log and result of the app (the app is being deleted)."""
        raise NotImplementedError

    def get_log(self, app_name: str, call_id: str) -> bytes:
        """Raises NotFoundError("Call log not found")."""
        raise NotImplementedError

    def put_result(self, app_name: str, call_id: str, body: bytes, content_type: str) -> None:
        """Store the function's response body alone (no stderr), with its content type ("" if none)."""
        raise NotImplementedError

    def get_result(self, app_name: str, call_id: str) -> tuple[bytes, str]:
        """The stored response body and content type; raises NotFoundError when there is none."""
        raise NotImplementedError


class PayloadStore(Protocol):
    def put_payload(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def get_payload(self, key: str) -> bytes:
        raise NotImplementedError


class CodeStore(Protocol):
    def put_bundle(self, digest: str, data: bytes) -> None:
        """Store a bundle under its digest (content-addressed: a second put is a no-op)."""
        raise NotImplementedError

    def has_bundle(self, digest: str) -> bool:
        raise NotImplementedError

    def fetch_bundle(self, digest: str) -> Path:
        """A local directory holding the bundle's files, cached by digest across calls."""
        raise NotImplementedError


@dataclass(frozen=True)
class Invocation:
    """One run of a function, as the executor sees it."""

    call_id: str
    app_name: str
    path: str
    type: RouteType
    format: RouteFormat
    timeout: int
    idle_timeout: int
    memory: int
    config: Mapping[str, str]
    method: str
    request_url: str
    headers: Mapping[str, Sequence[str]]
    content_type: str
    body: bytes
    deadline: datetime
    # Set by the runner when the call was cancelled (its lease renewal was refused): the executor
    # then kills the function's process tree and answers CANCELLED.
    cancel: threading.Event | None = None


@dataclass(frozen=True)
class Execution:
    """How a run ended.

    `output` is the response body (stdout for `default`, the response body for `json`);
    `log` is the call log: stderr, and for async calls the output too, as Fn logged it; capped
    by the executor with an explicit truncation line.
    """

    status: CallStatus  # SUCCESS, ERROR, TIMEOUT, or CANCELLED (Invocation.cancel was set)
    output: bytes
    log: bytes
    stats: RunStats
    error: str = ""  # Fn-style reason for ERROR/TIMEOUT, e.g. "container exit code 1"
    status_code: int = 200
    content_type: str = ""
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)


class FunctionExecutor(Protocol):
    def execute(self, code_dir: Path, invocation: Invocation) -> Execution:
        """Run the function in `code_dir` once. Never raises for the function's own failures."""
        raise NotImplementedError


class Runner(Protocol):
    def run_sync(self, call: Call) -> Execution:
        """Run a sync call (`call` as started: running, attempt 1, not yet stored), then record it.

        A call that ends within its first heartbeat is written once, at its end, with its outcome
        and its log inline when the log is small (a larger log goes to the log store first):
        until then readers find no such call. One still running at its first heartbeat is
        recorded running then, renewed and cancellable as any running call. The function's own
        failures are in the Execution. When the platform fails before the function runs (its
        code or request body could not be fetched), the call is recorded as an error and the
        exception raised again.
        """
        raise NotImplementedError
