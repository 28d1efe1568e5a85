"""Fixtures for the deployment tests: fake AWS credentials, a moto server, a packaged app."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto.server import ThreadedMotoServer

from chalicelib.settings import DEFAULT_REGION
from fnq.local import stage as local_stage
from fnq.local.resources import FAKE_KEY, create_local_resources

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    # A leftover AWS_ENDPOINT_URL would send mock_aws's requests to that server instead.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", DEFAULT_REGION)


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port, as `fn start` runs one."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's state is per process, not per server: start empty, and leave nothing behind.
    reset_moto(endpoint)
    try:
        yield endpoint
    finally:
        reset_moto(endpoint)
        server.stop()


def reset_moto(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()


@pytest.fixture
def local_stack(moto_endpoint: str) -> dict[str, str]:
    """The FNQ_* environment of a stack built from infra/ on a fresh moto server.

    For end-to-end tests: point the app's Settings at `moto_endpoint` with this environment.
    """
    return create_local_resources(moto_endpoint)


def stages() -> list[str]:
    return sorted(chalice_config()["stages"])


def chalice_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads((REPO / ".chalice" / "config.json").read_text())
    return config


def stage_setting(stage: str, key: str, function: str | None = None) -> Any:
    """A Chalice setting as Chalice resolves it (function, then stage, then top level), as fn
    start reads it."""
    return local_stage.stage_setting(stage, key, function, REPO / ".chalice" / "config.json")


def load_yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every stage packaged once, offline, into a temporary directory: stage → package dir."""
    from fnq.packaging import package

    out = tmp_path_factory.mktemp("out")
    with pytest.MonkeyPatch.context() as env:
        # Any attempt to reach a package index fails instead of quietly going online.
        env.setenv("PIP_NO_INDEX", "1")
        env.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        env.delenv("AWS_ACCESS_KEY_ID", raising=False)
        env.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
        return {stage: package(stage, out) for stage in stages()}


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    """cfn-lint's verdict: exit code 0 means no error, no warning and no informational finding."""
    executable = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run(
        [str(executable), "--format", "parseable", str(template)], capture_output=True, text=True, check=False
    )


# What the Lambda Python runtime provides besides the standard library.
LAMBDA_RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
# `make test` installs the oldest boto3 the project accepts (pyproject.toml: boto3>=1.34) here, apart
# from the venv's, to stand for the Lambda runtime's own SDK (whose version AWS varies by region
# and over time).
OLDEST_RUNTIME_DIR = Path(sys.prefix) / "lambda-runtime"


def lambda_runtime_dir(fallback: Path) -> Path:
    """A directory holding only the libraries the Lambda runtime provides.

    The oldest boto3 the project accepts when `make test` installed it; otherwise (a venv made
    before that step) the venv's own, linked into `fallback`, which CI does not accept.
    """
    if (OLDEST_RUNTIME_DIR / "boto3").is_dir():
        return OLDEST_RUNTIME_DIR
    assert not os.environ.get("CI"), f"{OLDEST_RUNTIME_DIR} is missing: run `make test`, which installs it"
    fallback.mkdir(parents=True, exist_ok=True)
    for module in LAMBDA_RUNTIME_MODULES:
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        if not (fallback / source.name).exists():
            (fallback / source.name).symlink_to(source)
    return fallback
