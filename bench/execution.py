"""Rows 2 and 3: the executor itself, a no-op python function hot (`json`) and cold (`default`), and
a cold call against spawning the same `python -S func.py` directly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.functions import NOOP, NOOP_HOT, invocation, python_function
from bench.report import TIMES, Line, interleaved, median, ms, ratio, timed
from bench.sizes import Sizes
from chalicelib.execute.executor import Executor
from chalicelib.models import CallStatus, RouteFormat


def _processes_on_host() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def measure(
    sizes: Sizes, workdir: Path, only: frozenset[str] = frozenset({"executor", "spawn"})
) -> list[Line]:
    cold_dir = python_function(workdir / "noop", NOOP)
    hot_dir = python_function(workdir / "noop-hot", NOOP_HOT, fmt="json")
    executor = Executor()

    def run(code_dir: Path, fmt: RouteFormat) -> None:
        execution = executor.execute(code_dir, invocation(fmt))
        if execution.status is not CallStatus.SUCCESS:
            raise RuntimeError(f"the no-op {fmt.value} function failed: {execution.error}")

    def direct() -> None:
        # What the executor starts, minus the executor: the same interpreter, flags and pipes.
        subprocess.run(
            [sys.executable, "-S", "func.py"],
            cwd=cold_dir,
            input=b"",
            capture_output=True,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"},
            check=True,
        )

    actions = {
        "hot": lambda: timed(lambda: run(hot_dir, RouteFormat.JSON)),
        "cold": lambda: timed(lambda: run(cold_dir, RouteFormat.DEFAULT)),
        "direct": lambda: timed(direct),
    }
    wanted = ["cold", *(["hot"] if "executor" in only else []), *(["direct"] if "spawn" in only else [])]
    try:
        interleaved(2, *(actions[k] for k in wanted))  # warm up: the hot process, the page cache
        series = dict(zip(wanted, interleaved(sizes.samples, *(actions[k] for k in wanted)), strict=True))
    finally:
        executor.close()
    cold = median(series["cold"])
    lines = []
    if "executor" in only:
        hot = median(series["hot"])
        lines.append(
            Line(
                "2",
                "executor, hot `json` vs cold `default`, no-op python",
                ratio(cold, hot),
                f"cold {ms(cold)}, hot {ms(hot)} (medians of {sizes.samples}, interleaved)",
                f"keep ≥ 10{TIMES}",
            )
        )
    if "spawn" in only:
        spawned = median(series["direct"])
        lines.append(
            Line(
                "3",
                "one cold call through the executor vs `python -S func.py`",
                ratio(cold, spawned),
                f"executor {ms(cold)}, direct spawn {ms(spawned)} (medians of {sizes.samples}, "
                f"interleaved); {_processes_on_host()} processes on the host",
                f"≤ 1.1{TIMES}",
            )
        )
    return lines
