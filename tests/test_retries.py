"""Function retries when the route asks, attempts that run out, and redriving dead calls."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import boto3

from chalicelib import wiring
from tests.conftest import Stack
from tests.support import REGION, Clock
from tests.test_calls import call_of

FAILS_TWICE = """
import os, sys
path = os.environ["COUNT_FILE"]
runs = int(open(path).read()) + 1 if os.path.exists(path) else 1
open(path, "w").write(str(runs))
print(f"run {runs}")
sys.exit(0 if runs > 2 else 1)
"""


def delayed_messages(stack: Stack) -> int:
    sqs = boto3.client("sqs", region_name=REGION)
    attributes = sqs.get_queue_attributes(
        QueueUrl=stack.settings.calls_queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])


def test_a_failing_function_is_retried_with_backoff_when_the_route_asks(stack: Stack, tmp_path: Path) -> None:
    count = tmp_path / "count"
    stack.deploy(
        "myapp", "flaky", FAILS_TWICE, type="async", max_retries=2, config={"COUNT_FILE": str(count)}
    )
    call_id = stack.request("POST", "/r/myapp/flaky").headers["Fn_call_id"]

    stack.work()  # attempt 1 fails: back to queued, and a message delayed by the backoff
    assert call_of(stack, "myapp", call_id)["status"] == "queued"
    assert delayed_messages(stack) == 1
    stack.components.runner.process(call_id)  # attempt 2 (the delayed message, delivered now)
    stack.components.runner.process(call_id)  # attempt 3

    call = call_of(stack, "myapp", call_id)
    assert call["status"] == "success"
    assert [(a["number"], a["status"]) for a in call["attempts"]] == [
        (1, "error"),
        (2, "error"),
        (3, "success"),
    ]
    assert call["attempts"][0]["error"] == "container exit code 1"
    assert count.read_text() == "3"


def test_a_failing_function_is_not_retried_unless_the_route_asks(stack: Stack, tmp_path: Path) -> None:
    count = tmp_path / "count"
    stack.deploy("myapp", "flaky", FAILS_TWICE, type="async", config={"COUNT_FILE": str(count)})
    call_id = stack.request("POST", "/r/myapp/flaky").headers["Fn_call_id"]
    stack.work()
    assert call_of(stack, "myapp", call_id)["status"] == "error"
    assert "dead" not in call_of(stack, "myapp", call_id)
    assert delayed_messages(stack) == 0
    assert count.read_text() == "1"


def test_a_call_out_of_attempts_is_dead_and_a_redrive_runs_it(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async", timeout=10)
    call_id = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    clock = Clock()
    components = wiring.build(replace(stack.settings, max_attempts=1), clock=clock)
    # GIVEN its only allowed attempt was lost with its worker
    components.stores.calls.claim(call_id, clock())
    clock.now += timedelta(seconds=16)
    components.runner.process(call_id)
    call = call_of(stack, "myapp", call_id)
    assert (call["status"], call["error"], call["dead"]) == ("error", "gave up after 1 attempts", True)

    # WHEN it is redriven, THEN it runs again with a fresh allowance and succeeds
    status, body = stack.json("POST", f"/v1/apps/myapp/calls/{call_id}/redrive")
    assert (status, body["call"]["status"]) == (200, "queued")
    stack.work()
    call = call_of(stack, "myapp", call_id)
    assert (call["status"], call["attempt"], "dead" in call) == ("success", 3, False)


def test_only_dead_calls_are_redriven_and_an_app_redrives_them_all(stack: Stack, tmp_path: Path) -> None:
    stack.deploy("myapp", "hello", type="async")
    stack.deploy("myapp", "flaky", FAILS_TWICE, type="async", config={"COUNT_FILE": str(tmp_path / "c")})
    dead = [stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"] for _ in range(2)]
    from tests.support import receive_event

    event = receive_event(stack.settings.calls_queue_url)  # as if both had exhausted their receives
    stack.client.lambda_.invoke("handle_dead_calls", event)
    failed = stack.request("POST", "/r/myapp/flaky").headers["Fn_call_id"]
    stack.work()
    assert call_of(stack, "myapp", failed)["status"] == "error"

    status, body = stack.json("POST", f"/v1/apps/myapp/calls/{failed}/redrive")
    assert (status, body["error"]["message"]) == (
        409,
        "Call is error and not dead: only dead calls can be redriven",
    )

    status, body = stack.json("POST", "/v1/apps/myapp/calls/redrive")
    assert (status, body["message"], sorted(body["call_ids"])) == (200, "Redrove 2 dead calls", sorted(dead))
    stack.work()
    assert [call_of(stack, "myapp", c)["status"] for c in dead] == ["success", "success"]
    assert stack.json("POST", "/v1/apps/myapp/calls/redrive")[1]["call_ids"] == []
