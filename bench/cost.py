"""Row 1: AWS requests per call, counted with botocore hooks on moto in-process (as tests/test_cost.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench.functions import NOOP
from bench.onmoto import moto_stack
from bench.report import TIMES, Line
from bench.sizes import Sizes
from chalicelib import wiring
from tests.aws_requests import async_call_requests, count_requests
from tests.conftest import Stack


def _names(requests: list[str]) -> str:
    counts = Counter(requests)
    return ", ".join(f"{name}{TIMES}{n}" if n > 1 else name for name, n in counts.items())


def _sync_requests(stack: Stack, app: str, route: str) -> tuple[list[str], list[str]]:
    """(cold, warm) requests of one sync call, on fresh components then again."""
    fresh = wiring.build(stack.settings)
    wiring.install(fresh)
    requests = count_requests(fresh)
    runs = []
    for _ in range(2):
        response = stack.request("POST", f"/r/{app}/{route}")
        if response.status_code != 200:
            raise RuntimeError(f"sync call answered {response.status_code}: {response.body[:200]!r}")
        runs.append(list(requests))
        requests.clear()
    return runs[0], runs[1]


def measure(sizes: Sizes, workdir: Path, only: frozenset[str] = frozenset()) -> list[Line]:
    with moto_stack(workdir) as stack:
        stack.deploy("bench", "async", type="async")
        cold, warm, _ = async_call_requests(stack, "bench", "async")
        stack.deploy("bench", "sync", source=NOOP, type="sync")
        sync_cold, sync_warm = _sync_requests(stack, "bench", "sync")
    return [
        Line(
            "1",
            "AWS requests per async call (warm / cold)",
            f"{len(warm)} / {len(cold)}",
            f"warm: {_names(warm)}; cold: {_names(cold)}",
            "keep",
        ),
        Line(
            "1b",
            "AWS requests per sync call (warm / cold)",
            f"{len(sync_warm)} / {len(sync_cold)}",
            f"warm: {_names(sync_warm)}; cold: {_names(sync_cold)}",
            "1 for a small log (acceptance)",
        ),
    ]
