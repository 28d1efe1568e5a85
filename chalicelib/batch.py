"""The SQS side: a batch of messages → the runner, one call each, with partial batch failures.

Lambda's event source deletes the messages of a batch that are not listed in
`batchItemFailures`; those listed come back after their visibility timeout. The deployed event
source has `ReportBatchItemFailures` (infra/), and the local emulation honours the same answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from chalicelib.errors import FnqError, NotFoundError, TransitionError
from chalicelib.ids import is_call_id
from chalicelib.models import CallStatus
from chalicelib.ports import CallStore
from chalicelib.runner import CallRunner, Disposition

log = logging.getLogger(__name__)


def call_id_of(body: str) -> str | None:
    """The call id a message carries, or None for a message that is not ours (poison)."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    call_id = value.get("call_id") if isinstance(value, dict) else None
    return call_id if isinstance(call_id, str) and is_call_id(call_id) else None


class CallBatchHandler:
    def __init__(self, runner: CallRunner, concurrency: int = 4) -> None:
        self._runner = runner
        self._concurrency = max(1, concurrency)

    def handle_batch(self, event: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Run every record of an SQS event; answer the ids of the messages to redeliver."""
        records = list(event.get("Records", []))
        # Calls of one batch run side by side: a slow function does not hold up its batch-mates,
        # and the queue drains faster than it fills (moto's receive slows as a queue deepens).
        with ThreadPoolExecutor(max_workers=min(self._concurrency, max(1, len(records)))) as pool:
            outcomes = list(pool.map(self._handle_record, records))
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid, ok in outcomes if not ok]}

    def _handle_record(self, record: Mapping[str, Any]) -> tuple[str, bool]:
        message_id = str(record.get("messageId", ""))
        call_id = call_id_of(str(record.get("body", "")))
        if call_id is None:
            log.error("message %s carries no call id; leaving it for the dead-letter queue", message_id)
            return message_id, False
        try:
            return message_id, self._runner.process(call_id) is Disposition.ACK
        except NotFoundError:
            log.error(
                "message %s names unknown call %s; leaving it for the dead-letter queue", message_id, call_id
            )
            return message_id, False
        except Exception:
            log.exception("call %s: unexpected failure; the message will be redelivered", call_id)
            return message_id, False


class DeadLetterHandler:
    """Messages that exhausted their receives: the call is marked failed, never left queued."""

    def __init__(self, calls: CallStore, clock: Callable[[], datetime]) -> None:
        self._calls = calls
        self._clock = clock

    def handle_batch(self, event: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        failures = []
        for record in event.get("Records", []):
            call_id = call_id_of(str(record.get("body", "")))
            if call_id is None:
                continue  # poison: nothing to mark; it is dropped here after being logged
            try:
                self._fail(call_id)
            except NotFoundError:
                continue
            except Exception:
                log.exception("dead call %s could not be marked failed", call_id)
                failures.append({"itemIdentifier": str(record.get("messageId", ""))})
        return {"batchItemFailures": failures}

    def _fail(self, call_id: str) -> None:
        reason = "dead-lettered: the call's message exhausted its deliveries"
        now = self._clock()
        try:
            self._calls.fail_queued(call_id, now, reason)
            return
        except TransitionError as exc:
            current = exc.current
        lease = current.lease_expires_at if current is not None else None
        # A running call whose lease is live is still in its owner's hands: leave it be.
        if current is not None and current.status is CallStatus.RUNNING and lease is not None and lease < now:
            with contextlib.suppress(TransitionError, FnqError):
                self._calls.finish(call_id, current.attempt, CallStatus.ERROR, now, reason, dead=True)
