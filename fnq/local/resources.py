"""The local stack: infra/resources.yaml deployed through CloudFormation to an embedded endpoint.

`fn start` (and the tests) create their table, bucket and queues from the very template that
production merges into Chalice's output, so local and deployed resources cannot drift apart.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import yaml
from botocore.exceptions import WaiterError

from chalicelib.settings import (
    DEFAULT_REGION,
    ENV_BUCKET,
    ENV_CALLS_QUEUE_URL,
    ENV_DEAD_LETTER_QUEUE_URL,
    ENV_TABLE,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import StackTypeDef

RESOURCES_TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "resources.yaml"
# The credentials of every local endpoint (the ones `fn start` prints, the tests' too). Local
# endpoints check no signature, but botocore refuses to sign without credentials; fixed fake ones
# also keep a user's real credentials away from whatever listens at the endpoint.
FAKE_KEY = "fnq"

# Stack output → the environment variable the app reads it from (see infra/resources.yaml).
OUTPUT_ENV = {
    "TableName": ENV_TABLE,
    "BucketName": ENV_BUCKET,
    "CallsQueueUrl": ENV_CALLS_QUEUE_URL,
    "DeadLetterQueueUrl": ENV_DEAD_LETTER_QUEUE_URL,
}
TTL_ATTRIBUTE = "expires_at"

_USABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


class LocalStackError(RuntimeError):
    """The local stack could not be created, or an earlier attempt left it unusable."""


def create_local_resources(
    endpoint_url: str | None,
    region: str = DEFAULT_REGION,
    stack_name: str = "fnq-local",
    visibility_timeout: int | None = None,
) -> dict[str, str]:
    """Deploy infra/resources.yaml to `endpoint_url` and return the FNQ_* environment for it.

    Idempotent: if the stack already exists, its outputs are returned and nothing is created.
    `endpoint_url` None means boto3's own resolution (the tests' in-process moto).
    `visibility_timeout` overrides the calls queue's (the template's default is for AWS).
    """
    parameters: Any = (
        [{"ParameterKey": "CallsVisibilityTimeout", "ParameterValue": str(visibility_timeout)}]
        if visibility_timeout
        else []
    )
    session = _session(region)
    cfn: CloudFormationClient = session.client("cloudformation", endpoint_url=endpoint_url)
    stack = _find_stack(cfn, stack_name)
    if stack is None:
        # Another process starting at the same moment may win the race; its stack will do.
        with contextlib.suppress(cfn.exceptions.AlreadyExistsException):
            cfn.create_stack(
                StackName=stack_name, TemplateBody=RESOURCES_TEMPLATE.read_text(), Parameters=parameters
            )
        stack = _find_stack(cfn, stack_name)
    if stack is not None and stack["StackStatus"] == "CREATE_IN_PROGRESS":
        # A failed creation is reported below, with CloudFormation's reason.
        with contextlib.suppress(WaiterError):
            cfn.get_waiter("stack_create_complete").wait(StackName=stack_name, WaiterConfig={"Delay": 1})
        stack = _find_stack(cfn, stack_name)
    if stack is None or stack["StackStatus"] not in _USABLE:
        status = (
            "missing" if stack is None else f"{stack['StackStatus']}: {stack.get('StackStatusReason', '')}"
        )
        raise LocalStackError(f"local stack {stack_name} is not usable ({status})")

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = sorted(set(OUTPUT_ENV) - set(outputs))
    if missing:
        raise LocalStackError(f"stack {stack_name} is not an fnq stack: no output {', '.join(missing)}")
    env = {env_name: outputs[key] for key, env_name in OUTPUT_ENV.items()}
    _enable_ttl(session, endpoint_url, env[ENV_TABLE])
    _apply_lifecycle(session, endpoint_url, env[ENV_BUCKET])
    return env


def _session(region: str) -> boto3.session.Session:
    return boto3.session.Session(
        region_name=region, aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY
    )


def _find_stack(cfn: CloudFormationClient, stack_name: str) -> StackTypeDef | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except cfn.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return stacks[0] if stacks else None


def _enable_ttl(session: boto3.session.Session, endpoint_url: str | None, table: str) -> None:
    # moto's CloudFormation ignores TimeToLiveSpecification. Enabling TTL twice is an error in
    # DynamoDB, so look first: this runs again each time an existing stack is reused.
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}:
        return
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    )


def _apply_lifecycle(session: boto3.session.Session, endpoint_url: str | None, bucket: str) -> None:
    # moto's CloudFormation ignores the bucket's LifecycleConfiguration too. The local stack's
    # saved state honours the bucket's expiration rules when it restores (fnq/local/restore.py),
    # so they are set here as the template states them (RetentionDays at its default).
    template = yaml.safe_load(RESOURCES_TEMPLATE.read_text())
    defaults = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    bucket_spec: dict[str, Any] = next(
        (r for r in template["Resources"].values() if r.get("Type") == "AWS::S3::Bucket"), {}
    )
    rules: list[Any] = []
    for rule in bucket_spec.get("Properties", {}).get("LifecycleConfiguration", {}).get("Rules", []):
        converted: dict[str, Any] = {
            "ID": rule.get("Id", ""),
            "Status": rule.get("Status", "Enabled"),
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if "ExpirationInDays" in rule:
            days = rule["ExpirationInDays"]
            converted["Expiration"] = {"Days": int(defaults[days["Ref"]] if isinstance(days, dict) else days)}
        if "AbortIncompleteMultipartUpload" in rule:
            converted["AbortIncompleteMultipartUpload"] = dict(rule["AbortIncompleteMultipartUpload"])
        rules.append(converted)
    if rules:
        s3 = session.client("s3", endpoint_url=endpoint_url)
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
