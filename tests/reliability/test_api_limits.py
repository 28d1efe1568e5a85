"""Under `fn start`, the API keeps the deployed API's limits: the default stage's sync cap, and a
request past the API's time limit answered 504 with its invocation ended, as Lambda ends one."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.errors import API_TIMED_OUT
from chalicelib.models import SYNC_LOST
from chalicelib.settings import ENV_MAX_SYNC_TIMEOUT
from fnq.local.stage import DEFAULT_STAGE, ENV_API_TIMEOUT_SECONDS, stage_setting
from tests.local.support import PYTHON, REPO, Http, Process, alive, free_port, process_env
from tests.reliability.conftest import HEARTBEAT_SECONDS, LEASE_SECONDS, TunedFnStart, deploy

pytestmark = pytest.mark.e2e

# Longer than one heartbeat (1 s), as the deployed API's 29 s are longer than its 10 s: a call cut
# at the API's limit has been recorded `running` by then.
API_TIMEOUT_SECONDS = 3

# Writes its call id and pid, then runs far past the API's time limit (within its own timeout).
OUTLIVES_THE_API = """
import os, time
with open(os.environ["RUNS_FILE"], "a") as runs:
    runs.write(f"{os.environ['FN_CALL_ID']} {os.getpid()}\\n")
time.sleep(60)
print("done")
"""


class ShortApiFnStart(TunedFnStart):
    """`fn start` whose API requests may run 3 s, and whose sweeper passes every second."""

    def __init__(self, port: int) -> None:
        argv = [PYTHON, "-m", "fnq.local", "--port", str(port), "--ephemeral"]
        env = process_env(
            {
                "FNQ_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
                "FNQ_LEASE_SECONDS": str(LEASE_SECONDS),
                "FNQ_SWEEP_INTERVAL_SECONDS": "1",
                ENV_API_TIMEOUT_SECONDS: str(API_TIMEOUT_SECONDS),
            }
        )
        Process.__init__(self, argv, env, cwd=REPO)
        self.url = f"http://localhost:{port}"


def wait_for_run(runs: Path, timeout: float = 20) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while not (runs.exists() and runs.read_text().endswith("\n")):
        assert time.monotonic() < deadline, f"the function did not start within {timeout} s"
        time.sleep(0.05)
    call_id, pid = runs.read_text().split()
    return call_id, int(pid)


@pytest.fixture(scope="module")
def stack() -> Iterator[ShortApiFnStart]:
    started = ShortApiFnStart(free_port())
    try:
        started.ready()
        yield started
    finally:
        started.stop()


def test_fn_start_caps_sync_routes_as_the_default_stage_does(stack: ShortApiFnStart, tmp_path: Path) -> None:
    cap = int(stage_setting(DEFAULT_STAGE, "environment_variables")[ENV_MAX_SYNC_TIMEOUT])
    http = Http(stack.url)

    # A sync route that names no timeout gets the stage's cap ...
    deploy(http, tmp_path, "capped", "plain", "print('hi')", type="sync")
    status, body = http.json("GET", "/v1/apps/capped/routes/plain")
    assert status == 200, body
    assert body["route"]["timeout"] == cap
    # ... and one asking for more is refused, naming it.
    status, body = http.json(
        "PUT", "/v1/apps/capped/routes/plain", {"route": {"type": "sync", "timeout": cap + 1}}
    )
    assert status == 400, body
    assert f"at most {cap} s" in body["error"]["message"]


def test_a_sync_call_past_the_apis_time_limit_is_answered_504_killed_and_failed_by_the_sweeper(
    stack: ShortApiFnStart, tmp_path: Path
) -> None:
    http = Http(stack.url)
    runs = tmp_path / "runs.txt"
    deploy(
        http,
        tmp_path,
        "limits",
        "outlives",
        OUTLIVES_THE_API,
        type="sync",
        timeout=20,
        config={"RUNS_FILE": str(runs)},
    )

    # WHEN a sync call runs past the API's 3 s
    status, _, reply = http.call("limits", "outlives")

    # THEN it is answered as API Gateway answers it deployed (infra/functions.yaml) ...
    assert status == 504, reply
    assert json.loads(reply) == {"error": {"message": API_TIMED_OUT}}
    stack.wait_for(r"Task timed out after 3\.00 seconds \(1 sync call\(s\) ended\)")
    # ... its function is killed with the invocation, long before its own 20 s ...
    call_id, pid = wait_for_run(runs)
    deadline = time.monotonic() + 10
    while alive(pid):
        assert time.monotonic() < deadline, "the function outlived its API invocation"
        time.sleep(0.05)
    # ... and its record, written `running` at its first heartbeat and never renewed since,
    # is failed by the sweeper once its lease has run out, with the lost attempt recorded.
    call = http.wait_for_call("limits", call_id, timeout=30)
    assert (call["status"], call["error"]) == ("error", SYNC_LOST), call
    (attempt,) = call["attempts"]
    assert (attempt["number"], attempt["status"], attempt["error"]) == (1, "error", SYNC_LOST)
