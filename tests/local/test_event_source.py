"""The emulated SQS event source keeps Lambda's contract: batches, partial failures, redrive."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from fnq.local.event_source import (
    InvocationContext,
    InvocationLimits,
    SqsEventSource,
    Watchdog,
    records_to_delete,
)

REGION = "us-east-1"


@pytest.fixture
def sqs(aws: None) -> Any:
    return boto3.client("sqs", region_name=REGION)


def make_queue(sqs: Any, name: str, visibility: int = 0, max_receives: int | None = None) -> str:
    attributes = {"VisibilityTimeout": str(visibility)}
    if max_receives is not None:
        dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": arn, "maxReceiveCount": max_receives}
        )
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def send(sqs: Any, queue: str, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=queue, MessageBody=body)


def depth(sqs: Any, queue: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
    return sum(int(attributes[n]) for n in names)


class Recorder:
    """A handler that records its events and fails the records whose body is in `failing`."""

    def __init__(self, failing: set[str] | None = None, raises: bool = False, answer: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.failing = failing or set()
        self.raises = raises
        self.answer = answer

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if self.raises:
            raise RuntimeError("function error")
        if self.answer is not None:
            return self.answer
        failed = [r["messageId"] for r in event["Records"] if r["body"] in self.failing]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def test_a_batch_reaches_the_handler_as_a_lambda_sqs_event(sqs: Any) -> None:
    queue = make_queue(sqs, "shape")
    send(sqs, queue, "a", "b", "c")
    handler = Recorder()
    assert SqsEventSource(sqs, queue, handler, REGION, wait_seconds=0).poll_once() == 3
    records = handler.events[0]["Records"]
    assert sorted(r["body"] for r in records) == ["a", "b", "c"]
    assert len({r["messageId"] for r in records}) == 3 and len({r["receiptHandle"] for r in records}) == 3
    assert all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"].endswith(":shape") for r in records)
    assert all(r["attributes"]["ApproximateReceiveCount"] == "1" for r in records)
    assert depth(sqs, queue) == 0


def test_a_delayed_message_is_handed_to_the_handler_only_after_its_delay_as_sqs_does(sqs: Any) -> None:
    """Callback retries and short delayed calls are messages sent with DelaySeconds: the local
    event source receives through the embedded SQS, which keeps them hidden until then."""
    queue = make_queue(sqs, "delayed")
    sqs.send_message(QueueUrl=queue, MessageBody="later", DelaySeconds=2)
    send(sqs, queue, "now")
    handler = Recorder()
    source = SqsEventSource(sqs, queue, handler, REGION, wait_seconds=0)

    assert source.poll_once() == 1
    assert [r["body"] for r in handler.events[0]["Records"]] == ["now"]
    delayed = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"  # there, not yet receivable

    waiting = SqsEventSource(sqs, queue, handler, REGION, wait_seconds=1)
    while not waiting.poll_once():
        pass
    assert [r["body"] for r in handler.events[1]["Records"]] == ["later"]


def test_only_the_records_reported_failed_stay_on_the_queue(sqs: Any) -> None:
    queue = make_queue(sqs, "partial")
    send(sqs, queue, "ok-1", "bad", "ok-2")
    source = SqsEventSource(sqs, queue, Recorder(failing={"bad"}), REGION, wait_seconds=0)
    source.poll_once()
    redelivered = Recorder()
    SqsEventSource(sqs, queue, redelivered, REGION, wait_seconds=0).poll_once()
    assert [r["body"] for r in redelivered.events[0]["Records"]] == ["bad"]


def test_a_handler_that_raises_leaves_the_whole_batch_on_the_queue(sqs: Any) -> None:
    queue = make_queue(sqs, "raises")
    send(sqs, queue, "a", "b")
    SqsEventSource(sqs, queue, Recorder(raises=True), REGION, wait_seconds=0).poll_once()
    assert depth(sqs, queue) == 2


def test_an_unknown_item_identifier_fails_the_whole_batch_as_lambda_does() -> None:
    event = {
        "Records": [{"messageId": "m1", "receiptHandle": "h1"}, {"messageId": "m2", "receiptHandle": "h2"}]
    }
    assert records_to_delete(event, {"batchItemFailures": [{"itemIdentifier": "nope"}]}) == []
    assert records_to_delete(event, {"batchItemFailures": [{"itemIdentifier": ""}]}) == []
    assert records_to_delete(event, None) == event["Records"]
    assert records_to_delete(event, {"batchItemFailures": []}) == event["Records"]


def test_batches_hold_at_most_ten_messages(sqs: Any) -> None:
    queue = make_queue(sqs, "ten")
    send(sqs, queue, *(str(i) for i in range(13)))
    handler = Recorder()
    source = SqsEventSource(sqs, queue, handler, REGION, wait_seconds=0)
    while source.poll_once():
        pass
    assert max(len(e["Records"]) for e in handler.events) == 10
    assert sum(len(e["Records"]) for e in handler.events) == 13


def test_a_message_failing_every_delivery_is_redriven_to_the_dead_letter_source(sqs: Any) -> None:
    queue = make_queue(sqs, "redrive", max_receives=2)
    dlq = queue + "-dlq"
    send(sqs, queue, "poison")
    calls = SqsEventSource(sqs, queue, Recorder(failing={"poison"}), REGION, wait_seconds=0)
    for _ in range(3):  # the third receive finds it over maxReceiveCount: moved, not delivered
        calls.poll_once()
    dead = Recorder()
    assert SqsEventSource(sqs, dlq, dead, REGION, wait_seconds=0).poll_once() == 1
    assert dead.events[0]["Records"][0]["body"] == "poison"
    assert depth(sqs, queue) == 0 and depth(sqs, dlq) == 0


def test_run_returns_once_stopped(sqs: Any) -> None:
    queue = make_queue(sqs, "stop")
    stop = threading.Event()
    source = SqsEventSource(sqs, queue, Recorder(), REGION, wait_seconds=0)
    thread = threading.Thread(target=source.run, args=(stop,))
    thread.start()
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_the_handler_gets_a_lambda_context_with_the_functions_timeout_and_memory(sqs: Any) -> None:
    queue = make_queue(sqs, "context")
    send(sqs, queue, "a")
    handler = Recorder()
    limits = InvocationLimits("handle_calls", timeout_seconds=30, memory_mb=512)

    SqsEventSource(sqs, queue, handler, REGION, wait_seconds=0, limits=limits).poll_once()

    (context,) = handler.contexts
    assert context.function_name == "handle_calls" and context.memory_limit_in_mb == 512
    assert 0 < context.get_remaining_time_in_millis() <= 30_000
    assert context.aws_request_id


def test_an_invocation_that_ends_past_its_timeout_deletes_nothing(sqs: Any) -> None:
    # GIVEN a handler that answers success, but only after its invocation's deadline
    queue = make_queue(sqs, "overdue")
    send(sqs, queue, "a", "b")

    def late(event: dict[str, Any], context: Any) -> Any:
        while context.get_remaining_time_in_millis() > 0:
            threading.Event().wait(0.01)
        return {"batchItemFailures": []}

    limits = InvocationLimits("handle_calls", timeout_seconds=0.1, memory_mb=128)
    SqsEventSource(sqs, queue, late, REGION, wait_seconds=0, limits=limits).poll_once()

    # THEN Lambda's verdict holds (the invocation timed out): every message is still there
    assert depth(sqs, queue) == 2


def test_the_watchdog_cuts_an_invocation_still_running_at_its_deadline(sqs: Any) -> None:
    queue = make_queue(sqs, "cut")
    send(sqs, queue, "a")
    cut: list[InvocationContext] = []
    was_cut = threading.Event()

    def on_cut(context: InvocationContext) -> None:
        cut.append(context)
        was_cut.set()

    watchdog = Watchdog(on_cut, period=0.01)
    stop = threading.Event()
    threading.Thread(target=watchdog.run, args=(stop,), daemon=True).start()
    seen: list[Any] = []

    def hangs(event: dict[str, Any], context: Any) -> Any:
        seen.append(context)
        assert was_cut.wait(10), "the watchdog never cut the invocation"
        return None

    limits = InvocationLimits("handle_calls", timeout_seconds=0.1, memory_mb=128)
    try:
        SqsEventSource(
            sqs, queue, hangs, REGION, wait_seconds=0, limits=limits, watchdog=watchdog
        ).poll_once()
    finally:
        stop.set()

    assert cut[:1] == seen and depth(sqs, queue) == 1
