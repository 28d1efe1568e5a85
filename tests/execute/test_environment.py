"""A function sees Fn's contract and its config, and nothing of the worker's environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.execute import workspace
from chalicelib.execute.executor import Executor
from chalicelib.models import RouteFormat
from tests.execute.support import hot_python_function, invocation, python_function

WORKER_SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAWORKER",
    "AWS_SECRET_ACCESS_KEY": "worker-secret",
    "AWS_SESSION_TOKEN": "worker-token",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    "AWS_LAMBDA_FUNCTION_NAME": "fnq-worker",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "_HANDLER": "app.worker",
    "LAMBDA_TASK_ROOT": "/var/task",
}
RUNTIME = {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}
CONTAINER = {"FN_FORMAT", "FN_APP_NAME", "FN_PATH", "FN_MEMORY", "FN_TYPE"}
PER_CALL = {"FN_DEADLINE", "FN_METHOD", "FN_REQUEST_URL", "FN_CALL_ID", "FN_HEADER_Content-Type"}
CONFIG = {"DB_URL": "postgres://app", "GREETING": "route wins"}


@pytest.fixture(autouse=True)
def worker_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in WORKER_SECRETS.items():
        monkeypatch.setenv(name, value)


def test_a_default_function_sees_only_the_contract_and_its_config(tmp_path: Path, executor: Executor) -> None:
    function = python_function(tmp_path / "f", "import json, os\nprint(json.dumps(dict(os.environ)))\n")

    execution = executor.execute(function, invocation(config=CONFIG))
    env = json.loads(execution.output)

    assert set(env) == RUNTIME | CONTAINER | PER_CALL | set(CONFIG)
    assert not [name for name in env if name.startswith(("AWS_", "LAMBDA_", "_"))]
    assert not set(env.values()) & set(WORKER_SECRETS.values())
    assert {k: env[k] for k in CONFIG} == CONFIG
    assert (env["FN_FORMAT"], env["FN_APP_NAME"], env["FN_PATH"]) == ("default", "myapp", "/hello")
    assert (env["FN_MEMORY"], env["FN_TYPE"], env["FN_METHOD"]) == ("128", "sync", "POST")


def test_a_json_function_gets_per_call_fields_in_the_request_not_the_environment(
    tmp_path: Path, executor: Executor
) -> None:
    function = hot_python_function(
        tmp_path / "f",
        """
        def handle(request):
            return answer(json.dumps(dict(os.environ)))
        """,
    )

    execution = executor.execute(function, invocation(format=RouteFormat.JSON, config=CONFIG))
    env = json.loads(execution.output)

    assert set(env) == RUNTIME | CONTAINER | set(CONFIG)
    assert not set(env.values()) & set(WORKER_SECRETS.values())
    assert env["FN_FORMAT"] == "json"


def test_config_cannot_override_fn_variables(tmp_path: Path, executor: Executor) -> None:
    function = python_function(tmp_path / "f", "import os\nprint(os.environ['FN_APP_NAME'])\n")

    execution = executor.execute(function, invocation(config={"FN_APP_NAME": "spoofed"}))

    assert execution.output == b"myapp\n"


def test_the_worker_site_packages_are_not_importable(tmp_path: Path, executor: Executor) -> None:
    function = python_function(
        tmp_path / "f",
        """
        try:
            import boto3
            print("boto3 visible")
        except ImportError:
            print("isolated")
        """,
    )

    execution = executor.execute(function, invocation())

    assert execution.output == b"isolated\n"


def test_a_default_call_writes_in_a_private_directory_of_its_own_removed_after_it(
    tmp_path: Path, executor: Executor
) -> None:
    function = python_function(
        tmp_path / "f",
        """
        import os, stat, tempfile
        with tempfile.NamedTemporaryFile(delete=False) as scratch:
            scratch.write(b"x")
        mode = stat.S_IMODE(os.stat(os.environ["TMPDIR"]).st_mode)
        print(os.environ["TMPDIR"], os.environ["HOME"], os.path.dirname(scratch.name), oct(mode))
        """,
    )

    first = executor.execute(function, invocation()).output.decode().split()
    second = executor.execute(function, invocation()).output.decode().split()

    workspace.settle()  # removed on a thread of its own, once the call's processes are dead
    tmpdir, home, used, mode = first
    assert tmpdir == home == used and mode == "0o700"
    assert second[0] != tmpdir
    assert not Path(tmpdir).exists() and not Path(second[0]).exists()


def test_a_hot_process_keeps_its_directory_for_its_life(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(
        tmp_path / "f",
        """
        def handle(request):
            return answer(os.environ["TMPDIR"])
        """,
    )

    calls = {executor.execute(function, invocation(format=RouteFormat.JSON)).output for _ in range(3)}
    (directory,) = calls
    assert Path(directory.decode()).is_dir()

    executor.close()
    assert not Path(directory.decode()).exists()
