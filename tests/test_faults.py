"""Injected AWS faults: no call lost, none run twice, the outcome recorded."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from chalicelib import wiring
from tests.conftest import Stack
from tests.faults import dynamodb_throttling, inject, s3_internal_error, sqs_unavailable
from tests.support import Clock
from tests.test_calls import SIDE_EFFECT, call_of


@pytest.fixture(autouse=True)
def short_retries(stack: Stack) -> None:
    """Two attempts per AWS request keep the backoff of always-failing requests short."""
    stack.settings = replace(stack.settings, aws_max_attempts=2)
    stack.components = wiring.build(stack.settings)
    wiring.install(stack.components)


def side_effect_route(stack: Stack, tmp_path: Path, **route: object) -> Path:
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(side)}, **route)
    return side


def test_an_s3_outage_when_the_log_is_stored_still_records_the_outcome(stack: Stack, tmp_path: Path) -> None:
    side = side_effect_route(stack, tmp_path)
    call_id = stack.request("POST", "/r/myapp/once").headers["Fn_call_id"]
    fault = inject(stack.components.clients.s3, s3_internal_error("PutObject"))
    stack.work()
    assert fault.sent >= 1
    assert call_of(stack, "myapp", call_id)["status"] == "success"
    assert side.read_text() == "ran\n"
    assert stack.json("GET", f"/v1/apps/myapp/calls/{call_id}/log")[0] == 404


def test_throttled_claims_are_retried_and_the_function_runs_once(stack: Stack, tmp_path: Path) -> None:
    side = side_effect_route(stack, tmp_path)
    call_id = stack.request("POST", "/r/myapp/once").headers["Fn_call_id"]
    # As many throttles as the client tries: the first delivery fails, the message comes back.
    fault = inject(stack.components.clients.dynamodb, dynamodb_throttling("UpdateItem", times=2))
    first = stack.work()
    assert first and first[0]["batchItemFailures"], "the throttled delivery is reported failed"
    assert call_of(stack, "myapp", call_id)["status"] == "queued"
    stack.components.runner.process(call_id)  # the redelivery
    assert fault.sent == 2
    assert call_of(stack, "myapp", call_id)["status"] == "success"
    assert side.read_text() == "ran\n"


def test_a_throttled_outcome_write_is_recorded_later_without_running_again(
    stack: Stack, tmp_path: Path
) -> None:
    side = side_effect_route(stack, tmp_path, timeout=10)
    call_id = stack.request("POST", "/r/myapp/once").headers["Fn_call_id"]
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)
    components.runner._sleep = lambda _: None  # type: ignore[attr-defined]

    # GIVEN the claim goes through, then the table throttles every write of the outcome
    fault = inject(components.clients.dynamodb, dynamodb_throttling("UpdateItem", after=1))
    with pytest.raises(ClientError, match="Throttling"):
        components.runner.process(call_id)
    assert side.read_text() == "ran\n"
    assert call_of(stack, "myapp", call_id)["status"] == "running"

    # WHEN the table recovers and the message comes back after the lease expired
    fault.active = False
    clock.now += timedelta(seconds=16)
    components.runner.process(call_id)

    # THEN the outcome the first attempt stored with its log is recorded; nothing ran again
    call = call_of(stack, "myapp", call_id)
    assert (call["status"], call["attempt"]) == ("success", 2)
    assert side.read_text() == "ran\n"


def test_when_sqs_refuses_the_send_the_client_is_told_and_nothing_runs(stack: Stack, tmp_path: Path) -> None:
    side = side_effect_route(stack, tmp_path)
    inject(stack.components.clients.sqs, sqs_unavailable("SendMessage"))
    response = stack.request("POST", "/r/myapp/once")
    assert response.status_code == 503
    stack.work()
    assert not side.exists()
    (call,) = stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"]
    assert call["status"] == "error"


def test_a_transient_sqs_fault_is_retried_by_the_client_and_the_call_succeeds(
    stack: Stack, tmp_path: Path
) -> None:
    side = side_effect_route(stack, tmp_path)
    fault = inject(stack.components.clients.sqs, sqs_unavailable("SendMessage", times=1))
    response = stack.request("POST", "/r/myapp/once")
    assert response.status_code == 202 and fault.sent == 1
    stack.work()
    assert side.read_text() == "ran\n"
