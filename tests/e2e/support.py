"""The tutorial as a user types it: the installed `fn` command, in subprocesses, against a real server.

Every command runs with a timeout, stdin from /dev/null unless a body is piped, and stdout and
stderr kept apart, so a test can say exactly what each stream showed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from tests.local.support import FnStart, alive, free_port, process_env

# The console script installed next to this interpreter: the project's own `fn`, not one on PATH.
FN = Path(sys.executable).with_name("fn")
COMMAND_TIMEOUT_SECONDS = 90.0
WAIT_TIMEOUT_SECONDS = 45
ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
HELLO_WORLD = '{"message":"Hello World"}'
HELLO_ADA = '{"message":"Hello Ada"}'
# What each runtime's functions need on the machine besides Python.
TOOLCHAINS: dict[str, str | None] = {"python": None, "node": "node", "go": "go"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(program: str, reason: str) -> None:
    """Skip the calling test when `program` is not on PATH; in CI (`CI` set) fail it instead."""
    if shutil.which(program) is not None:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing toolchain fails the run instead of skipping)")
    pytest.skip(reason)


def require_toolchain(runtime: str) -> None:
    program = TOOLCHAINS[runtime]
    if program is not None:
        require(program, f"{program} is not installed: {runtime} functions cannot be built or run")


def require_fn_command() -> None:
    require(str(FN), f"the fn console script is not installed next to {sys.executable} (pip install -e .)")


@contextmanager
def fn_start() -> Iterator[FnStart]:
    """`fn start --port PORT` through the console script; stopped with SIGTERM, then nothing is left."""
    require_fn_command()
    with serving(FnStart(free_port(), command=(str(FN), "start"), new_session=True)) as stack:
        yield stack


@contextmanager
def serving(stack: FnStart) -> Iterator[FnStart]:
    """`stack` once it is ready; stopped with SIGTERM at the end, then nothing of it is left."""
    worker: int | None = None
    try:
        stack.ready()
        worker = stack.worker_pid
        yield stack
    finally:
        try:
            stack.stop()
        finally:
            if worker is not None:
                stop_orphan(worker)


def stop_orphan(pid: int, grace_seconds: float = 10.0) -> None:
    """A worker outlives its `fn start` by at most a moment (it watches its parent); never longer."""
    deadline = time.monotonic() + grace_seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def fn(*args: str, cwd: Path, api_url: str, body: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """`fn ARGS…` in `cwd`, which must exit 0; `body` is piped on stdin, else stdin is /dev/null
    (a character device, as a terminal is to Fn: `fn call` then sends GET)."""
    env = process_env({"FN_API_URL": api_url})
    done = subprocess.run(
        [str(FN), *args],
        cwd=cwd,
        env=env,
        input=None if body is None else body.decode(),
        stdin=subprocess.DEVNULL if body is None else None,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )
    command = " ".join(args)
    assert done.returncode == 0, f"fn {command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


class Tutorial:
    """DESIGN.md §1 step by step, in `workdir`, for one app; each step checks Fn's exact output."""

    def __init__(self, api_url: str, workdir: Path, app: str) -> None:
        self.api_url = api_url
        self.workdir = workdir
        self.app = app

    def fn(
        self, *args: str, cwd: Path | None = None, body: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        return fn(*args, cwd=cwd or self.workdir, api_url=self.api_url, body=body)

    def init(self, runtime: str, name: str, fmt: str | None = None) -> Path:
        """`fn init --runtime R [--format F] NAME`: Fn's four lines, and a func.yaml with Fn's keys."""
        formats = [] if fmt is None else ["--format", fmt]
        done = self.fn("init", "--runtime", runtime, *formats, name)
        assert done.stdout == (
            f"Creating function at: /{name}\nRuntime: {runtime}\n"
            "Function boilerplate generated.\nfunc.yaml created.\n"
        )
        function = self.workdir / name
        assert f"format: {fmt or 'json'}\n" in (function / "func.yaml").read_text()
        return function

    @staticmethod
    def make_async(function: Path) -> None:
        """The tutorial's `$EDITOR func.yaml`: add `type: async`."""
        with open(function / "func.yaml", "a") as func_yaml:
            func_yaml.write("type: async\n")

    def deploy(self, function: Path) -> None:
        """`fn deploy --local --app APP` in the function's directory: Fn's progress lines."""
        name = function.name
        done = self.fn("deploy", "--local", "--app", self.app, cwd=function)
        for line in (
            f"Deploying {name} to app: {self.app} at path: /{name}",
            "Bumped to version 0.0.2",
            f"Updating route /{name} using image {name}:0.0.2...",
        ):
            assert line in done.stdout.splitlines(), done.stdout
        assert "version: 0.0.2\n" in (function / "func.yaml").read_text()

    def call_async(self, route: str, body: bytes | None = None) -> str:
        """`fn call APP /ROUTE` on an async route: stdout is exactly `{"call_id":"…"}`; answers the id."""
        done = self.fn("call", self.app, route, body=body)
        found = re.fullmatch(rf'\{{"call_id":"({ULID})"\}}', done.stdout)
        assert found, (done.stdout, done.stderr)
        assert done.stderr == ""
        return found[1]

    def call_sync(self, route: str, body: bytes | None = None) -> tuple[str, str]:
        """`fn call --display-call-id APP /ROUTE`: the function's output, and the id from stderr."""
        done = self.fn("call", "--display-call-id", self.app, route, body=body)
        found = re.fullmatch(rf"Call ID: ({ULID})\n", done.stderr)
        assert found, (done.stdout, done.stderr)
        return done.stdout, found[1]

    def calls_get(self, call_id: str, wait: bool = False) -> str:
        """`fn calls get [--wait] APP ID`: the block, with nothing on stderr (no spinner when piped)."""
        waiting = ["--wait", "--timeout", str(WAIT_TIMEOUT_SECONDS)] if wait else []
        done = self.fn("calls", "get", *waiting, self.app, call_id)
        assert done.stderr == ""
        return done.stdout

    def logs_get(self, call_id: str) -> str:
        return self.fn("logs", "get", self.app, call_id).stdout


def assert_success_block(block: str, call_id: str, app: str, route: str) -> None:
    """Fn's `printCalls` block for a successful call, byte for byte, with times in order."""
    found = re.fullmatch(
        rf"ID: {call_id}\nApp: {app}\nRoute: {re.escape(route)}\n"
        rf"Created At: ({TIME})\nStarted At: ({TIME})\nCompleted At: ({TIME})\nStatus: success\n\n",
        block,
    )
    assert found, block
    created, started, completed = (datetime.fromisoformat(t) for t in found.groups())
    assert created <= started <= completed, block
