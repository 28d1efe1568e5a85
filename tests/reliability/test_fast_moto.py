"""fn start's moto: SQS requests cost the same at any depth, and answer what moto answers."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.sqs.models import Queue, sqs_backends

from fnq.local.moto_patches import make_moto_server_fast

REGION = "us-east-1"


@pytest.fixture
def sqs(aws: None) -> Any:
    make_moto_server_fast()
    return boto3.client("sqs", region_name=REGION)


def fill(sqs: Any, queue: str, count: int) -> None:
    for start in range(0, count, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(min(10, count - start))]
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)


def test_a_receive_never_computes_the_queue_attributes_and_a_send_once(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = sqs.create_queue(QueueName="deep")["QueueUrl"]
    fill(sqs, queue, 200)
    computed: list[int] = []
    original: Any = Queue.__dict__["attributes"]

    def counted(queue: Any) -> Any:
        computed.append(1)
        return original.fget(queue)

    monkeypatch.setattr(Queue, "attributes", property(counted))
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 10
    assert computed == []  # moto computed them once per message received
    sqs.send_message(QueueUrl=queue, MessageBody="one more")
    assert computed == [1]  # once per send (to read ContentBasedDeduplication), with a cheap clock


def test_a_message_past_its_retention_period_is_still_not_delivered(sqs: Any) -> None:
    queue = sqs.create_queue(QueueName="old", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="stale")
    sqs.send_message(QueueUrl=queue, MessageBody="fresh")
    backend = sqs_backends["123456789012"][REGION]
    stale: Any = next(m for m in backend.get_queue("old")._messages if m.body == "stale")
    stale.sent_timestamp -= 61_000
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert "stale" not in [m["Body"] for m in received]


def test_visibility_and_delays_are_kept(sqs: Any) -> None:
    queue = sqs.create_queue(QueueName="timing", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="now")
    sqs.send_message(QueueUrl=queue, MessageBody="later", DelaySeconds=30)
    first = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in first] == ["now"]
    assert sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []) == []
    names = ["ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
    assert counts == {"ApproximateNumberOfMessagesNotVisible": "1", "ApproximateNumberOfMessagesDelayed": "1"}
