"""AWS requests one small async call makes from submit to its terminal state, counted by botocore hooks."""

from __future__ import annotations

from typing import Any

from chalicelib import wiring
from tests.conftest import Stack


def count_requests(components: wiring.Components) -> list[str]:
    seen: list[str] = []

    def record(**kwargs: Any) -> None:
        seen.append(kwargs["model"].name)

    for client in (components.clients.dynamodb, components.clients.s3, components.clients.sqs):
        client.meta.events.register("before-call", record)
    return seen


def test_an_async_call_costs_seven_requests_cold_and_five_warm(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    fresh = wiring.build(stack.settings)  # empty route cache, and a bundle cache not yet filled
    wiring.install(fresh)
    requests = count_requests(fresh)

    stack.request("POST", "/r/myapp/hello")
    stack.work()
    cold = list(requests)
    assert cold == [
        "BatchGetItem",
        "PutItem",
        "SendMessage",
        "UpdateItem",
        "GetObject",
        "PutObject",
        "UpdateItem",
    ]

    requests.clear()
    call_id = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    stack.work()
    assert requests == ["PutItem", "SendMessage", "UpdateItem", "PutObject", "UpdateItem"]
    assert stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]["status"] == "success"
