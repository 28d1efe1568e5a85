"""What a bench run prints: the table of issue #16's figures, and the machine and code it ran on.

Figures are medians; a ratio is always taken between two series sampled side by side (interleaved)
in one run, so load from other processes weighs on both sides alike.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The multiplication sign of the ratios, escaped: ruff flags the literal as ambiguous.
TIMES = "\u00d7"


@dataclass(frozen=True)
class Line:
    """One line of the table: the issue's figure, what this run measured, and how."""

    number: str
    figure: str
    measured: str
    detail: str = ""
    goal: str = ""


# ------------------------------------------------------------------------------- numbers
def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}{TIMES}" if denominator > 0 else "n/a"


def interleaved(samples: int, *actions: Callable[[], float]) -> list[list[float]]:
    """Run the actions in turn, `samples` rounds, each answering its own measure (seconds)."""
    series: list[list[float]] = [[] for _ in actions]
    for _ in range(samples):
        for measures, action in zip(series, actions, strict=True):
            measures.append(action())
    return series


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


# ------------------------------------------------------------------------------- machine
def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


@dataclass(frozen=True)
class Machine:
    date: str
    commit: str
    cores: int
    memory: str
    cpu: str
    python: str
    system: str

    @classmethod
    def here(cls) -> Machine:
        memory_kb = _first("/proc/meminfo", "MemTotal").split()[0]
        memory = f"{int(memory_kb) / 1024 / 1024:.1f} GiB" if memory_kb.isdigit() else "unknown"
        commit = _git("log", "-1", "--format=%h %s (%cs)")
        if _git("status", "--porcelain", "--untracked-files=no"):
            commit += " + uncommitted changes"
        return cls(
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            commit=commit,
            cores=os.cpu_count() or 0,
            memory=memory,
            cpu=_first("/proc/cpuinfo", "model name"),
            python=f"{platform.python_implementation()} {platform.python_version()}",
            system=f"{platform.system()} {platform.release()}",
        )


# --------------------------------------------------------------------------------- table
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(machine: Machine, lines: Sequence[Line], mode: str, loads: Sequence[str], elapsed: float) -> str:
    """The table as Markdown, headed by when, on what, and at which load it was measured."""
    header = [
        "# fnq bench (issue #16)",
        "",
        f"- date: {machine.date}",
        f"- commit: {machine.commit}",
        f"- machine: {machine.cores} cores, {machine.memory}, {machine.cpu}; {machine.system}; "
        f"{machine.python}",
        f"- load average (1 / 5 / 15 min): {'; '.join(loads)}",
        f"- sizes: {mode}; run took {elapsed:.0f} s",
        "",
        "| # | figure | measured | detail | goal (issue #16) |",
        "|---|---|---|---|---|",
    ]
    rows = [
        f"| {line.number} | {_cell(line.figure)} | {_cell(line.measured)} | {_cell(line.detail)} "
        f"| {_cell(line.goal)} |"
        for line in lines
    ]
    return "\n".join(header + rows) + "\n"
