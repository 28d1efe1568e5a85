"""A call whose worker died is taken over once its lease expires, and the lost attempt is recorded."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from pathlib import Path

from chalicelib import wiring
from chalicelib.errors import TransitionError
from chalicelib.ids import utcnow
from chalicelib.models import CallStatus
from chalicelib.runner import Disposition
from tests.conftest import Stack
from tests.support import Clock
from tests.test_calls import SIDE_EFFECT


def test_a_call_left_running_by_a_dead_worker_is_taken_over_after_its_lease(
    stack: Stack, tmp_path: Path
) -> None:
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", timeout=10, config={"SIDE_FILE": str(side)})
    call_id = stack.request("POST", "/r/myapp/once").headers["Fn_call_id"]
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)
    store = components.stores.calls

    # GIVEN a worker claimed the call and died without a word
    dead = store.claim(call_id, clock())
    assert dead.status.value == "running" and dead.attempt == 1

    # WHEN the message comes back while the lease is live, the call is left to its owner
    assert components.runner.process(call_id).disposition is Disposition.HELD
    assert not side.exists()

    # WHEN it comes back after the lease (15 s on this stack, renewed by heartbeats) has expired
    clock.now += timedelta(seconds=16)
    assert components.runner.process(call_id).disposition is Disposition.ACK

    # THEN the second attempt ran the function once, and the lost attempt is on the record
    call = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")[1]["call"]
    assert (call["status"], call["attempt"]) == ("success", 2)
    assert [(a["number"], a["status"]) for a in call["attempts"]] == [(1, "error"), (2, "success")]
    assert call["attempts"][0]["error"] == "worker lost: lease expired"
    assert side.read_text() == "ran\n"


def test_a_late_outcome_from_a_taken_over_attempt_is_discarded(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async", timeout=10)
    call_id = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    clock = Clock()
    store = wiring.build(stack.settings, clock=clock).stores.calls
    first = store.claim(call_id, clock())
    clock.now += timedelta(seconds=16)
    second = store.claim(call_id, clock())
    assert second.attempt == 2
    try:
        store.finish(call_id, first.attempt, CallStatus.SUCCESS, clock())
    except TransitionError as exc:
        assert exc.current.attempt == 2
    else:
        raise AssertionError("the first attempt's outcome must be refused")
    done = store.finish(call_id, second.attempt, CallStatus.ERROR, clock(), "boom")
    assert done.status is CallStatus.ERROR


def test_of_many_workers_claiming_one_call_at_once_exactly_one_wins(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    store = stack.components.stores.calls
    for _ in range(20):
        call_id = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
        start = threading.Barrier(6)
        winners: list[int] = []

        def claim(
            call_id: str = call_id, start: threading.Barrier = start, winners: list[int] = winners
        ) -> None:
            start.wait()
            with contextlib.suppress(TransitionError):
                winners.append(store.claim(call_id, utcnow()).attempt)

        threads = [threading.Thread(target=claim) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert winners == [1]
