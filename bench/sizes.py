"""How much each row measures: issue #16's full sizes, or quick ones that still mean something."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Sizes:
    name: str
    samples: int  # timed repetitions per side for the median rows (executor, spawn, import, sync)
    batch_repeats: int  # batches timed per side for the batch rows
    cpu_seconds: float  # CPU time one CPU-bound call burns
    sleep_seconds: float  # wall time one sleep-bound call sleeps
    batch_size: int  # calls in one batch (Lambda's batch size for the calls queue)
    calls: int  # async calls of the throughput row
    clients: int  # concurrent HTTP clients of the throughput row
    listing_sizes: tuple[int, int]  # calls of the small and the big app of the listing rows
    per_page: int  # the page asked for by the listing rows
    error_share: float  # share of calls that ended in error, for `status=error`
    listing_budget: float  # seconds one listing may take on moto before it is stopped
    # Another checkout (e.g. main's worktree) whose `fn start` the fn start rows (throughput,
    # burst) also measure, in turn with this one's, for a ratio taken side by side; "": none.
    before: str = ""

    def describe(self) -> str:
        small, big = self.listing_sizes
        return (
            f"{self.name} ({self.samples} samples a side, {self.batch_repeats} batch(es) of "
            f"{self.batch_size} a side, {self.cpu_seconds} s CPU / {self.sleep_seconds} s sleep a call, "
            f"{self.calls} calls from {self.clients} clients, listings at {small} vs {big} calls, "
            f"per_page={self.per_page}, budget {self.listing_budget:.0f} s a listing"
            + (f"; fn start rows also on {self.before} (before)" if self.before else "")
            + ")"
        )


FULL = Sizes(
    name="full",
    samples=25,
    batch_repeats=3,
    cpu_seconds=0.4,
    sleep_seconds=1.0,
    batch_size=10,
    calls=1000,
    clients=16,
    listing_sizes=(100, 20_000),
    per_page=100,
    error_share=0.05,
    listing_budget=150.0,
)

# Small enough for a couple of minutes, big enough that every ratio still compares like with like.
QUICK = replace(
    FULL,
    name="quick",
    samples=7,
    batch_repeats=1,
    cpu_seconds=0.2,
    calls=200,
    listing_sizes=(100, 2_000),
    listing_budget=30.0,
)
