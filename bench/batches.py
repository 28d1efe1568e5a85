"""Rows 4 and 5: calls of one SQS batch through the calls handler (`app.handle_calls`), on moto
in-process, with Lambda's context (the configured timeout ahead): whatever the handler decides
about running a batch's calls side by side is what is measured."""

from __future__ import annotations

from pathlib import Path

from bench.functions import CPU, SLEEP
from bench.onmoto import RequestClock, handle, moto_stack, receive_records
from bench.report import TIMES, Line, median, ms, ratio, seconds
from bench.sizes import Sizes
from tests.conftest import Stack


def _submit(stack: Stack, route: str, count: int) -> list[dict[str, object]]:
    for _ in range(count):
        response = stack.request("POST", f"/r/bench/{route}")
        if response.status_code != 202:
            raise RuntimeError(f"async call answered {response.status_code}: {response.body[:200]!r}")
    return receive_records(stack, count)


def _one_batch(stack: Stack, route: str, size: int) -> float:
    return handle(stack, _submit(stack, route, size))


def _one_at_a_time(stack: Stack, route: str, size: int) -> float:
    return sum(handle(stack, [record]) for record in _submit(stack, route, size))


def measure(sizes: Sizes, workdir: Path, only: frozenset[str] = frozenset()) -> list[Line]:
    only = only or frozenset({"batch-cpu", "batch-sleep"})
    size = sizes.batch_size
    lines = []
    with moto_stack(workdir) as stack:
        if "batch-cpu" in only:
            config = {"BENCH_CPU_SECONDS": str(sizes.cpu_seconds)}
            stack.deploy("bench", "cpu", source=CPU, type="async", timeout=120, config=config)
            _one_batch(stack, "cpu", 1)  # warm up: the route cache, the bundle fetched and extracted
            batched: list[float] = []
            alone: list[float] = []
            for repeat in range(sizes.batch_repeats):
                # Alternate which side goes first, so a change in the machine's load between the
                # two halves does not always favour the same side.
                if repeat % 2 == 0:
                    batched.append(_one_batch(stack, "cpu", size))
                    alone.append(_one_at_a_time(stack, "cpu", size))
                else:
                    alone.append(_one_at_a_time(stack, "cpu", size))
                    batched.append(_one_batch(stack, "cpu", size))
            lines.append(
                Line(
                    "4",
                    f"{size} CPU-bound calls in one batch vs one at a time",
                    ratio(median(alone), median(batched)),
                    f"one at a time {seconds(median(alone))}, one batch {seconds(median(batched))} "
                    f"(medians of {sizes.batch_repeats}; each call burns {sizes.cpu_seconds} s of CPU)",
                    f"keep ≥ 1.8{TIMES}",
                )
            )
        if "batch-sleep" in only:
            config = {"BENCH_SLEEP_SECONDS": str(sizes.sleep_seconds)}
            stack.deploy("bench", "sleep", source=SLEEP, type="async", timeout=60, config=config)
            _one_batch(stack, "sleep", 1)
            walls, requests, claims, cpu = [], [], [], []
            for _ in range(sizes.batch_repeats):
                records = _submit(stack, "sleep", size)
                clock = RequestClock(stack)
                try:
                    walls.append(handle(stack, records))
                finally:
                    clock.close()
                requests.append(len(clock.requests))
                claims.append(sum(r.wall for r in clock.requests if r.on_handler_thread))
                cpu.append(sum(r.cpu for r in clock.requests))
            lines.append(
                Line(
                    "5",
                    f"{size} sleep-bound calls ({sizes.sleep_seconds:g} s) in one batch",
                    seconds(median(walls)),
                    f"wall time of the handler, median of {sizes.batch_repeats} "
                    f"({', '.join(seconds(w) for w in walls)}); {size * sizes.sleep_seconds:g} s "
                    # What is moto's: every request is CPU of this process, under its one GIL. The
                    # claims are made one after another on the handler's thread, before the last
                    # call can start; the outcomes are recorded as each call ends.
                    f"of sleep in all; per batch {median(requests):.0f} AWS requests on moto "
                    f"in-process, {ms(median(cpu))} of this process's CPU, the claims one after "
                    f"another {ms(median(claims))}",
                    "≈ 1 s, within the remaining-time budget",
                )
            )
    return lines
