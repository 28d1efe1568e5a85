"""Sync calls are written once, when they end: the record, its one attempt, and a small log inline."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.errors import API_TIMED_OUT, NotFoundError
from chalicelib.execute.executor import Executor
from chalicelib.models import Call
from chalicelib.ports import Execution, Invocation
from chalicelib.runner import end_sync_calls, record_sync_calls_in_flight
from tests.conftest import Stack
from tests.faults import inject, s3_internal_error
from tests.test_heartbeats import wait_for

LOGS = """
import os, sys
sys.stderr.write("x" * int(os.environ["LOG_BYTES"]))
print("done")
"""

WAITS = """
import os, sys, time
print("started", file=sys.stderr, flush=True)
while not os.path.exists(os.environ["GO_FILE"]):
    time.sleep(0.02)
print("done")
"""


class Peeking:
    """The real executor, looking the call up in the store just before the function runs."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.components: wiring.Components | None = None
        self.seen: list[Call | None] = []

    def execute(self, code_dir: Path, invocation: Invocation) -> Execution:
        assert self.components is not None
        try:
            self.seen.append(self.components.stores.calls.get_call(invocation.call_id))
        except NotFoundError:
            self.seen.append(None)
        return self.inner.execute(code_dir, invocation)


def log_of(stack: Stack, call_id: str) -> Any:
    return stack.json("GET", f"/v1/apps/myapp/calls/{call_id}/log")


def test_a_sync_call_is_not_recorded_while_it_runs_and_whole_once_it_ends(
    stack: Stack, executor: Executor
) -> None:
    stack.deploy("myapp", "hello")
    peeking = Peeking(executor)
    peeking.components = wiring.build(stack.settings, executor=peeking)
    wiring.install(peeking.components)

    response = stack.request("POST", "/r/myapp/hello")

    assert response.status_code == 200
    assert peeking.seen == [None]  # nobody could read it while it ran
    call = stack.json("GET", f"/v1/apps/myapp/calls/{response.headers['Fn_call_id']}")[1]["call"]
    assert (call["status"], call["type"], call["attempt"]) == ("success", "sync", 1)
    assert call["created_at"] <= call["started_at"] <= call["completed_at"]
    (attempt,) = call["attempts"]
    assert (attempt["number"], attempt["status"]) == (1, "success")
    assert (
        "lease_until"
        not in stack.components.clients.dynamodb.get_item(
            TableName=stack.settings.table, Key={"pk": {"S": f"CALL#{call['id']}"}, "sk": {"S": "#CALL"}}
        )["Item"]
    )


def test_a_small_log_is_read_from_the_record_and_never_stored_in_s3(stack: Stack) -> None:
    bound = stack.settings.inline_log_bytes
    stack.deploy("myapp", "logs", LOGS, config={"LOG_BYTES": str(bound)})

    call_id = stack.request("POST", "/r/myapp/logs").headers["Fn_call_id"]

    status, body = log_of(stack, call_id)
    assert (status, body["log"]["log"]) == (200, "x" * bound)
    with pytest.raises(NotFoundError):
        stack.components.stores.blobs.get_log("myapp", call_id)


def test_a_log_over_the_bound_goes_to_s3_and_is_read_from_there(stack: Stack) -> None:
    bound = stack.settings.inline_log_bytes
    stack.deploy("myapp", "logs", LOGS, config={"LOG_BYTES": str(bound + 1)})

    call_id = stack.request("POST", "/r/myapp/logs").headers["Fn_call_id"]

    assert stack.components.stores.calls.get_call(call_id).log is None
    assert stack.components.stores.blobs.get_log("myapp", call_id) == b"x" * (bound + 1)
    assert log_of(stack, call_id)[1]["log"]["log"] == "x" * (bound + 1)


def test_the_log_of_a_call_of_another_app_is_not_found(stack: Stack) -> None:
    stack.deploy("myapp", "hello")
    stack.deploy("other", "hello")
    call_id = stack.request("POST", "/r/other/hello").headers["Fn_call_id"]

    assert log_of(stack, call_id) == (404, {"error": {"message": "Call log not found"}})


def test_a_sync_call_whose_code_cannot_be_fetched_answers_503_and_is_recorded_as_a_platform_fault(
    stack: Stack,
) -> None:
    stack.deploy("myapp", "hello")
    fresh = wiring.build(stack.settings)  # an empty bundle cache: the code must come from S3
    wiring.install(fresh)
    inject(fresh.clients.s3, s3_internal_error("GetObject"))

    response = stack.request("POST", "/r/myapp/hello")

    assert response.status_code == 503
    assert json.loads(response.body) == {"error": {"message": "Could not run the function, try again"}}
    (call,) = stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"]
    assert (call["type"], call["status"], call["attempt"]) == ("sync", "error", 1)
    assert call["error"].startswith("platform fault: ")


def test_a_sync_call_that_outlives_its_first_heartbeat_is_recorded_running_and_ends_as_before(
    stack: Stack, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    stack.deploy("myapp", "waits", WAITS, config={"GO_FILE": str(go)})
    wiring.install(wiring.build(replace(stack.settings, heartbeat_seconds=0.2)))
    replies: list[Any] = []
    caller = threading.Thread(target=lambda: replies.append(stack.request("POST", "/r/myapp/waits")))
    caller.start()
    try:
        # WHEN the function is still running after a heartbeat, THEN readers see it running
        wait_for(lambda: stack.json("GET", "/v1/apps/myapp/calls?status=running")[1]["calls"])
        (running,) = stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"]
        assert (running["type"], running["attempt"]) == ("sync", 1)
    finally:
        go.touch()
        caller.join(timeout=30)

    (reply,) = replies
    assert (reply.status_code, reply.body) == (200, b"done\n")
    ended = stack.json("GET", f"/v1/apps/myapp/calls/{running['id']}")[1]["call"]
    assert (ended["status"], [a["status"] for a in ended["attempts"]]) == ("success", ["success"])
    assert log_of(stack, running["id"])[1]["log"]["log"] == "started\n"


def test_a_stopping_process_records_its_sync_calls_in_flight_so_they_can_be_settled(
    stack: Stack, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    stack.deploy("myapp", "waits", WAITS, config={"GO_FILE": str(go)})
    wiring.install(wiring.build(replace(stack.settings, heartbeat_seconds=0)))  # no beats at all
    replies: list[Any] = []
    caller = threading.Thread(target=lambda: replies.append(stack.request("POST", "/r/myapp/waits")))
    caller.start()
    try:
        wait_for(lambda: record_sync_calls_in_flight() == 1)  # once the call is under way

        (running,) = stack.json("GET", "/v1/apps/myapp/calls?status=running")[1]["calls"]
        assert record_sync_calls_in_flight() == 0  # recorded once
    finally:
        go.touch()
        caller.join(timeout=30)
    assert replies[0].status_code == 200
    assert stack.json("GET", f"/v1/apps/myapp/calls/{running['id']}")[1]["call"]["status"] == "success"


STARTS_THEN_WAITS = """
import os, time
open(os.environ["STARTED_FILE"], "w").close()
time.sleep(60)
print("done")
"""


def test_a_sync_call_whose_api_invocation_is_ended_is_killed_answered_504_and_not_recorded(
    stack: Stack, tmp_path: Path
) -> None:
    # fn start's API ends an invocation past the API's time limit this way (fnq/local/api_server.py).
    started = tmp_path / "started"
    stack.deploy("myapp", "waits", STARTS_THEN_WAITS, timeout=60, config={"STARTED_FILE": str(started)})
    wiring.install(wiring.build(replace(stack.settings, heartbeat_seconds=0)))  # never recorded running
    replies: list[Any] = []
    invocation = threading.Thread(target=lambda: replies.append(stack.request("POST", "/r/myapp/waits")))
    invocation.start()
    wait_for(started.exists)

    # WHEN its invocation is ended mid-run
    assert end_sync_calls(invocation) == 1

    # THEN the function is killed long before its 60 s, the answer is the API's 504 ...
    invocation.join(timeout=20)
    assert not invocation.is_alive()
    (reply,) = replies
    assert (reply.status_code, json.loads(reply.body)) == (504, {"error": {"message": API_TIMED_OUT}})
    # ... and nothing more is written for it: like a killed API Lambda's call, it has no record.
    assert stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"] == []


def test_a_sync_call_of_an_invocation_already_ended_never_starts_its_function(
    stack: Stack, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    stack.deploy("myapp", "waits", STARTS_THEN_WAITS, timeout=60, config={"STARTED_FILE": str(started)})
    replies: list[Any] = []
    invocation = threading.Thread(target=lambda: replies.append(stack.request("POST", "/r/myapp/waits")))

    # Ended while it looked its route up (before the call began): it must not run afterwards.
    assert end_sync_calls(invocation) == 0
    invocation.start()
    invocation.join(timeout=20)

    assert replies[0].status_code == 504
    assert not started.exists()
    assert stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"] == []
