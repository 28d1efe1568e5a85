"""`fn start -d` returns once the stack is ready; `fn stop` stops it and leaves no process behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from fnq.local.datadir import DataDir
from tests.e2e.support import FN, require_fn_command
from tests.local.support import Http, alive, free_port, process_env

pytestmark = pytest.mark.e2e


def fn(*args: str, env: dict[str, str], timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FN), *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


def test_fn_start_d_returns_when_ready_and_fn_stop_leaves_no_process(tmp_path: Path) -> None:
    require_fn_command()
    port, data = free_port(), DataDir(tmp_path / "data")
    # The port comes from FN_API_URL, as the `fn` commands beside it will call it.
    env = process_env({"FN_API_URL": f"http://localhost:{port}"})
    try:
        started = fn("start", "-d", "--data-dir", str(data.root), env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        pid = int(re.search(r"running in the background \(pid (\d+)\)", started.stdout)[1])  # type: ignore[index]
        assert f"  API   http://localhost:{port}" in started.stdout
        assert f"  log   {data.log_file}" in started.stdout
        assert data.running_pid() == pid
        # Ready means ready: the API answers at once.
        assert Http(f"http://localhost:{port}").request("GET", "/version")[0] == 200
        log = data.log_file.read_text()
        worker = int(re.search(r"worker +pid (\d+)", log)[1])  # type: ignore[index]
        assert alive(pid) and alive(worker)

        again = fn("start", "-d", "--data-dir", str(data.root), env=env)
        assert again.returncode == 1 and f"another fn start (pid {pid})" in again.stderr

        stopped = fn("stop", "--data-dir", str(data.root), env=env, timeout=60)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert stopped.stdout.startswith(f"Stopped fn start (pid {pid})\n")
        assert f"state saved in {data.state}" in stopped.stdout
        assert not alive(pid) and not alive(worker)
        assert data.running_pid() is None and not data.pid_file.exists()

        twice = fn("stop", "--data-dir", str(data.root), env=env)
        assert (twice.returncode, twice.stderr) == (
            1,
            f"ERROR: no fn start is running with the data directory {data.root}\n",
        )
    finally:
        running = data.running_pid()
        if running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running, signal.SIGKILL)  # it leads a session (and group) of its own
