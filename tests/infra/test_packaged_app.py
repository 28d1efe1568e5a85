"""The packaged deployment.zip runs the async tutorial, driven as Lambda drives it.

The zip `make package` builds is unpacked into an empty directory and imported by clean
interpreters (tests/infra/lambda_runtime.py) that see nothing but the standard library, the zip and
the Lambda runtime's libraries. One plays the API function, one the worker, each with the
environment its function gets from the packaged template; API Gateway proxy events and SQS events
shaped as AWS sends them reach their handlers. The AWS side is a moto server holding the stack that
moto's CloudFormation builds from the packaged template's resources.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from fnq.local.moto_patches import make_moto_dynamodb_atomic
from tests.infra.conftest import lambda_runtime_dir
from tests.support import REGION, bundle_of, receive_event, settle, write_function

RUNTIME = Path(__file__).with_name("lambda_runtime.py")
TOKEN = "a-token-of-at-least-16-characters"
STAGE = "api"
# What the stack's own resources are; the rest of the packaged template is Lambda, API Gateway
# and IAM, which moto's CloudFormation does not build from a SAM template.
STATEFUL_TYPES = ("AWS::DynamoDB::", "AWS::S3::", "AWS::SQS::")
HELLO = """
import json, sys
body = sys.stdin.read()
name = (json.loads(body) if body.strip() else {}).get("name", "World")
print(json.dumps({"message": f"Hello {name}"}))
"""


def refs_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return {str(value["Ref"])}
        return set().union(*(refs_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(refs_in(v) for v in value)) if value else set()
    return set()


def stateful_part(template: Mapping[str, Any]) -> dict[str, Any]:
    """The packaged template's table, bucket and queues, with the parameters they use."""
    resources = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"].startswith(STATEFUL_TYPES)
    }
    used = refs_in(resources)
    parameters = {name: spec for name, spec in template["Parameters"].items() if name in used}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": parameters, "Resources": resources}


def deploy_stack(endpoint: str, template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, str]:
    """Create the stack on moto; answer what each `Ref` of the template resolves to."""
    cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint)
    cfn.create_stack(
        StackName="fnq-zip",
        TemplateBody=json.dumps(stateful_part(template)),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    cfn.get_waiter("stack_create_complete").wait(StackName="fnq-zip", WaiterConfig={"Delay": 1})
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="fnq-zip")["StackResources"]
        if "LogicalResourceId" in r  # moto only records a bucket policy, without ids
    }
    return {**parameters, **physical}


def function_environment(
    template: Mapping[str, Any], function: str, refs: Mapping[str, str]
) -> dict[str, str]:
    """The variables Lambda gives `function`: SAM's Globals, then the function's own, Refs resolved."""
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    resolved = {}
    for name, value in variables.items():
        if isinstance(value, dict):
            assert set(value) == {"Ref"}, f"{name}: {value} (only Ref is resolved here)"
            value = refs[value["Ref"]]
        resolved[name] = str(value)
    return resolved


class Sandbox:
    """One Lambda function's execution environment: a clean interpreter holding the handler warm."""

    def __init__(
        self,
        task: Path,
        runtime: Path,
        template: Mapping[str, Any],
        function: str,
        env: dict[str, str],
        log: Path,
    ) -> None:
        properties = template["Resources"][function]["Properties"]
        self.timeout_ms = int(properties["Timeout"]) * 1000
        self.memory_mb = int(properties["MemorySize"])
        self.log = log
        self._stderr: IO[bytes] = log.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(RUNTIME), str(task), str(runtime), properties["Handler"]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb)},
            cwd=task,
            text=True,
        )

    def invoke(self, event: Mapping[str, Any]) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        request = {"event": event, "timeout_ms": self.timeout_ms, "memory_mb": self.memory_mb}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        assert line, f"the sandbox died; its log:\n{self.log.read_text()}"
        reply = json.loads(line)
        assert "error" not in reply, reply["error"]
        return reply["response"]

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        finally:
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            self._stderr.close()


class ApiGateway:
    """API Gateway's REST proxy integration in front of the API function, as the template deploys it."""

    def __init__(self, template: Mapping[str, Any], function: Sandbox) -> None:
        definition = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
        self._resources = [path.strip("/").split("/") if path != "/" else [] for path in definition["paths"]]
        self._binary_types = set(definition.get("x-amazon-apigateway-binary-media-types", []))
        self._function = function

    def resource_for(self, path: str) -> tuple[str, dict[str, str]]:
        """The resource API Gateway routes `path` to (a literal segment wins over a parameter)."""
        segments = [s for s in path.split("/") if s]

        def rank(resource: list[str]) -> list[int]:
            return [0 if part.startswith("{") else 1 for part in resource]

        matches = [
            r
            for r in self._resources
            if len(r) == len(segments)
            and all(p.startswith("{") or p == s for p, s in zip(r, segments, strict=True))
        ]
        assert matches, f"no resource for {path}"
        best = max(matches, key=rank)
        parameters = {p[1:-1]: s for p, s in zip(best, segments, strict=True) if p.startswith("{")}
        return "/" + "/".join(best), parameters

    def request(
        self, method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(url)
        resource, parameters = self.resource_for(split.path)
        headers = {
            "Host": "abc123.execute-api.us-east-1.amazonaws.com",
            "Authorization": f"Bearer {TOKEN}",
        } | dict(headers or {})
        binary = headers.get("Content-Type", "").split(";")[0] in self._binary_types
        query = parse_qs(split.query)
        event = {
            "resource": resource,
            "path": split.path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource,
                "httpMethod": method,
                "path": f"/{STAGE}{split.path}",
                "stage": STAGE,
                "requestId": str(uuid.uuid4()),
                "accountId": "123456789012",
                "apiId": "abc123",
                "protocol": "HTTP/1.1",
                "identity": {"sourceIp": "203.0.113.9", "userAgent": "fnq-test"},
            },
            "body": (base64.b64encode(body).decode() if binary else body.decode()) if body else None,
            "isBase64Encoded": bool(body) and binary,
        }
        response = self._function.invoke(event)
        data = response.get("body") or ""
        raw = base64.b64decode(data) if response.get("isBase64Encoded") else data.encode()
        return int(response["statusCode"]), dict(response.get("headers") or {}), raw

    def json(self, method: str, url: str, value: Any = None) -> tuple[int, Any]:
        body = b"" if value is None else json.dumps(value).encode()
        status, _, data = self.request(method, url, body, {"Content-Type": "application/json"})
        return status, json.loads(data) if data else None


@pytest.fixture
def sandboxes(
    packaged: dict[str, Path], moto_endpoint: str, tmp_path: Path
) -> Iterator[tuple[ApiGateway, Sandbox, dict[str, str]]]:
    make_moto_dynamodb_atomic()  # the moto server runs in this process (see moto_patches)
    template = json.loads((packaged["dev"] / "sam.json").read_text())
    task = tmp_path / "task"
    task.mkdir()
    zipfile.ZipFile(packaged["dev"] / "deployment.zip").extractall(task)
    refs = deploy_stack(
        moto_endpoint, template, {"ApiToken": TOKEN, "CallsVisibilityTimeout": "30", "RetentionDays": "30"}
    )
    runtime = lambda_runtime_dir(tmp_path / "runtime")

    def lambda_env(function: str, name: str) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),  # the functions' interpreters (python3)
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(task),
            "AWS_LAMBDA_FUNCTION_NAME": f"fnq-zip-{name}",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            # The one departure from Lambda: AWS is the moto server; /tmp is this test's.
            "AWS_ENDPOINT_URL": moto_endpoint,
            "FNQ_CACHE_DIR": str(tmp_path / f"{name}-tmp"),
            **function_environment(template, function, refs),
        }

    api = Sandbox(
        task, runtime, template, "APIHandler", lambda_env("APIHandler", "api_handler"), tmp_path / "api.log"
    )
    worker = Sandbox(
        task,
        runtime,
        template,
        "HandleCalls",
        lambda_env("HandleCalls", "handle_calls"),
        tmp_path / "worker.log",
    )
    try:
        yield ApiGateway(template, api), worker, lambda_env("HandleCalls", "handle_calls")
    finally:
        api.close()
        worker.close()


def test_the_packaged_zip_runs_the_async_tutorial_on_the_packaged_stack(
    sandboxes: tuple[ApiGateway, Sandbox, dict[str, str]], tmp_path: Path
) -> None:
    gateway, worker, worker_env = sandboxes

    # fn deploy: the bundle (binary, base64 through API Gateway), then the route naming it
    digest, data = bundle_of(write_function(tmp_path / "asyncfn", HELLO, name="asyncfn"))
    status, _, reply = gateway.request(
        "PUT", f"/v1/bundles/sha256/{digest[7:]}", data, {"Content-Type": "application/zip"}
    )
    assert status == 200, reply
    route = {"image": "asyncfn:0.0.1", "bundle": digest, "type": "async"}
    status, body = gateway.json("PUT", "/v1/apps/myapp/routes/asyncfn", {"route": route})
    assert status == 200, body

    # fn call: accepted at once, queued
    status, headers, reply = gateway.request(
        "POST", "/r/myapp/asyncfn", b'{"name":"Zip"}', {"Content-Type": "text/plain"}
    )
    assert status == 202, reply
    call_id = json.loads(reply)["call_id"]
    assert headers["Fn_call_id"] == call_id
    assert gateway.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]["status"] == "queued"

    # Lambda's event source hands the worker the message; what it does not report failed is deleted
    endpoint, queue = worker_env["AWS_ENDPOINT_URL"], worker_env["FNQ_CALLS_QUEUE_URL"]
    event = receive_event(queue, endpoint_url=endpoint)
    assert [json.loads(r["body"])["call_id"] for r in event["Records"]] == [call_id]
    response = worker.invoke(event)
    assert response == {"batchItemFailures": []}
    settle(queue, event, response, endpoint_url=endpoint)

    # fn calls get, fn logs get
    call = gateway.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]
    assert (call["status"], call["attempt"]) == ("success", 1), call
    status, log = gateway.json("GET", f"/v1/apps/myapp/calls/{call_id}/log")
    assert (status, log["log"]["log"]) == (200, '{"message": "Hello Zip"}\n')

    # The worker's log lines are JSON carrying the call id (what CloudWatch Logs Insights filters on)
    lines = [json.loads(line) for line in worker.log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("call_id") == call_id for line in lines), worker.log.read_text()


def test_without_the_token_the_packaged_api_answers_401(
    sandboxes: tuple[ApiGateway, Sandbox, dict[str, str]],
) -> None:
    gateway, _, _ = sandboxes

    status, _, reply = gateway.request(
        "GET", "/v1/apps", headers={"Authorization": "Bearer wrong-token-wrong"}
    )

    assert status == 401, reply


def test_the_zip_holds_no_native_code_and_its_yaml_parser_is_the_pure_python_one(
    packaged: dict[str, Path], tmp_path: Path
) -> None:
    names = zipfile.ZipFile(packaged["dev"] / "deployment.zip").namelist()
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))]

    task = tmp_path / "task"
    zipfile.ZipFile(packaged["dev"] / "deployment.zip").extractall(task)
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1]]; import yaml; print(yaml.__with_libyaml__, yaml.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(task)], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", str(task / "yaml" / "__init__.py")]
