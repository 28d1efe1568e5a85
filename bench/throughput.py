"""Row 8: `fn start`'s throughput under async load, with bench/load.py's machinery (which also
checks that every call ran exactly once: a throughput with lost or doubled calls means nothing)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from bench import load
from bench.report import TIMES, Line, seconds
from bench.sizes import Sizes


def measure(sizes: Sizes, workdir: Path, only: frozenset[str] = frozenset()) -> list[Line]:
    # load.py's progress goes to stdout; here stdout is the table's, so it goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        figures = load.measure(sizes.calls, sizes.clients, workdir, progress=True)
    accepted = len(figures.accepted)
    whole = figures.submit_seconds + figures.drain_seconds
    e2e = figures.end_to_end()
    verdict = "every call ran once" if not figures.violations else "FAILED: " + "; ".join(figures.violations)
    return [
        Line(
            "8",
            f"`fn start` throughput, {sizes.calls:,} async calls from {sizes.clients} clients",
            f"{accepted / whole:.1f} calls/s",
            f"first submit to last completion {seconds(whole)}; submitted at "
            f"{accepted / figures.submit_seconds:.1f} calls/s ({seconds(figures.submit_seconds)}), drained "
            f"{seconds(figures.drain_seconds)} after; end to end p50 {load.percentile(e2e, 0.5):.2f} s, "
            f"p95 {load.percentile(e2e, 0.95):.2f} s; max queue depth {figures.max_visible}; {verdict}",
            f"≥ 1.5{TIMES} today's, same machine, side by side",
        )
    ]
