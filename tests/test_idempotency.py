"""Idempotency-Key on async invokes: one key, one call, one run, within the retention window."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.ids import utcnow
from tests.conftest import Stack
from tests.test_calls import SIDE_EFFECT
from tests.test_cost import count_requests


def invoke(stack: Stack, body: bytes, key: str | None, path: str = "/r/myapp/effect") -> Any:
    headers = {"content-type": "application/json"} | ({"idempotency-key": key} if key else {})
    return stack.request("POST", path, body, headers)


@pytest.fixture
def effect(stack: Stack, tmp_path: Path) -> Path:
    side = tmp_path / "side"
    stack.deploy("myapp", "effect", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(side)})
    return side


def test_two_invokes_with_one_key_are_one_call_and_one_run(stack: Stack, effect: Path) -> None:
    first = invoke(stack, b'{"n":1}', "order-42")
    again = invoke(stack, b'{"n":1}', "order-42")
    stack.work()

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.body == first.body
    call_id = json.loads(first.body)["call_id"]
    assert again.headers["Fn_call_id"] == call_id
    assert effect.read_text() == "ran\n"
    calls = stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"]
    assert [c["id"] for c in calls] == [call_id]


def test_the_same_key_on_another_body_is_a_409_naming_the_first_call(stack: Stack, effect: Path) -> None:
    first = json.loads(invoke(stack, b'{"n":1}', "order-42").body)["call_id"]

    other = invoke(stack, b'{"n":2}', "order-42")
    stack.work()

    assert other.status_code == 409
    assert first in json.loads(other.body)["error"]["message"]
    assert effect.read_text() == "ran\n"


def test_without_a_key_or_with_another_key_every_invoke_is_a_call(stack: Stack, effect: Path) -> None:
    ids = {json.loads(invoke(stack, b"{}", key).body)["call_id"] for key in (None, None, "a", "b")}
    stack.work()

    assert len(ids) == 4 and effect.read_text() == "ran\n" * 4


def test_a_key_past_its_window_starts_a_new_call(stack: Stack, effect: Path) -> None:
    invoker = stack.components.use_cases.invoker
    first = json.loads(invoke(stack, b"{}", "k").body)["call_id"]
    # The API's clock moves past the window (moto's TTL never deletes the key item).
    later = utcnow() + timedelta(days=1, seconds=1)
    invoker._clock = lambda: later

    second = json.loads(invoke(stack, b"{}", "k").body)["call_id"]
    again = json.loads(invoke(stack, b"{}", "k").body)["call_id"]

    assert second != first and again == second


def test_a_keyed_invoke_is_one_conditional_write_and_no_scan(stack: Stack, effect: Path) -> None:
    invoke(stack, b"{}", "warm-the-route-cache")
    requests = count_requests(stack.components)
    invoke(stack, b"{}", "k")
    invoke(stack, b"{}", "k")

    assert requests == ["TransactWriteItems", "SendMessage", "TransactWriteItems", "GetItem"]


def test_a_key_that_cannot_be_one_is_a_400(stack: Stack, effect: Path) -> None:
    assert invoke(stack, b"{}", "x" * 256).status_code == 400


def test_keys_are_per_app(stack: Stack, effect: Path) -> None:
    stack.deploy("other", "effect", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(effect)})
    mine = json.loads(invoke(stack, b"{}", "k").body)["call_id"]
    theirs = json.loads(invoke(stack, b"{}", "k", path="/r/other/effect").body)["call_id"]

    assert mine != theirs
