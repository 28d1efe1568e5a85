from __future__ import annotations

import pytest

from tests.cli.peer import FnPeer, RunFn, call_json

LOG = "hello from the function\nsecond line\n"


def test_logs_get_prints_the_log_exactly_with_no_added_newline(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp/calls/C1/log", body={"log": {"call_id": "C1", "log": LOG}})

    result = fn("logs", "get", "myapp", "C1")

    assert (result.exit_code, result.stdout) == (0, LOG)
    assert peer.requests[0].headers["Accept"] == "application/json"


def test_logs_get_last_reads_the_log_of_the_newest_call(fn: RunFn, peer: FnPeer) -> None:
    newest_first = [call_json(id="C2"), call_json(id="C1")]
    peer.on("GET", "/v1/apps/myapp/calls", body={"calls": newest_first, "next_cursor": ""})
    peer.on("GET", "/v1/apps/myapp/calls/C2/log", body={"log": {"call_id": "C2", "log": "newest"}})

    for last in ("last", "l"):
        assert fn("logs", "get", "myapp", last).stdout == "newest"
    assert peer.seen[:2] == ["GET /v1/apps/myapp/calls", "GET /v1/apps/myapp/calls/C2/log"]


def test_logs_get_last_without_calls_says_there_are_none(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp/calls", body={"calls": [], "next_cursor": ""})

    result = fn("logs", "get", "myapp", "last")

    assert (result.exit_code, result.stderr) == (1, "ERROR: No previous calls found.\n")


def test_logs_get_of_a_missing_log_prints_the_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp/calls/C1/log", 404, body={"error": {"message": "Call log not found"}})
    peer.on("GET", "/v1/apps/myapp/calls/C1", body={"call": call_json(id="C1", status="success")})

    assert fn("logs", "get", "myapp", "C1").stderr == "ERROR: Call log not found\n"


@pytest.mark.parametrize("status", ["queued", "running"])
def test_logs_get_of_an_unfinished_call_says_so_and_how_to_wait(fn: RunFn, peer: FnPeer, status: str) -> None:
    peer.on("GET", "/v1/apps/myapp/calls/C1/log", 404, body={"error": {"message": "Call log not found"}})
    peer.on("GET", "/v1/apps/myapp/calls/C1", body={"call": call_json(id="C1", status=status)})

    result = fn("logs", "get", "myapp", "C1")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"ERROR: call C1 is {status}: its log is stored when it finishes; "
        "wait for it with: fn calls get --wait myapp C1\n"
    )


def test_logs_get_of_an_unknown_call_keeps_the_servers_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp/calls/C9/log", 404, body={"error": {"message": "Call not found"}})
    peer.on("GET", "/v1/apps/myapp/calls/C9", 404, body={"error": {"message": "Call not found"}})

    assert fn("logs", "get", "myapp", "C9").stderr == "ERROR: Call not found\n"


def test_logs_get_prints_a_text_plain_log_as_it_came(fn: RunFn, peer: FnPeer) -> None:
    peer.on(
        "GET", "/v1/apps/myapp/calls/C1/log", body=b"raw \xc3\xa9\n", headers={"Content-Type": "text/plain"}
    )

    assert fn("logs", "g", "myapp", "C1").stdout_bytes == b"raw \xc3\xa9\n"
