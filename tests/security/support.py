"""`fn start` run as an unprivileged uid with a token, and functions deployed to attack it.

On Lambda the handler and the functions it starts share one non-root uid; the tests run as root
(as CI does), which the kernel lets read anything. So the stack runs as `nobody`, and what an
attacking function reaches is what the kernel allows that uid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.support import in_ci, serving
from tests.local.support import REPO, FnStart, Http, free_port
from tests.support import bundle_of, write_function

NOBODY = 65534
TOKEN = "guests-test-token-7f3a"


def fail_or_skip(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI is set: this test must run there)")
    pytest.skip(reason)


@dataclass(frozen=True)
class Interpreter:
    executable: str
    pythonpath: str


def unprivileged_python() -> Interpreter:
    """A Python that uid NOBODY can run with this checkout's dependencies: this one, or the
    system's of the same version with this environment's site-packages on PYTHONPATH (a pyenv
    interpreter under /root is out of that uid's reach)."""
    if os.geteuid() != 0:
        fail_or_skip("running fn start as another uid needs root")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    packages = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    candidates = [
        Interpreter(sys.executable, str(REPO)),
        *(
            Interpreter(exe, os.pathsep.join([str(REPO), *sorted(packages)]))
            for exe in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}")
        ),
    ]
    for candidate in candidates:
        if _runs_as_nobody(candidate):
            return candidate
    fail_or_skip(f"no Python {version} that uid {NOBODY} can run with this checkout (tried {candidates})")
    raise AssertionError("unreachable")


def _runs_as_nobody(python: Interpreter) -> bool:
    try:
        done = subprocess.run(
            [python.executable, "-c", "import app, fnq.local.stack"],
            env={"PYTHONPATH": python.pythonpath, "HOME": "/tmp", "PATH": "/usr/bin:/bin"},
            cwd=REPO,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@contextmanager
def fn_start_as_nobody(**settings: str) -> Iterator[FnStart]:
    """`fn start` as uid NOBODY with FNQ_API_TOKEN set, its TMPDIR and HOME a directory it owns;
    `settings` are more FNQ_* variables. Stopped with SIGTERM; then nothing of it is left."""
    python = unprivileged_python()
    home = Path(tempfile.mkdtemp(prefix="fnq-guests-"))
    os.chown(home, NOBODY, NOBODY)
    env = {
        "PYTHONPATH": python.pythonpath,
        "TMPDIR": str(home),
        "HOME": str(home),
        "FNQ_API_TOKEN": TOKEN,
        **settings,
    }
    stack = FnStart(
        free_port(), command=(python.executable, "-m", "fnq.local"), new_session=True, env=env, user=NOBODY
    )
    try:
        with serving(stack):
            yield stack
    finally:
        shutil.rmtree(home, ignore_errors=True)


def deploy(http: Http, workdir: Path, app: str, name: str, source: str, **route: str) -> None:
    """A python function of `source` at /`name` of `app` (`route`: type, format... as Fn's route)."""
    fields = {"format": route["format"]} if "format" in route else {}
    digest, data = bundle_of(write_function(workdir / f"{app}-{name}", source, name=name, **fields))
    status, _, reply = http.request("PUT", f"/v1/bundles/sha256/{digest[7:]}", data, "application/zip")
    assert status == 200, reply
    spec = {"image": f"{name}:0.0.1", "bundle": digest, "type": "sync", **route}
    status, body = http.json("PUT", f"/v1/apps/{app}/routes/{name}", {"route": spec})
    assert status == 200, body


def output_of_async_call(http: Http, app: str, name: str) -> str:
    """Call an async route, wait for it to succeed, answer its log (a default function's stdout)."""
    status, _, reply = http.call(app, name)
    assert status == 202, reply
    call_id = str(__import__("json").loads(reply)["call_id"])
    call = http.wait_for_call(app, call_id)
    assert call["status"] == "success", call
    return http.log_of(app, call_id)


def zombies_of(uid: int) -> list[int]:
    """Dead processes of `uid` that nobody has reaped."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            status = dict(
                line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line
            )
            if status["State"].split()[0] == "Z" and int(status["Uid"].split()[0]) == uid:
                found.append(int(entry.name))
    return found
