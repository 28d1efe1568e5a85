"""Delivering a call's callback: one attempt per message of the calls queue, made by the worker.

The worker's SQS handler (batch.py) hands a delivery message (queued by callbacks.py's
`NotifyingCallStore` when the call ended) to `CallbackDeliverer`: it reads the call, signs its JSON
(what `GET /v1/apps/{app}/calls/{id}` answers as `call`) with the app's secret, POSTs it
(webhook.py, to an address the guard allows: addresses.py), records the attempt on the call with
a conditional write (attempt n only after n - 1: a duplicate message records nothing and
schedules nothing) and, when it failed, sends the next attempt's message delayed by a backoff.
The call's status is never written here, and nothing here runs a function.

Only the worker delivers, and only when a message is a callback: this module (and webhook.py's
HTTP client) is imported when the worker's batch handler is first built (wiring.py), not with the
app, to keep the cold start of the other Lambdas lean (bench row 6).

Signature: `Fn-Callback-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
`Fn-Callback-Timestamp: <unix seconds>`; docs/CALLBACKS.md shows how to check it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from chalicelib import inputs
from chalicelib.addresses import AddressGuard, CallbackRefused, parse_callback_url
from chalicelib.callbacks import CallbackSecrets
from chalicelib.errors import FnqError, NotFoundError, TransitionError
from chalicelib.models import TERMINAL_STATUSES, CallbackAttempt, CallbackOutcome
from chalicelib.ports import CallbackDelivery, CallQueue, CallStore
from chalicelib.webhook import WebhookLimits, post

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "Fn-Callback-Timestamp"
SIGNATURE_HEADER = "Fn-Callback-Signature"
ATTEMPT_HEADER = "Fn-Callback-Attempt"
# An attempt's error text as recorded on the call (a call holds at most max_attempts of them).
MAX_CALLBACK_ERROR_BYTES = 512
MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


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
