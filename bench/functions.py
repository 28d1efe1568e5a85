"""The functions the bench runs: no-ops in both formats, a CPU burner and a sleeper."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib.models import RouteFormat, RouteType
from chalicelib.ports import Invocation
from tests.support import write_function

# `default` format: read the body, answer nothing.
NOOP = """
import sys
sys.stdin.read()
"""

# `json` format: one response line per request line, nothing else.
NOOP_HOT = """
import sys
for line in iter(sys.stdin.readline, ""):
    if line.strip():
        sys.stdout.write('{"body": "", "content_type": "text/plain"}\\n')
        sys.stdout.flush()
"""

# Burns a fixed amount of CPU time (not wall time), so each call is the same work however busy
# the machine is: what oversubscribing the cores costs shows in the batch's wall time.
CPU = """
import os, sys, time
sys.stdin.read()
budget = float(os.environ.get("BENCH_CPU_SECONDS", "0.4"))
end = time.process_time() + budget
n = 0
while time.process_time() < end:
    for i in range(10000):
        n += i * i
"""

SLEEP = """
import os, sys, time
sys.stdin.read()
time.sleep(float(os.environ.get("BENCH_SLEEP_SECONDS", "1")))
"""


def python_function(directory: Path, source: str, fmt: str = "default") -> Path:
    return write_function(directory, source, name=directory.name, format=fmt)


def invocation(fmt: RouteFormat, timeout: int = 30, **changes: Any) -> Invocation:
    """A sync invocation of a no-argument function, as the runner builds one.

    Only the fields this Invocation has are passed, so a field added with a default elsewhere does
    not break the bench (a new required field still does, loudly)."""
    values: dict[str, Any] = {
        "call_id": "01JBENCH000000000000000000",
        "app_name": "bench",
        "path": "/noop",
        "type": RouteType.SYNC,
        "format": fmt,
        "timeout": timeout,
        "idle_timeout": 60,
        "memory": 128,
        "config": {},
        "method": "POST",
        "request_url": "http://localhost:8080/r/bench/noop",
        "headers": {"Content-Type": ["text/plain"]},
        "content_type": "text/plain",
        "body": b"",
        "deadline": datetime.now(UTC) + timedelta(seconds=timeout),
        **changes,
    }
    names = {f.name for f in dataclasses.fields(Invocation)}
    return Invocation(**{k: v for k, v in values.items() if k in names})
