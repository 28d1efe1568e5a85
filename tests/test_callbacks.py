"""Completion callbacks on moto, through the real API, queue and SQS handler, to a real receiver
on loopback: one signed delivery per ending, retries as new delayed messages, every attempt
recorded, never a status changed or a function run twice, and the address rules at both ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib import wiring
from chalicelib.addresses import AddressGuard
from chalicelib.aws.sqs import callback_message_body
from chalicelib.callbacks import CallbackSecrets
from chalicelib.delivery import CallbackDeliverer, CallbackPolicy
from chalicelib.ids import utcnow
from chalicelib.ports import CallbackDelivery
from chalicelib.webhook import WebhookLimits
from tests.callback_receiver import Receiver, receiving, verified_by_the_documented_python
from tests.conftest import Stack, create_token
from tests.test_calls import FAILS, SIDE_EFFECT, call_of

PUBLIC = "93.184.216.34"  # a public address (example.com's), never connected to here


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as started:
        yield started


def allowing(stack: Stack, **settings: Any) -> wiring.Components:
    """The stack as `fn start` runs it: callbacks may go to loopback; retries wait 0 s."""
    changed = replace(stack.settings, callback_allow_private=True, callback_backoff_seconds=0, **settings)
    components = wiring.build(changed)
    wiring.install(components)
    return components


def secret_of(stack: Stack, app: str) -> str:
    status, body = stack.json("GET", f"/v1/apps/{app}/callback_secret")
    assert status == 200, body
    return str(body["callback_secret"]["secret"])


def test_an_async_call_sends_one_signed_delivery_of_its_record_when_it_ends(
    stack: Stack, receiver: Receiver, tmp_path: Path
) -> None:
    allowing(stack)
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(side)})
    call_id = stack.request("POST", "/r/myapp/once", headers={"Fn-Callback-Url": receiver.url}).headers[
        "Fn_call_id"
    ]
    assert call_of(stack, "myapp", call_id)["callback_url"] == receiver.url

    stack.work()

    [delivery] = receiver.deliveries
    assert delivery.path == "/hook"
    assert verified_by_the_documented_python(secret_of(stack, "myapp"), delivery)
    assert not verified_by_the_documented_python("fnqcb_another", delivery)
    assert (delivery.call["id"], delivery.call["status"]) == (call_id, "success")
    assert delivery.headers["Fn-Callback-Attempt"] == "1"
    # What the receiver got is what GET answers, but for the attempt recorded since
    now = call_of(stack, "myapp", call_id)
    assert {k: v for k, v in now.items() if k != "callbacks"} == delivery.call
    assert [(c["number"], c["outcome"], c["status_code"]) for c in now["callbacks"]] == [
        (1, "delivered", 200)
    ]
    assert side.read_text() == "ran\n"


def test_a_receiver_failing_twice_gets_a_third_attempt_and_the_call_keeps_its_status(
    stack: Stack, tmp_path: Path
) -> None:
    allowing(stack)
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(side)})
    with receiving([500, 503]) as receiver:
        headers = {"Fn-Callback-Url": receiver.url}
        call_id = stack.request("POST", "/r/myapp/once", headers=headers).headers["Fn_call_id"]
        stack.work()

    assert len(receiver.deliveries) == 3
    assert [d.headers["Fn-Callback-Attempt"] for d in receiver.deliveries] == ["1", "2", "3"]
    call = call_of(stack, "myapp", call_id)
    assert call["status"] == "success"
    attempts = [(c["number"], c["outcome"], c.get("status_code"), c.get("error")) for c in call["callbacks"]]
    assert attempts == [
        (1, "failed", 500, "HTTP 500"),
        (2, "failed", 503, "HTTP 503"),
        (3, "delivered", 200, None),
    ]
    assert side.read_text() == "ran\n"  # the function ran once


def test_a_callback_gives_up_after_its_last_attempt(stack: Stack) -> None:
    allowing(stack, callback_max_attempts=2)
    stack.deploy("myapp", "fails", FAILS, type="async")
    with receiving([500, 500, 500]) as receiver:
        call_id = stack.request("POST", "/r/myapp/fails", headers={"Fn-Callback-Url": receiver.url}).headers[
            "Fn_call_id"
        ]
        stack.work()

    assert len(receiver.deliveries) == 2
    assert receiver.deliveries[0].call["status"] == "error"
    call = call_of(stack, "myapp", call_id)
    assert [c["outcome"] for c in call["callbacks"]] == ["failed", "gave_up"]
    assert call["status"] == "error"


def test_a_route_callback_reaches_sync_and_cancelled_calls_and_a_duplicate_message_sends_nothing(
    stack: Stack, receiver: Receiver
) -> None:
    components = allowing(stack)
    stack.deploy("myapp", "now", callback_url=receiver.url)
    stack.deploy("myapp", "later", type="async", callback_url=receiver.url)
    assert stack.json("GET", "/v1/apps/myapp/routes/later")[1]["route"]["callback_url"] == receiver.url

    sync = stack.request("POST", "/r/myapp/now")
    assert sync.status_code == 200
    sync_id = sync.headers["Fn_call_id"]
    later_id = stack.request("POST", "/r/myapp/later").headers["Fn_call_id"]
    assert stack.json("POST", f"/v1/apps/myapp/calls/{later_id}/cancel")[0] == 200
    stack.work()
    # A delivery's message again, as SQS may deliver one twice: the attempt is recorded already
    components.stores.queue.send_callback(CallbackDelivery(sync_id, "myapp", 1))
    stack.work()

    delivered = {d.call["id"]: d.call["status"] for d in receiver.deliveries}
    assert delivered == {sync_id: "success", later_id: "cancelled"}
    assert len(receiver.deliveries) == 2
    assert len(call_of(stack, "myapp", sync_id)["callbacks"]) == 1


def test_a_call_the_dead_letter_handler_fails_gets_its_callback_and_again_when_redriven(
    stack: Stack, receiver: Receiver
) -> None:
    components = allowing(stack)
    stack.deploy("myapp", "hello", type="async")
    call_id = stack.request("POST", "/r/myapp/hello", headers={"Fn-Callback-Url": receiver.url}).headers[
        "Fn_call_id"
    ]
    # Its message exhausted its receives: the dead-letter handler gets it (and the call is still queued)
    dead = {"Records": [{"messageId": "m1", "body": json.dumps({"call_id": call_id})}]}
    assert components.dead_letters.handle_batch(dead) == {"batchItemFailures": []}
    stack.work()

    [delivery] = receiver.deliveries
    assert (delivery.call["id"], delivery.call["status"], delivery.call["dead"]) == (call_id, "error", True)

    # Redriven, it runs and ends again: a delivery of its own, numbered after the first
    assert stack.json("POST", f"/v1/apps/myapp/calls/{call_id}/redrive")[0] == 200
    stack.work()
    assert [(d.call["status"], d.headers["Fn-Callback-Attempt"]) for d in receiver.deliveries] == [
        ("error", "1"),
        ("success", "2"),
    ]
    assert [c["outcome"] for c in call_of(stack, "myapp", call_id)["callbacks"]] == ["delivered", "delivered"]


def test_a_call_without_a_callback_sends_nothing(stack: Stack, receiver: Receiver) -> None:
    allowing(stack)
    stack.deploy("myapp", "hello", type="async")
    call_id = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    assert len(stack.work()) == 1  # one batch: the call's message alone
    call = call_of(stack, "myapp", call_id)
    assert "callbacks" not in call and "callback_url" not in call


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("https://10.0.0.1/hook", "10.0.0.1 is private (RFC 1918)"),
        ("http://[::1]:8080/hook", "::1 is loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "::ffff:7f00:1 is loopback, inside an IPv6 address"),
        ("http://127.0.0.1:9/hook", "127.0.0.1 is loopback"),
    ],
)
def test_a_callback_to_a_non_public_address_is_refused_at_registration(
    stack: Stack, url: str, rule: str
) -> None:
    stack.deploy("myapp", "hello", type="async")
    status, body = stack.json("PUT", "/v1/apps/myapp/routes/hello", {"route": {"callback_url": url}})
    assert status == 400
    assert f"Callback URL refused: {rule}" in body["error"]["message"]

    response = stack.request("POST", "/r/myapp/hello", headers={"Fn-Callback-Url": url})
    assert response.status_code == 400
    assert f"Callback URL refused: {rule}" in json.loads(response.body)["error"]["message"]
    assert stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"] == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/x", "only http and https"),
        ("http://user:pw@example.com/", "credentials"),
        ("http:///nohost", "names no host"),
        ("https://example.com/a b", "must be encoded"),
        (12, "expected an http or https URL"),
    ],
)
def test_a_malformed_callback_url_is_a_400_saying_what_is_wrong(stack: Stack, url: Any, problem: str) -> None:
    stack.deploy("myapp", "hello", type="async")
    status, body = stack.json("PUT", "/v1/apps/myapp/routes/hello", {"route": {"callback_url": url}})
    assert status == 400 and problem in body["error"]["message"], body


def test_a_route_callback_to_a_public_address_is_kept_and_an_empty_one_removes_it(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    url = f"https://{PUBLIC}/hook?x=1"
    assert (
        stack.json("PATCH", "/v1/apps/myapp/routes/hello", {"route": {"callback_url": url}})[1]["route"][
            "callback_url"
        ]
        == url
    )
    assert (
        stack.json("PATCH", "/v1/apps/myapp/routes/hello", {"route": {"image": "y:2"}})[1]["route"][
            "callback_url"
        ]
        == url
    )
    cleared = stack.json("PATCH", "/v1/apps/myapp/routes/hello", {"route": {"callback_url": ""}})[1]
    assert cleared["route"]["callback_url"] == ""


def test_a_name_resolving_to_loopback_by_delivery_time_is_refused_then_and_recorded(
    stack: Stack, receiver: Receiver
) -> None:
    """DNS rebinding: public when registered, loopback when delivered; the rules stay on."""
    answers = {"rebind.test": [PUBLIC]}
    guard = AddressGuard(allow_private=False, resolve=lambda host, port: answers[host])
    components = wiring.build(stack.settings)
    wiring.install(components)
    port = receiver.url.split(":")[2].split("/")[0]
    stack.deploy("myapp", "hello", type="async")
    url = f"http://rebind.test:{port}/hook"
    assert guard.registered(url) == url  # as the API would have checked it

    call_id = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    stack.work()
    answers["rebind.test"] = ["127.0.0.1"]
    # The call's record names the URL (as if its route had it when it was accepted)
    boto3.client("dynamodb").update_item(
        TableName=stack.settings.table,
        Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": "#CALL"}},
        UpdateExpression="SET callback_url = :u",
        ExpressionAttributeValues={":u": {"S": url}},
    )
    deliverer = CallbackDeliverer(
        components.stores.calls,
        CallbackSecrets(components.stores.apps, components.stores.callback_secrets),
        components.stores.queue,
        guard,
        utcnow,
        CallbackPolicy(webhook=WebhookLimits(timeout_seconds=2)),
    )

    recorded = deliverer.deliver(CallbackDelivery(call_id, "myapp", 1))

    assert recorded is not None and recorded.outcome.value == "refused"
    assert receiver.deliveries == []
    [attempt] = call_of(stack, "myapp", call_id)["callbacks"]
    assert attempt["outcome"] == "refused"
    assert attempt["error"] == "refused: 127.0.0.1 is loopback"
    assert stack.work() == []  # refused is final: no next attempt was queued


def test_with_the_rules_on_a_delivery_message_for_loopback_is_refused_by_the_worker(
    stack: Stack, receiver: Receiver
) -> None:
    """The worker's own check (its settings: the deployed default), whatever the API accepted."""
    allowing(stack)
    stack.deploy("myapp", "hello", type="async")
    call_id = stack.request("POST", "/r/myapp/hello", headers={"Fn-Callback-Url": receiver.url}).headers[
        "Fn_call_id"
    ]
    wiring.install(wiring.build(stack.settings))  # the worker: callback_allow_private off
    stack.work()
    assert receiver.deliveries == []
    [attempt] = call_of(stack, "myapp", call_id)["callbacks"]
    assert (attempt["outcome"], attempt["error"]) == ("refused", "refused: 127.0.0.1 is loopback")
    assert call_of(stack, "myapp", call_id)["status"] == "success"


def test_the_secret_is_made_once_shown_to_deployers_only_and_rotated(secured: Stack) -> None:
    secured.deploy("myapp", "hello")
    first = secret_of(secured, "myapp")
    assert first.startswith("fnqcb_") and len(first) == 6 + 64
    assert secret_of(secured, "myapp") == first
    app = secured.json("GET", "/v1/apps/myapp")[1]
    assert first not in json.dumps(app)

    reader = create_token(secured, ["myapp"], ["read"])
    status, body = secured.json(
        "GET", "/v1/apps/myapp/callback_secret", headers={"authorization": f"Bearer {reader}"}
    )
    assert (status, body["error"]["message"]) == (
        403,
        "Forbidden: the token has no deploy right on app myapp",
    )

    status, rotated = secured.json("POST", "/v1/apps/myapp/callback_secret")
    assert status == 200 and rotated["callback_secret"]["secret"] not in (first, "")
    assert secret_of(secured, "myapp") == rotated["callback_secret"]["secret"]
    assert secured.json("GET", "/v1/apps/nosuch/callback_secret")[0] == 404


def test_a_message_that_is_neither_a_call_nor_a_callback_is_poison_still(stack: Stack) -> None:
    body = callback_message_body(CallbackDelivery("not-an-id", "myapp", 1))
    boto3.client("sqs").send_message(QueueUrl=stack.settings.calls_queue_url, MessageBody=body)
    [response] = stack.work(max_batches=1)
    assert len(response["batchItemFailures"]) == 1
