"""`chalice local` + `fn worker` against an endpoint of the user's choosing (here: moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.settings import DEFAULT_REGION
from fnq.local.provision import provision
from fnq.local.resources import FAKE_KEY
from tests.local.support import PYTHON, REPO, Http, Process, free_port, process_env, wait_for_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A standalone moto server, as a user would start one: `python -m moto.server -p PORT`."""
    port = free_port()
    server = Process([PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], process_env())
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_chalice_local_and_fn_worker_run_the_tutorial_against_any_endpoint(
    moto_server: str, tmp_path: Path
) -> None:
    env = process_env(
        {
            "AWS_ENDPOINT_URL": moto_server,
            "AWS_ACCESS_KEY_ID": FAKE_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_KEY,
            "AWS_DEFAULT_REGION": DEFAULT_REGION,
            "FNQ_CACHE_DIR": str(tmp_path / "cache"),
            **provision(moto_server),
        }
    )
    port = free_port()
    chalice = str(Path(PYTHON).parent / "chalice")
    api = Process([chalice, "local", "--no-autoreload", "--port", str(port)], env, cwd=REPO)
    worker = Process([PYTHON, "-m", "fnq.cli", "worker"], env, cwd=tmp_path)
    try:
        http = Http(f"http://localhost:{port}")
        http.wait_until_up()
        http.deploy(tmp_path, "myapp", "hello", "async")
        http.async_call_succeeds("myapp", "hello")
    finally:
        assert worker.stop() == 0, worker.output
        api.stop()
    assert "batch of 1, 0 to redeliver" in worker.output


def test_fn_worker_without_a_queue_says_what_to_set_and_exits_1(tmp_path: Path) -> None:
    worker = Process([PYTHON, "-m", "fnq.cli", "worker"], process_env(), cwd=tmp_path)
    assert worker.popen.wait(30) == 1
    worker.stop()
    assert "ERROR: FNQ_CALLS_QUEUE_URL is not set" in worker.output
