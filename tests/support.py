"""Test support: AWS resources on moto, function directories, and real SQS events for the worker."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import boto3

from chalicelib.bundles import digest_of, make_bundle
from chalicelib.settings import Settings

REGION = "us-east-1"


def create_resources(tmp_path: Path, suffix: str = "") -> Settings:
    """The table, bucket and queues fnq uses, named per test (fresh queues: PurgeQueue is rate-limited)."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    table = f"fnq{suffix}"
    keys = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"]
    projection = {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": [
            "id",
            "app_name",
            "path",
            "type",
            "status",
            "created_at",
            "started_at",
            "completed_at",
            "error",
            "attempt",
            "stats",
            "attempts",
            "name",
            "config",
            "annotations",
            "updated_at",
        ],
    }
    indexes: Any = [
        {
            "IndexName": name,
            "KeySchema": [
                {"AttributeName": f"{name}pk", "KeyType": "HASH"},
                {"AttributeName": f"{name}sk", "KeyType": "RANGE"},
            ],
            "Projection": projection,
        }
        for name in ("gsi1", "gsi2")
    ]
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=indexes,
    )
    bucket = f"fnq-data{suffix}"
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=bucket)
    sqs = boto3.client("sqs", region_name=REGION)
    dlq = sqs.create_queue(QueueName=f"fnq-calls-dlq{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=f"fnq-calls{suffix}",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    return Settings(
        table=table,
        bucket=bucket,
        calls_queue_url=queue,
        dead_letter_queue_url=dlq,
        region=REGION,
        cache_dir=tmp_path / "cache",
        route_cache_seconds=5.0,
        lease_grace_seconds=5,
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
