"""`python -m bench` runs and prints its table (figures are printed, never asserted: see bench/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_cheap_rows_print_a_table_with_every_figure_measured_and_two_runs_compare(tmp_path: Path) -> None:
    out = tmp_path / "run.md"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "--quick", "--only", "requests,executor,spawn"),
            *("--samples", "3", "--out", str(out)),
        ],
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

    # The same run on both sides: every row of it once, with its figure measured twice.
    compared = subprocess.run(
        [sys.executable, "-m", "bench.compare", str(out), str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert compared.returncode == 0, compared.stderr
    rows = [line for line in compared.stdout.splitlines() if line.startswith("| ") and "figure" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 1b", "| 2", "| 3"], compared.stdout
    for row in rows:
        cells = row.strip("|").split(" | ")
        assert len(cells) == 5 and cells[2] == cells[3] and cells[2] not in {"", "—"}, row
    assert compared.stdout.count("- commit: ") == 2


def test_the_rows_are_listed_by_name_and_number() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--list"], cwd=REPO, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    for name in ("requests", "executor", "spawn", "batch-cpu", "batch-sleep", "import", "sync", "throughput"):
        assert name in done.stdout
    assert "listing" in done.stdout
