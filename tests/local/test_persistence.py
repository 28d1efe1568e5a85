"""`fn start` keeps its state in a data directory: through a stop, a `kill -9`, and a Ctrl-C.

Real `fn start` subprocesses on a free port, a data directory in tmp_path, plain HTTP.
"""

from __future__ import annotations

import contextlib
import http.client as http_client
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.local.support import PYTHON, REPO, TERMINAL, FnStart, Http, Process, alive, free_port, process_env

pytestmark = pytest.mark.e2e

# Records its pid, waits until the gate file exists, then appends its call id to the effects
# file: a side effect counted once per run that got past the gate.
GATED = """
import os, time
open(os.path.join(os.environ["PIDS"], str(os.getpid())), "w").close()
while not os.path.exists(os.environ["GATE"]):
    time.sleep(0.05)
with open(os.environ["EFFECTS"], "a") as effects:
    effects.write(os.environ["FN_CALL_ID"] + "\\n")
"""
SLEEPER = """
import os, time
open(os.path.join(os.environ["PIDS"], str(os.getpid())), "w").close()
time.sleep(60)
"""
DEAD_WITHIN_SECONDS = 10.0


def submit(http: Http, app: str, name: str) -> str:
    status, _, reply = http.call(app, name)
    assert status == 202, reply
    return str(json.loads(reply)["call_id"])


def call_of(http: Http, app: str, call_id: str) -> dict[str, object]:
    status, body = http.json("GET", f"/v1/apps/{app}/calls/{call_id}")
    assert status == 200, body
    return dict(body["call"])


def wait_until_started(pids_dir: Path, count: int = 1, timeout: float = 30.0) -> None:
    """Until `count` function processes have started (and recorded their pids)."""
    deadline = time.monotonic() + timeout
    while len(list(pids_dir.iterdir())) < count:
        assert time.monotonic() < deadline, f"fewer than {count} functions started"
        time.sleep(0.05)


def answer_or_error(http: Http, name: str) -> None:
    """A sync call whose answer does not matter (the stack stops under it)."""
    with contextlib.suppress(OSError, http_client.HTTPException):
        http.call("myapp", name)


def newest_call(http: Http, app: str, path: str) -> dict[str, object]:
    status, body = http.json("GET", f"/v1/apps/{app}/calls?path={path}")
    assert status == 200 and body["calls"], body
    return dict(body["calls"][0])


def assert_all_dead(pids_dir: Path) -> None:
    """Every function process that recorded its pid has ended, within a bounded wait."""
    pids = [int(p.name) for p in pids_dir.iterdir()]
    assert pids
    deadline = time.monotonic() + DEAD_WITHIN_SECONDS
    while (running := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running, f"functions of the stopped stack still run: {running}"


def test_apps_routes_calls_and_logs_come_back_after_a_stop_and_a_start(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    first = FnStart(port, data_dir=data).ready()
    http = Http(first.url)
    try:
        http.deploy(tmp_path, "myapp", "hello", "async")
        call_id = http.async_call_succeeds("myapp", "hello")
        # One fn start per data directory: a second one is refused, naming the first.
        second = Process(
            [PYTHON, "-m", "fnq.local", "--port", str(free_port()), "--data-dir", str(data)],
            process_env(),
            cwd=REPO,
        )
        assert second.popen.wait(60) == 1
        second.stop()
        assert f"another fn start (pid {first.popen.pid}) is using the data directory" in second.output
    finally:
        assert first.stop() == 0, first.output
    assert f"state saved in {data / 'state'}" in first.output

    again = FnStart(port, data_dir=data).ready()
    try:
        assert "Restored " in again.output
        status, apps = http.json("GET", "/v1/apps")
        assert (status, [a["name"] for a in apps["apps"]]) == (200, ["myapp"])
        status, route = http.json("GET", "/v1/apps/myapp/routes/hello")
        assert (status, route["route"]["type"]) == (200, "async")
        call = call_of(http, "myapp", call_id)
        assert (call["status"], call["path"]) == ("success", "/hello")
        assert json.loads(http.log_of("myapp", call_id)) == {"message": "Hello World"}
        http.async_call_succeeds("myapp", "hello")  # the restored bundle runs
    finally:
        assert again.stop() == 0, again.output


def test_a_kill_9_during_50_calls_loses_none_and_each_runs_once_after_the_restart(tmp_path: Path) -> None:
    # GIVEN 50 accepted calls of a function that waits at a gate: some running, the rest queued
    data, port = tmp_path / "data", free_port()
    gate, effects, pids = tmp_path / "gate", tmp_path / "effects", tmp_path / "pids"
    effects.touch()
    pids.mkdir()
    config = {"GATE": str(gate), "EFFECTS": str(effects), "PIDS": str(pids)}
    first = FnStart(port, data_dir=data, new_session=True).ready()
    http = Http(first.url)
    try:
        http.deploy(tmp_path, "myapp", "gated", "async", GATED, config=config, timeout=120)
        call_ids = [submit(http, "myapp", "gated") for _ in range(50)]
        wait_until_started(pids)

        # WHEN fn start is killed (SIGKILL: no stop of any kind)
        first.popen.kill()
        first.popen.wait(10)
    finally:
        first.stop()
    # THEN the functions it was running die with it, before they could pass the gate
    assert_all_dead(pids)

    # WHEN it starts again and the gate opens
    again = FnStart(port, data_dir=data).ready()
    try:
        assert "left running when the last fn start was killed or crashed will run again" in again.output
        gate.touch()
        # THEN every call ends, successfully, having run exactly once
        finished = [http.wait_for_call("myapp", call_id, timeout=120) for call_id in call_ids]
        assert {c["status"] for c in finished} == {"success"}, finished
        assert sorted(effects.read_text().split()) == sorted(call_ids)
    finally:
        assert again.stop() == 0, again.output


def test_ctrl_c_with_60_s_calls_running_returns_within_3_s_and_only_the_async_one_runs_again(
    tmp_path: Path,
) -> None:
    # GIVEN an async and a sync call of a 60 s function, both running
    data, port, pids = tmp_path / "data", free_port(), tmp_path / "pids"
    pids.mkdir()
    stack = FnStart(port, data_dir=data, new_session=True).ready()
    http = Http(stack.url)
    try:
        # (the sync route within the API's cap, the dev stage's 25 s: still running at the stop)
        for route_type, timeout in (("async", 90), ("sync", 20)):
            name = f"sleeper{route_type}"
            http.deploy(
                tmp_path, "myapp", name, route_type, SLEEPER, config={"PIDS": str(pids)}, timeout=timeout
            )
        call_id = submit(http, "myapp", "sleeperasync")
        wait_until_started(pids)
        sync_call = threading.Thread(target=answer_or_error, args=(http, "sleepersync"), daemon=True)
        sync_call.start()
        wait_until_started(pids, count=2)

        # WHEN Ctrl-C stops fn start
        stack.popen.send_signal(signal.SIGINT)  # what Ctrl-C sends the foreground process
        try:
            returncode = stack.popen.wait(3)
        except subprocess.TimeoutExpired:
            pytest.fail(f"fn start still running 3 s after Ctrl-C:\n{stack.output}")
    finally:
        stack.stop()
    # THEN within 3 s, saying in words what became of the calls, with both functions ended
    assert returncode == 0
    assert_all_dead(pids)
    stopping = stack.output.split("Stopping", 1)[1]
    assert "1 call in flight will run again after the next fn start" in stopping
    assert "1 call in flight recorded as stopped (status error)" in stopping
    for misleading in ("exit status", "status -9", "SIGKILL", "killed by", "visibility timeout"):
        assert misleading not in stopping, stopping
    sync_call.join(10)

    # AND after the next start the async call is queued again, the sync one stopped for good
    again = FnStart(port, data_dir=data).ready()
    try:
        call = call_of(http, "myapp", call_id)
        assert call["status"] not in TERMINAL
        assert call["attempts"][0]["error"] == "fn start was stopped while the call ran"  # type: ignore[index]
        stopped = newest_call(http, "myapp", "/sleepersync")
        assert (stopped["status"], stopped["error"]) == (
            "error",
            "fn start was stopped while the call ran; a sync call is not run again",
        )
    finally:
        assert again.stop() == 0, again.output


def test_an_ephemeral_stack_records_the_calls_it_stops_and_keeps_nothing(tmp_path: Path) -> None:
    home, pids = tmp_path / "home", tmp_path / "pids"
    home.mkdir()
    pids.mkdir()
    # HOME elsewhere: an ephemeral stack must not even create ~/.fnq.
    stack = FnStart(free_port(), env={"HOME": str(home)}).ready()
    http = Http(stack.url)
    try:
        http.deploy(tmp_path, "myapp", "sleeper", "async", SLEEPER, config={"PIDS": str(pids)}, timeout=90)
        submit(http, "myapp", "sleeper")
        wait_until_started(pids)
        stack.popen.send_signal(signal.SIGINT)
        assert stack.popen.wait(10) == 0
    finally:
        stack.stop()
    assert "1 call in flight recorded as stopped (status error)" in stack.output
    assert "state discarded (--ephemeral)" in stack.output
    assert_all_dead(pids)
    assert list(home.iterdir()) == []
