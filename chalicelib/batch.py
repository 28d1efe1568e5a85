"""The SQS side: a batch of messages → the runner, one call each, with partial batch failures.

Lambda's event source deletes the messages of a batch that are not listed in
`batchItemFailures`; those listed come back after their visibility timeout, which this handler
sets to match why each one failed (`redelivery_seconds`). The deployed event source has
`ReportBatchItemFailures` (infra/), and the local emulation honours the same answer.

An invocation has a time limit (Lambda's context) and a memory size. Every call of a batch is
started at once, in a thread of its own (a thread only waits on its function's process), as long as
the call can finish in the invocation's remaining time and the memory its function declares fits in
what the calls already running have left (`Budget`). Lambda sizes CPU by memory, so sharing the
worker's memory this way also shares its CPU no thinner than Lambda would slice it for functions of
those sizes. What cannot start in time goes back to the queue at once, for a fresh invocation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from chalicelib.delivery import CallbackDeliverer
from chalicelib.errors import FnqError, NotFoundError, TransitionError
from chalicelib.ids import is_call_id
from chalicelib.jsonlog import call_context
from chalicelib.models import Call, CallStatus
from chalicelib.ports import CallbackDelivery, CallQueue, CallStore, ClaimLimits
from chalicelib.runner import CallRunner, Disposition, Verdict

log = logging.getLogger(__name__)

# The worker's own share of its Lambda's memory (the interpreter with boto3 is ~60 MB; request
# bodies and logs of ten calls in flight add to it). The rest is shared among the calls.
WORKER_RESERVE_MB = 128
# A platform fault's message comes back after 2, 8, 32, 128, 512 s on its 1st to 5th receive:
# soon for a blip, and spread over ~11 minutes before maxReceiveCount (5) dead-letters it.
FAULT_BACKOFF_SECONDS = 2
FAULT_BACKOFF_FACTOR = 4
MAX_BACKOFF_SECONDS = 900
# A message held for another worker's lease comes back this long after the lease ends, so that
# its claim finds the lease expired.
LEASE_SLACK_SECONDS = 1


def _json_object(body: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def call_id_of(body: str) -> str | None:
    """The call id a message carries, or None for a message that is not ours (poison)."""
    call_id = _json_object(body).get("call_id")
    return call_id if isinstance(call_id, str) and is_call_id(call_id) else None


def callback_of(body: str) -> CallbackDelivery | None:
    """The callback delivery a message carries (aws/sqs.py), else None."""
    fields = _json_object(body).get("callback")
    if not isinstance(fields, dict):
        return None
    call_id, app, attempt, first = (fields.get(k) for k in ("call_id", "app", "attempt", "first"))
    if not (isinstance(call_id, str) and is_call_id(call_id) and isinstance(app, str)):
        return None
    if not (type(attempt) is int and type(first) is int and 0 < first <= attempt):
        return None
    return CallbackDelivery(call_id, app, attempt, first)


class Budget:
    """What one invocation can still give the calls of its batch: time and memory.

    Time is Lambda's `get_remaining_time_in_millis()` less a margin for fetching the code and
    recording the outcome. Memory is the invocation's `memory_limit_in_mb` less WORKER_RESERVE_MB,
    taken by each running call for the memory its function declares and given back when it ends;
    a call alone may take more (it runs, as it would have before). No context: no limits.
    """

    def __init__(self, context: Any, margin_seconds: int) -> None:
        remaining: Callable[[], float] | None = getattr(context, "get_remaining_time_in_millis", None)
        self._remaining_ms = remaining
        memory = getattr(context, "memory_limit_in_mb", None)  # a string on Lambda
        self._capacity = max(0, int(memory) - WORKER_RESERVE_MB) if memory else None
        self._margin_ms = margin_seconds * 1000
        self._changed = threading.Condition()
        self._running = 0
        self._used = 0
        self._ended = 0  # calls ended so far: a waiter knows whether one ended since it looked

    def limits(self) -> tuple[ClaimLimits, int]:
        """What a call may ask for now, and the count of ended calls to wait on if it asks more."""
        max_timeout = None
        if self._remaining_ms is not None:
            max_timeout = math.floor((self._remaining_ms() - self._margin_ms) / 1000)
        with self._changed:
            crowded = self._capacity is not None and self._running > 0
            max_memory = self._capacity - self._used if crowded and self._capacity is not None else None
            return ClaimLimits(max_timeout, max_memory), self._ended

    def take(self, memory: int) -> None:
        with self._changed:
            self._running += 1
            self._used += memory

    def give_back(self, memory: int) -> None:
        with self._changed:
            self._running -= 1
            self._used -= memory
            self._ended += 1
            self._changed.notify_all()

    def wait_for_a_call_to_end(self, ended: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._ended != ended or self._running == 0)


def only_short_of_memory(call: Call | None, limits: ClaimLimits) -> bool:
    """A deferred call that would fit this invocation's time once running calls free memory."""
    function = call.function if call is not None else None
    if function is None or limits.max_memory is None or function.memory <= limits.max_memory:
        return False
    return limits.max_timeout is None or function.timeout <= limits.max_timeout


def held_until(call: Call, grace_seconds: int) -> datetime | None:
    """When the attempt holding `call` must be over: its lease's end, or, when heartbeats keep the
    lease short, its start + the function's timeout + the grace for recording, if later."""
    ends = [call.lease_expires_at]
    if call.attempt_started_at is not None and call.function is not None:
        ends.append(call.attempt_started_at + timedelta(seconds=call.function.timeout + grace_seconds))
    known = [end for end in ends if end is not None]
    return max(known) if known else None


def redelivery_seconds(verdict: Verdict | None, receives: int, now: datetime, grace_seconds: int = 60) -> int:
    """When a message not done with should come back: a visibility that matches why.

    None is a message that is not a call (poison, unknown id): back at once, so that it reaches the
    dead-letter queue after maxReceiveCount receives in seconds rather than hours.
    """
    if verdict is None or verdict.disposition is Disposition.DEFER:
        return 0  # at once: a fresh invocation has the time (or the memory) this one lacked
    until = held_until(verdict.call, grace_seconds) if verdict.call else None
    if verdict.disposition is Disposition.HELD and until is not None:
        # Once the holding attempt must be over: done, or its worker died and this delivery takes
        # the call over. Not at each end of a heartbeat lease: every return counts a receive
        # towards maxReceiveCount, and a long call would see its message dead-lettered.
        return max(0, math.ceil((until - now).total_seconds())) + LEASE_SLACK_SECONDS
    # A platform fault (S3, throttling past the client's retries, anything unexpected).
    backoff: int = FAULT_BACKOFF_SECONDS * FAULT_BACKOFF_FACTOR ** max(0, receives - 1)
    return min(backoff, MAX_BACKOFF_SECONDS)


class CallBatchHandler:
    def __init__(
        self,
        runner: CallRunner,
        queue: CallQueue,
        clock: Callable[[], datetime],
        margin_seconds: int = 30,
        lease_grace_seconds: int = 60,
        callbacks: CallbackDeliverer | None = None,
    ) -> None:
        self._runner = runner
        self._callbacks = callbacks
        self._queue = queue
        self._clock = clock
        self._margin_seconds = margin_seconds
        self._lease_grace_seconds = lease_grace_seconds

    def handle_batch(self, event: Mapping[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
        """Run every record of an SQS event within the invocation's limits; answer the ids of the
        messages to redeliver, after setting when each comes back."""
        records = [r for r in event.get("Records", []) if isinstance(r, Mapping)]
        budget = Budget(context, self._margin_seconds)
        verdicts: dict[str, Verdict | None] = {}
        with ThreadPoolExecutor(max_workers=max(1, len(records)), thread_name_prefix="call") as pool:
            running: dict[str, Future[Verdict]] = {}
            for record in records:
                message_id = str(record.get("messageId", ""))
                body = str(record.get("body", ""))
                delivery = callback_of(body) if self._callbacks is not None else None
                if delivery is not None:
                    # A callback: a short POST (its timeout is well inside the worker's margin),
                    # beside the calls, in a thread of its own. It runs no function.
                    running[message_id] = pool.submit(self._deliver, delivery)
                    continue
                call_id = call_id_of(body)
                if call_id is None:
                    log.error("message %s carries no call id; left for the dead-letter queue", message_id)
                    verdicts[message_id] = None
                    continue
                with call_context(call_id):
                    claimed = self._claim(message_id, call_id, budget)
                if isinstance(claimed, Call):
                    running[message_id] = pool.submit(self._run, claimed, budget)
                else:
                    verdicts[message_id] = claimed
            for message_id, future in running.items():
                verdicts[message_id] = future.result()
        failed = [r for r in records if self._failed(verdicts.get(str(r.get("messageId", ""))))]
        self._reschedule(failed, verdicts)
        return {"batchItemFailures": [{"itemIdentifier": str(r.get("messageId", ""))} for r in failed]}

    def _claim(self, message_id: str, call_id: str, budget: Budget) -> Call | Verdict | None:
        """Claim the call if the invocation can give it what it asks, waiting for memory if need be."""
        while True:
            limits, ended = budget.limits()
            if limits.max_timeout is not None and limits.max_timeout < 0:
                return Verdict(Disposition.DEFER)  # no time left for any call: spare the request
            try:
                claimed = self._runner.claim(call_id, limits)
            except NotFoundError:
                log.error(
                    "message %s names unknown call %s; left for the dead-letter queue", message_id, call_id
                )
                return None
            except Exception:
                log.exception("call %s: could not be claimed; the message will be redelivered", call_id)
                return Verdict(Disposition.RETRY)
            if isinstance(claimed, Call):
                budget.take(claimed.function.memory if claimed.function else 0)
                return claimed
            if claimed.disposition is Disposition.DEFER and only_short_of_memory(claimed.call, limits):
                budget.wait_for_a_call_to_end(ended)
                continue
            if claimed.disposition is Disposition.DEFER:
                log.info("call %s does not fit the invocation's remaining time; back to the queue", call_id)
            return claimed

    def _run(self, call: Call, budget: Budget) -> Verdict:
        with call_context(call.id):
            try:
                verdict = self._runner.run(call)
            except Exception:
                log.exception("call %s: unexpected failure; the message will be redelivered", call.id)
                verdict = Verdict(Disposition.RETRY)
            finally:
                budget.give_back(call.function.memory if call.function else 0)
            # One line a call attempt: what became of its message (CloudWatch can count them).
            log.info("call %s attempt %d: %s", call.id, call.attempt, verdict.disposition.value)
            return verdict

    def _deliver(self, delivery: CallbackDelivery) -> Verdict:
        """A callback attempt: done with (its retries are new, delayed messages), unless AWS failed."""
        with call_context(delivery.call_id):
            try:
                if self._callbacks is not None:
                    self._callbacks.deliver(delivery)
            except Exception:
                log.exception(
                    "call %s: callback attempt %d failed; the message will be redelivered",
                    delivery.call_id,
                    delivery.attempt,
                )
                return Verdict(Disposition.RETRY)
            return Verdict(Disposition.ACK)

    @staticmethod
    def _failed(verdict: Verdict | None) -> bool:
        return verdict is None or verdict.disposition is not Disposition.ACK

    def _reschedule(self, failed: list[Mapping[str, Any]], verdicts: Mapping[str, Verdict | None]) -> None:
        now = self._clock()
        seconds_by_receipt = {}
        for record in failed:
            receipt = record.get("receiptHandle")
            if not receipt:
                continue
            receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1))
            verdict = verdicts.get(str(record.get("messageId", "")))
            seconds = redelivery_seconds(verdict, receives, now, self._lease_grace_seconds)
            seconds_by_receipt[str(receipt)] = seconds
        if seconds_by_receipt:
            self._queue.redeliver_after(seconds_by_receipt)


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
                with call_context(call_id):
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
