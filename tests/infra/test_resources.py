"""infra/resources.yaml: deployed through moto's CloudFormation, and what moto cannot check."""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest

from chalicelib.aws import s3
from chalicelib.batch import WORKER_RESERVE_MB
from chalicelib.models import Call, Route
from chalicelib.settings import (
    ENV_BUCKET,
    ENV_CALLS_QUEUE_URL,
    ENV_DEAD_LETTER_QUEUE_URL,
    ENV_TABLE,
    Settings,
)
from fnq.local.event_source import MAX_BATCH
from fnq.local.resources import LocalStackError, create_local_resources
from fnq.local.stage import API_FUNCTION, API_GATEWAY_TIMEOUT_SECONDS, DEFAULT_STAGE, deployed_api_limits
from fnq.local.worker import DEAD_LETTER_LIMITS, worker_limits
from tests.infra.conftest import REPO, load_yaml, stage_setting, stages

# The stack still completes: moto skips the resource it cannot build (the TLS-only bucket policy).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy")

TEMPLATE = load_yaml(REPO / "infra" / "resources.yaml")
RESOURCES = TEMPLATE["Resources"]
RESOURCES_PARAMETERS = TEMPLATE["Parameters"]
CALL_FIELDS = [
    "id", "app_name", "path", "type", "status", "created_at", "started_at", "completed_at",
    "error", "attempt", "stats", "attempts", "dead", "not_before",
]  # fmt: skip
# The sweeper's sparse index carries only what a recovery needs (chalicelib/sweeper.py).
OPEN_FIELDS = [
    "id",
    "app_name",
    "path",
    "type",
    "status",
    "created_at",
    "attempt",
    "attempt_started_at",
    "lease_until",
]
LISTED_FIELDS = [*CALL_FIELDS, "name", "config", "annotations", "updated_at"]
LISTING_INDEXES = {"gsi1", "gsi2", "gsi3"}  # the calls listings read (the sweeper's `open` is not one)
# Call fields a listing does not show: what the worker needs (the function snapshot, the request,
# the lease and the attempt bookkeeping), the inline log, read from the record itself, and the
# completion callback (its URL and attempts: GET of the call shows them; projected, every
# delivery attempt would write three index entries too).
UNLISTED_CALL_FIELDS = {
    "function", "request", "lease_seconds", "lease_expires_at", "redrive_base", "attempt_started_at", "log",
    "callback_url", "callbacks",
}  # fmt: skip


def test_the_local_stack_is_built_from_infra_and_its_outputs_are_the_apps_environment(
    moto_endpoint, local_stack
):
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)

    assert set(local_stack) == {ENV_TABLE, ENV_BUCKET, ENV_CALLS_QUEUE_URL, ENV_DEAD_LETTER_QUEUE_URL}
    table = dynamodb.describe_table(TableName=local_stack[ENV_TABLE])["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [
        ("pk", "HASH"),
        ("sk", "RANGE"),
    ]
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert {name: index["Projection"]["NonKeyAttributes"] for name, index in indexes.items()} == {
        "gsi1": LISTED_FIELDS,
        "gsi2": LISTED_FIELDS,
        "gsi3": CALL_FIELDS,
        "open": OPEN_FIELDS,
    }
    assert [(k["AttributeName"], k["KeyType"]) for k in indexes["open"]["KeySchema"]] == [
        ("openpk", "HASH"),
        ("opensk", "RANGE"),
    ]
    assert [(k["AttributeName"], k["KeyType"]) for k in indexes["gsi3"]["KeySchema"]] == [
        ("gsi1pk", "HASH"),
        ("gsi3sk", "RANGE"),
    ]
    ttl = dynamodb.describe_time_to_live(TableName=local_stack[ENV_TABLE])["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    s3.head_bucket(Bucket=local_stack[ENV_BUCKET])
    dead_letter_arn = sqs.get_queue_attributes(
        QueueUrl=local_stack[ENV_DEAD_LETTER_QUEUE_URL], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    calls = sqs.get_queue_attributes(QueueUrl=local_stack[ENV_CALLS_QUEUE_URL], AttributeNames=["All"])
    assert json.loads(calls["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": 5,
    }
    assert Settings.from_env(local_stack).table == local_stack[ENV_TABLE]


def test_every_listing_index_projects_every_field_a_listing_shows():
    listed = {f.name for f in dataclasses.fields(Call)} - UNLISTED_CALL_FIELDS

    assert set(CALL_FIELDS) == listed
    for index in RESOURCES["CallsTable"]["Properties"]["GlobalSecondaryIndexes"]:
        if index["IndexName"] in LISTING_INDEXES:
            assert listed <= set(index["Projection"]["NonKeyAttributes"]), index["IndexName"]


def test_creating_the_local_stack_again_returns_the_same_resources(moto_endpoint, local_stack):
    again = create_local_resources(moto_endpoint)

    assert again == local_stack
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_endpoint)
    assert len(cloudformation.describe_stacks()["Stacks"]) == 1


def test_two_stacks_on_one_endpoint_get_resources_of_their_own(moto_endpoint, local_stack):
    other = create_local_resources(moto_endpoint, stack_name="fnq-other")

    assert not set(other.values()) & set(local_stack.values())


def test_a_stack_of_that_name_that_is_not_fnqs_is_refused_rather_than_used(moto_endpoint):
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_endpoint)
    cloudformation.create_stack(
        StackName="fnq-local",
        TemplateBody=json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}),
    )

    with pytest.raises(LocalStackError, match="not an fnq stack: no output BucketName, CallsQueueUrl"):
        create_local_resources(moto_endpoint)


def test_the_table_bills_per_request_and_keeps_point_in_time_recovery():
    table = RESOURCES["CallsTable"]["Properties"]

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert all(
        index["Projection"]["ProjectionType"] == "INCLUDE" for index in table["GlobalSecondaryIndexes"]
    )


def test_the_bucket_is_encrypted_private_and_expires_what_calls_leave_but_not_bundles():
    bucket = RESOURCES["DataBucket"]["Properties"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    expiring = {rule["Prefix"]: rule["ExpirationInDays"] for rule in rules if "ExpirationInDays" in rule}

    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    # Every prefix a call writes under lives as long as the call's record (DynamoDB TTL), no longer.
    assert expiring == {prefix: {"Ref": "RetentionDays"} for prefix in (s3.LOGS, s3.RESULTS, s3.PAYLOADS)}
    assert not any(s3.BUNDLES.startswith(prefix) for prefix in expiring)
    assert TEMPLATE["Parameters"]["RetentionDays"]["Default"] == Settings().call_retention_days


@pytest.mark.parametrize("stage", stages())
@pytest.mark.parametrize(
    ("queue", "consumer"), [("CallsQueue", "handle_calls"), ("DeadLetterQueue", "handle_dead_calls")]
)
def test_each_queue_stays_invisible_six_times_as_long_as_its_consumer_may_run(stage, queue, consumer):
    # AWS's advice for a Lambda event source; see the comment on CallsQueue in infra/resources.yaml.
    visibility = RESOURCES[queue]["Properties"]["VisibilityTimeout"]
    if isinstance(visibility, dict):  # a parameter: what AWS deploys is its default
        visibility = RESOURCES_PARAMETERS[visibility["Ref"]]["Default"]

    assert visibility >= 6 * stage_setting(stage, "lambda_timeout", consumer)


def test_the_worker_may_run_for_lambdas_maximum_of_fifteen_minutes_in_every_stage():
    assert {stage_setting(stage, "lambda_timeout", "handle_calls") for stage in stages()} == {900}


def test_the_dead_letter_queue_keeps_messages_longer_than_the_calls_queue():
    def retention(queue: str) -> int:
        period: int = RESOURCES[queue]["Properties"]["MessageRetentionPeriod"]
        return period

    assert retention("DeadLetterQueue") > retention("CallsQueue")


# What a sync call needs besides its function: the route lookup, the record, the log and outcome.
SYNC_MARGIN = 4


@pytest.mark.parametrize("stage", stages())
def test_each_stage_caps_sync_timeouts_below_what_its_api_can_serve(stage):
    cap = int(stage_setting(stage, "environment_variables")["FNQ_MAX_SYNC_TIMEOUT"])
    api = stage_setting(stage, "lambda_timeout", "api_handler")

    assert 0 < cap <= min(API_GATEWAY_TIMEOUT_SECONDS, api) - SYNC_MARGIN


def test_fn_starts_api_keeps_the_default_stages_sync_cap_and_time_limit():
    limits = deployed_api_limits({})

    assert limits.max_sync_timeout == int(
        stage_setting(DEFAULT_STAGE, "environment_variables")["FNQ_MAX_SYNC_TIMEOUT"]
    )
    assert limits.request_seconds == min(
        API_GATEWAY_TIMEOUT_SECONDS, stage_setting(DEFAULT_STAGE, "lambda_timeout", API_FUNCTION)
    )


@pytest.mark.parametrize("stage", stages())
def test_the_longest_async_call_fits_a_fresh_worker_invocation_with_its_margin(stage):
    # The worker claims a call only if its timeout plus the margin fits the remaining time.
    environment = stage_setting(stage, "environment_variables")
    longest = int(environment["FNQ_MAX_ASYNC_TIMEOUT"])
    margin = int(environment.get("FNQ_WORKER_MARGIN_SECONDS", Settings().worker_margin_seconds))

    assert longest + margin < stage_setting(stage, "lambda_timeout", "handle_calls")


@pytest.mark.parametrize("stage", stages())
def test_a_whole_batch_of_default_size_functions_runs_side_by_side_in_every_stage(stage):
    # (app.py's batch_size is Lambda's maximum for an SQS event source, MAX_BATCH.)
    room = stage_setting(stage, "lambda_memory_size", "handle_calls") - WORKER_RESERVE_MB

    assert room >= MAX_BATCH * Route("app", "/path").memory


@pytest.mark.parametrize("stage", stages())
def test_the_local_worker_gets_the_deployed_workers_limits_by_default(stage):
    for function, limits in (("handle_calls", worker_limits({})), ("handle_dead_calls", DEAD_LETTER_LIMITS)):
        assert limits.timeout_seconds == stage_setting(stage, "lambda_timeout", function)
        assert limits.memory_mb == stage_setting(stage, "lambda_memory_size", function)


@pytest.mark.parametrize("stage", stages())
def test_the_workers_process_caps_let_a_whole_batch_run_without_waiting_for_a_slot(stage):
    # A call waits for a process slot after its claim, out of the time its invocation set aside for
    # recording (the margin): on Lambda the caps must not bite within one batch.
    environment = {
        **stage_setting(stage, "environment_variables"),
        **stage_setting(stage, "environment_variables", "handle_calls"),
    }
    settings = Settings.from_env(environment)

    assert settings.max_function_processes >= MAX_BATCH
    assert settings.max_processes_per_function >= MAX_BATCH
