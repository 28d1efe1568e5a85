"""Caps on function processes: never more than allowed, waiting a bounded time, then refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest.mock import ANY

import pytest

from chalicelib import wiring
from chalicelib.errors import CapacityError
from chalicelib.execute.capacity import ProcessLimits
from chalicelib.execute.executor import Executor
from chalicelib.models import CallStatus, RouteFormat
from chalicelib.ports import Execution
from tests.conftest import Stack
from tests.execute.support import hot_python_function, invocation, python_function, running
from tests.test_calls import call_of

SLEEP_THEN_PID = """
def handle(request):
    import time
    time.sleep(float(request["body"] or 0))
    return answer(str(os.getpid()))
"""
HOT = {"format": RouteFormat.JSON}


def processes_of(function: Path) -> int:
    """Processes whose command line names the function's directory (its main processes)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(function).encode() in (entry / "cmdline").read_bytes():
                    count += 1
            except OSError:
                pass
    return count


class Sampler:
    """Counts a function's processes every few ms, in a thread, while the block runs."""

    def __init__(self, function: Path) -> None:
        self.function = function
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.most = max(self.most, processes_of(self.function))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def capped() -> Iterator[Callable[..., Executor]]:
    made: list[Executor] = []

    def make(**limits: float) -> Executor:
        executor = Executor(limits=ProcessLimits(**limits))  # type: ignore[arg-type]
        made.append(executor)
        return executor

    yield make
    for executor in made:
        executor.close()


def run_all(executor: Executor, function: Path, count: int, body: bytes, **changes: object) -> list[object]:
    def one(_: int) -> object:
        try:
            return executor.execute(function, invocation(body=body, **changes))
        except CapacityError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as threads:
        return list(threads.map(one, range(count)))


def test_concurrent_hot_calls_never_run_more_processes_than_the_cap_and_share_them(
    tmp_path: Path, capped: Callable[..., Executor]
) -> None:
    executor = capped(per_function=2, sync_wait_seconds=30)
    function = hot_python_function(tmp_path / "f", SLEEP_THEN_PID)

    with Sampler(function) as sampler:
        results = run_all(executor, function, 8, b"0.2", **HOT)

    assert all(isinstance(r, Execution) and r.status is CallStatus.SUCCESS for r in results), results
    assert sampler.most <= 2 and executor.slots.peak == 2
    assert len({r.output for r in results if isinstance(r, Execution)}) == 2


def test_past_the_cap_a_sync_call_waits_its_bounded_time_then_is_refused(
    tmp_path: Path, capped: Callable[..., Executor]
) -> None:
    executor = capped(per_function=1, sync_wait_seconds=0.3)
    function = hot_python_function(tmp_path / "f", SLEEP_THEN_PID)

    results = run_all(executor, function, 3, b"2", **HOT)

    refused = [r for r in results if isinstance(r, CapacityError)]
    assert len(refused) == 2
    assert refused[0].retry_after == 1 and "calls of this function are already running" in refused[0].message


def test_cold_calls_hold_slots_too(tmp_path: Path, capped: Callable[..., Executor]) -> None:
    executor = capped(total=1, sync_wait_seconds=0.3)
    function = python_function(tmp_path / "f", "import sys, time\ntime.sleep(float(sys.stdin.read()))\n")

    results = run_all(executor, function, 2, b"2")

    assert sum(isinstance(r, CapacityError) for r in results) == 1
    assert "all 1 function processes" in str(next(r for r in results if isinstance(r, CapacityError)))


def test_an_idle_process_of_another_function_is_stopped_to_make_room(
    tmp_path: Path, capped: Callable[..., Executor]
) -> None:
    executor = capped(total=1, sync_wait_seconds=5)
    one = hot_python_function(tmp_path / "one", SLEEP_THEN_PID)
    other = hot_python_function(tmp_path / "other", SLEEP_THEN_PID)
    idle_pid = int(executor.execute(one, invocation(path="/one", **HOT)).output)

    second = executor.execute(other, invocation(path="/other", **HOT))

    assert second.status is CallStatus.SUCCESS
    assert not running(idle_pid) and executor.slots.peak == 1


def test_over_http_a_refused_sync_call_is_a_503_with_retry_after_and_an_async_one_stays_queued(
    stack: Stack,
) -> None:
    # GIVEN an API whose executor allows one process per function, that one busy
    executor = Executor(limits=ProcessLimits(per_function=1, sync_wait_seconds=0.2, async_wait_seconds=0.2))
    wiring.install(wiring.build(stack.settings, executor=executor))
    stack.deploy("myapp", "hello")
    stack.deploy("myapp", "later", type="async")
    busy = [executor.pool.slot_for(function, 0) for function in ("myapp/hello", "myapp/later")]

    # WHEN a sync call and an async call come
    refused = stack.request("POST", "/r/myapp/hello", b"", {"content-type": "text/plain"})
    queued = stack.request("POST", "/r/myapp/later", b"", {"content-type": "text/plain"})
    batches = stack.work(max_batches=1)

    # THEN the sync call is a 503 saying why, with Retry-After, and recorded as such
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    message = json.loads(refused.body)["error"]["message"]
    assert message == "Too busy: 1 calls of this function are already running; retry later"
    _, listing = stack.json("GET", "/v1/apps/myapp/calls?path=/hello")
    assert [(c["status"], c["error"]) for c in listing["calls"]] == [("error", f"platform fault: {message}")]
    # and the async call went back to the queue, its message left for later
    later = queued.headers["Fn_call_id"]
    assert batches == [{"batchItemFailures": [{"itemIdentifier": ANY}]}]
    assert call_of(stack, "myapp", later)["status"] == "queued"

    # and once a process is free, both run
    for slot in busy:
        slot.release()
    again = stack.request("POST", "/r/myapp/hello", b"", {"content-type": "text/plain"})
    assert again.status_code == 200, again.body
    executor.close()
