"""Helpers for the local-stack tests: real subprocesses, real ports, plain HTTP (urllib)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support import bundle_of, write_function

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TERMINAL = {"success", "error", "timeout", "cancelled"}
HELLO = """
import json, sys
body = sys.stdin.read()
name = (json.loads(body) if body.strip() else {}).get("name", "World")
print(json.dumps({"message": f"Hello {name}"}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Until something accepts connections on 127.0.0.1:`port`; raises the last error after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def process_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment minus any endpoint, with this checkout's code first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FNQ_"))}
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, dead but unreaped, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Process:
    """A child process whose combined output is collected line by line as it arrives."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path | None = None,
        new_session: bool = False,
        user: int | None = None,
    ) -> None:
        # In a session of its own, stop() can kill whatever the process left in its group.
        self.new_session = new_session
        # `user`: run as that uid (and the same gid, no supplementary groups); needs root.
        as_user: dict[str, Any] = {} if user is None else {"user": user, "group": user, "extra_groups": []}
        self.popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=new_session,
            **as_user,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 20.0, after: int = 0) -> re.Match[str]:
        """The first output line (from line `after` on) matching `pattern`; fails after `timeout`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[after:]:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.popen.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no line matching {pattern!r}; output so far:\n{self.output_locked()}"
                    )
                self._changed.wait(min(remaining, 0.2))

    def output_locked(self) -> str:
        return "\n".join(self.lines)

    def stop(self, timeout: float = 20.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise
        finally:
            if self.new_session:
                self._kill_group()
            self._reader.join(5)

    def _kill_group(self) -> None:
        """SIGKILL what is left in the process's group (its own pid) once it has stopped."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


class FnStart(Process):
    """`fn start --port PORT` (as `python -m fnq.local`, or `command`), waited on until it is ready.

    With no `data_dir` it runs `--ephemeral`: a test never reads or writes the user's ~/.fnq.
    """

    def __init__(
        self,
        port: int,
        command: Sequence[str] = (PYTHON, "-m", "fnq.local"),
        new_session: bool = False,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        user: int | None = None,
    ) -> None:
        state = ["--ephemeral"] if data_dir is None else ["--data-dir", str(data_dir)]
        argv = [*command, "--port", str(port), *state]
        super().__init__(argv, process_env(env), cwd=REPO, new_session=new_session, user=user)
        self.url = f"http://localhost:{port}"
        self.port = port

    def ready(self) -> FnStart:
        self.wait_for(r"^Ready on ", timeout=30)
        return self

    @property
    def worker_pid(self) -> int:
        """The current worker child: the newest `restarted: pid N`, else the banner's."""
        pids = re.findall(r"(?:worker restarted: pid|worker +pid) (\d+)", self.output)
        assert pids, self.output
        return int(pids[-1])

    @property
    def aws_pid(self) -> int:
        """The embedded AWS's process (the banner's `moto, pid N`)."""
        found = re.search(r"\(moto, pid (\d+);", self.output)
        assert found, self.output
        return int(found[1])


class Http:
    """Plain HTTP against an fnq API; answers (status, headers, body bytes)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, Mapping[str, str], bytes]:
        request = urllib.request.Request(self.base_url + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, method: str, path: str, value: Any = None) -> tuple[int, Any]:
        body = None if value is None else json.dumps(value).encode()
        status, _, data = self.request(method, path, body)
        return status, json.loads(data) if data else None

    def wait_until_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.request("GET", "/version")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.base_url}/version did not answer within {timeout} s")
            time.sleep(0.1)

    def deploy(
        self, functions: Path, app: str, name: str, route_type: str, source: str = HELLO, **route: Any
    ) -> None:
        """What `fn deploy --local` does: upload the bundle, then PUT the route naming it (with
        any other `route` fields: config, timeout, ...)."""
        digest, data = bundle_of(write_function(functions / f"{app}-{name}", source, name=name))
        status, _, reply = self.request("PUT", f"/v1/bundles/sha256/{digest[7:]}", data, "application/zip")
        assert status == 200, reply
        spec = {"image": f"{name}:0.0.1", "bundle": digest, "type": route_type, **route}
        status, body = self.json("PUT", f"/v1/apps/{app}/routes/{name}", {"route": spec})
        assert status == 200, body

    def call(self, app: str, name: str, body: bytes = b"") -> tuple[int, Mapping[str, str], bytes]:
        return self.request("POST", f"/r/{app}/{name}", body, "text/plain")

    def wait_for_call(self, app: str, call_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.json("GET", f"/v1/apps/{app}/calls/{call_id}")
            assert status == 200, body
            call: dict[str, Any] = body["call"]
            if call["status"] in TERMINAL:
                return call
            if time.monotonic() > deadline:
                raise AssertionError(f"call {call_id} still {call['status']} after {timeout} s")
            time.sleep(0.1)

    def log_of(self, app: str, call_id: str) -> str:
        status, body = self.json("GET", f"/v1/apps/{app}/calls/{call_id}/log")
        assert status == 200, body
        return str(body["log"]["log"])

    def async_call_succeeds(self, app: str, name: str) -> str:
        """POST an async call, see it finish `success` and log Hello World; answer its id."""
        status, headers, reply = self.call(app, name)
        assert status == 202, reply
        call_id = str(json.loads(reply)["call_id"])
        assert headers["Fn_call_id"] == call_id
        call = self.wait_for_call(app, call_id)
        assert call["status"] == "success", call
        assert json.loads(self.log_of(app, call_id)) == {"message": "Hello World"}
        return call_id
