"""Helpers for the execution tests: invocations, tiny functions written on the fly, /proc checks."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib.models import RouteFormat, RouteType
from chalicelib.ports import Invocation

# A json-format function: the test supplies `handle(request)`, returning the response object.
HOT_LOOP = """
import json
import os
import sys


def answer(body, **extra):
    return {"body": body, "content_type": "text/plain", **extra}


{handle}


for line in iter(sys.stdin.readline, ""):
    if line.strip():
        sys.stdout.write(json.dumps(handle(json.loads(line))) + "\\n")
        sys.stdout.flush()
"""


def invocation(**changes: Any) -> Invocation:
    base = Invocation(
        call_id="01JEXAMPLE0000000000000000",
        app_name="myapp",
        path="/hello",
        type=RouteType.SYNC,
        format=RouteFormat.DEFAULT,
        timeout=10,
        idle_timeout=30,
        memory=128,
        config={},
        method="POST",
        request_url="http://localhost:8080/r/myapp/hello",
        headers={"Content-Type": ["application/json"]},
        content_type="application/json",
        body=b"",
        deadline=datetime.now(UTC) + timedelta(seconds=10),
    )
    return replace(base, **changes)


def python_function(directory: Path, code: str, fmt: str = "default") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    func_yaml = f"name: {directory.name}\nruntime: python\nentrypoint: python3 func.py\nformat: {fmt}\n"
    (directory / "func.yaml").write_text(func_yaml)
    (directory / "func.py").write_text(textwrap.dedent(code))
    return directory


def hot_python_function(directory: Path, handle: str) -> Path:
    return python_function(directory, HOT_LOOP.replace("{handle}", textwrap.dedent(handle)), fmt="json")


def running(pid: int) -> bool:
    """A zombie (dead, waiting for its parent to reap it) is not running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> None:
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")
