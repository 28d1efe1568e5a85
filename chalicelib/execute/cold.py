"""The `default` format: one process per call, body on stdin, output on stdout, log on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from chalicelib.errors import InvalidInputError
from chalicelib.execute.capped import CappedBuffer, capped_log
from chalicelib.execute.command import command_for
from chalicelib.execute.environment import cold_env
from chalicelib.execute.outcome import failed_to_start, memory_error
from chalicelib.execute.process import Child
from chalicelib.execute.pump import Stop, pump
from chalicelib.models import CallStatus, RouteType, RunStats
from chalicelib.ports import Execution, Invocation

DEFAULT_MAX_LOG_BYTES = 1024 * 1024
DEFAULT_MAX_OUTPUT_BYTES = 6 * 1024 * 1024


class ColdExecutor:
    """Runs one process per call in its own session; the process tree never outlives the call."""

    def __init__(
        self, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    ) -> None:
        self._max_log_bytes = max_log_bytes
        self._max_output_bytes = max_output_bytes

    def execute(self, code_dir: Path, invocation: Invocation) -> Execution:
        started = time.monotonic()
        try:
            command = command_for(code_dir)
            # Async calls log stdout and stderr interleaved (as Fn did), so both share one pipe.
            merged = invocation.type is RouteType.ASYNC
            child = Child(command.argv, code_dir, cold_env(invocation, command.env), merge_stderr=merged)
        except (InvalidInputError, OSError) as exc:
            return failed_to_start(exc, started)
        output = CappedBuffer(self._max_output_bytes)
        log = CappedBuffer(self._max_log_bytes)
        sinks: dict[int, Callable[[bytes], None]] = {child.stdout_fd: log.write if merged else output.write}
        if child.stderr_fd is not None:
            sinks[child.stderr_fd] = log.write
        try:
            pumped = pump(
                child,
                sinks=sinks,
                send=invocation.body,
                deadline=started + invocation.timeout,
                memory_kb=invocation.memory * 1024,
                # An oversized response fails the call whatever follows: stop it now.
                done=lambda: output.overflowed,
                close_stdin=True,
            )
        finally:
            status = child.finish()
            child.close()
        stats = RunStats(
            duration_ms=int((time.monotonic() - started) * 1000),
            exit_code=status.code,
            max_rss_kb=pumped.peak_rss_kb or None,
        )
        result = output.getvalue()
        logged = capped_log(log, self._max_log_bytes)
        if pumped.stop is Stop.TIMEOUT:
            return Execution(CallStatus.TIMEOUT, result, logged, stats, error="Timed out")
        if pumped.stop is Stop.MEMORY:
            return Execution(CallStatus.ERROR, result, logged, stats, error=memory_error(invocation.memory))
        if pumped.stop is Stop.DONE:
            return Execution(CallStatus.ERROR, b"", logged, stats, error="function response too large")
        if status.code != 0:
            error = f"container exit code {status.code}"
            return Execution(CallStatus.ERROR, result, logged, stats, error=error)
        return Execution(CallStatus.SUCCESS, result, logged, stats)
