"""Completion callbacks: when a call ends, its record is POSTed, signed, to the URL it names.

A call names the URL with the `Fn-Callback-Url` header on its invoke, or inherits its route's
`callback_url` (the header wins). Every way a call ends (success, error, timeout, cancelled; sync
or async; by the worker, the API, the sweeper or the dead-letter handler) is a conditional write
that answers the ended record, and `NotifyingCallStore` sends one delivery message for it on the
calls queue: exactly one per ending, since a call ends once (a redriven dead call ends again).

The worker's SQS handler (batch.py) hands a delivery message to `CallbackDeliverer`: it reads the
call, signs its JSON (what `GET /v1/apps/{app}/calls/{id}` answers as `call`) with the app's
secret, POSTs it (webhook.py, to an address the guard allows: addresses.py), records the attempt
on the call with a conditional write (attempt n only after n - 1: a duplicate message records
nothing and schedules nothing) and, when it failed, sends the next attempt's message delayed by
a backoff. The call's status is never written here, and nothing here runs a function.

Signature: `Fn-Callback-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
`Fn-Callback-Timestamp: <unix seconds>`; docs/CALLBACKS.md shows how to check it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from chalicelib import inputs
from chalicelib.addresses import AddressGuard, CallbackRefused, parse_callback_url
from chalicelib.errors import FnqError, NotFoundError, TransitionError
from chalicelib.models import TERMINAL_STATUSES, Call, CallbackAttempt, CallbackOutcome, CallStatus, RunStats
from chalicelib.ports import (
    AppStore,
    CallAndOpenCallStore,
    CallbackDelivery,
    CallbackSecretStore,
    CallPage,
    CallQuery,
    CallQueue,
    CallStore,
    ClaimLimits,
)
from chalicelib.webhook import WebhookLimits, post

log = logging.getLogger(__name__)

CALLBACK_HEADER = "fn-callback-url"
TIMESTAMP_HEADER = "Fn-Callback-Timestamp"
SIGNATURE_HEADER = "Fn-Callback-Signature"
ATTEMPT_HEADER = "Fn-Callback-Attempt"
SECRET_PREFIX = "fnqcb_"
# An attempt's error text as recorded on the call (a call holds at most max_attempts of them).
MAX_CALLBACK_ERROR_BYTES = 512
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


def header_callback_url(headers: dict[str, list[str]]) -> str:
    """The invoke's `Fn-Callback-Url` ("" without one)."""
    for name, values in headers.items():
        if name.lower() == CALLBACK_HEADER and values:
            return values[0].strip()
    return ""


@dataclass(frozen=True)
class CallbackPolicy:
    """How often and how fast a delivery is tried (FNQ_CALLBACK_* settings)."""

    max_attempts: int = 5
    # The wait before attempt n + 1 is backoff_seconds * 4^(n-1), at most SQS's 900 s: 30 s, 2 min,
    # 8 min, 15 min with the default.
    backoff_seconds: int = 30
    webhook: WebhookLimits = field(default_factory=WebhookLimits)

    def delay_after(self, attempt: int) -> int:
        return int(min(MAX_DELAY_SECONDS, self.backoff_seconds * 4 ** max(0, attempt - 1)))


class CallbackSecrets:
    """Each app's signing secret: made at its first use, shown to its deployers, rotated by them."""

    def __init__(
        self, apps: AppStore, store: CallbackSecretStore, make: Callable[[], str] = new_secret
    ) -> None:
        self._apps = apps
        self._store = store
        self._make = make

    def secret(self, app_name: str) -> str:
        """The app's secret, made now if it has none (NotFoundError for an unknown app)."""
        self._apps.get_app(app_name)
        return self.secret_of_existing(app_name)

    def secret_of_existing(self, app_name: str) -> str:
        """The secret of an app known to exist (a delivery's: its call exists)."""
        return self._store.get_secret(app_name) or self._store.add_secret(app_name, self._make())

    def rotate(self, app_name: str) -> str:
        """A new secret for the app, used by every delivery from now on; the old one stops at once."""
        self._apps.get_app(app_name)
        secret = self._make()
        self._store.replace_secret(app_name, secret)
        return secret


class NotifyingCallStore:
    """The call store, plus one callback delivery message whenever a write ends a call that has a
    callback URL. Every other method is the inner store's."""

    def __init__(self, inner: CallAndOpenCallStore, queue: CallQueue) -> None:
        self.inner = inner
        self._queue = queue

    def _ended(self, call: Call) -> Call:
        if call.callback_url and call.status in TERMINAL_STATUSES:
            # Numbered after the attempts of an earlier ending (a redriven call ends again).
            first = len(call.callbacks) + 1
            try:
                self._queue.send_callback(CallbackDelivery(call.id, call.app_name, first, first))
            except FnqError as exc:
                # The call has ended all the same: its callback is lost, and the log says so.
                log.error("call %s ended %s; its callback could not be queued: %s", call.id, call.status, exc)
        return call

    def insert_call(self, call: Call) -> None:
        self.inner.insert_call(call)
        self._ended(call)  # a sync call is written once, as it ended

    def insert_call_once(self, call: Call, key: str, fingerprint: str, until: datetime) -> tuple[str, str]:
        return self.inner.insert_call_once(call, key, fingerprint, until)

    def get_call(self, call_id: str) -> Call:
        return self.inner.get_call(call_id)

    def list_calls(self, query: CallQuery) -> CallPage:
        return self.inner.list_calls(query)

    def claim(self, call_id: str, now: datetime, limits: ClaimLimits | None = None) -> Call:
        return self.inner.claim(call_id, now, limits)

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
        return self._ended(
            self.inner.finish(call_id, attempt, status, now, error, stats, attempt_started_at, dead)
        )

    def requeue(
        self,
        call_id: str,
        attempt: int,
        now: datetime,
        error: str,
        attempt_started_at: datetime | None = None,
    ) -> Call:
        return self.inner.requeue(call_id, attempt, now, error, attempt_started_at)

    def fail_queued(self, call_id: str, now: datetime, error: str) -> Call:
        return self._ended(self.inner.fail_queued(call_id, now, error))

    def redrive(self, call_id: str, now: datetime) -> Call:
        return self.inner.redrive(call_id, now)

    def cancel(self, call_id: str, now: datetime) -> Call:
        return self._ended(self.inner.cancel(call_id, now))

    def renew(self, call_id: str, attempt: int, now: datetime, lease_seconds: int) -> None:
        self.inner.renew(call_id, attempt, now, lease_seconds)

    def record_callback(self, call_id: str, attempt: CallbackAttempt) -> Call:
        return self.inner.record_callback(call_id, attempt)

    # The sweeper's (OpenCallStore)
    def due_calls(self, now: datetime, limit: int) -> list[Call]:
        return self.inner.due_calls(now, limit)

    def expire_lease(
        self,
        call_id: str,
        attempt: int,
        now: datetime,
        target: CallStatus,
        error: str,
        attempt_started_at: datetime | None = None,
    ) -> Call:
        return self._ended(self.inner.expire_lease(call_id, attempt, now, target, error, attempt_started_at))

    def resend_due(self, call_id: str, now: datetime) -> Call:
        return self.inner.resend_due(call_id, now)


@dataclass(frozen=True)
class Sent:
    outcome: CallbackOutcome
    status_code: int = 0
    error: str = ""


class CallbackDeliverer:
    """One delivery attempt of one call's callback (a message of the calls queue)."""

    def __init__(
        self,
        calls: CallStore,
        secrets: CallbackSecrets,
        queue: CallQueue,
        guard: AddressGuard,
        clock: Callable[[], datetime],
        policy: CallbackPolicy,
        send: Callable[..., int] = post,
    ) -> None:
        self._calls = calls
        self._secrets = secrets
        self._queue = queue
        self._guard = guard
        self._clock = clock
        self._policy = policy
        self._send = send

    def deliver(self, delivery: CallbackDelivery) -> CallbackAttempt | None:
        """Make the attempt, record it, schedule the next if it failed; answers the recorded
        attempt (None: nothing to do, or a duplicate message). AWS faults raise (the message
        comes back by its visibility)."""
        call_id, attempt = delivery.call_id, delivery.attempt
        try:
            call = self._calls.get_call(call_id)
        except NotFoundError:
            log.warning("callback for call %s: no such call (expired or deleted)", call_id)
            return None
        if not call.callback_url or call.status not in TERMINAL_STATUSES or len(call.callbacks) >= attempt:
            return None  # a duplicate message: this attempt was made already
        body = json.dumps(call.to_fn(), separators=(",", ":")).encode()
        now = self._clock()
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "fnq-callbacks/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secrets.secret_of_existing(call.app_name), timestamp, body),
            ATTEMPT_HEADER: str(attempt),
        }
        sent = self._post(call.callback_url, body, headers)
        outcome = sent.outcome
        if outcome is CallbackOutcome.FAILED and attempt - delivery.first + 1 >= self._policy.max_attempts:
            outcome = CallbackOutcome.GAVE_UP
        error = inputs.truncated(sent.error, MAX_CALLBACK_ERROR_BYTES)
        recorded = CallbackAttempt(attempt, now, outcome, sent.status_code, error)
        try:
            self._calls.record_callback(call_id, recorded)
        except TransitionError:
            return None  # another delivery of the same message recorded this attempt first
        log.info(
            "call %s callback attempt %d: %s %s", call_id, attempt, outcome.value, error or sent.status_code
        )
        if outcome is CallbackOutcome.FAILED:
            try:
                following = replace(delivery, attempt=attempt + 1)
                self._queue.send_callback(following, self._policy.delay_after(attempt - delivery.first + 1))
            except FnqError as exc:
                log.error("call %s: callback attempt %d could not be queued: %s", call_id, attempt + 1, exc)
        return recorded

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Sent:
        try:
            target = parse_callback_url(url)
            address = self._guard.address_for(target)
            status = self._send(target, address, self._guard, body, headers, self._policy.webhook)
        except CallbackRefused as exc:
            return Sent(CallbackOutcome.REFUSED, error=str(exc))
        except FnqError as exc:  # the URL itself is refused (registered before a rule changed)
            return Sent(CallbackOutcome.REFUSED, error=f"refused: {exc.message}")
        except (OSError, http.client.HTTPException) as exc:
            return Sent(
                CallbackOutcome.FAILED,
                error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            )
        if 200 <= status < 300:
            return Sent(CallbackOutcome.DELIVERED, status)
        return Sent(CallbackOutcome.FAILED, status, f"HTTP {status}")
