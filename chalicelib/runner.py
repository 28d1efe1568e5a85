"""One call: claim → fetch code and body → execute → log → record the outcome.

The worker hands the runner one call id at a time; the runner answers whether the message is
done with (ACK) or must come back later (RETRY). Sync calls run the same steps inline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.errors import FnqError, NotFoundError, TransitionError
from chalicelib.models import Call, CallStatus, RouteType, RunStats
from chalicelib.ports import (
    CallQueue,
    CallStore,
    CodeStore,
    Execution,
    FunctionExecutor,
    Invocation,
    LogStore,
    PayloadStore,
)

log = logging.getLogger(__name__)


class Disposition(StrEnum):
    ACK = "ack"  # the message has done its work (or never will): delete it
    RETRY = "retry"  # leave the message for redelivery after its visibility timeout


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
    ) -> None:
        self._calls = calls
        self._code = code
        self._payloads = payloads
        self._logs = logs
        self._queue = queue
        self._executor = executor
        self._clock = clock
        self._max_attempts = max_attempts

    def process(self, call_id: str) -> Disposition:
        """Run one queued call, once per attempt however often its message is delivered."""
        try:
            call = self._calls.claim(call_id, self._clock())
        except TransitionError as exc:
            current: Call | None = exc.current
            if current is not None and current.status is CallStatus.RUNNING:
                # Another worker holds a live lease. Keep the message: if that worker dies, this
                # message is what brings the call back once the lease has expired.
                return Disposition.RETRY
            return Disposition.ACK  # terminal (a duplicate delivery) or cancelled
        if call.attempt > self._max_attempts:
            self._finish_quietly(call, CallStatus.ERROR, f"gave up after {call.attempt - 1} attempts")
            return Disposition.ACK
        try:
            execution = self._run(call)
        except Exception as exc:  # a platform fault: the code or body could not be fetched, ...
            log.warning("call %s attempt %s failed before running: %s", call.id, call.attempt, exc)
            self._requeue_quietly(call, f"platform fault: {exc}")
            return Disposition.RETRY
        self._store_log(call, execution)
        function_failed = execution.status is not CallStatus.SUCCESS
        if function_failed and call.function and call.attempt <= call.function.max_retries:
            return self._retry_function(call, execution)
        self._finish_quietly(call, execution.status, execution.error, execution.stats)
        return Disposition.ACK

    def run_sync(self, call: Call) -> Execution:
        """Run a call already recorded as running (sync invoke); record its outcome and log."""
        execution = self._run(call)
        self._store_log(call, execution)
        self._finish_quietly(call, execution.status, execution.error, execution.stats)
        return execution

    def _run(self, call: Call) -> Execution:
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
        )
        return self._executor.execute(code_dir, invocation)

    def _store_log(self, call: Call, execution: Execution) -> None:
        # The log is written before the outcome, so a client that sees a terminal status finds
        # the log. If S3 refuses it, the outcome is still recorded: the function is not re-run.
        log_bytes = execution.log
        if call.type is RouteType.ASYNC and not log_bytes and execution.output:
            log_bytes = execution.output
        try:
            self._logs.put_log(call.app_name, call.id, log_bytes)
        except Exception as exc:
            log.error("call %s: log not stored: %s", call.id, exc)

    def _retry_function(self, call: Call, execution: Execution) -> Disposition:
        """The route asks for retries: back to queued, and a new message delayed by a backoff."""
        try:
            self._calls.requeue(
                call.id, call.attempt, self._clock(), execution.error, call.attempt_started_at
            )
        except TransitionError:
            return Disposition.ACK
        try:
            self._queue.send(call.id, delay_seconds=min(2**call.attempt, 900))
        except FnqError:
            return Disposition.RETRY  # the original message comes back and claims the requeued call
        return Disposition.ACK

    def _requeue_quietly(self, call: Call, error: str) -> None:
        try:
            self._calls.requeue(call.id, call.attempt, self._clock(), error, call.attempt_started_at)
        except (TransitionError, NotFoundError):
            pass
        except Exception as exc:
            # The lease still expires, so the next delivery takes the call over.
            log.error("call %s: could not requeue: %s", call.id, exc)

    def _finish_quietly(
        self, call: Call, status: CallStatus, error: str = "", stats: RunStats | None = None
    ) -> None:
        try:
            self._calls.finish(
                call.id, call.attempt, status, self._clock(), error, stats, call.attempt_started_at
            )
        except TransitionError:
            # Cancelled meanwhile, or this attempt's lease expired and another took over.
            log.info("call %s attempt %s: outcome discarded, the call moved on", call.id, call.attempt)
