"""The `default` format: one process per call, body on stdin, output on stdout, log on stderr.

The process starts only once it has a slot (capacity.py) and runs in a workspace of its own
(workspace.py); when the call ends its whole tree is killed, then the workspace removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from chalicelib.errors import InvalidInputError
from chalicelib.execute.capacity import ProcessLimits, SlotSource, function_of
from chalicelib.execute.capped import CappedBuffer, capped_log
from chalicelib.execute.command import Command, command_for
from chalicelib.execute.environment import cold_env
from chalicelib.execute.outcome import failed_to_start, memory_error
from chalicelib.execute.process import Child
from chalicelib.execute.pump import Stop, pump
from chalicelib.execute.reaper import Reaper
from chalicelib.execute.workspace import Workspace
from chalicelib.models import CallStatus, RouteType, RunStats
from chalicelib.ports import Execution, Invocation

DEFAULT_MAX_LOG_BYTES = 1024 * 1024
DEFAULT_MAX_OUTPUT_BYTES = 6 * 1024 * 1024


class ColdExecutor:
    """Runs one process per call in its own session; the process tree never outlives the call."""

    def __init__(
        self,
        slots: SlotSource,
        limits: ProcessLimits,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        reaper: Reaper | None = None,
    ) -> None:
        self._slots = slots
        self._limits = limits
        self._max_log_bytes = max_log_bytes
        self._max_output_bytes = max_output_bytes
        self._reaper = reaper

    def execute(self, code_dir: Path, invocation: Invocation) -> Execution:
        """Raises CapacityError when no slot came free in time; never for the function's failures."""
        try:
            command = command_for(code_dir)
        except InvalidInputError as exc:
            return failed_to_start(exc, time.monotonic())
        slot = self._slots.slot_for(function_of(invocation), self._limits.wait_seconds(invocation.type))
        try:
            workspace = Workspace()
        except OSError as exc:
            slot.release()
            return failed_to_start(exc, time.monotonic())
        try:
            return self._run(command, code_dir, invocation, workspace)
        finally:
            workspace.remove()
            slot.release()

    def _run(
        self, command: Command, code_dir: Path, invocation: Invocation, workspace: Workspace
    ) -> Execution:
        # The timeout counts from here: waiting for a slot is not the function's time.
        started = time.monotonic()
        # Async calls log stdout and stderr interleaved (as Fn did), in the order the worker reads
        # the two pipes; stdout is also the call's result (GET .../result), so it has its own
        # pipe rather than sharing stderr's, and the same output cap as a sync response.
        logs_output = invocation.type is RouteType.ASYNC
        env = {**cold_env(invocation, command.env), **workspace.env()}
        try:
            child = Child(command.argv, code_dir, env, merge_stderr=False, reaper=self._reaper)
        except OSError as exc:
            return failed_to_start(exc, started)
        output = CappedBuffer(self._max_output_bytes)
        log = CappedBuffer(self._max_log_bytes)

        def output_and_log(chunk: bytes) -> None:
            output.write(chunk)
            log.write(chunk)

        sinks: dict[int, Callable[[bytes], None]] = {
            child.stdout_fd: output_and_log if logs_output else output.write
        }
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
                cancelled=invocation.cancel.is_set if invocation.cancel else None,
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
        if pumped.stop is Stop.CANCELLED:  # child.finish() above killed the tree
            return Execution(CallStatus.CANCELLED, result, logged, stats, error="cancelled")
        if pumped.stop is Stop.MEMORY:
            return Execution(CallStatus.ERROR, result, logged, stats, error=memory_error(invocation.memory))
        if pumped.stop is Stop.DONE:
            return Execution(CallStatus.ERROR, b"", logged, stats, error="function response too large")
        if status.code != 0:
            error = f"container exit code {status.code}"
            return Execution(CallStatus.ERROR, result, logged, stats, error=error)
        return Execution(CallStatus.SUCCESS, result, logged, stats)
