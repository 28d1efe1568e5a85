"""`fn start` as a user runs it: a real subprocess, a real port, plain HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.support import PYTHON, REPO, FnStart, Http, Process, alive, free_port, process_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[FnStart]:
    started = FnStart(free_port())
    try:
        yield started.ready()
    finally:
        started.stop()


def test_an_async_call_runs_on_the_embedded_stack_and_logs_hello_world(
    stack: FnStart, tmp_path: Path
) -> None:
    http = Http(stack.url)
    http.deploy(tmp_path, "myapp", "hello", "async")
    http.async_call_succeeds("myapp", "hello")


def test_a_sync_call_answers_the_functions_output(stack: FnStart, tmp_path: Path) -> None:
    http = Http(stack.url)
    http.deploy(tmp_path, "myapp", "hellosync", "sync")
    status, headers, body = http.call("myapp", "hellosync", b'{"name":"Ada"}')
    assert status == 200, body
    assert json.loads(body) == {"message": "Hello Ada"}
    call = http.wait_for_call("myapp", headers["Fn_call_id"])
    assert call["status"] == "success"


def test_the_banner_says_where_everything_is(stack: FnStart) -> None:
    banner = stack.output
    assert f"API          {stack.url}" in banner
    assert "AWS endpoint http://127.0.0.1:" in banner
    for name in ("table", "bucket", "calls queue", "dead letters", "worker"):
        assert f"  {name} " in banner


def test_a_killed_worker_is_restarted_and_the_embedded_state_survives(stack: FnStart, tmp_path: Path) -> None:
    http = Http(stack.url)
    http.deploy(tmp_path, "survivor", "hello", "async")  # state created before the kill
    first = stack.worker_pid
    seen = len(stack.lines)
    os.kill(first, signal.SIGKILL)
    restarted = int(stack.wait_for(r"worker restarted: pid (\d+)", timeout=15, after=seen)[1])
    assert restarted != first and alive(restarted) and not alive(first)
    http.async_call_succeeds("survivor", "hello")


@pytest.mark.parametrize("option", ["--port", "--aws-port"])
def test_a_busy_port_is_refused_with_a_clear_message_and_exit_status_1(option: str) -> None:
    # (--aws-port is bound by the embedded AWS's process, which says so over its channel.)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": str(free_port()), option: str(port)}
        argv = [PYTHON, "-m", "fnq.local", *(word for pair in ports.items() for word in pair), "--ephemeral"]
        refused = Process(argv, process_env(), cwd=REPO)
        assert refused.popen.wait(30) == 1
        refused.stop()
    assert f"ERROR: port {port} is in use" in refused.output
    assert f"choose another with {option}" in refused.output
    assert "Traceback" not in refused.output


def test_a_damaged_saved_state_is_refused_with_a_clear_message_and_exit_status_1(tmp_path: Path) -> None:
    # GIVEN a data directory whose journal has a damaged line (not the last: that one is dropped)
    state = tmp_path / "data" / "state"
    state.mkdir(parents=True)
    (state / "journal-00000001.jsonl").write_text("not json\n{}\n")

    # WHEN fn start starts on it: the embedded AWS's process reads the state and says it cannot
    refused = FnStart(free_port(), data_dir=tmp_path / "data")

    # THEN fn start names the file and the line, and never gets ready
    assert refused.popen.wait(30) == 1, refused.output
    refused.stop()
    assert "ERROR: cannot read the saved state:" in refused.output
    assert "journal-00000001.jsonl is damaged at line 1" in refused.output
    assert not re.search(r"^Ready on ", refused.output, re.MULTILINE)


def test_sigterm_stops_everything_with_exit_status_0_and_no_worker_left() -> None:
    started = FnStart(free_port()).ready()
    worker = started.worker_pid
    assert alive(worker)
    began = time.monotonic()
    assert started.stop(timeout=25) == 0, started.output
    assert time.monotonic() - began < 15
    assert not alive(worker)
    assert started.output.splitlines()[-1] == "Stopped"


def test_a_worker_and_an_embedded_aws_whose_fn_start_was_killed_do_not_outlive_it() -> None:
    started = FnStart(free_port()).ready()
    children = (started.worker_pid, started.aws_pid)
    assert all(alive(pid) for pid in children)
    started.popen.kill()
    started.popen.wait(10)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in children), started.output


def test_the_embedded_aws_runs_apart_and_fn_start_stops_with_status_1_when_it_dies(tmp_path: Path) -> None:
    # GIVEN a stack whose embedded AWS is a process of its own, beside the API's and the worker's
    started = FnStart(free_port(), data_dir=tmp_path / "data").ready()
    aws, worker = started.aws_pid, started.worker_pid
    assert aws not in (started.popen.pid, worker) and alive(aws)
    http = Http(started.url)
    http.deploy(tmp_path, "kept", "hello", "async")

    # WHEN it dies
    os.kill(aws, signal.SIGKILL)

    # THEN fn start says so and stops (it is not restarted: a new one would start empty), its
    # worker with it, and the state keeps what was answered: the next start restores it
    assert started.popen.wait(30) == 1, started.output
    assert f"ERROR: the embedded AWS (pid {aws}) killed by SIGKILL; fn start stops" in started.output
    assert not alive(worker)
    again = FnStart(free_port(), data_dir=tmp_path / "data").ready()
    try:
        Http(again.url).async_call_succeeds("kept", "hello")
    finally:
        assert again.stop() == 0, again.output
