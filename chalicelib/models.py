"""The domain: App, Route, Call, and the one table of allowed call transitions. Pure Python.

Lifecycle of a call (Fn's wire strings)::

                 claim                 outcome
    queued ──────────────▶ running ──────────────▶ success | error | timeout
      │  ▲                  │   ▲ │
      │  └── retry ─────────┘   │ └── cancel ─────▶ cancelled
      │                         └── lease expired: claimed again (next attempt)
      ├── cancel ──────────────────────────────────▶ cancelled
      └── enqueue failed / dead-lettered ───────────▶ error (dead) ──── redrive ───▶ queued

The sweeper (sweeper.py) uses the same arrows for what no message will recover: running past its
lease → queued (re-sent; sync: → error), and queued past its due time → queued (re-sent).

Terminal states never change again, with one exception a user asks for: a *dead* call (one the
platform gave up on: never enqueued, dead-lettered, or out of attempts, never a function's own
failure) can be redriven back to queued. Every arrow is a conditional write in the store, checked
against TRANSITIONS here, so a call never ends in two states at once.
"""

# No `from __future__ import annotations` here: the records' field types are evaluated with the
# class, so codec.py reads them at import without evaluating strings (bench row 6).
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from chalicelib.ids import format_time


class CallStatus(StrEnum):
    QUEUED = "queued"  # accepted and recorded; a message for it is (or is being) on the queue
    RUNNING = "running"  # claimed by a worker holding a lease; the function is running
    SUCCESS = "success"  # the function exited 0 (or answered a json-format response)
    ERROR = "error"  # the function failed, or the platform gave up on the call; see `error`
    TIMEOUT = "timeout"  # the function ran past its timeout and its process group was killed
    CANCELLED = "cancelled"  # a client cancelled the call before it finished


TRANSITIONS: dict[CallStatus, frozenset[CallStatus]] = {
    CallStatus.QUEUED: frozenset(
        {
            CallStatus.RUNNING,
            CallStatus.CANCELLED,
            CallStatus.ERROR,
            CallStatus.QUEUED,  # the sweeper re-sends a message that never came and moves the due time
        }
    ),
    CallStatus.RUNNING: frozenset(
        {
            CallStatus.RUNNING,  # a new attempt takes over an expired lease
            CallStatus.QUEUED,  # a failed attempt waits for its retry
            CallStatus.SUCCESS,
            CallStatus.ERROR,
            CallStatus.TIMEOUT,
            CallStatus.CANCELLED,
        }
    ),
    CallStatus.SUCCESS: frozenset(),
    CallStatus.ERROR: frozenset({CallStatus.QUEUED}),  # redrive, for dead calls only
    CallStatus.TIMEOUT: frozenset(),
    CallStatus.CANCELLED: frozenset(),
}


# The error of an attempt whose worker vanished (its lease expired before it recorded an outcome).
LEASE_EXPIRED = "worker lost: lease expired"
# The longest delay SQS gives a message; a call delayed longer waits for the sweeper to send it.
SQS_MAX_DELAY_SECONDS = 900
# The error of a sync call whose API invocation vanished (killed, or cut at its time limit).
SYNC_LOST = "API invocation lost: lease expired before an outcome was recorded"


def fn_object(record: "App | Route") -> dict[str, Any]:
    """Fn's JSON object of an app or a route, from its fields.

    The fields in declaration order (declared in Fn's order), times in Fn's format, enums by
    value, and no None and no empty map (Fn's `omitempty`).
    """
    body: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if value is None or value == {}:
            continue
        if isinstance(value, datetime):
            value = format_time(value)
        body[f.name] = value.value if isinstance(value, Enum) else value
    return body


class RouteType(StrEnum):
    SYNC = "sync"
    ASYNC = "async"


class RouteFormat(StrEnum):
    DEFAULT = "default"  # one process per call: body on stdin, output on stdout
    JSON = "json"  # hot: one JSON object per line each way, process kept for idle_timeout


@dataclass(frozen=True)
class App:
    name: str
    config: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_fn(self) -> dict[str, Any]:
        return fn_object(self)


@dataclass(frozen=True)
class Route:
    # Declared in Fn's order: the fields make its JSON object (fn_object) and its item (codec.py).
    app_name: str
    path: str
    image: str = ""
    memory: int = 128
    cpus: str = ""
    headers: dict[str, list[str]] = field(default_factory=dict)
    type: RouteType = RouteType.SYNC
    format: RouteFormat = RouteFormat.DEFAULT
    timeout: int = 30
    idle_timeout: int = 30
    config: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    # fnq: the content digest ("sha256:<hex>") of the code bundle this route runs.
    bundle: str = ""
    # fnq: how many times a failed *function* is retried (platform faults are always retried).
    max_retries: int = 0
    # fnq: where every call of the route sends its record when it ends (docs/CALLBACKS.md); a
    # call's own `Fn-Callback-Url` header wins.
    callback_url: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_fn(self) -> dict[str, Any]:
        return fn_object(self)


@dataclass(frozen=True)
class FunctionSpec:
    """What the worker needs to run a call, snapshotted from app + route when the call is accepted.

    The snapshot (as Fn's async did) means the worker never reads the route: one fewer request per
    call, and a call runs the code that was deployed when it was accepted.
    """

    bundle: str
    format: RouteFormat
    timeout: int
    idle_timeout: int
    memory: int
    config: dict[str, str]
    max_retries: int = 0


@dataclass(frozen=True)
class CallRequest:
    """The HTTP request that made the call. The body is inline when small, else in S3 (`body_key`)."""

    method: str
    url: str
    headers: dict[str, list[str]]
    content_type: str
    body: bytes | None = None
    body_key: str | None = None
    body_size: int = 0


@dataclass(frozen=True)
class RunStats:
    """Figures of one run of the function (fnq's answer to Fn's `stats`)."""

    duration_ms: int
    exit_code: int | None = None
    max_rss_kb: int | None = None

    def to_fn(self) -> dict[str, Any]:
        body: dict[str, Any] = {"duration_ms": self.duration_ms}
        if self.exit_code is not None:
            body["exit_code"] = self.exit_code
        if self.max_rss_kb is not None:
            body["max_rss_kb"] = self.max_rss_kb
        return body


@dataclass(frozen=True)
class Attempt:
    """One claim of a call by a worker, and how it ended."""

    number: int
    started_at: datetime
    completed_at: datetime | None = None
    status: CallStatus = CallStatus.RUNNING
    error: str = ""

    def to_fn(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "number": self.number,
            "status": self.status.value,
            "started_at": format_time(self.started_at),
        }
        if self.completed_at:
            body["completed_at"] = format_time(self.completed_at)
        if self.error:
            body["error"] = self.error
        return body


class CallbackOutcome(StrEnum):
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # non-2xx, timeout or connection error: another attempt follows, delayed
    GAVE_UP = "gave_up"  # failed, and it was the last attempt allowed
    REFUSED = "refused"  # the address is one callbacks may not reach (docs/SECURITY.md): no retry


@dataclass(frozen=True)
class CallbackAttempt:
    """One delivery of a call's record to its callback URL, recorded on the call (never its status)."""

    number: int
    at: datetime
    outcome: CallbackOutcome
    status_code: int = 0  # the receiver's HTTP status; 0 when there was no answer
    error: str = ""

    def to_fn(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "number": self.number,
            "at": format_time(self.at),
            "outcome": self.outcome.value,
        }
        if self.status_code:
            body["status_code"] = self.status_code
        if self.error:
            body["error"] = self.error
        return body


TERMINAL_STATUSES = frozenset(
    {CallStatus.SUCCESS, CallStatus.ERROR, CallStatus.TIMEOUT, CallStatus.CANCELLED}
)


@dataclass(frozen=True)
class Call:
    id: str
    app_name: str
    path: str
    type: RouteType
    status: CallStatus
    created_at: datetime
    # None when the record came from the listing index, which projects only the listed fields.
    function: FunctionSpec | None = None
    request: CallRequest | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str = ""
    attempt: int = 0
    # How long one attempt may hold the call: the function's timeout plus a margin. A claim sets
    # lease_expires_at = claim time + lease_seconds inside DynamoDB, without reading the record first.
    lease_seconds: int = 0
    lease_expires_at: datetime | None = None
    # The platform gave up on this call (see the diagram); only a dead call may be redriven.
    dead: bool = False
    # `attempt` when the call was last redriven: the attempt limit counts from there.
    redrive_base: int = 0
    attempt_started_at: datetime | None = None
    stats: RunStats | None = None
    attempts: tuple[Attempt, ...] = ()
    # A delayed call (Fn-Delay / Fn-Not-Before on an async invoke) waits queued, with no message,
    # until this time; the sweeper finds it by key when due and sends it.
    not_before: datetime | None = None
    # The call's log, when it is small enough to live in the record: a sync call is written once,
    # at its end, with its log inline. None: the log is in the log store (or there is none yet).
    log: bytes | None = None
    # Where the call's record is sent when it ends ("": nowhere), and each delivery attempt.
    callback_url: str = ""
    callbacks: tuple[CallbackAttempt, ...] = ()

    def to_fn(self) -> dict[str, Any]:
        """Fn's call object, plus fnq's `type`, `attempt`, `attempts`, `callback_url`, `callbacks`
        (Fn clients ignore extra fields)."""
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "app_name": self.app_name,
            "path": self.path,
            "created_at": format_time(self.created_at),
        }
        if self.started_at:
            body["started_at"] = format_time(self.started_at)
        if self.completed_at:
            body["completed_at"] = format_time(self.completed_at)
        if self.error:
            body["error"] = self.error
        if self.stats:
            # Fn's clients decode `stats` as an array of {timestamp, metrics} samples: give them
            # the peak memory at completion in that shape, and fnq's own figures as `usage`.
            if self.stats.max_rss_kb is not None and self.completed_at:
                sample = {"mem_usage": self.stats.max_rss_kb * 1024}
                body["stats"] = [{"timestamp": format_time(self.completed_at), "metrics": sample}]
            body["usage"] = self.stats.to_fn()
        body["type"] = self.type.value
        body["attempt"] = self.attempt
        if self.not_before:
            body["not_before"] = format_time(self.not_before)
        if self.dead:
            body["dead"] = True
        if self.attempts:
            body["attempts"] = [a.to_fn() for a in self.attempts]
        if self.callback_url:
            body["callback_url"] = self.callback_url
        if self.callbacks:
            body["callbacks"] = [c.to_fn() for c in self.callbacks]
        return body


class Right(StrEnum):
    """What a scoped token may do on its apps (docs/TOKENS.md has every route's right)."""

    INVOKE = "invoke"  # call its functions (/r/…), cancel and redrive its calls
    READ = "read"  # read its apps, routes, calls and logs
    DEPLOY = "deploy"  # create, change and delete its apps and routes; upload bundles
    ADMIN = "admin"  # every right above; on every app (`*`), the tokens themselves too


# A token's `apps` entry meaning every app, present and future ("*" is no valid app name).
EVERY_APP = "*"


@dataclass(frozen=True)
class Token:
    """A scoped API token. Its secret is never stored, only the secret's SHA-256 (`secret_hash`)."""

    id: str
    name: str
    apps: tuple[str, ...]  # app names, or (EVERY_APP,)
    rights: tuple[Right, ...]
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None = None  # None: until revoked

    def to_fn(self) -> dict[str, Any]:
        """The token as the API shows it: never its secret, nor the secret's hash."""
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "apps": list(self.apps),
            "rights": [r.value for r in self.rights],
            "created_at": format_time(self.created_at),
        }
        if self.expires_at:
            body["expires_at"] = format_time(self.expires_at)
        return body
