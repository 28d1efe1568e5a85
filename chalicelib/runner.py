"""One call: claim → fetch code and body → execute → log → record the outcome.

The batch handler hands the runner one call id at a time, to claim (within the invocation's
limits) and then run; the runner answers a Verdict on the message that brought it: done with (ACK),
or to come back later, and why (RETRY, HELD, DEFER). Sync calls run the same steps inline.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from chalicelib import inputs
from chalicelib.errors import API_TIMED_OUT, FnqError, InvocationEndedError, NotFoundError, TransitionError
from chalicelib.models import LEASE_EXPIRED, Attempt, Call, CallStatus, RouteType, RunStats
from chalicelib.ports import (
    CallQueue,
    CallStore,
    ClaimLimits,
    CodeStore,
    Execution,
    FunctionExecutor,
    Invocation,
    LogStore,
    PayloadStore,
)

log = logging.getLogger(__name__)

FINISH_TRIES = 3
# S3 holds at most 2 KB of metadata per object, percent-encoded here: the outcome's error is cut
# shorter there than in the record.
METADATA_ERROR_BYTES = 512


class Heartbeats(NamedTuple):
    """Lease renewal while a function runs: every `every_seconds`, the lease is set to now + lease.

    Made once by wiring.py: a NamedTuple, cheaper to define on the cold start than a dataclass.
    """

    every_seconds: float
    lease_seconds: int


class Disposition(StrEnum):
    ACK = "ack"  # the message has done its work (or never will): delete it
    RETRY = "retry"  # a platform fault: redeliver after a short backoff
    HELD = "held"  # another worker holds the call under a live lease: redeliver when the lease ends
    DEFER = "defer"  # not claimed: the call does not fit the invocation's limits; redeliver at once


@dataclass(frozen=True)
class Verdict:
    """What becomes of the message that brought a call, and the record as the runner last saw it
    (HELD: its lease; DEFER: the function that did not fit)."""

    disposition: Disposition
    call: Call | None = None


class CallRunner:
    def __init__(
        self,
        calls: CallStore,
        code: CodeStore,
        payloads: PayloadStore,
        logs: LogStore,
        queue: CallQueue,
        executor: FunctionExecutor,
        clock: Callable[[], datetime],
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        heartbeat: Heartbeats | None = None,
        inline_log_bytes: int = 4 * 1024,
    ) -> None:
        self._calls = calls
        self._code = code
        self._payloads = payloads
        self._logs = logs
        self._queue = queue
        self._executor = executor
        self._clock = clock
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._heartbeat = heartbeat
        self._inline_log_bytes = inline_log_bytes

    def process(self, call_id: str, limits: ClaimLimits | None = None) -> Verdict:
        """Run one queued call, once per attempt however often its message is delivered."""
        claimed = self.claim(call_id, limits)
        return claimed if isinstance(claimed, Verdict) else self.run(claimed)

    def claim(self, call_id: str, limits: ClaimLimits | None = None) -> Call | Verdict:
        """The call, claimed for this attempt; or the verdict on its message when it is not."""
        now = self._clock()
        try:
            return self._calls.claim(call_id, now, limits)
        except TransitionError as exc:
            current: Call | None = exc.current
            if current is None or current.status not in {CallStatus.QUEUED, CallStatus.RUNNING}:
                return Verdict(Disposition.ACK)  # terminal (a duplicate delivery) or cancelled
            lease = current.lease_expires_at
            if current.status is CallStatus.RUNNING and lease is not None and lease >= now:
                # Another worker holds a live lease. Keep the message: if that worker dies, this
                # message is what brings the call back once the lease has expired.
                return Verdict(Disposition.HELD, current)
            # Claimable but for the limits: this invocation cannot give the call what it asks.
            return Verdict(Disposition.DEFER, current)

    def run(self, call: Call) -> Verdict:
        """Run a claimed call to its outcome (or its next attempt)."""
        recorded = self._recorded_outcome(call)
        if recorded is not None:
            # The previous attempt ran the function and stored its log and outcome, but died
            # before writing the outcome to the table: record it, do not run the function again.
            self._finish(call, recorded.status, recorded.error, recorded.stats)
            return Verdict(Disposition.ACK)
        if call.attempt - call.redrive_base > self._max_attempts:
            tried = call.attempt - call.redrive_base - 1
            self._finish(call, CallStatus.ERROR, f"gave up after {tried} attempts", dead=True)
            return Verdict(Disposition.ACK)
        try:
            with self._beating(call) as cancel:
                execution = self._run(call, cancel)
        except Exception as exc:  # a platform fault: the code or body could not be fetched, ...
            log.warning("call %s attempt %s failed before running: %s", call.id, call.attempt, exc)
            self._requeue_quietly(call, f"platform fault: {exc}")
            return Verdict(Disposition.RETRY)
        self._store_log(call, execution)
        function_failed = execution.status is not CallStatus.SUCCESS
        if function_failed and call.function and call.attempt <= call.function.max_retries:
            return Verdict(self._retry_function(call, execution))
        self._finish(call, execution.status, execution.error, execution.stats)
        return Verdict(Disposition.ACK)

    # ------------------------------------------------------------------ sync calls
    def run_sync(self, call: Call) -> Execution:
        """Run a sync call; record it in one write at its end, or as it runs if it runs long.

        Nothing is stored while it runs, until its first heartbeat: a call that ends before then
        is written once, with its outcome and, when small, its log (a larger log goes to the log
        store first, so the record always finds its log). A call still running at its first
        heartbeat is recorded `running` then (_SyncLease) and from there on is renewed, can be
        cancelled and is recovered by the sweeper like any running call; it ends as an async
        call does (log, then the outcome as a conditional update). Without heartbeats, every
        sync call is written once, at its end (unless its process records it when stopping:
        record_sync_calls_in_flight).

        A call whose invocation was ended (end_sync_calls: fn start's API past its time limit, as
        Lambda ends a timed-out API invocation) writes nothing more: InvocationEndedError.
        """
        lease = _SyncLease(self._calls, call, self._heartbeat, self._clock)
        if lease.ended:  # its invocation was ended before the call began: it never runs
            lease.close()
            raise InvocationEndedError(API_TIMED_OUT)
        try:
            execution = answerable(self._run(call, lease.cancel))
        except Exception as exc:  # a platform fault: the code or body could not be fetched
            recorded = lease.close()
            if lease.ended:
                raise InvocationEndedError(API_TIMED_OUT) from exc
            if recorded:
                self._finish(call, CallStatus.ERROR, f"platform fault: {exc}")
            else:
                self._record_sync(call, CallStatus.ERROR, f"platform fault: {exc}")
            raise
        recorded = lease.close()
        if lease.ended:
            raise InvocationEndedError(API_TIMED_OUT)
        if recorded:
            self._store_log(call, execution)
            self._finish(call, execution.status, execution.error, execution.stats)
            return execution
        inline: bytes | None = execution.log
        if len(execution.log) > self._inline_log_bytes:
            self._store_log(call, execution)
            inline = None
        self._record_sync(call, execution.status, execution.error, execution.stats, inline)
        return execution

    def _record_sync(
        self,
        call: Call,
        status: CallStatus,
        error: str,
        stats: RunStats | None = None,
        log_inline: bytes | None = None,
    ) -> None:
        """The sync call's only write: the record as it ended, its one attempt included.

        Tried a few times, as an async outcome is; if the table still refuses, the failure is
        logged and the caller still gets the function's answer: the function ran, and a client
        told to retry would run it again.
        """
        now = self._clock()
        started = call.attempt_started_at or call.started_at or now
        error = inputs.truncated(error)  # as _finish bounds it: stored twice, the call's and its attempt's
        ended = replace(
            call,
            status=status,
            completed_at=now,
            error=error,
            stats=stats,
            lease_expires_at=None,
            attempts=(Attempt(call.attempt, started, completed_at=now, status=status, error=error),),
            log=log_inline,
        )
        for attempt in range(FINISH_TRIES):
            try:
                self._calls.insert_call(ended)
                return
            except Exception:
                if attempt == FINISH_TRIES - 1:
                    log.exception("sync call %s: ran, but its record could not be written", call.id)
                    return
                self._sleep(0.2 * 2**attempt)

    @contextlib.contextmanager
    def _beating(self, call: Call) -> Iterator[threading.Event]:
        """Renew the call's lease while the block runs; the event is set once the call is cancelled.

        A refused renewal means the call moved on without this attempt (cancelled, or its lease
        was lost and taken over): the executor, watching the event, kills the function.
        """
        cancel = threading.Event()
        if self._heartbeat is None:
            yield cancel
            return
        beats = self._heartbeat
        stop = threading.Event()

        def renew() -> bool:
            self._calls.renew(call.id, call.attempt, self._clock(), beats.lease_seconds)
            return True

        thread = threading.Thread(
            target=beat_until,
            args=(stop, beats.every_seconds, renew, cancel, f"call {call.id}: lease not renewed"),
            name=f"heartbeat-{call.id}",
            daemon=True,
        )
        thread.start()
        try:
            yield cancel
        finally:
            stop.set()
            thread.join()

    def _recorded_outcome(self, call: Call) -> Execution | None:
        """The outcome a lost previous attempt stored with its log, if the claim was a takeover."""
        last = call.attempts[-1] if call.attempts else None
        if last is None or last.error != LEASE_EXPIRED or last.number != call.attempt - 1:
            return None
        outcome = self._logs.get_log_outcome(call.app_name, call.id)
        if not outcome or outcome.get("attempt") != str(last.number):
            return None
        return outcome_from_metadata(outcome)

    def _run(self, call: Call, cancel: threading.Event | None = None) -> Execution:
        function, request = call.function, call.request
        if function is None or request is None:
            raise NotFoundError(f"call {call.id} has no function snapshot")
        if not function.bundle:
            return Execution(
                CallStatus.ERROR,
                b"",
                b"",
                RunStats(duration_ms=0),
                error="route has no code bundle (deploy it)",
            )
        code_dir = self._code.fetch_bundle(function.bundle)
        body = request.body if request.body is not None else b""
        if request.body_key:
            body = self._payloads.get_payload(request.body_key)
        now = self._clock()
        invocation = Invocation(
            call_id=call.id,
            app_name=call.app_name,
            path=call.path,
            type=call.type,
            format=function.format,
            timeout=function.timeout,
            idle_timeout=function.idle_timeout,
            memory=function.memory,
            config=function.config,
            method=request.method,
            request_url=request.url,
            headers=request.headers,
            content_type=request.content_type,
            body=body,
            deadline=now + timedelta(seconds=function.timeout),
            cancel=cancel,
        )
        return self._executor.execute(code_dir, invocation)

    def _store_log(self, call: Call, execution: Execution) -> None:
        # The log is written before the outcome, so a client that sees a terminal status finds
        # the log. If S3 refuses it, the outcome is still recorded: the function is not re-run.
        if call.type is RouteType.ASYNC:
            # The response body on its own (GET .../result): an async caller has no other way
            # to it without the stderr lines the log holds. A sync caller got it in the reply.
            # Written before the log, so a terminal status finds both.
            try:
                self._logs.put_result(call.app_name, call.id, execution.output, execution.content_type)
            except Exception as exc:
                log.error("call %s: result not stored: %s", call.id, exc)
        log_bytes = execution.log
        if call.type is RouteType.ASYNC and not log_bytes and execution.output:
            log_bytes = execution.output
        try:
            self._logs.put_log(call.app_name, call.id, log_bytes, outcome_metadata(call.attempt, execution))
        except Exception as exc:
            log.error("call %s: log not stored: %s", call.id, exc)

    def _retry_function(self, call: Call, execution: Execution) -> Disposition:
        """The route asks for retries: back to queued, and a new message delayed by a backoff."""
        try:
            self._calls.requeue(
                call.id,
                call.attempt,
                self._clock(),
                inputs.truncated(execution.error),
                call.attempt_started_at,
            )
        except TransitionError:
            return Disposition.ACK
        try:
            self._queue.send(call.id, delay_seconds=min(2**call.attempt, 900))
        except FnqError:
            return Disposition.RETRY  # the original message comes back and claims the requeued call
        return Disposition.ACK

    def _requeue_quietly(self, call: Call, error: str) -> None:
        error = inputs.truncated(error)
        try:
            self._calls.requeue(call.id, call.attempt, self._clock(), error, call.attempt_started_at)
        except (TransitionError, NotFoundError):
            pass
        except Exception as exc:
            # The lease still expires, so the next delivery takes the call over.
            log.error("call %s: could not requeue: %s", call.id, exc)

    def _finish(
        self,
        call: Call,
        status: CallStatus,
        error: str = "",
        stats: RunStats | None = None,
        dead: bool = False,
    ) -> None:
        """Record the outcome, trying a few times more than the client's own retries.

        If the table still refuses, the exception reaches the worker and the message comes back;
        the outcome stored with the log lets the next attempt record it without running again.
        The error text is stored twice (the call's and its attempt's), each cut to a bound.
        """
        error = inputs.truncated(error)
        for attempt in range(FINISH_TRIES):
            try:
                self._calls.finish(
                    call.id, call.attempt, status, self._clock(), error, stats, call.attempt_started_at, dead
                )
                return
            except TransitionError:
                # Cancelled meanwhile, or this attempt's lease expired and another took over.
                log.info("call %s attempt %s: outcome discarded, the call moved on", call.id, call.attempt)
                return
            except Exception:
                if attempt == FINISH_TRIES - 1:
                    raise
                self._sleep(0.2 * 2**attempt)


# The sync calls this process is running, for record_sync_calls_in_flight and end_sync_calls,
# and the threads whose invocations were ended (held weakly: a finished thread drops out).
_in_flight: set[_SyncLease] = set()
_ended_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
_in_flight_lock = threading.Lock()


def end_sync_calls(thread: threading.Thread) -> int:
    """End the sync calls `thread` runs (or will start) as Lambda ends a timed-out invocation.

    For fn start's API, whose request threads cannot be killed as Lambda kills an API invocation
    (fnq/local/api_server.py): each call's function is killed (the executor watches `cancel`),
    its lease is neither written nor renewed again, and run_sync writes nothing more
    (InvocationEndedError). A call recorded `running` at its first heartbeat stays so until its
    lease lapses and the sweeper fails it, as on AWS; one not recorded yet leaves no record.
    Answers how many calls were ended.
    """
    with _in_flight_lock:
        _ended_threads.add(thread)
        leases = [lease for lease in _in_flight if lease.thread is thread]
    for lease in leases:
        lease.end()
    return len(leases)


def record_sync_calls_in_flight() -> int:
    """Record now, as running, every sync call this process runs that is not recorded yet.

    For a process about to stop (fn start): its sync calls then have a record to be settled on,
    as long ones do, instead of vanishing with it. Answers how many were recorded.
    """
    with _in_flight_lock:
        leases = list(_in_flight)
    return sum(lease.record_now() for lease in leases)


def beat_until(
    stop: threading.Event, every: float, beat: Callable[[], bool], cancel: threading.Event, what: str
) -> None:
    """Call `beat` every `every` seconds until `stop` is set or `beat` answers False.

    A refused beat (TransitionError, NotFoundError) means the call moved on without this attempt
    (cancelled, or its lease lost and taken over): `cancel` is set, and the executor, watching
    it, kills the function. Any other failure (throttling) is logged: the lease still has time, the
    next beat tries again.
    """
    while not stop.wait(every):
        try:
            if not beat():
                return
        except (TransitionError, NotFoundError):
            cancel.set()
            return
        except Exception as exc:
            log.warning("%s: %s", what, exc)


class _SyncLease:
    """A running sync call's record, written only if the call outlives its first heartbeat.

    Until the first beat nothing is stored (most sync calls end first, in one write). At the
    first beat the call is recorded `running` with a heartbeat lease; at each later beat the lease
    is renewed, and a refused renewal (the call was cancelled) sets `cancel`, which the executor
    watches. `close` stops the beats and says whether the record was written; the lock makes the
    call's end and the record's writing exclusive, so a call is never both written once and
    recorded running. Without heartbeats there are no beats: only record_now writes the record.
    """

    def __init__(
        self, calls: CallStore, call: Call, beats: Heartbeats | None, clock: Callable[[], datetime]
    ) -> None:
        self.cancel = threading.Event()
        self._calls = calls
        self._call = call
        self._beats = beats
        self._clock = clock
        self._lock = threading.Lock()
        self._recorded = False
        self._closed = False
        self.ended = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.thread = threading.current_thread()  # the invocation's (see end_sync_calls)
        with _in_flight_lock:
            _in_flight.add(self)
            if self.thread in _ended_threads:
                self.ended = self._closed = True
                self.cancel.set()
                return
        if beats is not None:
            self._thread = threading.Thread(target=self._beat, args=(beats,), name=f"sync-lease-{call.id}")
            self._thread.daemon = True
            self._thread.start()

    def _beat(self, beats: Heartbeats) -> None:
        def record_or_renew() -> bool:
            with self._lock:
                if self._closed:
                    return False
                if self._recorded:
                    self._calls.renew(self._call.id, self._call.attempt, self._clock(), beats.lease_seconds)
                else:
                    self._record()
                return True

        what = f"sync call {self._call.id}: not recorded or renewed"
        beat_until(self._stop, beats.every_seconds, record_or_renew, self.cancel, what)

    def _record(self) -> None:
        lease = self._beats.lease_seconds if self._beats else self._call.lease_seconds
        lease_end = self._clock() + timedelta(seconds=lease)
        self._calls.insert_call(replace(self._call, lease_expires_at=lease_end))
        self._recorded = True

    def record_now(self) -> bool:
        """Write the running record now if the call is still running and not recorded; True if so."""
        with self._lock:
            if self._closed or self._recorded:
                return False
            try:
                self._record()
            except Exception as exc:
                log.warning("sync call %s: not recorded: %s", self._call.id, exc)
                return False
            return True

    def end(self) -> None:
        """The invocation is over: no more beats or records, and the function is to be killed."""
        with self._lock:
            self.ended = self._closed = True
        self._stop.set()
        self.cancel.set()

    def close(self) -> bool:
        """Stop beating; True when the call was recorded running (its end is then an update)."""
        with self._lock:
            self._closed = True
        with _in_flight_lock:
            _in_flight.discard(self)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self._recorded


def answerable(execution: Execution) -> Execution:
    """What a sync call may answer: the function's headers HTTP can carry and the server does not
    set (a CR/LF in a name or value would split the response; a name outside latin-1 dropped the
    connection), 16 KiB of them at most, the others named in the call's log; and an error text of
    bounded size."""
    kept, dropped = inputs.sendable_headers(execution.headers)
    content_type = execution.content_type
    if content_type and inputs.header_value_problem(content_type):
        dropped.append("content_type")
        content_type = ""
    log = execution.log
    if dropped:
        names = inputs.truncated(", ".join(repr(name) for name in dropped), 1024, "list")
        why = "HTTP cannot carry them, the server sets them, or too large"
        line = f"\nfnq: response headers dropped ({why}): {names}\n"
        log += line.encode("utf-8", "backslashreplace")
    return replace(
        execution, headers=kept, content_type=content_type, log=log, error=inputs.truncated(execution.error)
    )


def outcome_metadata(attempt: int, execution: Execution) -> dict[str, str]:
    """The attempt's outcome as S3 metadata stored with its log (see LogStore.put_log)."""
    stats = execution.stats
    metadata = {
        "attempt": str(attempt),
        "status": execution.status.value,
        "error": inputs.truncated(execution.error, METADATA_ERROR_BYTES),
        "duration-ms": str(stats.duration_ms),
    }
    if stats.exit_code is not None:
        metadata["exit-code"] = str(stats.exit_code)
    if stats.max_rss_kb is not None:
        metadata["max-rss-kb"] = str(stats.max_rss_kb)
    return metadata


def outcome_from_metadata(metadata: dict[str, str]) -> Execution:
    def number(key: str) -> int | None:
        value = metadata.get(key)
        return int(value) if value else None

    stats = RunStats(
        duration_ms=number("duration-ms") or 0, exit_code=number("exit-code"), max_rss_kb=number("max-rss-kb")
    )
    return Execution(CallStatus(metadata["status"]), b"", b"", stats, error=metadata.get("error", ""))
