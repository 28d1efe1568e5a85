"""Test support: AWS resources on moto, function directories, and real SQS events for the worker."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from chalicelib.bundles import digest_of, make_bundle
from chalicelib.ids import utcnow
from chalicelib.settings import Settings
from fnq.local.resources import create_local_resources

REGION = "us-east-1"


# The head of a function that records its runs: mark("start") appends "start <call id>" to the
# file its route's config names RUNS_FILE (O_APPEND: lines of calls side by side never mix).
MARKS_RUNS = """
import os
def mark(word):
    fd = os.open(os.environ["RUNS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{word} {os.environ['FN_CALL_ID']}\\n".encode())
    os.close(fd)
"""


def create_resources(tmp_path: Path) -> Settings:
    """fnq's table, bucket and queues on moto, from infra/ through CloudFormation, as fn start makes them."""
    env = create_local_resources(None, REGION, visibility_timeout=30)
    return replace(
        Settings.from_env({**env, "AWS_DEFAULT_REGION": REGION}),
        cache_dir=tmp_path / "cache",
        lease_grace_seconds=5,
        # Leases renewed by heartbeats last 15 s here: the lease tests move their clocks 16 s.
        lease_seconds=15,
    )


def write_function(directory: Path, source: str, name: str = "hello", **fields: Any) -> Path:
    """A python `default`-format function: func.yaml plus func.py holding `source`."""
    directory.mkdir(parents=True, exist_ok=True)
    func = {"name": name, "version": "0.0.1", "runtime": "python", "entrypoint": "python3 func.py", **fields}
    (directory / "func.yaml").write_text("".join(f"{k}: {v}\n" for k, v in func.items()))
    (directory / "func.py").write_text(textwrap.dedent(source))
    return directory


def bundle_of(directory: Path) -> tuple[str, bytes]:
    data = make_bundle(directory)
    return digest_of(data), data


def receive_event(
    queue_url: str, max_messages: int = 10, wait: int = 0, endpoint_url: str | None = None
) -> dict[str, Any]:
    """A Lambda SQS event built from real receive_message output: unique ids, Lambda's attribute names."""
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint_url)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        WaitTimeSeconds=wait,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def settle(
    queue_url: str, event: dict[str, Any], response: dict[str, Any], endpoint_url: str | None = None
) -> None:
    """What Lambda's event source does after the handler: delete every record not reported failed."""
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint_url)
    for record in event["Records"]:
        if record["messageId"] not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])


def until(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    """Poll `condition` for up to `seconds`; answer its last value. For what takes the kernel a
    moment (a SIGKILLed process exiting), never for timing."""
    give_up = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.01)
    return True


class Clock:
    """A clock a test moves by hand (`clock.now += timedelta(...)`); it starts now, or at `start`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now
