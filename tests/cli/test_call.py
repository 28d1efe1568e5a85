from __future__ import annotations

import pytest

from tests.cli.peer import FnPeer, RunFn

ASYNC_ID = "01CASYNC0000000000000000000"


def test_call_with_a_terminal_on_stdin_sends_a_get_without_body(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/r/myapp/syncfn", body="Hello World\n", headers={"Fn_call_id": "C1"})

    result = fn("call", "myapp", "/syncfn")

    assert (result.exit_code, result.stdout, result.stderr) == (0, "Hello World\n", "")
    request = peer.requests[0]
    assert (request.method, request.body, request.headers["Content-Type"]) == ("GET", b"", "text/plain")


def test_call_with_piped_input_posts_it(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", "/r/myapp/syncfn", body='{"message":"Hello Johnny"}', headers={"Fn_call_id": "C1"})

    result = fn("call", "myapp", "syncfn", input='{"name":"Johnny"}')

    assert result.stdout == '{"message":"Hello Johnny"}'
    assert (peer.requests[0].method, peer.requests[0].body) == ("POST", b'{"name":"Johnny"}')


def test_call_with_empty_piped_input_still_posts(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", "/r/myapp/syncfn", body="ok", headers={"Fn_call_id": "C1"})

    fn("call", "myapp", "/syncfn", input="")

    assert peer.requests[0].method == "POST"
    assert peer.requests[0].headers["Content-Length"] == "0"


def test_call_method_and_content_type_can_be_overridden(fn: RunFn, peer: FnPeer) -> None:
    peer.on("PUT", "/r/myapp/a/b/c", body="ok", headers={"Fn_call_id": "C1"})

    fn("call", "myapp", "/a/b/c", "--method", "put", "--content-type", "application/json", input="{}")

    assert (peer.requests[0].method, peer.requests[0].headers["Content-Type"]) == ("PUT", "application/json")


def test_call_sends_env_variables_as_canonical_headers(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/r/myapp/syncfn", body="ok", headers={"Fn_call_id": "C1"})

    fn(
        "call",
        "myapp",
        "/syncfn",
        "-e",
        "MY_VAR",
        "--env",
        "x-api-key",
        env={"MY_VAR": "1", "x-api-key": "k"},
    )

    assert peer.requests[0].headers["My_var"] == "1"
    assert peer.requests[0].headers["X-Api-Key"] == "k"


def test_call_displays_the_call_id_header_only_when_asked(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/r/myapp/syncfn", body="Hello World\n", headers={"FN_CALL_ID": "C1"})

    result = fn("call", "myapp", "/syncfn", "--display-call-id")

    assert (result.stdout, result.stderr) == ("Hello World\n", "Call ID: C1\n")


def test_call_of_an_async_route_prints_the_call_id_on_stderr(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", "/r/myapp/asyncfn", 202, body={"call_id": ASYNC_ID})

    result = fn("call", "myapp", "/asyncfn", input="")

    assert (result.exit_code, result.stdout, result.stderr) == (0, "", f"Call ID: {ASYNC_ID}\n")


def test_call_of_an_async_route_with_the_header_copies_the_body(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/r/myapp/asyncfn", 202, body={"call_id": ASYNC_ID}, headers={"Fn_call_id": ASYNC_ID})

    result = fn("call", "myapp", "/asyncfn")

    assert (result.stdout, result.stderr) == (f'{{"call_id":"{ASYNC_ID}"}}', "")


def test_call_of_a_missing_route_prints_one_error_line(fn: RunFn, peer: FnPeer) -> None:
    # Fn printed `Error: Route not found` on stdout, then `ERROR: error calling function: status
    # 404` on stderr: two lines in two styles for one failure (docs/CLI.md, departures).
    peer.on("GET", "/r/myapp/nope", 404, body={"error": {"message": "Route not found"}})

    result = fn("call", "myapp", "/nope")

    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "ERROR: Route not found\n")


def test_call_of_a_missing_app_prints_one_error_line(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/r/noapp/asyncfn", 404, body={"error": {"message": "App not found"}})

    result = fn("call", "noapp", "/asyncfn")

    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "ERROR: App not found\n")


def test_an_error_envelope_without_a_message_names_the_status(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/r/myapp/nope", 500, body={"error": {}})

    result = fn("call", "myapp", "/nope")

    assert (result.exit_code, result.stderr) == (1, "ERROR: error calling function: status 500\n")


def test_call_of_a_failing_function_prints_its_body_then_the_status(fn: RunFn, peer: FnPeer) -> None:
    body = '{"error":{"message":"container exit code 1"}}\n'
    peer.on("GET", "/r/myapp/syncfn", 502, body=body, headers={"Fn_call_id": "C1"})

    result = fn("call", "myapp", "/syncfn")

    assert (result.exit_code, result.stdout) == (1, body)
    assert result.stderr == "ERROR: error calling function: status 502\n"


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"", "ERROR: EOF\n"), (b"Hello", "ERROR: invalid character 'H' looking for beginning of value\n")],
)
def test_call_without_the_header_needs_a_json_body(fn: RunFn, peer: FnPeer, body: bytes, error: str) -> None:
    peer.on("GET", "/r/myapp/syncfn", body=body, headers={"Content-Type": "text/plain"})

    result = fn("call", "myapp", "/syncfn")

    assert (result.exit_code, result.stderr) == (1, error)


def test_routes_call_is_the_same_command(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/r/myapp/syncfn", body="hi", headers={"Fn_call_id": "C1"})

    assert fn("routes", "call", "myapp", "/syncfn").stdout == "hi"


def test_call_to_a_closed_port_reports_connection_refused(fn: RunFn) -> None:
    result = fn("call", "myapp", "/syncfn", env={"FN_API_URL": "http://127.0.0.1:1"})

    assert result.exit_code == 1
    assert result.stderr == (
        'ERROR: error running route: Get "http://127.0.0.1:1/r/myapp/syncfn": '
        "dial tcp 127.0.0.1:1: connect: connection refused\n"
    )
