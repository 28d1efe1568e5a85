"""`python -m bench`: measure every row of issue #16's table and print it (a run: bench/RESULTS.md).

    python -m bench                         # every row, full sizes (10-14 min on 2 busy cores)
    python -m bench --quick                 # every row, small sizes (about 3 min)
    python -m bench --only listing,import   # some rows (names or the issue's numbers; 9, 10
                                            # and 11 are measured together, on one table)
    python -m bench --list                  # the rows and their names
    python -m bench --only throughput,burst --before ../main   # fn start's rows, before vs after

Figures are medians, ratios are taken between series sampled side by side in this run, and
nothing is asserted: the table is printed (and written to --out), whatever the figures are.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report import Line, Machine, load_average, render
from bench.sizes import FULL, QUICK, Sizes

Measure = Callable[[Sizes, Path, frozenset[str]], list[Line]]


@dataclass(frozen=True)
class Group:
    """Rows measured together because they share a setup (a moto stack, an executor)."""

    rows: tuple[tuple[str, str, str], ...]  # (name, the row number, what it measures)
    module: str  # imported only when one of its rows is selected: each costs seconds to import

    def measure(self) -> Measure:
        module = __import__(f"bench.{self.module}", fromlist=["measure"])
        measure: Measure = module.measure
        return measure


GROUPS = (
    Group((("requests", "1", "AWS requests per async and sync call, warm / cold"),), "cost"),
    Group(
        (
            ("executor", "2", "executor: hot json vs cold default, no-op python"),
            ("spawn", "3", "cold call through the executor vs python -S func.py"),
        ),
        "execution",
    ),
    Group(
        (
            ("batch-cpu", "4", "CPU-bound calls in one batch vs one at a time (app.handle_calls)"),
            ("batch-sleep", "5", "sleep-bound calls in one batch: wall time"),
        ),
        "batches",
    ),
    Group((("import", "6", "import app vs a bare Chalice (+ botocore) app, and from the zip"),), "coldstart"),
    Group((("sync", "7", "sync call through fn start's HTTP path, hot vs cold"),), "serving"),
    Group((("throughput", "8", "fn start throughput: async calls from concurrent clients"),), "throughput"),
    Group((("burst", "#10", "/version under 200 sync calls at once on a capped hot function"),), "guests"),
    Group((("listing", "9-11", "items DynamoDB reads for one page of calls, small vs big app"),), "listing"),
)
NAMES = {name: number for group in GROUPS for name, number, _ in group.rows}


def _selection(text: str | None) -> set[str]:
    if not text:
        return set(NAMES)
    chosen = set()
    by_number = {number: name for name, number in NAMES.items()} | {
        "9": "listing",
        "10": "listing",
        "11": "listing",
    }
    for word in (w.strip() for w in text.split(",") if w.strip()):
        name = by_number.get(word, word)
        if name not in NAMES:
            raise SystemExit(f"unknown row {word!r}; rows: {', '.join(NAMES)} (or their numbers)")
        chosen.add(name)
    return chosen


def _sizes(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else FULL
    changes: dict[str, object] = {}
    for field in (
        "samples",
        "batch_repeats",
        "cpu_seconds",
        "calls",
        "clients",
        "per_page",
        "listing_budget",
        "before",
    ):
        value = getattr(args, field)
        if value is not None:
            changes[field] = value
    if args.listing_sizes:
        small, _, big = args.listing_sizes.partition(",")
        changes["listing_sizes"] = (int(small), int(big or small))
    if changes:
        sizes = dataclasses.replace(sizes, name=sizes.name + " with overrides", **changes)  # type: ignore[arg-type]
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument("--only", help="comma-separated rows: names or the issue's numbers")
    parser.add_argument("--skip", help="comma-separated rows to leave out")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) to this file")
    parser.add_argument("--samples", type=int, help="timed repetitions a side for the median rows")
    parser.add_argument("--batch-repeats", type=int, help="batches timed a side (rows 4, 5)")
    parser.add_argument("--cpu-seconds", type=float, help="CPU time of one CPU-bound call (row 4)")
    parser.add_argument("--calls", type=int, help="async calls of the throughput row")
    parser.add_argument("--clients", type=int, help="HTTP clients of the throughput row")
    parser.add_argument("--listing-sizes", help="calls of the small and big app, e.g. 100,20000")
    parser.add_argument("--per-page", type=int, help="per_page of the listing rows")
    parser.add_argument("--listing-budget", type=float, help="seconds a listing may take on moto")
    parser.add_argument(
        "--before", help="another checkout (e.g. main's worktree): fn start rows measured on both, in turn"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    if args.list:
        for group in GROUPS:
            for name, number, what in group.rows:
                print(f"{number:>5}  {name:<12} {what}")
        return 0
    selected = _selection(args.only) - (_selection(args.skip) if args.skip else set())
    sizes = _sizes(args)
    machine = Machine.here()
    loads = [f"{load_average()} at start"]
    workdir = Path(tempfile.mkdtemp(prefix="fnq-bench-"))
    lines: list[Line] = []
    began = time.monotonic()
    try:
        for index, group in enumerate(GROUPS):
            only = frozenset(name for name, _, _ in group.rows if name in selected)
            if not only:
                continue
            numbers = ", ".join(number for name, number, _ in group.rows if name in only)
            print(
                f"[bench] row {numbers}: {', '.join(sorted(only))} (load {load_average()})",
                file=sys.stderr,
                flush=True,
            )
            row_load = os.getloadavg()[0]
            row_began = time.monotonic()
            row_dir = workdir / f"{index}-{group.module}"
            row_dir.mkdir(parents=True)
            try:
                found = group.measure()(sizes, row_dir, only)
            except Exception as exc:  # one row failing must not hide the others' figures
                traceback.print_exc()
                found = [
                    Line(number, what, f"not measured: {type(exc).__name__}: {exc}")
                    for name, number, what in group.rows
                    if name in only
                ]
            took = time.monotonic() - row_began
            print(f"[bench]   took {took:.1f} s", file=sys.stderr, flush=True)
            lines += [
                dataclasses.replace(line, detail=f"{line.detail}; row took {took:.0f} s, load {row_load:.1f}")
                for line in found
            ]
        loads.append(f"{load_average()} at end")
        table = render(machine, lines, sizes.describe(), loads, time.monotonic() - began)
        print(table)
        if args.out:
            args.out.write_text(table)
        return 0
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
