"""`chalice local` + `fn worker` pass the same tutorial, driven by the `fn` CLI (docs/LOCAL.md's recipe).

A standalone moto server, the resources from `python -m fnq.local.provision`'s `export`
lines, then `chalice local --no-autoreload` and `fn worker` as the user starts them, in one
environment. (tests/local/test_chalice_local.py drives the same set-up with plain HTTP.)
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from chalicelib.settings import DEFAULT_REGION
from fnq.local.resources import FAKE_KEY
from tests.e2e.support import (
    FN,
    HELLO_ADA,
    HELLO_WORLD,
    Tutorial,
    assert_success_block,
    require_fn_command,
    require_toolchain,
)
from tests.local.support import PYTHON, REPO, Http, Process, free_port, process_env, wait_for_port

pytestmark = pytest.mark.e2e

CHALICE = Path(PYTHON).with_name("chalice")


def provisioned(endpoint_url: str) -> dict[str, str]:
    """`eval "$(python -m fnq.local.provision)"`: the FNQ_* names from its export lines."""
    done = subprocess.run(
        [PYTHON, "-m", "fnq.local.provision"],
        env=aws_env(endpoint_url),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    names: dict[str, str] = {}
    for line in done.stdout.splitlines():
        keyword, assignment = shlex.split(line)
        assert keyword == "export", line
        name, _, value = assignment.partition("=")
        names[name] = value
    assert {"FNQ_TABLE", "FNQ_BUCKET", "FNQ_CALLS_QUEUE_URL"} <= set(names), names
    return names


def aws_env(endpoint_url: str) -> dict[str, str]:
    return process_env(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": FAKE_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_KEY,
            "AWS_DEFAULT_REGION": DEFAULT_REGION,
        }
    )


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto server, provisioned; `chalice local` and `fn worker` on it. Each in its own session,
    stopped with SIGTERM and then killed with whatever it left in its group."""
    require_fn_command()
    moto_port, api_port = free_port(), free_port()
    with ExitStack() as started:  # stops every process, last started first, even if one stop fails
        moto = Process(
            [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
            process_env(),
            new_session=True,
        )
        started.callback(moto.stop)
        wait_for_port(moto_port)
        endpoint = f"http://127.0.0.1:{moto_port}"
        cache = tmp_path_factory.mktemp("worker-cache")
        env = {**aws_env(endpoint), **provisioned(endpoint), "FNQ_CACHE_DIR": str(cache)}
        api = Process(
            [str(CHALICE), "local", "--no-autoreload", "--port", str(api_port)],
            env,
            cwd=REPO,
            new_session=True,
        )
        started.callback(api.stop)
        worker = Process([str(FN), "worker"], env, cwd=cache, new_session=True)
        started.callback(worker.stop)
        url = f"http://localhost:{api_port}"
        Http(url).wait_until_up()
        yield url


@pytest.mark.parametrize("runtime", ["python", "node", "go"])
def test_an_async_call_through_chalice_local_is_run_by_fn_worker_and_logs_hello_world(
    runtime: str, api_url: str, tmp_path: Path
) -> None:
    require_toolchain(runtime)
    tutorial = Tutorial(api_url, tmp_path, app=f"chalice-{runtime}")
    function = tutorial.init(runtime, "asyncfn")
    tutorial.make_async(function)
    tutorial.deploy(function)

    call_id = tutorial.call_async("/asyncfn")

    assert_success_block(tutorial.calls_get(call_id, wait=True), call_id, tutorial.app, "/asyncfn")
    assert tutorial.logs_get(call_id) == HELLO_WORLD


def test_a_sync_call_through_chalice_local_answers_the_functions_output(api_url: str, tmp_path: Path) -> None:
    tutorial = Tutorial(api_url, tmp_path, app="chalice-sync")
    function = tutorial.init("python", "syncfn")
    tutorial.deploy(function)

    output, first = tutorial.call_sync("/syncfn")
    greeting, _ = tutorial.call_sync("/syncfn", body=b'{"name":"Ada"}')

    assert (output, greeting) == (HELLO_WORLD, HELLO_ADA)
    assert_success_block(tutorial.calls_get(first), first, tutorial.app, "/syncfn")
