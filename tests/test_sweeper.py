"""The sweeper recovers the open calls no message will bring back, finding them by key only."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from chalicelib import wiring
from chalicelib.aws.dynamodb.table import OPEN_INDEX
from chalicelib.ids import new_call_id, utcnow
from chalicelib.models import SYNC_LOST, Call, CallStatus, RouteType
from chalicelib.sweeper import Sweeper
from fnq.local.sweeper import scheduled_event
from tests.aws_requests import watch
from tests.conftest import Stack
from tests.support import Clock
from tests.test_calls import SIDE_EFFECT


def drop_messages(stack: Stack) -> None:
    """Lose every message on the calls queue (a deleted, dead-lettered or never-sent message)."""
    sqs = boto3.client("sqs", region_name=stack.settings.region)
    sqs.purge_queue(QueueUrl=stack.settings.calls_queue_url)


def call_of(stack: Stack, call_id: str) -> dict[str, Any]:
    status, body = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")
    assert status == 200, body
    return body["call"]  # type: ignore[no-any-return]


def queries_by_index(components: wiring.Components) -> list[str | None]:
    """The IndexName of every Query the components' DynamoDB client makes (None: the table)."""
    seen: list[str | None] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params.get("IndexName"))

    components.clients.dynamodb.meta.events.register("provide-client-params.dynamodb.Query", record)
    return seen


def test_a_running_call_whose_worker_died_and_whose_message_is_gone_is_requeued_and_run(
    stack: Stack, tmp_path: Path
) -> None:
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", timeout=10, config={"SIDE_FILE": str(side)})
    call_id = stack.request("POST", "/r/myapp/once").headers["Fn_call_id"]
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)

    # GIVEN a worker claimed the call, then was killed, and the message is gone
    components.stores.calls.claim(call_id, clock())
    drop_messages(stack)

    # WHEN the sweeper passes while the lease (10 s + grace 5 s) is live, it leaves the call be
    clock.now += timedelta(seconds=14)
    assert components.sweeper.sweep().requeued == 0
    assert call_of(stack, call_id)["status"] == "running"

    # WHEN it passes after the lease, it requeues the call and sends a new message
    clock.now += timedelta(seconds=2)
    assert components.sweeper.sweep().requeued == 1
    assert call_of(stack, call_id)["status"] == "queued"
    stack.work()

    # THEN the call ran once to success on its second attempt, the lost one on the record
    call = call_of(stack, call_id)
    assert (call["status"], call["attempt"]) == ("success", 2)
    assert [(a["number"], a["status"], a.get("error")) for a in call["attempts"]] == [
        (1, "error", "worker lost: lease expired"),
        (2, "success", None),
    ]
    assert side.read_text() == "ran\n"
    # and a finished call is out of the index: the next pass finds nothing
    clock.now += timedelta(days=1)
    assert components.sweeper.sweep().counts() == {"requeued": 0, "resent": 0, "failed": 0, "skipped": 0}


def test_a_queued_call_whose_message_was_deleted_is_re_sent_when_due_and_run(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    call_id = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    drop_messages(stack)
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)
    grace = stack.settings.sweep_queued_seconds

    # Not before its due time: a queued call's message may just be behind others
    clock.now += timedelta(seconds=grace - 5)
    assert components.sweeper.sweep().resent == 0
    assert stack.work() == []

    clock.now += timedelta(seconds=10)
    assert components.sweeper.sweep().resent == 1
    # a second pass at the same time finds it no longer due (its due time moved on)
    assert components.sweeper.sweep().resent == 0
    stack.work()

    call = call_of(stack, call_id)
    assert (call["status"], call["attempt"]) == ("success", 1)
    assert [(a["number"], a["status"]) for a in call["attempts"]] == [(1, "success")]


def left_running_sync_call(stack: Stack, now: datetime) -> Call:
    """The record a killed API invocation leaves: a sync call written running, never finished."""
    lease = 10 + stack.settings.lease_grace_seconds
    call = Call(
        id=new_call_id(now),
        app_name="myapp",
        path="/hello",
        type=RouteType.SYNC,
        status=CallStatus.RUNNING,
        created_at=now,
        started_at=now,
        attempt=1,
        attempt_started_at=now,
        lease_seconds=lease,
        lease_expires_at=now + timedelta(seconds=lease),
    )
    stack.components.stores.calls.insert_call(call)
    return call


def test_a_sync_call_left_running_by_a_killed_api_invocation_ends_in_error(stack: Stack) -> None:
    stack.deploy("myapp", "hello", timeout=10)
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)
    call = left_running_sync_call(stack, clock())

    clock.now += timedelta(seconds=14)
    assert components.sweeper.sweep().failed == 0
    assert call_of(stack, call.id)["status"] == "running"

    clock.now += timedelta(seconds=2)
    assert components.sweeper.sweep().failed == 1

    got = call_of(stack, call.id)
    assert (got["status"], got["attempt"], got["error"]) == ("error", 1, SYNC_LOST)
    assert [(a["number"], a["status"], a["error"]) for a in got["attempts"]] == [(1, "error", SYNC_LOST)]
    assert "completed_at" in got
    # nothing is sent for a sync call: its client is gone
    assert stack.work() == []


def test_a_pass_reads_the_open_index_by_key_only_and_is_bounded(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    ids = [stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"] for _ in range(6)]
    stack.work()  # these finish: they leave the index
    for _ in range(3):
        stack.request("POST", "/r/myapp/hello")
    drop_messages(stack)
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)
    clock.now += timedelta(seconds=stack.settings.sweep_queued_seconds + 1)
    requests = watch(components)
    indexes = queries_by_index(components)

    report = components.sweeper.sweep()

    shards = stack.settings.call_shards
    assert report.resent == 3
    assert "Scan" not in requests.names
    # one Query per shard of the open index, nothing else read; then one write and one send a call
    assert indexes == [OPEN_INDEX] * shards
    assert sorted(requests.names) == sorted(["Query"] * shards + ["UpdateItem", "SendMessage"] * 3)
    # only the open calls were read: the finished ones are not in the index
    assert requests.items_read == 3
    assert all(call_of(stack, i)["status"] == "success" for i in ids)


def test_a_pass_recovers_at_most_its_bound_per_shard_and_the_next_pass_the_rest(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    for _ in range(12):
        stack.request("POST", "/r/myapp/hello")
    drop_messages(stack)
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)
    sweeper = Sweeper(components.stores.calls, components.stores.queue, clock, per_shard=1)
    clock.now += timedelta(seconds=stack.settings.sweep_queued_seconds + 1)
    first = sweeper.sweep().resent
    assert 1 <= first <= stack.settings.call_shards
    total = first
    for _ in range(12):
        total += sweeper.sweep().resent
    assert total == 12


def test_the_scheduled_handler_runs_a_pass_on_the_event_the_local_timer_sends(stack: Stack) -> None:
    stack.deploy("myapp", "hello", timeout=10)
    call = left_running_sync_call(stack, utcnow() - timedelta(minutes=5))

    counts = stack.client.lambda_.invoke("sweep", scheduled_event(stack.settings.region)).payload

    assert counts["failed"] == 1
    assert call_of(stack, call.id)["status"] == "error"


def test_calls_that_ended_otherwise_leave_the_index(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    cancelled = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    assert stack.json("POST", f"/v1/apps/myapp/calls/{cancelled}/cancel")[0] == 200
    drop_messages(stack)
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)
    clock.now += timedelta(days=1)
    assert components.stores.calls.due_calls(clock(), 25) == []
    assert call_of(stack, cancelled)["status"] == "cancelled"


def test_fn_workers_timer_runs_passes_until_stopped(stack: Stack) -> None:
    import threading

    from fnq.local.sweeper import start_sweeping

    stack.deploy("myapp", "hello", timeout=10)
    call = left_running_sync_call(stack, utcnow() - timedelta(minutes=5))
    stop = threading.Event()
    thread = start_sweeping(stop, 0.05, stack.settings.region)
    assert thread is not None
    try:
        for _ in range(200):
            if call_of(stack, call.id)["status"] == "error":
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(5)
    assert call_of(stack, call.id)["status"] == "error"
    assert not thread.is_alive()
    assert start_sweeping(threading.Event(), 0, stack.settings.region) is None
