"""The hand-written IAM policy: least privilege on the stack's own resources."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.aws.actions import ACTIONS
from tests.infra.conftest import REPO, load_yaml, stage_setting, stages

POLICY = json.loads((REPO / ".chalice" / "policy.json").read_text())
STATEMENTS: list[dict[str, Any]] = POLICY["Statement"]
STACK_RESOURCES = set(load_yaml(REPO / "infra" / "resources.yaml")["Resources"])
FUNCTION_NAMES = {
    resource["Properties"]["FunctionName"]["Fn::Sub"]
    for resource in load_yaml(REPO / "infra" / "functions.yaml")["Resources"].values()
    if "FunctionName" in resource.get("Properties", {})
}
LOG_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
LOG_GROUP_ARN = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/"

# Which of the stack's resources each service's actions may touch.
SERVICE_RESOURCES = {
    "dynamodb": {"CallsTable"},
    "sqs": {"CallsQueue", "DeadLetterQueue"},
    "s3": {"DataBucket"},
}
# The parts of an ARN that may follow a resource's own ARN: its indexes, the objects of a bucket.
ARN_SUFFIXES = {"", "/index/gsi1", "/index/gsi2", "/index/open", "/index/gsi3", "/*"}


def as_list(value: str | list[Any]) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed_actions() -> set[str]:
    return {action for statement in STATEMENTS for action in as_list(statement["Action"])}


def owner_of(resource: Any) -> str:
    """The stack resource (logical id) or function log group a policy resource stands for."""
    if isinstance(resource, dict) and set(resource) == {"Fn::GetAtt"}:
        name, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn"
        return str(name)
    assert isinstance(resource, dict) and set(resource) == {"Fn::Sub"}, resource
    text: str = resource["Fn::Sub"]
    if text.startswith(LOG_GROUP_ARN):
        function, suffix = text.removeprefix(LOG_GROUP_ARN).rsplit(":", 1)
        assert suffix == "*" and function in FUNCTION_NAMES, text
        return f"log group of {function}"
    match = re.fullmatch(r"\$\{(\w+)\.Arn\}(.*)", text)
    assert match is not None and match.group(2) in ARN_SUFFIXES, text
    return match.group(1)


def test_the_policy_only_allows_and_names_every_action_in_full():
    for statement in STATEMENTS:
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "Principal"} & set(statement)
        assert all("*" not in action for action in as_list(statement["Action"]))


def test_the_policy_allows_every_aws_action_the_code_calls():
    assert allowed_actions() >= ACTIONS


def test_the_policy_allows_nothing_but_what_the_code_calls_and_lambda_logs():
    assert allowed_actions() <= ACTIONS | LOG_ACTIONS


def test_every_resource_in_the_policy_belongs_to_the_stack():
    for statement in STATEMENTS:
        for resource in as_list(statement["Resource"]):
            owner = owner_of(resource)
            assert owner in STACK_RESOURCES or owner.startswith("log group of "), resource


def test_each_service_is_granted_on_its_own_resources_only():
    for statement in STATEMENTS:
        owners = {owner_of(resource) for resource in as_list(statement["Resource"])}
        for action in as_list(statement["Action"]):
            service = action.split(":")[0]
            if service == "logs":
                assert all(owner.startswith("log group of ") for owner in owners)
            else:
                assert owners <= SERVICE_RESOURCES[service], (action, owners)


def test_object_actions_reach_objects_and_listing_reaches_the_bucket():
    for statement in STATEMENTS:
        actions = set(as_list(statement["Action"]))
        resources = [r.get("Fn::Sub", "") for r in as_list(statement["Resource"])]
        if actions & {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}:
            assert resources == ["${DataBucket.Arn}/*"]
        if "s3:ListBucket" in actions:
            assert statement["Resource"] == [{"Fn::GetAtt": ["DataBucket", "Arn"]}]


def test_every_function_may_write_its_own_logs():
    granted = {
        owner_of(resource)
        for statement in STATEMENTS
        if set(as_list(statement["Action"])) >= LOG_ACTIONS
        for resource in as_list(statement["Resource"])
    }

    assert granted == {f"log group of {name}" for name in FUNCTION_NAMES}


@pytest.mark.parametrize("stage", stages())
def test_every_stage_uses_the_hand_written_policy_instead_of_chalices_generated_one(stage):
    assert stage_setting(stage, "autogen_policy") is False
    assert stage_setting(stage, "iam_policy_file") == "policy.json"
