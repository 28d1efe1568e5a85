"""AWS requests one small async call makes from submit to its terminal state, counted by botocore hooks."""

from __future__ import annotations

from tests.aws_requests import async_call_requests, count_requests
from tests.conftest import Stack

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
