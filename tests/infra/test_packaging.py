"""`make package`: the app packaged offline into a template that cfn-lint accepts."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib import errors, settings, ui
from fnq import packaging
from tests.infra.conftest import (
    REPO,
    cfn_lint,
    chalice_config,
    lambda_runtime_dir,
    load_yaml,
    stage_setting,
    stages,
)


def template_of(package_dir: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((package_dir / "sam.json").read_text())
    return template


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


@pytest.mark.parametrize("stage", stages())
def test_each_stage_packages_offline_into_a_template_that_cfn_lint_accepts(packaged, stage):
    result = cfn_lint(packaged[stage] / "sam.json")

    assert (result.returncode, result.stdout) == (0, "")


def test_the_resources_template_also_passes_cfn_lint_on_its_own():
    result = cfn_lint(REPO / "infra" / "resources.yaml")

    assert (result.returncode, result.stdout) == (0, "")


def test_the_merge_template_is_the_resources_plus_the_function_settings_plus_the_alarms():
    merged = packaging.load_merge_template()
    resources = load_yaml(REPO / "infra" / "resources.yaml")
    functions = load_yaml(REPO / "infra" / "functions.yaml")
    alarms = load_yaml(REPO / "infra" / "alarms.yaml")

    assert set(merged["Resources"]) == set(resources["Resources"]) | set(functions["Resources"]) | set(
        alarms["Resources"]
    )
    assert merged["Outputs"] == resources["Outputs"]
    assert merged["Globals"] == functions["Globals"]
    assert merged["Conditions"] == alarms["Conditions"]


def test_the_lambda_zip_holds_the_app_and_its_vendored_dependencies_but_no_boto3_and_no_workstation_tools(
    packaged,
):
    names = zipfile.ZipFile(packaged["dev"] / "deployment.zip").namelist()
    top_level = {name.split("/")[0] for name in names}

    assert {"app.py", "chalice", "chalicelib", "yaml"} <= top_level
    # The workstation package (CLI, local stack, building, packaging) and its libraries stay out.
    assert not top_level & {"fnq", "boto3", "botocore", "moto", "click", "cfnlint"}
    assert not (packaged["dev"].parent / "build-dev" / "requirements.txt").exists()


def test_the_lambda_zip_holds_the_dashboards_static_files(packaged):
    names = set(zipfile.ZipFile(packaged["dev"] / "deployment.zip").namelist())

    assert {f"chalicelib/ui/static/{name}" for name in (ui.PAGE, *ui.ASSETS)} <= names


def test_the_packaged_app_imports_with_nothing_but_the_lambda_runtime(packaged, tmp_path):
    # GIVEN the zip unpacked, and a directory holding only what the Lambda runtime provides
    code = tmp_path / "task"
    zipfile.ZipFile(packaged["dev"] / "deployment.zip").extractall(code)
    runtime = lambda_runtime_dir(tmp_path / "runtime")

    # WHEN a Python without site-packages imports the app, as Lambda does at a cold start (where
    # /var/task is read-only: no bytecode can be written); -v says where each module's code came from
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-v",
            "-c",
            f"import sys; sys.path[:0] = [{str(code)!r}, {str(runtime)!r}]; import app",
        ],
        capture_output=True,
        text=True,
        cwd=code,
        env={
            "PATH": os.environ.get("PATH", ""),
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        check=False,
    )

    # THEN every import is satisfied by the zip or the runtime
    assert result.returncode == 0, result.stderr
    # AND every module of chalicelib ran from the zip's bytecode: none was compiled from source
    loaded = re.findall(r"^# code object from '?([^'\n]+)'?$", result.stderr, re.MULTILINE)
    ours = [path for path in loaded if f"{code}/chalicelib/" in path]
    assert len(ours) > 20 and all(path.endswith(".pyc") for path in ours), ours


def test_the_lambda_zip_holds_unchecked_bytecode_of_every_module_of_chalicelib_for_the_runtimes_python(
    packaged,
):
    zipped = zipfile.ZipFile(packaged["dev"] / "deployment.zip")
    names = set(zipped.namelist())
    (runtime,) = {f["Properties"]["Runtime"] for f in functions_of(template_of(packaged["dev"])).values()}
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    sources = [n for n in names if n.startswith("chalicelib/") and n.endswith(".py")]

    assert len(sources) > 30
    for source in sources:
        folder, _, module = source.rpartition("/")
        bytecode = f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc"
        assert bytecode in names, source
        header = zipped.read(bytecode)[:8]
        # PEP 552: the magic of the Python that will load it, then flags 0b01: a hash-based pyc
        # that is never checked against its source (Chalice zips every file dated 1980, so
        # timestamp-checked bytecode would be stale on Lambda and compiled again every time).
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == 0b01


@pytest.mark.parametrize("stage", stages())
def test_the_worker_event_sources_read_the_stacks_queues_and_report_batch_item_failures(packaged, stage):
    functions = functions_of(template_of(packaged[stage]))

    for function, queue in (("HandleCalls", "CallsQueue"), ("HandleDeadCalls", "DeadLetterQueue")):
        (event,) = functions[function]["Properties"]["Events"].values()
        assert event["Type"] == "SQS"
        assert event["Properties"]["Queue"] == {"Fn::Sub": f"${{{queue}.Arn}}"}
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


@pytest.mark.parametrize("stage", stages())
def test_a_request_past_api_gateways_time_limit_is_answered_504_as_fn_start_answers_it(packaged, stage):
    definition = template_of(packaged[stage])["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    response = definition["x-amazon-apigateway-gateway-responses"]["INTEGRATION_TIMEOUT"]

    assert response["statusCode"] == "504"
    assert json.loads(response["responseTemplates"]["application/json"]) == {
        "error": {"message": errors.API_TIMED_OUT}
    }


@pytest.mark.parametrize("stage", stages())
def test_a_path_no_resource_matches_is_fns_404_not_api_gateways_403(packaged, stage):
    definition = template_of(packaged[stage])["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    response = definition["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]

    assert response["statusCode"] == "404"
    assert response["responseParameters"] == {"gatewayresponse.header.Content-Type": "'application/json'"}
    assert json.loads(response["responseTemplates"]["application/json"]) == {
        "error": {"message": errors.PATH_NOT_FOUND}
    }


@pytest.mark.parametrize("stage", stages())
def test_every_function_learns_the_stacks_resources_from_its_environment(packaged, stage):
    template = template_of(packaged[stage])
    stack_variables = template["Globals"]["Function"]["Environment"]["Variables"]

    assert stack_variables == {
        settings.ENV_TABLE: {"Ref": "CallsTable"},
        settings.ENV_BUCKET: {"Ref": "DataBucket"},
        settings.ENV_CALLS_QUEUE_URL: {"Ref": "CallsQueue"},
        settings.ENV_DEAD_LETTER_QUEUE_URL: {"Ref": "DeadLetterQueue"},
        settings.ENV_CALL_RETENTION_DAYS: {"Ref": "RetentionDays"},
    }
    # A function's own variables win over Globals in SAM: none may shadow the stack's.
    for function in functions_of(template).values():
        own = function["Properties"].get("Environment", {}).get("Variables", {})
        assert not set(own) & set(stack_variables)


@pytest.mark.parametrize("stage", stages())
def test_every_function_writes_to_a_log_group_of_the_stack_with_a_retention(packaged, stage):
    template = template_of(packaged[stage])
    log_groups = {
        resource["Properties"]["LogGroupName"]["Fn::Sub"]: resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }

    for function in functions_of(template).values():
        name = function["Properties"]["FunctionName"]["Fn::Sub"]
        assert name.startswith("${AWS::StackName}-")
        assert log_groups[f"/aws/lambda/{name}"]["Properties"]["RetentionInDays"] > 0


@pytest.mark.parametrize("stage", stages())
def test_every_function_role_carries_the_hand_written_policy(packaged, stage):
    template = template_of(packaged[stage])
    policy = json.loads((REPO / ".chalice" / "policy.json").read_text())

    for function in functions_of(template).values():
        role = template["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]
        assert [p["PolicyDocument"] for p in role["Properties"]["Policies"]] == [policy]
        assert "ManagedPolicyArns" not in role["Properties"]


@pytest.mark.parametrize("stage", stages())
def test_each_stage_sets_the_timeout_and_memory_of_every_function(packaged, stage):
    for name, function in functions_of(template_of(packaged[stage])).items():
        handler = function["Properties"]["Handler"].removeprefix("app.")
        chalice_name = "api_handler" if handler == "app" else handler
        assert function["Properties"]["Timeout"] == stage_setting(stage, "lambda_timeout", chalice_name), name
        assert function["Properties"]["MemorySize"] == stage_setting(
            stage, "lambda_memory_size", chalice_name
        )


def test_there_are_at_least_a_dev_and_a_prod_stage():
    assert {"dev", "prod"} <= set(chalice_config()["stages"])
