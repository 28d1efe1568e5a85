"""The `json` format: hot processes that serve many calls, one JSON line in and one out per call.

A process that crashes, times out, goes over its memory, answers something that is not a json
response, or writes more than the one line, fails the call it was serving and is replaced: its
state can no longer be trusted to frame the next call.

No process outlives its call, a hot one's children included: when a call ends, whatever the hot
process started during it is killed, and a process that left anything behind (even a zombie it
did not wait for) is retired rather than kept. Each hot process has a workspace for its life.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from chalicelib.errors import InvalidInputError
from chalicelib.execute.capacity import ProcessLimits, Slot, function_of
from chalicelib.execute.capped import CappedBuffer, capped_log
from chalicelib.execute.command import command_for
from chalicelib.execute.environment import container_env
from chalicelib.execute.outcome import failed_to_start, memory_error
from chalicelib.execute.pool import HotPool
from chalicelib.execute.process import Child
from chalicelib.execute.protocol import ProtocolError, decode_response, encode_request
from chalicelib.execute.pump import Stop, Watch, drain, pump
from chalicelib.execute.reaper import Reaper
from chalicelib.execute.workspace import Workspace
from chalicelib.models import CallStatus, RouteType, RunStats
from chalicelib.ports import Execution, Invocation


class LineReader:
    """Collects stdout up to the first non-blank line; what follows it is kept to spot excess data."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self.line: bytes | None = None
        self.too_long = False
        self.excess = False

    @property
    def complete(self) -> bool:
        return self.line is not None or self.too_long

    def feed(self, data: bytes) -> None:
        if self.line is not None:
            self.excess = self.excess or bool(data.strip())
            return
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if line.strip():
                self.line = line
                self.excess = bool(self._buffer.strip())
                self._buffer.clear()
                return
        self.too_long = len(self._buffer) > self._limit


class HotProcess:
    """One running json-format function. Serves one call at a time (the pool guarantees it)."""

    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        env: Mapping[str, str],
        slot: Slot | None = None,
        reaper: Reaper | None = None,
    ) -> None:
        self._slot = slot
        self._workspace = Workspace()
        try:
            env = {**env, **self._workspace.env()}
            self._child = Child(argv, cwd, env, merge_stderr=False, reaper=reaper)
        except BaseException:
            self._workspace.remove()
            raise
        assert self._child.stderr_fd is not None
        self._stderr_fd = self._child.stderr_fd
        try:
            self._watch = Watch(self._child, (self._child.stdout_fd, self._stderr_fd))
        except BaseException:
            self._child.close()
            self._workspace.remove()
            raise
        self._broken = False

    @property
    def pid(self) -> int:
        return self._child.pid

    def usable(self) -> bool:
        if self._broken or self._child.exited:
            return False
        # One look, without waiting, at the exit and both pipes; mostly nothing is ready.
        exited, readable = self._watch.ready()
        if exited or (self._child.pidfd is None and self._child.has_ended()):
            return False
        # Output written between calls belongs to no call: stderr is dropped, and anything on
        # stdout means the process is out of step with the protocol.
        if self._stderr_fd in readable:
            drain(self._stderr_fd, lambda _: None)
        if self._child.stdout_fd not in readable:
            return True
        stray = LineReader(limit=0)
        drain(self._child.stdout_fd, stray.feed)
        return not (stray.line or stray.too_long)

    def stop(self) -> None:
        self._broken = True
        self._watch.close()
        self._child.close()
        self._workspace.remove()
        if self._slot is not None:
            self._slot.release()

    def end_call(self) -> None:
        """Kill what the call left running besides this process; if anything was left, this
        process is retired (its zombies are reaped once it is gone)."""
        if self._child.kill_others():
            self._broken = True

    def serve(self, invocation: Invocation, max_log_bytes: int, max_output_bytes: int) -> Execution:
        started = time.monotonic()
        log = CappedBuffer(max_log_bytes)
        # JSON escaping can double a body; the line is refused well before it costs the worker much.
        reader = LineReader(limit=2 * max_output_bytes + 64 * 1024)
        pumped = pump(
            self._child,
            sinks={self._child.stdout_fd: reader.feed, self._stderr_fd: log.write},
            send=encode_request(invocation),
            deadline=started + invocation.timeout,
            memory_kb=invocation.memory * 1024,
            done=lambda: reader.complete,
            close_stdin=False,
            cancelled=invocation.cancel.is_set if invocation.cancel else None,
            watch=self._watch,
        )
        # stderr written before the response is in its pipe by now: it belongs to this call.
        # Read what is waiting, if anything (one look instead of a read of each pipe).
        _, readable = self._watch.ready()
        if self._stderr_fd in readable:
            drain(self._stderr_fd, log.write, limit=max_log_bytes + 1)
        if self._child.stdout_fd in readable:
            drain(self._child.stdout_fd, reader.feed)

        def ended(status: CallStatus, error: str, output: bytes = b"", extra_log: bytes = b"") -> Execution:
            exit_code = self._child.status.code if self._child.status else None
            stats = RunStats(
                duration_ms=int((time.monotonic() - started) * 1000),
                exit_code=exit_code,
                max_rss_kb=max(pumped.peak_rss_kb, self._child.peak_rss_kb()) or None,
            )
            return Execution(status, output, capped_log(log, max_log_bytes) + extra_log, stats, error=error)

        if pumped.stop is not Stop.DONE:
            self.stop()
            return ended(*_failure(pumped.stop, invocation, self._child))
        if reader.too_long or reader.line is None:
            self.stop()
            return ended(CallStatus.ERROR, "function response too large")
        try:
            response = decode_response(reader.line)
        except ProtocolError as exc:
            self.stop()
            return ended(CallStatus.ERROR, str(exc))
        if reader.excess:
            self.stop()
            return ended(CallStatus.ERROR, "excess data in function response")
        if len(response.body) > max_output_bytes:
            return ended(CallStatus.ERROR, "function response too large")
        if invocation.type is RouteType.ASYNC:
            # Nobody reads an async call's response, so it goes to the log after stderr. Fn logged
            # its JSON envelope; fnq logs the body, as the async tutorial shows
            # (`fn logs get` → {"message":"Hello World"}), and keeps it as the output too.
            return ended(CallStatus.SUCCESS, "", output=response.body, extra_log=response.body)
        execution = ended(CallStatus.SUCCESS, "", output=response.body)
        return Execution(
            execution.status,
            execution.output,
            execution.log,
            execution.stats,
            status_code=response.status_code,
            content_type=response.content_type,
            headers=response.headers,
        )


def _failure(stop: Stop, invocation: Invocation, child: Child) -> tuple[CallStatus, str]:
    if stop is Stop.TIMEOUT:
        return CallStatus.TIMEOUT, "Timed out"
    if stop is Stop.MEMORY:
        return CallStatus.ERROR, memory_error(invocation.memory)
    if stop is Stop.CANCELLED:  # the caller stops (kills) the process mid-call
        return CallStatus.CANCELLED, "cancelled"
    status = child.finish()
    return CallStatus.ERROR, f"container exit code {status.code}"


class HotExecutor:
    """Runs json-format calls on pooled processes keyed by code directory and environment."""

    def __init__(
        self,
        pool: HotPool[HotProcess],
        limits: ProcessLimits,
        max_log_bytes: int,
        max_output_bytes: int,
        reaper: Reaper | None = None,
    ) -> None:
        self._pool = pool
        self._limits = limits
        self._max_log_bytes = max_log_bytes
        self._max_output_bytes = max_output_bytes
        self._reaper = reaper

    def execute(self, code_dir: Path, invocation: Invocation) -> Execution:
        """Raises CapacityError when no process came free in time; never for the function's failures."""
        started = time.monotonic()
        try:
            command = command_for(code_dir)
        except InvalidInputError as exc:
            return failed_to_start(exc, started)
        env = container_env(invocation, command.env)
        try:
            directory = os.stat(code_dir)
        except OSError as exc:
            return failed_to_start(exc, started)
        # Same code and same environment (config, memory, app, path, type) → interchangeable processes.
        # The directory is the one found at this path now (its inode): a path that comes to name
        # another directory (replaced, a symlink moved) is another key. One stat, where resolving
        # the path took an lstat per component.
        key = (
            str(code_dir),
            directory.st_dev,
            directory.st_ino,
            tuple(command.argv),
            tuple(sorted(env.items())),
        )
        function = function_of(invocation)

        def start(slot: Slot) -> HotProcess:
            return HotProcess(command.argv, code_dir, env, slot, self._reaper)

        try:
            process = self._pool.acquire(key, function, start, self._limits.wait_seconds(invocation.type))
        except OSError as exc:
            return failed_to_start(exc, started)
        try:
            execution = process.serve(invocation, self._max_log_bytes, self._max_output_bytes)
            process.end_call()
        except BaseException:
            process.stop()
            raise
        self._pool.release(key, function, process, invocation.idle_timeout)
        return execution
