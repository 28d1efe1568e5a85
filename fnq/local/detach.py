"""`fn start -d` and `fn stop`: the local stack as a background process, as Fn's CLI ran its server.

`fn start -d` starts `fn start` (the same options, without -d) in a session of its own, with its
output going to `fn-start.log` in the data directory, waits until it prints that it is ready (or
fails, then shows why), and returns. The background process writes its pid file itself, under the
data directory's lock (datadir.py). `fn stop` finds it through that lock, asks it to stop
(SIGTERM: the same orderly stop as Ctrl-C) and waits until the lock is free.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fnq.local import CODE_ROOT
from fnq.local.datadir import DataDir, stop_command
from fnq.local.supervisor import child_environment

READY = re.compile(r"^Ready on (\S+?)\.? ", re.MULTILINE)
# A start restores the saved state before it is ready: 10,000 calls take several seconds.
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 15.0
KILL_TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 0.1


def start_in_background(
    options: Sequence[str],
    data: DataDir,
    say: Callable[[str], None],
    error: Callable[[str], None],
) -> int:
    """Start `fn start OPTIONS` detached; answer 0 once it is ready, 1 (after saying why) if not."""
    running = data.running_pid()
    if running is not None:
        error(f"fn start is already running (pid {running}) with the data directory {data.root}")
        return 1
    data.root.mkdir(parents=True, exist_ok=True)
    with open(data.log_file, "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "fnq.cli", "start", *options],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: closing this terminal (SIGHUP) or a Ctrl-C in it never reaches it.
            start_new_session=True,
            cwd=data.root,
            env={**child_environment(os.environ, CODE_ROOT), "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        output = data.log_file.read_text(errors="replace")
        if ready := READY.search(output):
            break
        if child.poll() is not None:
            error(f"fn start stopped before it was ready; its output ({data.log_file}):\n{output.rstrip()}")
            return 1
        if time.monotonic() > deadline:
            error(f"fn start is not ready after {READY_TIMEOUT_SECONDS:.0f} s; see {data.log_file}")
            return 1
        time.sleep(POLL_SECONDS)
    say(f"fn start is running in the background (pid {child.pid})")
    say(f"  API   {ready[1]}")
    say(f"  data  {data.root}")
    say(f"  log   {data.log_file}")
    say(f"Stop it with: {stop_command(data.root)}")
    return 0


def stop_background(data: DataDir, say: Callable[[str], None], error: Callable[[str], None]) -> int:
    """Stop the fn start using `data` (background or not); answer 0 once it has stopped."""
    pid = data.running_pid()
    if pid is None:
        error(f"no fn start is running with the data directory {data.root}")
        return 1
    if pid == 0:
        error(f"{data.lock_file} is held by a process that wrote no pid file")
        return 1
    logged = _log_size(data)
    os.kill(pid, signal.SIGTERM)
    if not _wait_until_free(data, pid, STOP_TIMEOUT_SECONDS):
        say(f"fn start (pid {pid}) did not stop within {STOP_TIMEOUT_SECONDS:.0f} s; killing it")
        os.kill(pid, signal.SIGKILL)
        if not _wait_until_free(data, pid, KILL_TIMEOUT_SECONDS):
            error(f"fn start (pid {pid}) is still running")
            return 1
        say(f"Killed fn start (pid {pid}); the next fn start recovers its calls")
        return 0
    say(f"Stopped fn start (pid {pid})")
    # What the stack said while stopping (in the log when it ran in the background).
    for line in _log_since(data, logged).splitlines():
        if line.startswith("  "):
            say(line)
    return 0


def _wait_until_free(data: DataDir, pid: int, timeout: float) -> bool:
    """Until the directory's lock is free and the process has ended (it frees the lock just before)."""
    deadline = time.monotonic() + timeout
    while data.running_pid() is not None or not _ended(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def _ended(pid: int) -> bool:
    """Gone, or a zombie (ended, not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _log_size(data: DataDir) -> int:
    try:
        return data.log_file.stat().st_size
    except FileNotFoundError:
        return 0


def _log_since(data: DataDir, offset: int) -> str:
    try:
        with data.log_file.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
