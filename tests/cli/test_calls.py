from __future__ import annotations

from tests.cli.peer import FakeClock, FnPeer, RunFn, call_json

CALL_ID = "01C92S7X4NNG8G00GZJ0000002"
BLOCK = (
    f"ID: {CALL_ID}\n"
    "App: myapp\n"
    "Route: /hello\n"
    "Created At: 2018-05-30T12:00:00.000Z\n"
    "Started At: 2018-05-30T12:00:01.000Z\n"
    "Completed At: 2018-05-30T12:00:02.500Z\n"
    "Status: success\n"
    "\n"
)


def test_calls_get_prints_fns_call_block(fn: RunFn, peer: FnPeer) -> None:
    peer.on(
        "GET",
        f"/v1/apps/myapp/calls/{CALL_ID}",
        body={"message": "Successfully loaded call", "call": call_json()},
    )

    result = fn("calls", "get", "myapp", CALL_ID)

    assert (result.exit_code, result.stdout, result.stderr) == (0, BLOCK, "")


def test_calls_get_adds_the_error_reason_after_a_blank_line(fn: RunFn, peer: FnPeer) -> None:
    failed = call_json(status="error", error="container exit code 1")
    peer.on("GET", f"/v1/apps/myapp/calls/{CALL_ID}", body={"call": failed})

    result = fn("calls", "get", "myapp", CALL_ID)

    assert result.stdout == BLOCK.replace("success", "error") + "Error reason: container exit code 1\n\n"


def test_calls_get_adds_fnqs_callback_attempts_after_fns_block(fn: RunFn, peer: FnPeer) -> None:
    attempts = [
        {
            "number": 1,
            "at": "2018-05-30T12:00:03.000Z",
            "outcome": "failed",
            "status_code": 500,
            "error": "HTTP 500",
        },
        {
            "number": 2,
            "at": "2018-05-30T12:00:04.25Z",
            "outcome": "refused",
            "error": "refused: 10.0.0.1 is private",
        },
        {"number": 3, "at": "2018-05-30T12:00:05Z", "outcome": "delivered", "status_code": 204},
    ]
    called = call_json(callback_url="https://hooks.example/x", callbacks=attempts)
    peer.on("GET", f"/v1/apps/myapp/calls/{CALL_ID}", body={"call": called})

    result = fn("calls", "get", "myapp", CALL_ID)

    assert result.stdout == BLOCK + (
        "Callback URL: https://hooks.example/x\n"
        "Callback attempt 1: 2018-05-30T12:00:03.000Z failed (HTTP 500)\n"
        "Callback attempt 2: 2018-05-30T12:00:04.250Z refused (refused: 10.0.0.1 is private)\n"
        "Callback attempt 3: 2018-05-30T12:00:05.000Z delivered (HTTP 204)\n"
        "\n"
    )


def test_calls_get_normalises_times_as_gos_strfmt_does(fn: RunFn, peer: FnPeer) -> None:
    odd = call_json(created_at="2018-05-30T12:00:00.123456789Z", started_at="2018-05-30T14:00:00.5+02:00")
    del odd["completed_at"]
    peer.on("GET", f"/v1/apps/myapp/calls/{CALL_ID}", body={"call": odd})

    lines = fn("calls", "get", "myapp", CALL_ID).stdout.splitlines()

    assert lines[3:6] == [
        "Created At: 2018-05-30T12:00:00.123Z",
        "Started At: 2018-05-30T14:00:00.500+02:00",
        "Completed At: 0001-01-01T00:00:00.000Z",
    ]


def test_calls_get_of_an_unknown_call_prints_call_not_found(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp/calls/NOPE", 404, body={"error": {"message": "Call not found"}})

    result = fn("calls", "get", "myapp", "NOPE")

    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "ERROR: Call not found\n")


def test_calls_get_without_the_call_id_names_the_missing_arguments(fn: RunFn, peer: FnPeer) -> None:
    result = fn("calls", "get", "myapp")

    assert (result.exit_code, result.stderr) == (1, "ERROR: Missing required arguments: <app> <call-id>\n")


def test_calls_get_refuses_a_200_without_the_call_wrapper(fn: RunFn, peer: FnPeer) -> None:
    # Fn's CLI panicked with a nil dereference here (fn-api.md §6.2).
    peer.on("GET", f"/v1/apps/myapp/calls/{CALL_ID}", body={})

    result = fn("calls", "get", "myapp", CALL_ID)

    assert (result.exit_code, result.stderr) == (
        1,
        'ERROR: unexpected response from server: no "call" object\n',
    )


def test_calls_list_follows_next_cursor_and_prints_blocks_newest_first(fn: RunFn, peer: FnPeer) -> None:
    page1 = [call_json(id="C3"), call_json(id="C2")]
    peer.on("GET", "/v1/apps/myapp/calls", body={"calls": page1, "next_cursor": "C2"})
    peer.on("GET", "/v1/apps/myapp/calls?cursor=C2", body={"calls": [call_json(id="C1")], "next_cursor": ""})

    result = fn("calls", "list", "myapp")

    assert result.stdout == "".join(BLOCK.replace(CALL_ID, cid) for cid in ("C3", "C2", "C1"))
    assert peer.seen == ["GET /v1/apps/myapp/calls", "GET /v1/apps/myapp/calls?cursor=C2"]


def test_calls_list_stops_once_n_calls_have_arrived(fn: RunFn, peer: FnPeer) -> None:
    page1 = [call_json(id="C3"), call_json(id="C2")]
    peer.on("GET", "/v1/apps/myapp/calls", body={"calls": page1, "next_cursor": "C2"})

    result = fn("calls", "list", "myapp", "-n", "1")

    assert result.stdout == BLOCK.replace(CALL_ID, "C3")
    assert peer.seen == ["GET /v1/apps/myapp/calls"]


def test_calls_list_sends_filters_as_fn_does_with_times_in_unix_seconds(fn: RunFn, peer: FnPeer) -> None:
    query = "cursor=C9&from_time=1527681600&path=%2Fhello&to_time=1527685200"
    peer.on("GET", f"/v1/apps/myapp/calls?{query}", body={"calls": [], "next_cursor": ""})

    result = fn(
        "calls", "list", "myapp", "--path", "/hello", "--cursor", "C9",
        "--from-time", "2018-05-30T12:00:00Z", "--to-time", "2018-05-30T15:00:00+02:00",
    )  # fmt: skip

    assert (result.exit_code, result.stdout) == (0, "")
    assert peer.seen == [f"GET /v1/apps/myapp/calls?{query}"]


def test_calls_list_refuses_a_time_that_is_not_rfc3339(fn: RunFn, peer: FnPeer) -> None:
    result = fn("calls", "list", "myapp", "--from-time", "2018-05-30 12:00:00")

    assert result.exit_code == 1
    assert result.stderr.startswith('ERROR: parsing time "2018-05-30 12:00:00"')
    assert peer.requests == []


def test_calls_list_of_a_missing_app_prints_the_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/nope/calls", 404, body={"error": {"message": "App not found"}})

    assert fn("calls", "list", "nope").stderr == "ERROR: App not found\n"


def test_calls_get_wait_polls_with_backoff_until_the_call_is_terminal(
    fn: RunFn, peer: FnPeer, clock: FakeClock
) -> None:
    path = f"/v1/apps/myapp/calls/{CALL_ID}"
    for status in ("queued", "running", "running", "running", "running", "running"):
        peer.on("GET", path, body={"call": call_json(status=status)})
    peer.on("GET", path, body={"call": call_json(status="timeout")})

    result = fn("calls", "get", "myapp", CALL_ID, "--wait")

    assert (result.exit_code, result.stdout) == (0, BLOCK.replace("success", "timeout"))
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    # Not a terminal: no spinner, nothing on stderr.
    assert result.stderr == ""


def test_calls_get_wait_gives_up_after_the_timeout(fn: RunFn, peer: FnPeer, clock: FakeClock) -> None:
    peer.on("GET", f"/v1/apps/myapp/calls/{CALL_ID}", body={"call": call_json(status="running")})

    result = fn("calls", "get", "myapp", CALL_ID, "--wait", "--timeout", "3")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"ERROR: timed out waiting for call {CALL_ID}\n"
    assert clock.now == 3.0


def test_calls_get_wait_shows_a_spinner_on_a_terminal_and_clears_it(
    fn: RunFn, peer: FnPeer, clock: FakeClock
) -> None:
    path = f"/v1/apps/myapp/calls/{CALL_ID}"
    peer.on("GET", path, body={"call": call_json(status="queued")})
    peer.on("GET", path, body={"call": call_json(status="success")})

    result = fn("calls", "get", "myapp", CALL_ID, "--wait", stderr_is_tty=lambda: True)

    assert result.stdout == BLOCK
    assert result.stderr == f"\r| Waiting for call {CALL_ID}: queued\x1b[K\r\x1b[K"


def test_calls_get_wait_fails_at_once_for_an_unknown_call(fn: RunFn, peer: FnPeer, clock: FakeClock) -> None:
    peer.on("GET", "/v1/apps/myapp/calls/NOPE", 404, body={"error": {"message": "Call not found"}})

    result = fn("calls", "get", "myapp", "NOPE", "--wait")

    assert (result.exit_code, result.stderr, clock.sleeps) == (1, "ERROR: Call not found\n", [])


def test_calls_cancel_posts_to_the_cancel_resource(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", f"/v1/apps/myapp/calls/{CALL_ID}/cancel", body={"call": call_json(status="cancelled")})

    result = fn("calls", "cancel", "myapp", CALL_ID)

    assert (result.exit_code, result.stdout) == (0, f"Call {CALL_ID} cancelled\n")
    assert peer.seen[-1] == f"POST /v1/apps/myapp/calls/{CALL_ID}/cancel"


def test_calls_redrive_of_one_call_and_of_all_dead_calls(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", f"/v1/apps/myapp/calls/{CALL_ID}/redrive", body={"call": call_json(status="queued")})
    peer.on(
        "POST",
        "/v1/apps/myapp/calls/redrive",
        body={"message": "Redrove 2 dead calls", "call_ids": ["A", "B"]},
    )

    assert fn("calls", "redrive", "myapp", CALL_ID).stdout == f"Call {CALL_ID} redriven\n"
    assert fn("calls", "redrive", "myapp", "--all").stdout == (
        "Call A redriven\nCall B redriven\nRedrove 2 dead calls of myapp\n"
    )


def test_calls_redrive_needs_exactly_one_of_an_id_or_all(fn: RunFn, peer: FnPeer) -> None:
    result = fn("calls", "redrive", "myapp")
    assert (result.exit_code, result.stderr) == (1, "ERROR: give a call id or --all\n")
    assert peer.seen == []


def test_calls_redrive_of_a_live_call_prints_the_servers_reason(fn: RunFn, peer: FnPeer) -> None:
    message = "Call is success and not dead: only dead calls can be redriven"
    peer.on("POST", f"/v1/apps/myapp/calls/{CALL_ID}/redrive", 409, body={"error": {"message": message}})
    result = fn("calls", "redrive", "myapp", CALL_ID)
    assert (result.exit_code, result.stderr) == (1, f"ERROR: {message}\n")


def test_calls_result_prints_the_body_bytes_as_they_are(fn: RunFn, peer: FnPeer) -> None:
    raw = bytes([0, 255, 10]) + b"not utf-8"
    peer.on(
        "GET",
        f"/v1/apps/myapp/calls/{CALL_ID}/result",
        body=raw,
        headers={"Content-Type": "application/octet-stream"},
    )

    result = fn("calls", "result", "myapp", CALL_ID)

    assert (result.exit_code, result.stdout_bytes) == (0, raw)


def test_calls_result_of_a_running_call_is_the_servers_404_message(fn: RunFn, peer: FnPeer) -> None:
    message = "Call result not found: the call is still running, try again when it ends"
    peer.on("GET", f"/v1/apps/myapp/calls/{CALL_ID}/result", status=404, body={"error": {"message": message}})

    result = fn("calls", "result", "myapp", CALL_ID)

    assert result.exit_code != 0 and message in result.stderr
