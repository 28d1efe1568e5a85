"""`fn` as a real process: what a user's shell sees, stdin kinds included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli.peer import FnPeer, call_json

ROOT = Path(__file__).resolve().parents[2]


def run_fn(
    peer_url: str, *args: str, stdin: int | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "FN_API_URL": peer_url, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "fnq.cli", *args]
    return subprocess.run(
        command, stdin=stdin, input=input, capture_output=True, env=env, cwd=ROOT, timeout=30
    )


def test_calls_get_prints_the_block_from_a_real_process(peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp/calls/C1", body={"call": call_json(id="C1")})

    done = run_fn(peer.url, "calls", "get", "myapp", "C1", stdin=subprocess.DEVNULL)

    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout.startswith(b"ID: C1\nApp: myapp\nRoute: /hello\n")
    assert done.stdout.endswith(b"Status: success\n\n")


def test_call_with_dev_null_on_stdin_sends_get(peer: FnPeer) -> None:
    peer.on("GET", "/r/myapp/syncfn", body="Hello World\n", headers={"Fn_call_id": "C1"})

    done = run_fn(peer.url, "call", "myapp", "/syncfn", "--display-call-id", stdin=subprocess.DEVNULL)

    assert (done.returncode, done.stdout, done.stderr) == (0, b"Hello World\n", b"Call ID: C1\n")
    assert peer.requests[0].method == "GET"


def test_call_with_a_pipe_on_stdin_posts_it(peer: FnPeer) -> None:
    peer.on("POST", "/r/myapp/asyncfn", 202, body={"call_id": "01CASYNC"})

    done = run_fn(peer.url, "call", "myapp", "/asyncfn", input=b'{"name":"Johnny"}')

    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"Call ID: 01CASYNC\n")
    assert (peer.requests[0].method, peer.requests[0].body) == ("POST", b'{"name":"Johnny"}')


def test_a_refused_connection_is_one_error_line_and_no_traceback(peer: FnPeer) -> None:
    done = run_fn("http://127.0.0.1:1", "calls", "list", "myapp", stdin=subprocess.DEVNULL)

    assert done.returncode == 1
    assert done.stderr == (
        b'ERROR: Get "http://127.0.0.1:1/v1/apps/myapp/calls": '
        b"dial tcp 127.0.0.1:1: connect: connection refused\n"
    )


def test_the_cli_imports_neither_boto3_nor_chalice() -> None:
    probe = (
        "import sys, fnq.cli.main\n"
        "heavy = {'boto3', 'botocore', 'chalice', 'moto'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env, cwd=ROOT, timeout=30)

    assert done.stdout == b"[]\n", done.stderr
