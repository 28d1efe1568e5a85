from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from chalice.local import LambdaContext
from chalice.test import Client
from moto import mock_aws

from app import app as chalice_app
from chalicelib import wiring
from chalicelib.execute.executor import Executor
from chalicelib.settings import DEFAULT_REGION, Settings
from fnq.local.moto_patches import make_moto_dynamodb_atomic, make_moto_dynamodb_strict
from fnq.local.resources import FAKE_KEY
from tests.support import bundle_of, create_resources, receive_event, settle, write_function

HELLO = """
import json, sys
body = sys.stdin.read()
name = (json.loads(body) if body.strip() else {}).get("name", "World")
print(json.dumps({"message": f"Hello {name}"}))
"""


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_env(monkeypatch)


def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # mock_aws intercepts nothing when AWS_ENDPOINT_URL points elsewhere; credentials are fake.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": FAKE_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_KEY,
        "AWS_SESSION_TOKEN": FAKE_KEY,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
    }.items():
        monkeypatch.setenv(name, value)


@contextmanager
def mocked_aws() -> Iterator[None]:
    make_moto_dynamodb_atomic()
    make_moto_dynamodb_strict()
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        yield


@pytest.fixture
def aws() -> Iterator[None]:
    with mocked_aws():
        yield


@dataclass
class Stack:
    """fnq on moto: the app's test client plus what a test needs to drive the worker."""

    settings: Settings
    components: wiring.Components
    client: Any
    tmp_path: Path
    # Sent with every request (e.g. the API token), under the test's own headers.
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        sent = {**self.headers, **(headers or {})}
        return self.client.http.request(method, path, body=data or b"", headers=sent)

    def json(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        response = self.request(method, path, body, {"content-type": "application/json", **(headers or {})})
        return response.status_code, json.loads(response.body) if response.body else None

    def deploy(self, app: str, name: str, source: str = HELLO, **route: Any) -> str:
        directory = write_function(self.tmp_path / "functions" / f"{app}-{name}", source, name=name)
        digest, data = bundle_of(directory)
        response = self.request(
            "PUT", f"/v1/bundles/sha256/{digest[7:]}", data, {"content-type": "application/zip"}
        )
        assert response.status_code == 200, response.body
        spec = {"image": f"{name}:0.0.1", "bundle": digest, **route}
        status, reply = self.json("PUT", f"/v1/apps/{app}/routes/{name}", {"route": spec})
        assert status == 200, reply
        return digest

    def invoke(self, function: str, event: dict[str, Any], seconds: float = 900, memory: int = 1769) -> Any:
        """A handler of app.py invoked as Lambda invokes it: with a context of `seconds` and `memory`.

        (Chalice's test client gives every invocation a 3 s context, whatever the stage says.)
        """
        context = LambdaContext(function, memory_size=memory, max_runtime_ms=int(seconds * 1000))
        return chalice_app.handler_map[function](event, context)

    def work(self, max_batches: int = 10) -> list[dict[str, Any]]:
        """Deliver queued messages to the real SQS handler, as Lambda's event source would."""
        responses = []
        for _ in range(max_batches):
            endpoint = self.settings.endpoint_url
            event = receive_event(self.settings.calls_queue_url, endpoint_url=endpoint)
            if not event["Records"]:
                break
            response = self.invoke("handle_calls", event)
            settle(self.settings.calls_queue_url, event, response, endpoint_url=endpoint)
            responses.append(response)
        return responses


@contextmanager
def open_stack(tmp_path: Path, api_token: str = "") -> Iterator[Stack]:
    """fnq's resources on the moto already active, its components installed (bench/ uses it too).

    With `api_token` the API requires it (FNQ_API_TOKEN), and the stack's requests carry it.
    """
    settings = replace(create_resources(tmp_path), call_shards=4, api_token=api_token)
    components = wiring.build(settings)
    wiring.install(components)
    try:
        with Client(chalice_app) as client:
            yield Stack(settings, components, client, tmp_path, bearer(api_token) if api_token else {})
    finally:
        wiring.install(None)


# The stack's own token (FNQ_API_TOKEN) in the `secured` fixture: long enough to find in any text.
ADMIN_TOKEN = "admin-token-4d1f0c9e8b7a6f5e"


@pytest.fixture
def secured(stack: Stack) -> Stack:
    """The stack with FNQ_API_TOKEN set, as deployed; its requests carry that token."""
    settings = replace(stack.settings, api_token=ADMIN_TOKEN)
    components = wiring.build(settings)
    wiring.install(components)
    return replace(stack, settings=settings, components=components, headers=bearer(ADMIN_TOKEN))


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def create_token(stack: Stack, apps: list[str], rights: list[str]) -> str:
    """A scoped token made through the API with the stack's requests (the admin's); its secret."""
    status, reply = stack.json("POST", "/v1/tokens", {"token": {"apps": apps, "rights": rights}})
    assert status == 200, reply
    return str(reply["token"]["secret"])


@pytest.fixture
def stack(aws: None, tmp_path: Path) -> Iterator[Stack]:
    with open_stack(tmp_path) as opened:
        yield opened


@pytest.fixture
def executor() -> Iterator[Executor]:
    """The function executor as the worker builds it, closed (hot processes stopped) after the test."""
    executor = Executor()
    yield executor
    executor.close()
