"""Delayed calls: an async call may ask to start no earlier than a time, beyond SQS's 15 minutes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from chalicelib import wiring
from chalicelib.codec import parse_iso_time
from tests.conftest import Stack
from tests.support import Clock, receive_event, settle
from tests.test_calls import SIDE_EFFECT
from tests.test_sweeper import call_of


def deliver(stack: Stack, components: wiring.Components) -> int:
    """Hand whatever is on the calls queue to `components`' handler (its clock); answer how many."""
    event = receive_event(stack.settings.calls_queue_url)
    if event["Records"]:
        settle(stack.settings.calls_queue_url, event, components.calls_handler.handle_batch(event))
    return len(event["Records"])


def test_a_call_delayed_twenty_minutes_starts_after_its_time_and_not_before(
    stack: Stack, tmp_path: Path
) -> None:
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(side)})
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)
    wiring.install(components)

    response = stack.request("POST", "/r/myapp/once", headers={"Fn-Delay": "1200"})
    assert response.status_code == 202
    call_id = response.headers["Fn_call_id"]

    # It waits as a visible record: queued, with its earliest start, and no message
    waiting = call_of(stack, call_id)
    not_before = parse_iso_time(waiting["not_before"])
    assert waiting["status"] == "queued"
    # (Fn's times are in milliseconds)
    assert timedelta(0) <= clock.now + timedelta(seconds=1200) - not_before < timedelta(milliseconds=1)
    assert deliver(stack, components) == 0

    clock.now += timedelta(seconds=1199)
    assert components.sweeper.sweep().resent == 0
    assert deliver(stack, components) == 0
    assert not side.exists()

    clock.now += timedelta(seconds=2)
    assert components.sweeper.sweep().resent == 1
    assert deliver(stack, components) == 1

    done = call_of(stack, call_id)
    assert done["status"] == "success"
    assert parse_iso_time(done["started_at"]) >= not_before
    assert side.read_text() == "ran\n"


def test_a_delayed_call_can_be_cancelled_while_it_waits_and_never_runs(stack: Stack, tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(side)})
    clock = Clock()
    components = wiring.build(stack.settings, clock=clock)
    wiring.install(components)
    at = (clock.now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    call_id = stack.request("POST", "/r/myapp/once", headers={"Fn-Not-Before": at}).headers["Fn_call_id"]

    status, body = stack.json("POST", f"/v1/apps/myapp/calls/{call_id}/cancel")
    assert (status, body["call"]["status"]) == (200, "cancelled")

    clock.now += timedelta(hours=3)
    assert components.sweeper.sweep().resent == 0
    assert deliver(stack, components) == 0
    assert call_of(stack, call_id)["status"] == "cancelled"
    assert not side.exists()


def test_a_malformed_or_misplaced_delay_is_refused(stack: Stack) -> None:
    stack.deploy("myapp", "later", type="async")
    stack.deploy("myapp", "now")
    for headers in ({"Fn-Delay": "soon"}, {"Fn-Not-Before": "tomorrow"}, {"Fn-Delay": str(15 * 86400)}):
        assert stack.request("POST", "/r/myapp/later", headers=headers).status_code == 400, headers
    assert stack.request("POST", "/r/myapp/now", headers={"Fn-Delay": "60"}).status_code == 400
