"""AWS requests one small call makes from submit to its terminal state, counted by botocore hooks."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from chalicelib import wiring
from chalicelib.settings import CALLS_BATCH_SIZE
from tests.aws_requests import async_call_requests, count_requests
from tests.callback_receiver import receiving
from tests.conftest import Stack
from tests.support import receive_event

NOISY = """
import sys
sys.stderr.write("x" * 5000)
print("done")
"""

__all__ = ["count_requests"]  # re-exported: other tests count requests through this module too


def test_an_async_call_costs_eight_requests_cold_and_six_warm(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")

    cold, warm, call_id = async_call_requests(stack, "myapp", "hello")

    assert cold == [
        "BatchGetItem",
        "PutItem",
        "SendMessage",
        "UpdateItem",
        "GetObject",
        "PutObject",  # the result (the response body alone)
        "PutObject",  # the log
        "UpdateItem",
    ]
    assert warm == ["PutItem", "SendMessage", "UpdateItem", "PutObject", "PutObject", "UpdateItem"]
    assert stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]["status"] == "success"


def test_a_sync_call_with_a_small_log_costs_one_write_warm(stack: Stack) -> None:
    stack.deploy("myapp", "hello")
    fresh = wiring.build(stack.settings)
    wiring.install(fresh)
    requests = count_requests(fresh)

    runs = []
    for _ in range(2):
        response = stack.request("POST", "/r/myapp/hello")
        assert response.status_code == 200
        runs.append(list(requests))
        requests.clear()

    cold, warm = runs
    assert cold == ["BatchGetItem", "GetObject", "PutItem"]  # + the app and route, the code bundle
    assert warm == ["PutItem"]


def test_a_sync_call_whose_log_is_over_the_inline_bound_writes_it_to_s3_first(stack: Stack) -> None:
    assert stack.settings.inline_log_bytes < 5000
    stack.deploy("myapp", "noisy", NOISY)
    stack.request("POST", "/r/myapp/noisy")  # warm the route and bundle caches
    requests = count_requests(stack.components)

    assert stack.request("POST", "/r/myapp/noisy").status_code == 200

    assert requests == ["PutObject", "PutItem"]


def test_a_callback_delivered_at_its_first_attempt_costs_four_more_requests(stack: Stack) -> None:
    local = replace(stack, settings=replace(stack.settings, callback_allow_private=True))  # as fn start
    wiring.install(wiring.build(local.settings))
    with receiving() as receiver:
        stack.deploy("myapp", "hello", type="async", callback_url=receiver.url)
        cold, warm, call_id = async_call_requests(local, "myapp", "hello")

    call = ["PutItem", "SendMessage", "UpdateItem", "PutObject", "PutObject", "UpdateItem"]
    callback = [
        "SendMessage",  # the delivery's message, sent as the call ends
        "GetItem",  # the call (the body sent)
        "GetItem",  # the app's secret
        "UpdateItem",  # the attempt, recorded on the call
    ]
    assert warm == call + callback
    assert "PutItem" in cold[cold.index("SendMessage", 2) :]  # the app's secret, made at its first use
    assert len(receiver.deliveries) == 2
    assert (
        stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]["callbacks"][0]["outcome"]
        == "delivered"
    )


def test_a_cold_batch_of_one_function_fetches_its_code_once_and_the_rest_is_each_calls_own(
    stack: Stack,
) -> None:
    # GIVEN a whole batch of calls of one function, and a worker that has not fetched its code yet
    stack.deploy("myapp", "hello", type="async")
    for _ in range(CALLS_BATCH_SIZE):
        assert stack.request("POST", "/r/myapp/hello").status_code == 202
    event = receive_event(stack.settings.calls_queue_url)
    assert len(event["Records"]) == CALLS_BATCH_SIZE
    fresh = wiring.build(stack.settings)
    wiring.install(fresh)
    requests = count_requests(fresh)

    # WHEN the worker runs the batch, its calls side by side
    assert stack.invoke("handle_calls", event) == {"batchItemFailures": []}

    # THEN the code bundle was fetched once for the batch; each call made only its own requests:
    # its claim and its outcome (UpdateItem), its result and its log (PutObject)
    assert Counter(requests) == {
        "GetObject": 1,
        "UpdateItem": 2 * CALLS_BATCH_SIZE,
        "PutObject": 2 * CALLS_BATCH_SIZE,
    }
