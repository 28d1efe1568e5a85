"""One SQS batch within one invocation's limits, and messages returned with a visibility that says why."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import wiring
from chalicelib.batch import redelivery_seconds
from chalicelib.errors import TransitionError
from chalicelib.ids import utcnow
from chalicelib.models import Call, CallStatus, FunctionSpec, RouteFormat, RouteType
from chalicelib.ports import ClaimLimits
from chalicelib.runner import Disposition, Verdict
from chalicelib.settings import CALLS_BATCH_SIZE
from tests.conftest import Stack
from tests.faults import inject, s3_internal_error
from tests.support import MARKS_RUNS, REGION, receive_event, settle
from tests.test_calls import call_of

MARGIN_SECONDS = 5

# Marks "start <call id>" as it begins and "end <call id>" after a second's sleep.
SLEEPER = (
    MARKS_RUNS
    + """
import time
mark("start")
time.sleep(1)
mark("end")
"""
)


@pytest.fixture(autouse=True)
def short_margin(stack: Stack) -> None:
    """A 5 s margin, so that invocations of tens of seconds tell calls that fit from those that do not."""
    stack.settings = replace(stack.settings, worker_margin_seconds=MARGIN_SECONDS, aws_max_attempts=2)
    stack.components = wiring.build(stack.settings)
    wiring.install(stack.components)


def submit(stack: Stack, path: str, count: int) -> list[str]:
    return [stack.request("POST", f"/r/myapp/{path}").headers["Fn_call_id"] for _ in range(count)]


def message_ids_of(event: dict[str, Any], call_ids: list[str]) -> set[str]:
    return {r["messageId"] for r in event["Records"] if any(c in r["body"] for c in call_ids)}


def test_a_batch_runs_the_calls_that_fit_the_remaining_time_and_returns_the_rest_at_once(stack: Stack):
    # GIVEN calls of 5 s and of 60 s in one batch, and an invocation with 20 s left
    stack.deploy("myapp", "quick", type="async", timeout=5)
    stack.deploy("myapp", "slow", type="async", timeout=60)
    quick = submit(stack, "quick", 2)
    slow = submit(stack, "slow", 2)
    event = receive_event(stack.settings.calls_queue_url)
    assert len(event["Records"]) == 4

    # WHEN the worker handles it (the queue's own visibility timeout is 30 s)
    response = stack.invoke("handle_calls", event, seconds=20)
    settle(stack.settings.calls_queue_url, event, response)

    # THEN the 5 s calls ran; the 60 s ones were not claimed, and are listed as failures
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == message_ids_of(event, slow)
    assert [call_of(stack, "myapp", c)["status"] for c in quick] == ["success", "success"]
    for call_id in slow:
        call = call_of(stack, "myapp", call_id)
        assert (call["status"], call["attempt"]) == ("queued", 0)
    # ... and their messages are visible again at once, for an invocation with the time to run them
    again = receive_event(stack.settings.calls_queue_url)
    assert {r["messageId"] for r in again["Records"]} == message_ids_of(event, slow)
    assert {r["attributes"]["ApproximateReceiveCount"] for r in again["Records"]} == {"2"}

    # WHEN a fresh invocation gets them, they run
    response = stack.invoke("handle_calls", again)
    assert response == {"batchItemFailures": []}
    assert [call_of(stack, "myapp", c)["status"] for c in slow] == ["success", "success"]


def test_an_invocation_out_of_time_claims_nothing_and_returns_everything(stack: Stack) -> None:
    stack.deploy("myapp", "quick", type="async", timeout=1)
    calls = submit(stack, "quick", 3)
    event = receive_event(stack.settings.calls_queue_url)

    response = stack.invoke("handle_calls", event, seconds=MARGIN_SECONDS - 1)

    assert len(response["batchItemFailures"]) == 3
    assert {call_of(stack, "myapp", c)["attempt"] for c in calls} == {0}
    assert len(receive_event(stack.settings.calls_queue_url)["Records"]) == 3


def test_the_calls_of_a_whole_batch_of_one_function_run_side_by_side_when_their_memory_fits(
    stack: Stack, tmp_path: Path
) -> None:
    # GIVEN a full batch of calls of one function (the batch once ran on 4 threads; then its last
    # calls waited for a process slot, the per-function cap being 8), with the default settings
    runs = tmp_path / "runs.txt"
    stack.deploy("myapp", "sleeper", SLEEPER, type="async", timeout=10, config={"RUNS_FILE": str(runs)})
    calls = submit(stack, "sleeper", CALLS_BATCH_SIZE)
    event = receive_event(stack.settings.calls_queue_url)
    assert len(event["Records"]) == CALLS_BATCH_SIZE

    # WHEN the worker, with its deployed memory, handles the batch
    stack.invoke("handle_calls", event, memory=1769)

    # THEN every function process started before any had ended
    marks = [line.split()[0] for line in runs.read_text().splitlines()]
    assert marks[:CALLS_BATCH_SIZE] == ["start"] * CALLS_BATCH_SIZE, marks
    assert {call_of(stack, "myapp", c)["status"] for c in calls} == {"success"}


def test_calls_whose_memory_does_not_fit_together_run_one_after_another(stack: Stack, tmp_path: Path) -> None:
    # GIVEN functions of 128 MB, and a worker whose memory leaves room for one of them at a time
    runs = tmp_path / "runs.txt"
    stack.deploy("myapp", "sleeper", SLEEPER, type="async", timeout=10, config={"RUNS_FILE": str(runs)})
    calls = submit(stack, "sleeper", 3)

    response = stack.invoke("handle_calls", receive_event(stack.settings.calls_queue_url), memory=128 + 200)

    # THEN each call started after the previous one ended, and all of them ran in this invocation
    assert response == {"batchItemFailures": []}
    marks = [line.split()[0] for line in runs.read_text().splitlines()]
    assert marks == ["start", "end"] * 3, marks
    assert {call_of(stack, "myapp", c)["status"] for c in calls} == {"success"}


def test_a_transient_s3_fault_brings_the_message_back_within_seconds(stack: Stack) -> None:
    # GIVEN S3 fails the bundle fetch of the call's first attempt (the queue's visibility is 30 s)
    stack.deploy("myapp", "hello", type="async")
    (call_id,) = submit(stack, "hello", 1)
    fault = inject(stack.components.clients.s3, s3_internal_error("GetObject", times=2))
    event = receive_event(stack.settings.calls_queue_url)
    response = stack.invoke("handle_calls", event)
    settle(stack.settings.calls_queue_url, event, response)
    assert fault.sent == 2 and len(response["batchItemFailures"]) == 1
    assert call_of(stack, "myapp", call_id)["status"] == "queued"
    assert receive_event(stack.settings.calls_queue_url)["Records"] == []  # not at once: a backoff

    # WHEN the worker polls for a few seconds (a long poll, as Lambda's event source does)
    again = receive_event(stack.settings.calls_queue_url, wait=10)

    # THEN the message is back well before the queue's 30 s, and its delivery runs the call
    assert [r["messageId"] for r in again["Records"]] == [event["Records"][0]["messageId"]]
    assert stack.invoke("handle_calls", again) == {"batchItemFailures": []}
    call = call_of(stack, "myapp", call_id)
    assert (call["status"], call["attempt"]) == ("success", 2)
    assert call["attempts"][0]["error"].startswith("platform fault")


def test_a_message_for_a_call_running_elsewhere_comes_back_when_that_attempt_must_be_over(
    stack: Stack,
) -> None:
    # GIVEN a call another worker holds: a 1 s lease (heartbeats renew it), timeout 1 s + grace 1 s
    stack.settings = replace(stack.settings, lease_grace_seconds=1, lease_seconds=1)
    stack.components = wiring.build(stack.settings)
    wiring.install(stack.components)
    stack.deploy("myapp", "hello", type="async", timeout=1)
    (call_id,) = submit(stack, "hello", 1)
    stack.components.stores.calls.claim(call_id, utcnow())

    # WHEN its message is delivered while that lease is live
    event = receive_event(stack.settings.calls_queue_url)
    response = stack.invoke("handle_calls", event)
    settle(stack.settings.calls_queue_url, event, response)

    # THEN it is kept, comes back once that attempt must be over, and that delivery takes the call over
    assert len(response["batchItemFailures"]) == 1
    again = receive_event(stack.settings.calls_queue_url, wait=10)
    assert [r["messageId"] for r in again["Records"]] == [event["Records"][0]["messageId"]]
    assert stack.invoke("handle_calls", again) == {"batchItemFailures": []}
    call = call_of(stack, "myapp", call_id)
    assert (call["status"], call["attempt"]) == ("success", 2)
    assert call["attempts"][0]["error"] == "worker lost: lease expired"


def test_a_claim_refuses_a_call_whose_function_asks_more_than_the_limits_and_leaves_it_queued(
    stack: Stack,
) -> None:
    stack.deploy("myapp", "hello", type="async", timeout=5, memory=256)
    (call_id,) = submit(stack, "hello", 1)
    store = stack.components.stores.calls

    for limits in (ClaimLimits(max_timeout=4), ClaimLimits(max_memory=255), ClaimLimits(4, 1024)):
        with pytest.raises(TransitionError) as refused:
            store.claim(call_id, utcnow(), limits)
        assert (refused.value.current.status, refused.value.current.attempt) == (CallStatus.QUEUED, 0)

    claimed = store.claim(call_id, utcnow(), ClaimLimits(max_timeout=5, max_memory=256))
    assert (claimed.status, claimed.attempt) == (CallStatus.RUNNING, 1)


def test_a_poison_message_comes_back_at_once_to_reach_the_dead_letter_queue_soon(stack: Stack) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(QueueUrl=stack.settings.calls_queue_url, MessageBody="garbage")
    event = receive_event(stack.settings.calls_queue_url)

    response = stack.invoke("handle_calls", event)

    assert len(response["batchItemFailures"]) == 1
    assert len(receive_event(stack.settings.calls_queue_url)["Records"]) == 1


@pytest.mark.parametrize(
    ("disposition", "lease_in", "timeout", "receives", "seconds"),
    [
        (Disposition.DEFER, None, None, 1, 0),
        (None, None, None, 3, 0),  # poison
        (Disposition.RETRY, None, None, 1, 2),
        (Disposition.RETRY, None, None, 2, 8),
        (Disposition.RETRY, None, None, 5, 512),
        (Disposition.RETRY, None, None, 9, 900),
        (Disposition.HELD, 299.2, None, 1, 301),  # the lease's end
        (Disposition.HELD, -3, None, 1, 1),
        # A heartbeat lease (45 s) ends long before the attempt must: started 100 s ago, timeout
        # 600 s, grace 60 s: back in 560 s, once, rather than every 45 s.
        (Disposition.HELD, 45, 600, 1, 561),
        (Disposition.HELD, 45, 60, 1, 46),  # the lease is the later
    ],
)
def test_each_reason_for_redelivery_has_its_own_visibility(
    disposition: Disposition | None, lease_in: float | None, timeout: int | None, receives: int, seconds: int
) -> None:
    now = utcnow()
    call = None
    if lease_in is not None:
        lease = now + timedelta(seconds=lease_in)
        started = now - timedelta(seconds=100)
        function = FunctionSpec("sha256:x", RouteFormat.DEFAULT, timeout, 30, 128, {}) if timeout else None
        call = Call(
            "c", "a", "/p", RouteType.ASYNC, CallStatus.RUNNING, now, function,
            lease_expires_at=lease, attempt_started_at=started,
        )  # fmt: skip
    verdict = Verdict(disposition, call) if disposition else None

    assert redelivery_seconds(verdict, receives, now, grace_seconds=60) == seconds
