"""`python -m bench` runs and prints its table (figures are printed, never asserted: see bench/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_cheap_rows_print_a_table_with_every_figure_measured() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "requests,executor,spawn", "--samples", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    assert "| # | figure | measured | detail | goal (issue #16) |" in table
    for number in ("1", "1b", "2", "3"):
        assert f"\n| {number} | " in table, table
    assert "not measured" not in table, table
    assert "- commit: " in table and "- machine: " in table and "- load average" in table


def test_the_rows_are_listed_by_name_and_number() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--list"], cwd=REPO, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    for name in ("requests", "executor", "spawn", "batch-cpu", "batch-sleep", "import", "sync", "throughput"):
        assert name in done.stdout
    assert "listing" in done.stdout
