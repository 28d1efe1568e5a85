"""Calls a stop or a crash of `fn start` left queued or running: settle them, then send them again.

The local stack's whole AWS lives in the `fn start` process, its queue messages included, so
after a restart no message brings back a call that was queued, and a call left `running` holds a
lease that nobody will give up. One small step, run when the stack stops (for the calls its worker
was running) and when it starts (for whatever a crash left), settles every open call through the
CallStore's own conditional moves, never a raw write:

* a `running` async call whose attempt stored its outcome with its log (the function ran, the
  outcome write was lost): `finish` with that outcome, so the function does not run twice (or
  `requeue` it, if the outcome is a failure the route retries);
* any other `running` async call: `requeue` (running → queued, conditional on its attempt, which
  is recorded with the reason), to run again; or, on an ephemeral stack that is stopping,
  `finish` as an error saying it was stopped;
* a `running` sync call: `finish` as an error (its client is gone; it is never run again);
* every `queued` call that is due (including those just requeued) is sent to the calls queue
  again; a delayed call whose time has not come is left to the sweeper, which sends it when due.

Where this agrees with the sweeper (chalicelib/sweeper.py, which `fn worker` also runs): the same
outcomes by the same kind of move, conditional on the attempt seen, so the two (and a worker
taking over a lease) never both run or finish one attempt. Sync calls become errors; async calls
go back to `queued` with the lost attempt listed, and are re-sent; a recorded outcome is kept (the
sweeper leaves that to the runner's next claim, which finds it because the sweeper's requeue says
`worker lost: lease expired`; here, with no worker of the old run left, it is finished at once).
Where it differs, on purpose: the sweeper moves a running call only once its lease has expired,
since it cannot know whether its worker lives; this step knows the whole old stack is gone, so it
does not wait out leases (`FNQ_LEASE_SECONDS` ahead of the last heartbeat) after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.errors import FnqError, NotFoundError, TransitionError
from chalicelib.models import Call, CallStatus, RouteType
from chalicelib.ports import CallQueue, CallStore, LogStore
from chalicelib.runner import outcome_from_metadata

log = logging.getLogger(__name__)

OPEN_STATUSES = frozenset({CallStatus.QUEUED.value, CallStatus.RUNNING.value})
# docs/ARCHITECTURE.md "DynamoDB layout": a call is the item `pk = CALL#<id>`, its status in `status`.
CALL_PREFIX = "CALL#"
SEND_THREADS = 4

STOPPED = "fn start was stopped while the call ran"
CRASHED = "fn start ended while the call ran (it was killed or crashed)"
SYNC_NOT_RERUN = "; a sync call is not run again"


def call_status(key: Mapping[str, Any], item: Mapping[str, Any] | None) -> tuple[str, str | None] | None:
    """(call id, status) for a call item of the table in DynamoDB's wire format (status None when
    deleted); None for an item that is not a call."""
    pk = key.get("pk", {}).get("S", "")
    if not pk.startswith(CALL_PREFIX):
        return None
    status = (item or {}).get("status", {}).get("S") if item is not None else None
    return pk[len(CALL_PREFIX) :], status


@dataclass
class Settled:
    """What happened to the open calls."""

    requeued: list[str] = field(default_factory=list)  # running → queued: they run again
    finished: list[str] = field(default_factory=list)  # running → an outcome (recorded, or an error)
    queued: list[str] = field(default_factory=list)  # queued now: to be sent (again)


def settle(
    calls: CallStore,
    logs: LogStore,
    open_calls: Mapping[str, str],
    reason: str,
    now: datetime,
    run_again: bool = True,
) -> Settled:
    """Settle the `running` calls among `open_calls` (id → status); collect the queued ones."""
    settled = Settled()
    for call_id in sorted(open_calls):
        try:
            call = calls.get_call(call_id)
        except NotFoundError:
            continue
        if call.status is CallStatus.RUNNING:
            try:
                _settle_running(calls, logs, call, reason, now, run_again, settled)
            except TransitionError as exc:
                # It moved meanwhile (cancelled, or finished by the attempt we thought lost).
                current: Call | None = exc.current
                if current is None or current.status is not CallStatus.QUEUED:
                    continue
                settled.queued.append(call_id)
        elif call.status is CallStatus.QUEUED:
            if call.not_before is not None and call.not_before > now:
                continue  # delayed: the sweeper sends it when due
            settled.queued.append(call_id)
    return settled


def _settle_running(
    calls: CallStore,
    logs: LogStore,
    call: Call,
    reason: str,
    now: datetime,
    run_again: bool,
    settled: Settled,
) -> None:
    recorded = logs.get_log_outcome(call.app_name, call.id)
    if recorded and recorded.get("attempt") == str(call.attempt):
        outcome = outcome_from_metadata(recorded)
        retried = call.function is not None and call.attempt <= call.function.max_retries
        if outcome.status is not CallStatus.SUCCESS and retried:
            # What the runner would have done next: the route asks for the failure to be retried.
            calls.requeue(call.id, call.attempt, now, outcome.error, call.attempt_started_at)
            settled.queued.append(call.id)
            return
        calls.finish(
            call.id, call.attempt, outcome.status, now, outcome.error, outcome.stats, call.attempt_started_at
        )
        settled.finished.append(call.id)
    elif call.type is RouteType.SYNC:
        error = reason + SYNC_NOT_RERUN
        calls.finish(call.id, call.attempt, CallStatus.ERROR, now, error, None, call.attempt_started_at)
        settled.finished.append(call.id)
    elif run_again:
        calls.requeue(call.id, call.attempt, now, reason, call.attempt_started_at)
        settled.requeued.append(call.id)
        settled.queued.append(call.id)
    else:
        calls.finish(call.id, call.attempt, CallStatus.ERROR, now, reason, None, call.attempt_started_at)
        settled.finished.append(call.id)


def send_again(queue: CallQueue, call_ids: Iterable[str]) -> list[str]:
    """Put each call on the calls queue; answer the ids that could not be sent (they stay queued
    and are sent again at the next start)."""
    ids = list(call_ids)

    def send(call_id: str) -> str | None:
        try:
            queue.send(call_id)
        except FnqError as exc:
            log.warning("call %s could not be queued again: %s", call_id, exc)
            return call_id
        return None

    with ThreadPoolExecutor(SEND_THREADS) as pool:
        return [failed for failed in pool.map(send, ids) if failed is not None]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
