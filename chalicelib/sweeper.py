"""The sweeper: recovers the open calls that no message will bring back.

- a call `running` past its lease (its worker died, and its message is gone: dead-lettered,
  deleted, or the Lambda killed after deleting it) goes back to `queued` and is re-sent;
- a *sync* call `running` past its lease (its API invocation was killed or cut at its time limit)
  becomes `error`: its client is gone, so nobody would read a re-run's answer;
- a call `queued` past its due time (its message was lost, or never came) is re-sent.

Each recovery is one conditional move of models.TRANSITIONS (the same guards as a takeover), so a
sweeper racing a worker, or another sweeper, changes nothing twice; the lost attempt is appended
to `attempts[]`. A re-sent call that keeps failing ends through the runner's attempt limit, and a
lost message through the dead-letter queue, so nothing stays open forever. The calls are found by
key in a sparse index (aws/dynamodb/calls.py `due_calls`), a bounded number per pass.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.errors import FnqError, NotFoundError, TransitionError
from chalicelib.models import LEASE_EXPIRED, SYNC_LOST, Call, CallStatus, RouteType
from chalicelib.ports import CallQueue, OpenCallStore

log = logging.getLogger(__name__)

# Calls recovered per index shard in one pass: a pass stays well inside a one-minute schedule;
# what is left is found by the next pass.
PER_SHARD = 25


@dataclass
class SweepReport:
    requeued: int = 0  # running past its lease → queued, re-sent
    resent: int = 0  # queued past its due time, re-sent
    failed: int = 0  # sync running past its lease → error
    skipped: int = 0  # moved on meanwhile (a worker or another sweeper got there first)

    def counts(self) -> dict[str, int]:
        return dataclasses.asdict(self)  # every counter, including one added later


class Sweeper:
    def __init__(
        self,
        calls: OpenCallStore,
        queue: CallQueue,
        clock: Callable[[], datetime],
        per_shard: int = PER_SHARD,
    ) -> None:
        self._calls = calls
        self._queue = queue
        self._clock = clock
        self._per_shard = per_shard

    def sweep(self) -> SweepReport:
        """One pass: every open call past its deadline (bounded per shard), recovered once."""
        now = self._clock()
        report = SweepReport()
        for call in self._calls.due_calls(now, self._per_shard):
            try:
                action = self._recover(call, now)
            except (TransitionError, NotFoundError):
                report.skipped += 1
                continue
            except Exception:
                # One call's fault does not stop the pass; it is still due at the next one.
                log.exception("sweeper: call %s not recovered", call.id)
                continue
            setattr(report, action, getattr(report, action) + 1)
            # One structured line per recovery, carrying the call id (CloudWatch Logs Insights).
            log.info(
                json.dumps(
                    {
                        "event": "sweeper.recovered",
                        "action": action,
                        "call_id": call.id,
                        "app": call.app_name,
                        "status": call.status.value,
                        "attempt": call.attempt,
                    }
                )
            )
        log.info(json.dumps({"event": "sweeper.pass", **report.counts()}))
        return report

    def _recover(self, call: Call, now: datetime) -> str:
        if call.status is CallStatus.RUNNING:
            if call.type is RouteType.SYNC:
                self._calls.expire_lease(
                    call.id, call.attempt, now, CallStatus.ERROR, SYNC_LOST, call.attempt_started_at
                )
                return "failed"
            self._calls.expire_lease(
                call.id, call.attempt, now, CallStatus.QUEUED, LEASE_EXPIRED, call.attempt_started_at
            )
            self._send(call.id)
            return "requeued"
        if call.status is CallStatus.QUEUED:
            self._calls.resend_due(call.id, now)
            self._send(call.id)
            return "resent"
        raise TransitionError(f"Call {call.id} is {call.status.value}", call)

    def _send(self, call_id: str) -> None:
        try:
            self._queue.send(call_id)
        except FnqError as exc:
            # The call is queued with a new due time: the next pass past it sends again.
            log.warning("sweeper: call %s not sent, retried when due: %s", call_id, exc)
