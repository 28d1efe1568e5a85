"""The `default` format: one process per call, body on stdin, output on stdout, log on stderr."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from chalicelib.execute.funcfile import load_func_file
from chalicelib.ids import format_time
from chalicelib.models import CallStatus, RouteType, RunStats
from chalicelib.ports import Execution, Invocation

TRUNCATION_LINE = "\n-----max log size {limit} bytes exceeded, truncating log-----\n"


class ColdExecutor:
    """Runs one process per call in its own session, so a timeout kills the whole process group."""

    def __init__(self, max_log_bytes: int = 1024 * 1024) -> None:
        self._max_log_bytes = max_log_bytes

    def execute(self, code_dir: Path, invocation: Invocation) -> Execution:
        argv = command_for(code_dir)
        started = time.monotonic()
        # Async calls log stdout and stderr interleaved (as Fn did), so both share one pipe.
        merged = invocation.type is RouteType.ASYNC
        proc = subprocess.Popen(
            argv,
            cwd=code_dir,
            env=function_env(invocation),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(invocation.body, timeout=invocation.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            out, err = proc.communicate()
        finally:
            # Children the function left behind die with it.
            _kill_group(proc.pid)
        stats = RunStats(duration_ms=int((time.monotonic() - started) * 1000), exit_code=proc.returncode)
        log = self._cap(out if merged else (err or b""))
        output = b"" if merged else out
        if timed_out:
            return Execution(CallStatus.TIMEOUT, output, log, stats, error="Timed out")
        if proc.returncode != 0:
            return Execution(
                CallStatus.ERROR, output, log, stats, error=f"container exit code {proc.returncode}"
            )
        return Execution(CallStatus.SUCCESS, output, log, stats)

    def _cap(self, log: bytes) -> bytes:
        if len(log) <= self._max_log_bytes:
            return log
        return log[: self._max_log_bytes] + TRUNCATION_LINE.format(limit=self._max_log_bytes).encode()


def command_for(code_dir: Path) -> list[str]:
    func = load_func_file(code_dir)
    entry = func.entrypoint or func.cmd
    if not entry and func.runtime == "python":
        entry = "python3 func.py"
    if not entry:
        raise ValueError(f"function {func.name} has no entrypoint")
    argv = shlex.split(entry)
    # Spawn this interpreter rather than a `python3` found on PATH (a pyenv shim costs ~200 ms).
    if func.runtime == "python" and argv[0] in {"python", "python3"}:
        argv[0] = sys.executable
    return argv


def function_env(invocation: Invocation) -> dict[str, str]:
    """Fn's contract and nothing of the worker's own environment (no AWS_* credentials)."""
    env = {"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": "/tmp"}
    env.update(invocation.config)
    env.update(
        {
            "FN_FORMAT": invocation.format.value,
            "FN_APP_NAME": invocation.app_name,
            "FN_PATH": invocation.path,
            "FN_MEMORY": str(invocation.memory),
            "FN_TYPE": invocation.type.value,
            "FN_DEADLINE": format_time(invocation.deadline),
            "FN_METHOD": invocation.method,
            "FN_REQUEST_URL": invocation.request_url,
            "FN_CALL_ID": invocation.call_id,
        }
    )
    for name, values in invocation.headers.items():
        env[f"FN_HEADER_{name}"] = ", ".join(values)
    return env


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
