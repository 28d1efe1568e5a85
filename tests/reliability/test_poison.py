"""Poison messages on the calls queue go to the dead-letter queue and hold up no one else."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from chalicelib.ids import new_call_id, utcnow
from tests.local.support import HELLO, Http
from tests.reliability.conftest import TunedFnStart, deploy

pytestmark = pytest.mark.e2e


def test_garbage_and_unknown_call_messages_are_dead_lettered_while_real_calls_succeed(
    stack: TunedFnStart, tmp_path: Path
) -> None:
    http = Http(stack.url)
    deploy(http, tmp_path, "poisoned", "hello", HELLO)
    sqs = stack.sqs()
    garbage = sqs.send_message(QueueUrl=stack.calls_queue, MessageBody="\x00 not json {")["MessageId"]
    unknown_call = new_call_id(utcnow())
    body = json.dumps({"call_id": unknown_call})
    unknown = sqs.send_message(QueueUrl=stack.calls_queue, MessageBody=body)["MessageId"]
    seen = len(stack.lines)

    # Calls accepted beside the poison run at once, while the poison keeps coming back.
    for _ in range(3):
        http.async_call_succeeds("poisoned", "hello")

    stack.wait_for(rf"message {garbage} carries no call id", timeout=20, after=seen)
    stack.wait_for(rf"message {unknown} names unknown call {unknown_call}", timeout=20, after=seen)
    # maxReceiveCount is 5, the visibility timeout 2 s: the redrive moves both to the dead-letter
    # queue, whose consumer drops messages that name no call it knows.
    dead = r"DeadLetterQueue-\w+: message {} \(received \d+ times\)"
    stack.wait_for(dead.format(garbage), timeout=40, after=seen)
    stack.wait_for(dead.format(unknown), timeout=40, after=seen)
    deadline = time.monotonic() + 10
    while stack.depth(stack.calls_queue) or stack.depth(stack.dead_letter_queue):
        assert time.monotonic() < deadline, "the poison stayed on a queue"
        time.sleep(0.2)
    http.async_call_succeeds("poisoned", "hello")
