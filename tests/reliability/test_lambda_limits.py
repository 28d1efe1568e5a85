"""Under `fn start`, a worker invocation that runs past the worker's timeout is cut as Lambda cuts it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.local.support import PYTHON, REPO, Http, Process, free_port, process_env
from tests.reliability.conftest import (
    HEARTBEAT_SECONDS,
    LEASE_GRACE_SECONDS,
    LEASE_SECONDS,
    VISIBILITY_SECONDS,
    TunedFnStart,
    deploy,
)
from tests.reliability.test_worker_killed import wait_for_line
from tests.support import MARKS_RUNS

pytestmark = pytest.mark.e2e

WORKER_TIMEOUT_SECONDS = 3

# The first run outlives the worker's invocation; a later run (the runs file exists) ends at once.
# Each run marks "start <call id>", and "end <call id>" if it got to the end.
OUTLIVES_ITS_INVOCATION = (
    MARKS_RUNS
    + """
import time
first = not os.path.exists(os.environ["RUNS_FILE"])
mark("start")
if first:
    time.sleep(4)
mark("end")
print("done")
"""
)


class ShortWorkerFnStart(TunedFnStart):
    """`fn start` whose worker invocations last 3 s, and whose worker starts calls that cannot finish
    in them (a negative margin), so that an invocation runs past its timeout."""

    def __init__(self, port: int) -> None:
        argv = [
            PYTHON,
            "-m",
            "fnq.local",
            "--port",
            str(port),
            "--visibility-timeout",
            str(VISIBILITY_SECONDS),
        ]
        env = process_env(
            {
                "FNQ_LEASE_GRACE_SECONDS": str(LEASE_GRACE_SECONDS),
                "FNQ_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
                "FNQ_LEASE_SECONDS": str(LEASE_SECONDS),
                "FNQ_WORKER_TIMEOUT_SECONDS": str(WORKER_TIMEOUT_SECONDS),
                "FNQ_WORKER_MARGIN_SECONDS": "-10",
            }
        )
        Process.__init__(self, argv, env, cwd=REPO)
        self.url = f"http://localhost:{port}"


def test_an_invocation_past_the_workers_timeout_is_killed_and_its_call_recovered(tmp_path: Path) -> None:
    stack = ShortWorkerFnStart(free_port())
    try:
        stack.ready()
        worker = stack.worker_pid
        http = Http(stack.url)
        runs = tmp_path / "runs.txt"
        deploy(
            http,
            tmp_path,
            "limits",
            "outlives",
            OUTLIVES_ITS_INVOCATION,
            timeout=5,
            config={"RUNS_FILE": str(runs)},
        )

        # WHEN a call runs past the worker's 3 s invocation
        status, _, reply = http.call("limits", "outlives")
        assert status == 202, reply
        call_id = json.loads(reply)["call_id"]
        wait_for_line(runs, f"start {call_id}")
        stack.wait_for(r"Task timed out after 3\.00 seconds; the worker restarts", timeout=20)

        # THEN the worker process starts afresh (the same pid: its supervisor did not see it die) ...
        stack.wait_for(rf"pid {worker} restarted after an invocation timed out", timeout=20)
        assert stack.worker_pid == worker
        # ... and once its heartbeats have stopped and its lease (3 s) has run out, the call is taken
        # over (its message held until the attempt must be over: 5 s + 1 s after it started)
        call = http.wait_for_call("limits", call_id, timeout=40)
        assert (call["status"], call["attempt"]) == ("success", 2), call
        lost, won = call["attempts"]
        assert (lost["number"], lost["error"]) == (1, "worker lost: lease expired")
        assert won["status"] == "success"
        # The cut attempt's process died with its invocation: it never got to its end.
        assert runs.read_text().splitlines() == [f"start {call_id}", f"start {call_id}", f"end {call_id}"]
    finally:
        stack.stop()
