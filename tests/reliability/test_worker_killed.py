"""A worker killed in the middle of a call: the call still ends, and says what happened."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.local.support import Http
from tests.reliability.conftest import TunedFnStart, deploy

pytestmark = pytest.mark.e2e

# Each run appends "start <call id>" as it begins and "end <call id>" once it has slept.
SLEEPER = """
import os, sys, time
def mark(word):
    fd = os.open(os.environ["RUNS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{word} {os.environ['FN_CALL_ID']}\\n".encode())
    os.close(fd)
sys.stdin.read()
mark("start")
time.sleep(2)
mark("end")
print("slept")
"""


def wait_for_status(http: Http, app: str, call_id: str, wanted: str, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = http.json("GET", f"/v1/apps/{app}/calls/{call_id}")
        assert status == 200, body
        if body["call"]["status"] == wanted:
            return dict(body["call"])
        assert time.monotonic() < deadline, f"call {call_id} not {wanted} within {timeout} s: {body}"
        time.sleep(0.05)


def wait_for_line(path: Path, line: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and line in path.read_text().splitlines()):
        assert time.monotonic() < deadline, f"no line {line!r} in {path} within {timeout} s"
        time.sleep(0.05)


def test_a_call_whose_worker_is_killed_mid_run_ends_after_its_lease_with_the_lost_attempt_recorded(
    stack: TunedFnStart, tmp_path: Path
) -> None:
    http = Http(stack.url)
    runs = tmp_path / "runs.txt"
    deploy(http, tmp_path, "killed", "sleeper", SLEEPER, timeout=4, config={"RUNS_FILE": str(runs)})
    status, _, reply = http.call("killed", "sleeper")
    assert status == 202, reply
    call_id = json.loads(reply)["call_id"]

    wait_for_status(http, "killed", call_id, "running", timeout=20)
    wait_for_line(runs, f"start {call_id}")  # the function itself is running
    seen = len(stack.lines)
    os.kill(stack.worker_pid, signal.SIGKILL)
    stack.wait_for(r"worker restarted: pid \d+", timeout=15, after=seen)

    # The heartbeat lease (3 s) expires; the message returns every 2 s (visibility timeout).
    call = http.wait_for_call("killed", call_id, timeout=30)
    assert call["status"] == "success", call
    assert call["attempt"] == 2
    lost, won = call["attempts"]
    assert (lost["number"], lost["status"], lost["error"]) == (1, "error", "worker lost: lease expired")
    assert (won["number"], won["status"]) == (2, "success")
    assert http.log_of("killed", call_id).strip() == "slept"
    started = [line for line in runs.read_text().splitlines() if line.startswith("start")]
    assert started == [f"start {call_id}"] * 2  # the lost attempt and the one that finished


def test_a_killed_workers_function_does_not_outlive_it(stack: TunedFnStart, tmp_path: Path) -> None:
    http = Http(stack.url)
    runs = tmp_path / "runs.txt"
    deploy(http, tmp_path, "orphans", "sleeper", SLEEPER, timeout=4, config={"RUNS_FILE": str(runs)})
    status, _, reply = http.call("orphans", "sleeper")
    assert status == 202, reply
    call_id = json.loads(reply)["call_id"]
    wait_for_status(http, "orphans", call_id, "running", timeout=20)
    wait_for_line(runs, f"start {call_id}")
    seen = len(stack.lines)
    os.kill(stack.worker_pid, signal.SIGKILL)
    stack.wait_for(r"worker restarted: pid \d+", timeout=15, after=seen)
    http.wait_for_call("orphans", call_id, timeout=30)
    ends = [line for line in runs.read_text().splitlines() if line.startswith("end")]
    # Only the attempt that finished got to the end: the lost attempt's process died with its worker.
    assert ends == [f"end {call_id}"]


# The first run sleeps for its whole 600 s timeout; the run that takes the call over answers at once.
FIRST_RUN_HANGS = """
import os, sys, time
sys.stdin.read()
marker = os.environ["RUNS_FILE"]
if not os.path.exists(marker):
    with open(marker, "w") as f:
        f.write("start\\n")
    time.sleep(600)
print("recovered")
"""


def test_a_dead_workers_call_on_a_600_s_route_is_recovered_within_90_s(
    stack: TunedFnStart, tmp_path: Path
) -> None:
    # Without heartbeats the lease would be the timeout + grace: 601 s before a takeover.
    http = Http(stack.url)
    runs = tmp_path / "runs.txt"
    config = {"RUNS_FILE": str(runs)}
    deploy(http, tmp_path, "longcall", "hangs", FIRST_RUN_HANGS, timeout=600, config=config)
    status, _, reply = http.call("longcall", "hangs")
    assert status == 202, reply
    call_id = json.loads(reply)["call_id"]
    wait_for_status(http, "longcall", call_id, "running", timeout=20)
    wait_for_line(runs, "start")
    seen = len(stack.lines)
    os.kill(stack.worker_pid, signal.SIGKILL)
    stack.wait_for(r"worker restarted: pid \d+", timeout=15, after=seen)

    call = wait_for_status(http, "longcall", call_id, "success", timeout=90)

    assert call["attempt"] == 2
    assert http.log_of("longcall", call_id).strip() == "recovered"
