"""Load through fn start: every accepted async call runs exactly once and ends in success."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import Target, run_load
from tests.reliability.conftest import TunedFnStart

pytestmark = pytest.mark.e2e


def test_two_hundred_calls_from_eight_clients_each_run_exactly_once(
    stack: TunedFnStart, tmp_path: Path
) -> None:
    target = Target(stack.url, stack.aws_endpoint, stack.calls_queue)
    figures = run_load(target, tmp_path, calls=200, clients=8, app="load", drain_timeout=60, progress=False)
    assert figures.violations == [], figures.render()
    assert len(figures.accepted) == 200
    assert sorted(figures.runs) == sorted(figures.accepted)  # each call id exactly once
    assert figures.by_status == {"success": 200}
    assert figures.server_errors == 0
