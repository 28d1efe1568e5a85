"""Calls end to end on moto: submit → queue → worker → outcome, log, listing, and every failure path."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from chalicelib import wiring
from chalicelib.ids import is_call_id, utcnow
from tests.conftest import Stack

SIDE_EFFECT = """
import os, sys
with open(os.environ["SIDE_FILE"], "a") as f:
    f.write("ran\\n")
print("done")
"""

FAILS = """
import sys
print("about to fail")
print("bad input", file=sys.stderr)
sys.exit(3)
"""

FORKS_AND_HANGS = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(os.environ["PID_FILE"], "w") as f:
    f.write(str(child.pid))
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in {"Z", "X"}


def call_of(stack: Stack, app: str, call_id: str) -> dict[str, Any]:
    status, body = stack.json("GET", f"/v1/apps/{app}/calls/{call_id}")
    assert status == 200, body
    call: dict[str, Any] = body["call"]
    return call


def test_the_record_is_queued_before_the_worker_runs_and_success_after(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    response = stack.request("POST", "/r/myapp/hello", b'{"name":"Ada"}', {"content-type": "text/plain"})
    assert response.status_code == 202
    call_id = json.loads(response.body)["call_id"]
    assert is_call_id(call_id) and response.headers["Fn_call_id"] == call_id

    queued = call_of(stack, "myapp", call_id)
    assert (queued["status"], queued["path"], "started_at" in queued) == ("queued", "/hello", False)

    stack.work()
    done = call_of(stack, "myapp", call_id)
    assert done["status"] == "success"
    assert str(done["created_at"]) <= str(done["started_at"]) <= str(done["completed_at"])
    assert done["attempt"] == 1
    assert done["usage"]["exit_code"] == 0 and done["usage"]["duration_ms"] >= 0
    assert all(set(sample) == {"timestamp", "metrics"} for sample in done.get("stats", []))
    _status, log = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}/log")
    assert log == {
        "message": "Successfully loaded log",
        "log": {"call_id": call_id, "log": '{"message": "Hello Ada"}\n', "app_name": "myapp"},
    }
    text = stack.request("GET", f"/v1/apps/myapp/calls/{call_id}/log", headers={"accept": "text/plain"})
    assert text.body == b'{"message": "Hello Ada"}\n'
    refused = stack.request("GET", f"/v1/apps/myapp/calls/{call_id}/log", headers={"accept": "image/png"})
    assert refused.status_code == 406


def test_a_failing_function_ends_in_error_with_its_exit_code_and_logs(stack: Stack) -> None:
    stack.deploy("myapp", "fails", FAILS, type="async")
    call_id = stack.request("POST", "/r/myapp/fails").headers["Fn_call_id"]
    stack.work()
    call = call_of(stack, "myapp", call_id)
    assert (call["status"], call["error"]) == ("error", "container exit code 3")
    log = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}/log")[1]["log"]["log"]
    assert "about to fail" in log and "bad input" in log


def test_a_function_past_its_timeout_is_killed_with_its_children(stack: Stack, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    stack.deploy(
        "myapp", "hangs", FORKS_AND_HANGS, type="async", timeout=2, config={"PID_FILE": str(pid_file)}
    )
    call_id = stack.request("POST", "/r/myapp/hangs").headers["Fn_call_id"]
    stack.work()
    assert call_of(stack, "myapp", call_id)["status"] == "timeout"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_the_same_message_delivered_twice_runs_the_function_once(stack: Stack, tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(side)})
    call_id = stack.request("POST", "/r/myapp/once").headers["Fn_call_id"]
    from tests.support import receive_event

    event = receive_event(stack.settings.calls_queue_url)
    first = stack.invoke("handle_calls", event)
    second = stack.invoke("handle_calls", event)
    assert first == second == {"batchItemFailures": []}
    assert side.read_text() == "ran\n"
    assert call_of(stack, "myapp", call_id)["status"] == "success"


def test_two_messages_for_one_call_run_the_function_once(stack: Stack, tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(side)})
    call_id = stack.request("POST", "/r/myapp/once").headers["Fn_call_id"]
    stack.components.stores.queue.send(call_id)  # a duplicate publish
    stack.work()
    assert side.read_text() == "ran\n"
    assert call_of(stack, "myapp", call_id)["status"] == "success"
    # A copy that arrived while the call was running was kept for redelivery (in case the owner
    # died); delivered again now that the call is done, it is acknowledged and runs nothing.
    stack.components.stores.queue.send(call_id)
    assert stack.work() == [{"batchItemFailures": []}]
    assert side.read_text() == "ran\n"


def test_a_sync_call_answers_with_the_function_output_and_is_recorded(stack: Stack) -> None:
    stack.deploy("myapp", "hello")
    response = stack.request("POST", "/r/myapp/hello", b'{"name":"Sync"}', {"content-type": "text/plain"})
    assert response.status_code == 200
    assert response.body == b'{"message": "Hello Sync"}\n'
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    call = call_of(stack, "myapp", response.headers["Fn_call_id"])
    assert call["status"] == "success" and call["type"] == "sync"


def test_a_failing_sync_call_answers_502_with_the_call_id(stack: Stack) -> None:
    stack.deploy("myapp", "fails", FAILS)
    response = stack.request("GET", "/r/myapp/fails")
    assert response.status_code == 502
    assert json.loads(response.body) == {"error": {"message": "container exit code 3"}}
    assert call_of(stack, "myapp", response.headers["Fn_call_id"])["status"] == "error"


def test_invoking_what_does_not_exist_is_a_404(stack: Stack) -> None:
    assert stack.json("POST", "/r/nope/hello") == (404, {"error": {"message": "App not found"}})
    stack.json("POST", "/v1/apps", {"app": {"name": "myapp"}})
    assert stack.json("POST", "/r/myapp/nope") == (404, {"error": {"message": "Route not found"}})


def test_a_call_id_of_the_wrong_shape_is_a_404_not_a_500(stack: Stack) -> None:
    stack.json("POST", "/v1/apps", {"app": {"name": "myapp"}})
    for bad in ["nope", "x" * 26, "01BVJ5T7CA07WGE0000000000I", "%00"]:
        assert stack.json("GET", f"/v1/apps/myapp/calls/{bad}") == (
            404,
            {"error": {"message": "Call not found"}},
        )
        assert stack.json("GET", f"/v1/apps/myapp/calls/{bad}/log")[0] == 404


def test_a_body_over_the_limit_is_a_413(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    wiring.install(wiring.build(replace(stack.settings, max_request_bytes=1000)))
    response = stack.request("POST", "/r/myapp/hello", b"x" * 1001, {"content-type": "text/plain"})
    assert response.status_code == 413
    assert json.loads(response.body) == {
        "error": {"message": "Request content too large (1,001 bytes; at most 1,000 for this resource)"}
    }


def test_a_body_too_big_for_the_record_goes_through_s3_intact(stack: Stack) -> None:
    echo = "import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n"
    stack.deploy("myapp", "echo", echo, type="async")
    payload = bytes(range(256)) * 1024  # 256 KiB of every byte value
    call_id = stack.request(
        "POST", "/r/myapp/echo", payload, {"content-type": "application/octet-stream"}
    ).headers["Fn_call_id"]
    stack.work()
    assert call_of(stack, "myapp", call_id)["status"] == "success"
    assert stack.components.stores.blobs.get_log("myapp", call_id) == payload


def test_when_the_queue_refuses_the_client_gets_503_and_the_call_is_not_left_queued(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    broken = replace(stack.settings, calls_queue_url=stack.settings.calls_queue_url + "-missing")
    wiring.install(wiring.build(broken))
    response = stack.request("POST", "/r/myapp/hello")
    assert response.status_code == 503
    assert json.loads(response.body)["error"]["message"].startswith("Could not enqueue call")
    _status, listing = stack.json("GET", "/v1/apps/myapp/calls")
    (call,) = listing["calls"]
    assert (call["status"], call["error"]) == ("error", "could not enqueue the call; it was not run")


def test_calls_are_listed_newest_first_across_pages_and_by_path(stack: Stack) -> None:
    stack.json("PUT", "/v1/apps/myapp/routes/a", {"route": {"image": "a:1", "type": "async"}})
    stack.json("PUT", "/v1/apps/myapp/routes/b", {"route": {"image": "b:1", "type": "async"}})
    ids = {"a": [], "b": []}  # type: dict[str, list[str]]
    for i in range(10):
        route = "a" if i % 3 else "b"
        ids[route].append(stack.request("POST", f"/r/myapp/{route}").headers["Fn_call_id"])

    def walk(query: str) -> tuple[list[str], int]:
        seen: list[str] = []
        pages, cursor = 0, ""
        while True:
            _status, page = stack.json("GET", f"/v1/apps/myapp/calls?per_page=3{query}&cursor={cursor}")
            pages += 1
            seen += [c["id"] for c in page["calls"]]
            cursor = page["next_cursor"]
            assert len(page["calls"]) == 3 or cursor == ""
            if not cursor:
                return seen, pages

    # A full page may be the last (no cursor) when the store knows every shard has run out.
    everything, pages = walk("")
    assert everything == sorted(ids["a"] + ids["b"], reverse=True) and pages in (4, 5)
    only_a, pages = walk("&path=/a")
    assert only_a == sorted(ids["a"], reverse=True) and pages in (2, 3)
    assert stack.json("GET", "/v1/apps/myapp/calls?path=/none") == (
        200,
        {"message": "Successfully listed calls", "next_cursor": "", "calls": []},
    )
    assert stack.json("GET", "/v1/apps/nope/calls") == (404, {"error": {"message": "App not found"}})


def test_time_bounds_select_calls_by_creation_second(stack: Stack) -> None:
    stack.json("PUT", "/v1/apps/myapp/routes/a", {"route": {"image": "a:1", "type": "async"}})
    call_id = stack.request("POST", "/r/myapp/a").headers["Fn_call_id"]
    created = int(time.time())
    later, earlier = created + 5, created - 5
    assert [c["id"] for c in stack.json("GET", f"/v1/apps/myapp/calls?from_time={earlier}")[1]["calls"]] == [
        call_id
    ]
    assert stack.json("GET", f"/v1/apps/myapp/calls?from_time={later}")[1]["calls"] == []
    assert stack.json("GET", f"/v1/apps/myapp/calls?to_time={earlier}")[1]["calls"] == []
    assert stack.json("GET", "/v1/apps/myapp/calls?from_time=yesterday") == (
        400,
        {"error": {"message": "from_time is not an epoch time"}},
    )
    assert stack.json("GET", "/v1/apps/myapp/calls?status=queued")[1]["calls"][0]["id"] == call_id
    assert stack.json("GET", "/v1/apps/myapp/calls?status=success")[1]["calls"] == []


def test_a_call_is_listed_under_each_status_it_moves_to_and_only_there(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    stack.deploy("myapp", "fails", FAILS, type="async")
    store = stack.components.stores.calls

    def listed(status: str, path: str = "") -> list[dict[str, Any]]:
        query = f"status={status}" + (f"&path={path}" if path else "")
        calls: list[dict[str, Any]] = stack.json("GET", f"/v1/apps/myapp/calls?{query}")[1]["calls"]
        return calls

    def ids(status: str, path: str = "") -> list[str]:
        return [c["id"] for c in listed(status, path)]

    done = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    failed = stack.request("POST", "/r/myapp/fails").headers["Fn_call_id"]
    assert ids("queued") == [failed, done] and ids("running") == ids("success") == []
    stack.work()
    running = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    store.claim(running, utcnow())  # a worker has it
    assert (ids("queued"), ids("running")) == ([], [running])
    stack.json("POST", f"/v1/apps/myapp/calls/{running}/cancel")
    dead = stack.request("POST", "/r/myapp/hello").headers["Fn_call_id"]
    store.fail_queued(dead, utcnow(), "dead-lettered")

    assert (ids("queued"), ids("running"), ids("cancelled")) == ([], [], [running])
    assert (ids("success"), ids("error")) == ([done], [dead, failed])
    assert [c.get("dead", False) for c in listed("error")] == [True, False]
    everything = stack.json("GET", "/v1/apps/myapp/calls")[1]["calls"]
    assert [c["id"] for c in everything if c.get("dead")] == [dead]  # every index projects `dead`
    assert (ids("error", "/fails"), ids("error", "/hello")) == ([failed], [dead])


def test_a_queued_call_can_be_cancelled_and_then_never_runs(stack: Stack, tmp_path: Path) -> None:
    side = tmp_path / "side.txt"
    stack.deploy("myapp", "once", SIDE_EFFECT, type="async", config={"SIDE_FILE": str(side)})
    call_id = stack.request("POST", "/r/myapp/once").headers["Fn_call_id"]
    status, body = stack.json("POST", f"/v1/apps/myapp/calls/{call_id}/cancel")
    assert (status, body["call"]["status"]) == (200, "cancelled")
    stack.work()
    assert not side.exists()
    status, body = stack.json("POST", f"/v1/apps/myapp/calls/{call_id}/cancel")
    assert (status, body["error"]["message"]) == (409, "Call is cancelled and cannot be cancelled")
