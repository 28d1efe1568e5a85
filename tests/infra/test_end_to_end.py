"""fnq on the resources that infra/ defines (built by moto's CloudFormation), and the IAM policy
checked against the AWS operations the code really makes there."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app as chalice_app
from chalicelib import wiring
from chalicelib.aws.actions import ACTIONS
from chalicelib.settings import Settings
from fnq.local.moto_patches import make_moto_dynamodb_atomic
from tests.conftest import Stack
from tests.support import receive_event

# Operations whose IAM action is named differently from the operation.
IAM_ACTION = {
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:DeleteObjects": "s3:DeleteObject",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
# What Lambda's SQS event source does on the worker's behalf, with the worker's role.
EVENT_SOURCE = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


@pytest.fixture
def infra_stack(
    moto_endpoint: str, local_stack: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Stack, list[str]]]:
    make_moto_dynamodb_atomic()
    settings = replace(
        Settings.from_env({**local_stack, "AWS_DEFAULT_REGION": "us-east-1"}),
        endpoint_url=moto_endpoint,
        cache_dir=tmp_path / "cache",
    )
    components = wiring.build(settings)
    operations: list[str] = []

    def record(**kwargs: Any) -> None:
        operations.append(f"{kwargs['model'].service_model.endpoint_prefix}:{kwargs['model'].name}")

    clients: list[Any] = [components.clients.dynamodb, components.clients.s3, components.clients.sqs]
    for client in clients:
        client.meta.events.register("before-call", record)
    wiring.install(components)
    try:
        with Client(chalice_app) as client:
            yield Stack(settings, components, client, tmp_path), operations
    finally:
        wiring.install(None)


def test_an_async_call_runs_end_to_end_on_the_stack_built_from_infra(
    infra_stack: tuple[Stack, list[str]],
) -> None:
    stack, _ = infra_stack
    assert stack.settings.table and stack.settings.calls_queue_url.endswith(
        stack.settings.calls_queue_url[-10:]
    )
    stack.deploy("myapp", "hello", type="async")
    call_id = stack.request("POST", "/r/myapp/hello", b'{"name":"Infra"}').headers["Fn_call_id"]
    assert stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]["status"] == "queued"
    stack.work()
    assert stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]["status"] == "success"
    log = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}/log")[1]["log"]["log"]
    assert log == '{"message": "Hello Infra"}\n'


def test_every_aws_action_the_code_makes_is_in_the_policy_list(infra_stack: tuple[Stack, list[str]]) -> None:
    stack, operations = infra_stack
    # GIVEN every path through the code that touches AWS
    stack.deploy("myapp", "hello", type="async")
    stack.deploy("myapp", "sync")
    stack.deploy("myapp", "hello", type="async")  # the bundle exists: a HEAD, no upload
    big = b"x" * (stack.settings.inline_body_bytes + 1)
    for body in (b"{}", big):
        stack.request("POST", "/r/myapp/hello", body, {"content-type": "application/octet-stream"})
    stack.work()
    stack.request("POST", "/r/myapp/sync")
    cancelled = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    stack.json("POST", f"/v1/apps/myapp/calls/{cancelled}/cancel")
    dead = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    event = receive_event(stack.settings.calls_queue_url, endpoint_url=stack.settings.endpoint_url)
    stack.invoke("handle_calls", event, seconds=1)  # no time to run it: its message comes back at once
    event = receive_event(stack.settings.calls_queue_url, endpoint_url=stack.settings.endpoint_url)
    stack.client.lambda_.invoke("handle_dead_calls", event)
    for path in [
        "/v1/apps",
        "/v1/apps/myapp",
        "/v1/apps/myapp/routes",
        "/v1/apps/myapp/routes/hello",
        "/v1/apps/myapp/calls",
        f"/v1/apps/myapp/calls/{dead}",
        f"/v1/apps/myapp/calls/{dead}/log",
    ]:
        stack.request("GET", path)
    stack.json("PATCH", "/v1/apps/myapp", {"app": {"config": {"A": "1"}}})
    stack.json("DELETE", "/v1/apps/myapp/routes/sync")
    stack.json("DELETE", "/v1/apps/myapp")

    # THEN each operation made is allowed by the policy's action list, and the list holds no extra
    used = {IAM_ACTION.get(op, op) for op in operations}
    assert used <= ACTIONS, used - ACTIONS
    assert ACTIONS - used - EVENT_SOURCE == set(), "actions listed but never used"


def test_the_api_token_is_a_secret_parameter_given_to_the_api_function_only() -> None:
    from fnq.packaging import load_merge_template

    template = load_merge_template()
    assert template["Parameters"]["ApiToken"]["NoEcho"] is True
    resources = template["Resources"]
    assert resources["APIHandler"]["Properties"]["Environment"]["Variables"]["FNQ_API_TOKEN"] == {
        "Ref": "ApiToken"
    }
    for worker in ("HandleCalls", "HandleDeadCalls"):
        assert "Environment" not in resources[worker]["Properties"]
