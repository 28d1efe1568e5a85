"""The step that settles the calls a stop or a crash of fn start left open, on fnq's own store (moto)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from chalicelib.ids import new_call_id, utcnow
from chalicelib.models import CallStatus, RouteType, RunStats
from chalicelib.ports import Execution
from chalicelib.runner import outcome_metadata
from fnq.local.recovery import CRASHED, STOPPED, SYNC_NOT_RERUN, settle
from tests.conftest import Stack


def submit(stack: Stack, headers: dict[str, str] | None = None) -> str:
    response = stack.request("POST", "/r/myapp/hello", b"", headers or {})
    assert response.status_code == 202, response.body
    return str(json.loads(response.body)["call_id"])


def test_each_open_call_is_settled_as_the_rules_say(stack: Stack) -> None:
    # GIVEN calls as a crash leaves them: queued, delayed, running, running with its outcome
    # stored with its log (the final write lost), and a sync call running
    stack.deploy("myapp", "hello", type="async")
    calls, blobs = stack.components.stores.calls, stack.components.stores.blobs
    now = utcnow()
    queued, delayed = submit(stack), submit(stack, {"Fn-Delay": "1200"})
    running, recorded = submit(stack), submit(stack)
    calls.claim(running, now)
    calls.claim(recorded, now)
    ran = Execution(CallStatus.SUCCESS, b"", b"", RunStats(duration_ms=5, exit_code=0))
    blobs.put_log("myapp", recorded, b"it ran", outcome_metadata(1, ran))
    sync = new_call_id(now)
    calls.insert_call(
        replace(
            calls.get_call(queued),
            id=sync,
            type=RouteType.SYNC,
            status=CallStatus.RUNNING,
            attempt=1,
            started_at=now,
            attempt_started_at=now,
            lease_expires_at=now + timedelta(seconds=90),
        )
    )
    open_calls = {
        queued: "queued",
        delayed: "queued",
        running: "running",
        recorded: "running",
        sync: "running",
    }

    # WHEN the next start settles them
    settled = settle(calls, blobs, open_calls, CRASHED, utcnow())

    # THEN the running async call runs again, the recorded outcome is kept, the sync call is an
    # error, and every due queued call is sent again; the delayed one waits for the sweeper
    assert settled.requeued == [running]
    assert sorted(settled.finished) == sorted([recorded, sync])
    assert sorted(settled.queued) == sorted([queued, running])
    requeued = calls.get_call(running)
    assert (requeued.status, requeued.attempts[-1].error) == (CallStatus.QUEUED, CRASHED)
    assert calls.get_call(recorded).status is CallStatus.SUCCESS
    stopped = calls.get_call(sync)
    assert (stopped.status, stopped.error) == (CallStatus.ERROR, CRASHED + SYNC_NOT_RERUN)
    assert calls.get_call(delayed).status is CallStatus.QUEUED


def test_an_ephemeral_stop_records_its_running_calls_as_stopped(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    calls, blobs = stack.components.stores.calls, stack.components.stores.blobs
    running = submit(stack)
    calls.claim(running, utcnow())

    settled = settle(calls, blobs, {running: "running"}, STOPPED, utcnow(), run_again=False)

    assert (settled.finished, settled.queued) == ([running], [])
    stopped = calls.get_call(running)
    assert (stopped.status, stopped.error) == (CallStatus.ERROR, STOPPED)
