"""fn start's HTTP server refuses what API Gateway refuses, in Fn's JSON envelope, and stays up."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from chalicelib.errors import API_TIMED_OUT
from chalicelib.settings import ENV_MAX_REQUEST_BYTES
from fnq.local.api_server import Admission, TimedGateway
from fnq.local.stack import bind_api
from tests.conftest import Stack
from tests.local.support import REPO, free_port


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    port = free_port()
    server = bind_api("127.0.0.1", port)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield port
    server.shutdown()
    thread.join(5)


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes the connection after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("method", ["TRACE", "FOO", "CONNECT"])
def test_a_method_the_api_does_not_have_is_a_405_in_fns_envelope(port: int, method: str) -> None:
    status, headers, body = exchange(port, f"{method} /v1/apps HTTP/1.1\r\nHost: x\r\n\r\n".encode())

    assert (status, headers["content-type"]) == (405, "application/json")
    assert json.loads(body) == {"error": {"message": f"Method {method} is not allowed"}}


@pytest.mark.parametrize(
    ("header", "status", "message"),
    [
        ("Content-Length: abc", 400, "Invalid Content-Length header: 'abc'"),
        ("Content-Length: -5", 400, "Invalid Content-Length header: '-5'"),
        (
            "Transfer-Encoding: chunked",
            411,
            "Send the body with a Content-Length header (chunked is not accepted)",
        ),
    ],
    ids=["not-a-number", "negative", "chunked"],
)
def test_a_body_the_server_cannot_delimit_is_refused_not_dropped(
    port: int, header: str, status: int, message: str
) -> None:
    request = f"POST /v1/apps HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n5\r\nhello\r\n0\r\n\r\n".encode()

    answer = exchange(port, request)

    assert (answer[0], json.loads(answer[2])) == (status, {"error": {"message": message}})


def test_the_server_still_answers_after_the_refusals(port: int) -> None:
    status, _, body = exchange(port, b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    assert status == 200 and "version" in json.loads(body)


def test_http_servers_own_refusals_are_fns_envelope_not_an_html_page(port: int) -> None:
    status, headers, body = exchange(port, b"GET /v1/apps/" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    assert (status, headers["content-type"]) == (414, "application/json")
    assert json.loads(body) == {"error": {"message": "Request-URI Too Long"}}


def test_a_path_deeper_than_any_route_is_fns_404_not_api_gateways_403(port: int) -> None:
    path = "/v1/apps/a/routes" + "/x" * 20

    status, _, body = exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())

    assert (status, json.loads(body)) == (404, {"error": {"message": f"Path not found: {path}"}})


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/apps", 1024 * 1024),
        ("/r/myapp/hello", 6 * 1024 * 1024),
        ("/v1/bundles/sha256/ab", 50 * 1024 * 1024),
    ],
    ids=["management", "invoke", "bundle"],
)
def test_a_body_over_the_resources_limit_is_a_413_before_it_is_read(port: int, path: str, limit: int) -> None:
    size = 60 * 1024 * 1024
    status, headers, body = headers_only(port, path, size)

    assert (status, headers["content-type"]) == (413, "application/json")
    assert json.loads(body) == {"error": {"message": too_large(size, limit)}}


def headers_only(port: int, path: str, size: int) -> tuple[int, dict[str, str], bytes]:
    """POST `path` declaring a `size`-byte body and sending none: the answer comes without the
    server waiting for (or holding) the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
        reply = conn.makefile("rb")
        status = int(reply.readline().split()[1])
        headers = {}
        while (line := reply.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        return status, headers, reply.read(int(headers["content-length"]))


def too_large(size: int, limit: int) -> str:
    return f"Request content too large ({size:,} bytes; at most {limit:,} for this resource)"


def test_a_client_that_sends_the_whole_refused_body_first_still_reads_the_413(port: int) -> None:
    # Most clients (urllib, Fn's Go client) write the body before reading: closing on its unread
    # bytes would reset the connection and lose the answer.
    body = b"x" * (20 * 1024 * 1024)
    request = f"POST /v1/apps HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body

    status, _, answer = exchange(port, request)

    assert status == 413, answer


def test_the_body_limit_is_the_one_the_server_started_with(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limits are read once, when fn start binds its API (6 MiB for an invocation then), not
    # at each request.
    monkeypatch.setenv(ENV_MAX_REQUEST_BYTES, "1")
    status, _, answer = headers_only(port, "/r/myapp/hello", 7 * 1024 * 1024)

    assert status == 413
    assert json.loads(answer) == {"error": {"message": too_large(7 * 1024 * 1024, 6 * 1024 * 1024)}}


# A json-format function that answers with the response headers its request body names.
HEADERS_ASKED = """
import json, sys
for line in sys.stdin:
    asked = json.loads(json.loads(line)["body"])
    out = {"body": "done", "content_type": "text/plain", "protocol": {"status_code": 200, "headers": asked}}
    sys.stdout.write(json.dumps(out) + "\\n")
    sys.stdout.flush()
"""


@pytest.fixture
def served(port: int, stack: Stack) -> tuple[Stack, int]:
    """The app on moto behind the module's real local server (Chalice allows one per process)."""
    return stack, port


def test_response_headers_a_function_sends_that_http_cannot_carry_never_split_or_drop_the_answer(
    served: tuple[Stack, int],
) -> None:
    stack, port = served
    stack.deploy("myapp", "asks", HEADERS_ASKED, format="json")
    asked = json.dumps(
        {"X-Fine": ["yes"], "\u20ac": ["euro"], "X-A\r\nSet-Cookie": ["x=1"], "X-B": ["a\r\nX-C: 1"]}
    )
    body = asked.encode()
    request = (
        f"POST /r/myapp/asks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    status, headers, answer = exchange(port, request)

    assert (status, answer) == (200, b"done")
    assert headers["x-fine"] == "yes"
    assert not {"set-cookie", "x-c", "x-b", "\u20ac"} & set(headers)


def gateway(seconds: float, admission: Admission) -> TimedGateway:
    from chalice.config import Config  # type: ignore[attr-defined]

    from app import app

    config = Config.create(chalice_stage="dev", app_name=app.app_name, chalice_app=app, project_dir=str(REPO))
    return TimedGateway(app, config, seconds, admission)


def test_admission_counts_only_invocations_and_gives_turns_back() -> None:
    admission = Admission(1)

    assert admission.enter("/version", 0.01) is None
    assert admission.enter("/v1/apps/a/calls", 0.01) is None
    assert admission.enter("/r/a/slow", 0.01) is True
    assert admission.enter("/r/b/other?x=1", 0.01) is False  # the one turn is taken
    admission.leave()
    assert admission.enter("/r/b/other", 0.01) is True


def test_an_invocation_without_a_turn_in_time_is_504_while_the_rest_of_the_api_answers(stack: Stack) -> None:
    admission = Admission(1)
    assert admission.enter("/r/myapp/busy", 1) is True  # a running invocation holds the only turn
    api = gateway(0.2, admission)

    waited = api.handle_request("POST", "/r/myapp/other", {"content-type": "text/plain"}, b"")
    version = api.handle_request("GET", "/version", {}, None)

    assert waited["statusCode"] == 504
    assert json.loads(waited["body"]) == {"error": {"message": API_TIMED_OUT}}
    assert version["statusCode"] == 200, version
    admission.leave()
    assert admission.enter("/r/myapp/busy", 0.01) is True  # the refused one gave nothing back twice
