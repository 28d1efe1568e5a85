"""Row 8: `fn start`'s throughput under async load, with bench/load.py's machinery (which also
checks that every call ran exactly once: a throughput with lost or doubled calls means nothing)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from bench import load
from bench.report import TIMES, Line, ratio, seconds
from bench.sizes import Sizes


def measure(sizes: Sizes, workdir: Path, only: frozenset[str] = frozenset()) -> list[Line]:
    # load.py's progress goes to stdout; here stdout is the table's, so it goes to stderr.
    for side in ("before", "after"):
        (workdir / side).mkdir()
    with contextlib.redirect_stdout(sys.stderr):
        before = (
            load.measure(sizes.calls, sizes.clients, workdir / "before", code=Path(sizes.before))
            if sizes.before
            else None
        )
        figures = load.measure(sizes.calls, sizes.clients, workdir / "after", progress=True)
    accepted = len(figures.accepted)
    whole = figures.submit_seconds + figures.drain_seconds
    e2e = figures.end_to_end()
    verdict = "every call ran once" if not figures.violations else "FAILED: " + "; ".join(figures.violations)
    measured = f"{accepted / whole:.1f} calls/s"
    if before is not None:
        then = len(before.accepted) / (before.submit_seconds + before.drain_seconds)
        measured += f" vs {then:.1f} before ({ratio(accepted / whole, then)})"
        if before.violations:
            verdict += "; before FAILED: " + "; ".join(before.violations)
    return [
        Line(
            "8",
            f"`fn start` throughput, {sizes.calls:,} async calls from {sizes.clients} clients",
            measured,
            f"first submit to last completion {seconds(whole)}; submitted at "
            f"{accepted / figures.submit_seconds:.1f} calls/s ({seconds(figures.submit_seconds)}), drained "
            f"{seconds(figures.drain_seconds)} after; end to end p50 {load.percentile(e2e, 0.5):.2f} s, "
            f"p95 {load.percentile(e2e, 0.95):.2f} s; max queue depth {figures.max_visible}; {verdict}",
            f"≥ 1.5{TIMES} today's, same machine, side by side",
        )
    ]
