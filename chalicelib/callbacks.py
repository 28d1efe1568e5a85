"""Completion callbacks: when a call ends, its record is POSTed, signed, to the URL it names.

A call names the URL with the `Fn-Callback-Url` header on its invoke, or inherits its route's
`callback_url` (the header wins). Every way a call ends (success, error, timeout, cancelled; sync
or async; by the worker, the API, the sweeper or the dead-letter handler) is a conditional write
that answers the ended record, and `NotifyingCallStore` sends one delivery message for it on the
calls queue: exactly one per ending, since a call ends once (a redriven dead call ends again).

This module is what every Lambda needs: the header, the store wrapper and each app's signing
secret. The delivery itself (delivery.py: sign, POST, record, retry) is the worker's alone.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from chalicelib.errors import FnqError
from chalicelib.models import TERMINAL_STATUSES, Call, CallbackAttempt, CallStatus, RunStats
from chalicelib.ports import (
    AppStore,
    CallAndOpenCallStore,
    CallbackDelivery,
    CallbackSecretStore,
    CallPage,
    CallQuery,
    CallQueue,
    ClaimLimits,
)

log = logging.getLogger(__name__)

CALLBACK_HEADER = "fn-callback-url"
SECRET_PREFIX = "fnqcb_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_hex(32)


def header_callback_url(headers: dict[str, list[str]]) -> str:
    """The invoke's `Fn-Callback-Url` ("" without one)."""
    for name, values in headers.items():
        if name.lower() == CALLBACK_HEADER and values:
            return values[0].strip()
    return ""


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
