"""The SQS handler with events as Lambda sends them: unique ids, attributes, partial batch failures."""

from __future__ import annotations

import boto3

from tests.conftest import Stack
from tests.support import REGION, receive_event, settle


def test_a_poison_message_fails_alone_and_its_batch_mates_succeed(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    good = [stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"] for _ in range(3)]
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(QueueUrl=stack.settings.calls_queue_url, MessageBody="garbage")
    sqs.send_message(
        QueueUrl=stack.settings.calls_queue_url, MessageBody='{"call_id":"01BVJ5T7CA07WGE00000000000"}'
    )

    event = receive_event(stack.settings.calls_queue_url)
    assert len(event["Records"]) == 5
    assert len({r["messageId"] for r in event["Records"]}) == 5
    assert all("ApproximateReceiveCount" in r["attributes"] for r in event["Records"])
    response = stack.invoke("handle_calls", event)
    settle(stack.settings.calls_queue_url, event, response)

    poison = {r["messageId"] for r in event["Records"] if "garbage" in r["body"] or "01BVJ5T7" in r["body"]}
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == poison
    for call_id in good:
        assert stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]["status"] == "success"


def test_a_dead_lettered_call_is_marked_failed_not_left_queued(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    call_id = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    event = receive_event(stack.settings.calls_queue_url)  # as if it had exhausted its receives
    response = stack.client.lambda_.invoke("handle_dead_calls", event).payload
    assert response == {"batchItemFailures": []}
    call = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]
    assert (call["status"], call["error"]) == (
        "error",
        "dead-lettered: the call's message exhausted its deliveries",
    )
