"""Create fnq's table, bucket and queues at a local AWS endpoint; answer the FNQ_* environment.

`provision` is the one seam the local stack uses. When the infra work is present
(`chalicelib.local.resources.create_local_resources`, which deploys infra/ through the endpoint's
CloudFormation) it is used, so local and deployed resources come from one template; until then the
resources are created directly, mirroring `tests/support.create_resources`.

Run as `python -m chalicelib.local.provision` to provision the endpoint in AWS_ENDPOINT_URL and
print `export` lines for a shell (the `chalice local` + `fn worker` setup in docs/LOCAL.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib.settings import (
    CALLS_QUEUE_NAME,
    DEAD_LETTER_QUEUE_NAME,
    ENV_BUCKET,
    ENV_CALLS_QUEUE_URL,
    ENV_DEAD_LETTER_QUEUE_URL,
    ENV_ENDPOINT_URL,
    ENV_TABLE,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_REGION = "us-east-1"
STACK_NAME = "fnq-local"
# Local endpoints check no signature, but botocore refuses to sign without credentials; fixed fake
# ones also keep a user's real credentials away from whatever listens at the endpoint.
FAKE_KEY = "fnq"

TABLE = "fnq"
BUCKET = "fnq-data"
# Lambda's event source needs visibility ≥ the function timeout; locally 30 s lets a message whose
# worker died come back soon. maxReceiveCount matches infra/.
VISIBILITY_TIMEOUT_SECONDS = 30
MAX_RECEIVE_COUNT = 5
TTL_ATTRIBUTE = "expires_at"
_KEYS = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"]
_INDEX_ATTRIBUTES = [
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
]


def provision(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """Create (or find) the resources at `endpoint_url`; answer {FNQ_TABLE: ..., FNQ_BUCKET: ..., ...}."""
    infra = _infra_provisioner()
    if infra is not None:
        env: dict[str, str] = infra(endpoint_url, region, STACK_NAME)
        return env
    return create_resources(endpoint_url, region)


def _infra_provisioner() -> Any:
    """The infra team's CloudFormation-based provisioner, if this checkout has it."""
    if importlib.util.find_spec("chalicelib.local.resources") is None:
        return None
    return getattr(importlib.import_module("chalicelib.local.resources"), "create_local_resources", None)


def create_resources(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """The fallback: the same definitions as tests/support.create_resources, idempotent."""
    session = boto3.session.Session(
        region_name=region, aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY
    )
    ddb: DynamoDBClient = session.client("dynamodb", endpoint_url=endpoint_url)
    _create_table(ddb)
    s3 = session.client("s3", endpoint_url=endpoint_url)
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=BUCKET)
        else:
            s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    dlq = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    queue = sqs.create_queue(
        QueueName=CALLS_QUEUE_NAME,
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return {ENV_TABLE: TABLE, ENV_BUCKET: BUCKET, ENV_CALLS_QUEUE_URL: queue, ENV_DEAD_LETTER_QUEUE_URL: dlq}


def _create_table(ddb: DynamoDBClient) -> None:
    projection: Any = {"ProjectionType": "INCLUDE", "NonKeyAttributes": _INDEX_ATTRIBUTES}
    try:
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in _KEYS],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": name,
                    "KeySchema": [
                        {"AttributeName": f"{name}pk", "KeyType": "HASH"},
                        {"AttributeName": f"{name}sk", "KeyType": "RANGE"},
                    ],
                    "Projection": projection,
                }
                for name in ("gsi1", "gsi2")
            ],
        )
    except ddb.exceptions.ResourceInUseException:
        return
    ddb.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # Expired calls are filtered on read as well (moto never expires items), but AWS-like
    # endpoints such as LocalStack do: keep the same setting as infra/.
    ddb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


def main() -> int:
    endpoint = os.environ.get(ENV_ENDPOINT_URL)
    if not endpoint:
        # Never create resources in whatever account the ambient credentials reach.
        print(f"ERROR: set {ENV_ENDPOINT_URL} to the local endpoint to provision", file=sys.stderr)
        return 1
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION
    for name, value in provision(endpoint, region).items():
        print(f"export {name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
