"""Heartbeat leases: a running call's lease is renewed while it runs; a cancel stops the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.codec import epoch_ms
from chalicelib.errors import TransitionError
from chalicelib.ids import utcnow
from chalicelib.runner import Disposition
from tests.conftest import Stack
from tests.test_calls import alive, call_of

HEARTBEAT_SECONDS = 0.2

SLEEPS = """
import os, sys, time
with open(os.environ["PID_FILE"], "w") as f:
    f.write(str(os.getpid()))
print("started", file=sys.stderr, flush=True)
time.sleep(60)
print("never")
"""


def wait_for(condition: Callable[[], object], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_renewal_moves_the_lease_and_is_refused_once_the_call_is_cancelled(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async", timeout=600)
    call_id = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    store = stack.components.stores.calls
    now = utcnow()
    claimed = store.claim(call_id, now)
    # The claim's lease is the short heartbeat lease, not the 600 s timeout.
    assert claimed.lease_expires_at is not None
    assert claimed.lease_expires_at - now <= timedelta(seconds=stack.settings.lease_seconds)

    later = now + timedelta(seconds=10)
    store.renew(call_id, claimed.attempt, later, 15)
    renewed = store.get_call(call_id)
    assert renewed.lease_expires_at is not None
    assert epoch_ms(renewed.lease_expires_at) == epoch_ms(later) + 15_000

    with pytest.raises(TransitionError):
        store.renew(call_id, claimed.attempt + 1, later, 15)  # another attempt's renewal
    store.cancel(call_id, later)
    with pytest.raises(TransitionError):
        store.renew(call_id, claimed.attempt, later, 15)


def test_cancelling_a_running_call_kills_its_process_within_a_heartbeat(stack: Stack, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    stack.deploy("myapp", "sleeps", SLEEPS, type="async", timeout=60, config={"PID_FILE": str(pid_file)})
    call_id = stack.request("POST", "/r/myapp/sleeps").headers["Fn_call_id"]
    components = wiring.build(replace(stack.settings, heartbeat_seconds=HEARTBEAT_SECONDS))
    outcome: list[Disposition] = []
    worker = threading.Thread(target=lambda: outcome.append(components.runner.process(call_id).disposition))
    worker.start()
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text())
        pid = int(pid_file.read_text())
        assert alive(pid)

        status, body = stack.json("POST", f"/v1/apps/myapp/calls/{call_id}/cancel")
        assert status == 200, body
        # Within one heartbeat to learn of it, plus slack for the executor's poll, the kill and a
        # busy machine: far below the 60 s the function would otherwise sleep.
        wait_for(lambda: not alive(pid), timeout=HEARTBEAT_SECONDS + 2.0)
    finally:
        worker.join(timeout=30)
    assert outcome == [Disposition.ACK]
    assert call_of(stack, "myapp", call_id)["status"] == "cancelled"
    assert stack.components.stores.blobs.get_log("myapp", call_id) == b"started\n"


def test_a_cancelled_sync_call_answers_502_not_the_functions_output(stack: Stack, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    stack.deploy("myapp", "sleeps", SLEEPS, timeout=60, config={"PID_FILE": str(pid_file)})
    wiring.install(wiring.build(replace(stack.settings, heartbeat_seconds=HEARTBEAT_SECONDS)))
    replies: list[object] = []
    caller = threading.Thread(target=lambda: replies.append(stack.request("POST", "/r/myapp/sleeps")))
    caller.start()
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text())
        # A sync call is recorded (and so can be cancelled) once it outlives its first heartbeat.
        wait_for(lambda: stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"])
        call_id = stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"][0]["id"]
        assert stack.json("POST", f"/v1/apps/myapp/calls/{call_id}/cancel")[0] == 200
    finally:
        caller.join(timeout=30)
    (reply,) = replies
    assert reply.status_code == 502  # type: ignore[attr-defined]
    assert call_of(stack, "myapp", call_id)["status"] == "cancelled"
