"""The async tutorial with nothing of ours on the client side: http.client, zipfile and hashlib only.

What any Fn client would see: the bundle zipped by hand, Fn's status codes, envelopes, field
names, header names and RFC 3339 millisecond times, checked against `fn start` over real HTTP.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import re
import time
import zipfile
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.local.support import FnStart

pytestmark = pytest.mark.e2e

ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CALL_TIMEOUT_SECONDS = 30.0
JSON_TYPE = "application/json; charset=utf-8"

FUNC_YAML = "name: hello\nversion: 0.0.1\nruntime: python\nentrypoint: python3 func.py\nformat: json\n"
# Fn's json format by hand: one request object per line in, one response object per line out.
FUNC_PY = """\
import json, sys
for line in sys.stdin:
    body = json.loads(line).get("body") or "{}"
    name = json.loads(body).get("name", "World")
    answer = json.dumps({"message": "Hello " + name}, separators=(",", ":"))
    print(json.dumps({"body": answer, "content_type": "application/json"}), flush=True)
"""


class Reply:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        """The value of the header sent under exactly this name (case matters to Fn's Go client)."""
        return next((value for key, value in self.headers if key == name), None)

    def json(self) -> Any:
        assert self.header("Content-Type") == JSON_TYPE, self.headers
        return json.loads(self.body)


class PlainHttp:
    """One connection per request, as simple as a client can be."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 80

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, response.getheaders(), response.read())
        finally:
            connection.close()

    def put_json(self, path: str, value: Any) -> Reply:
        return self.request("PUT", path, json.dumps(value).encode(), {"Content-Type": "application/json"})


def hand_made_bundle() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("func.yaml", FUNC_YAML)
        bundle.writestr("func.py", FUNC_PY)
    return buffer.getvalue()


def assert_times_in_order(record: dict[str, Any], *fields: str) -> None:
    for field in fields:
        assert RFC3339_MS.fullmatch(record[field]), (field, record[field])
    values = [record[field] for field in fields]
    assert values == sorted(values), record


def wait_until_terminal(api: PlainHttp, app: str, call_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + CALL_TIMEOUT_SECONDS
    while True:
        reply = api.request("GET", f"/v1/apps/{app}/calls/{call_id}")
        assert reply.status == 200, reply.body
        envelope = reply.json()
        assert envelope["message"] == "Successfully loaded call"
        call: dict[str, Any] = envelope["call"]
        if call["status"] not in ("queued", "running"):
            return call
        assert time.monotonic() < deadline, f"call {call_id} still {call['status']}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def api(stack: FnStart) -> PlainHttp:
    return PlainHttp(stack.url)


@pytest.fixture(scope="module")
def finished_call(api: PlainHttp) -> str:
    """The tutorial over plain HTTP up to a finished async call of myapp's /hello; its id."""
    data = hand_made_bundle()
    digest = hashlib.sha256(data).hexdigest()
    assert api.request("GET", f"/v1/bundles/sha256/{digest}").status == 404
    stored = api.request("PUT", f"/v1/bundles/sha256/{digest}", data, {"Content-Type": "application/zip"})
    assert stored.status == 200, stored.body
    route = {"image": "hello:0.0.1", "bundle": f"sha256:{digest}", "type": "async", "format": "json"}
    created = api.put_json("/v1/apps/myapp/routes/hello", {"route": route})
    assert created.status == 200, created.body
    accepted = api.request("POST", "/r/myapp/hello", b"", {"Content-Type": "text/plain"})
    assert accepted.status == 202, accepted.body
    call_id: str = accepted.json()["call_id"]
    wait_until_terminal(api, "myapp", call_id)
    return call_id


def test_putting_a_route_answers_fns_route_object(api: PlainHttp, finished_call: str) -> None:
    reply = api.request("GET", "/v1/apps/myapp/routes/hello")

    assert reply.status == 200
    envelope = reply.json()
    assert envelope["message"] == "Successfully loaded route"
    route = envelope["route"]
    assert {k: route[k] for k in ("app_name", "path", "image", "memory", "cpus", "type", "format")} == {
        "app_name": "myapp",
        "path": "/hello",
        "image": "hello:0.0.1",
        "memory": 128,
        "cpus": "",
        "type": "async",
        "format": "json",
    }
    assert (route["timeout"], route["idle_timeout"]) == (30, 30)
    assert_times_in_order(route, "created_at", "updated_at")


def test_an_async_invoke_answers_202_with_the_call_id_in_the_body_and_fns_header(api: PlainHttp) -> None:
    reply = api.request("POST", "/r/myapp/hello", b'{"name":"Ada"}', {"Content-Type": "text/plain"})

    assert reply.status == 202
    call_id = reply.json()["call_id"]
    assert reply.body == json.dumps({"call_id": call_id}, separators=(",", ":")).encode()
    assert ULID.fullmatch(call_id)
    assert reply.header("Fn_call_id") == call_id


def test_the_finished_call_has_every_fn_field_with_millisecond_times(
    api: PlainHttp, finished_call: str
) -> None:
    call = wait_until_terminal(api, "myapp", finished_call)

    assert {k: call[k] for k in ("id", "status", "app_name", "path")} == {
        "id": finished_call,
        "status": "success",
        "app_name": "myapp",
        "path": "/hello",
    }
    assert "error" not in call
    assert_times_in_order(call, "created_at", "started_at", "completed_at")


def test_the_call_log_is_fns_json_envelope_by_default(api: PlainHttp, finished_call: str) -> None:
    reply = api.request(
        "GET", f"/v1/apps/myapp/calls/{finished_call}/log", headers={"Accept": "application/json"}
    )

    assert reply.status == 200
    assert reply.json() == {
        "message": "Successfully loaded log",
        "log": {"call_id": finished_call, "log": '{"message":"Hello World"}', "app_name": "myapp"},
    }


def test_the_call_log_is_the_raw_text_when_text_plain_is_accepted(api: PlainHttp, finished_call: str) -> None:
    reply = api.request("GET", f"/v1/apps/myapp/calls/{finished_call}/log", headers={"Accept": "text/plain"})

    assert reply.status == 200
    assert (reply.header("Content-Type") or "").startswith("text/plain")
    assert reply.body == b'{"message":"Hello World"}'


def test_the_call_log_refuses_a_type_it_cannot_answer_with_406(api: PlainHttp, finished_call: str) -> None:
    reply = api.request("GET", f"/v1/apps/myapp/calls/{finished_call}/log", headers={"Accept": "image/png"})

    assert reply.status == 406
    assert reply.json() == {
        "error": {"message": "unable to respond within acceptable response content types"}
    }


def test_the_calls_listing_is_fns_envelope_newest_first(api: PlainHttp, finished_call: str) -> None:
    reply = api.request("GET", "/v1/apps/myapp/calls?path=/hello&per_page=100")

    assert reply.status == 200
    listing = reply.json()
    assert list(listing) == ["message", "next_cursor", "calls"]
    assert (listing["message"], listing["next_cursor"]) == ("Successfully listed calls", "")
    ids = [call["id"] for call in listing["calls"]]
    assert finished_call in ids
    assert ids == sorted(ids, reverse=True)
    assert {call["app_name"] for call in listing["calls"]} == {"myapp"}


def test_a_full_page_of_calls_carries_the_cursor_to_the_next(api: PlainHttp, finished_call: str) -> None:
    first = api.request("GET", "/v1/apps/myapp/calls?per_page=1").json()
    rest = api.request("GET", f"/v1/apps/myapp/calls?per_page=100&cursor={first['next_cursor']}").json()

    assert [call["id"] for call in first["calls"]] == [first["next_cursor"]]
    assert first["next_cursor"] not in [call["id"] for call in rest["calls"]]
    assert rest["next_cursor"] == ""


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/v1/apps/nosuchapp", "App not found"),
        ("GET", "/v1/apps/nosuchapp/calls", "App not found"),
        ("GET", "/v1/apps/myapp/routes/nosuchroute", "Route not found"),
        ("POST", "/r/myapp/nosuchroute", "Route not found"),
        ("GET", "/v1/apps/myapp/calls/01BVJ5T7CA07WGE00000000000", "Call not found"),
        ("GET", "/v1/apps/myapp/calls/01BVJ5T7CA07WGE00000000000/log", "Call log not found"),
        ("GET", "/v1/no/such/path", "Path not found: /v1/no/such/path"),
    ],
)
def test_unknown_things_answer_404_with_fns_error_envelope(
    api: PlainHttp, finished_call: str, method: str, path: str, message: str
) -> None:
    reply = api.request(method, path)

    assert reply.status == 404
    # Fn wrote error bodies with json.NewEncoder: compact, and a trailing newline.
    assert reply.body == json.dumps({"error": {"message": message}}, separators=(",", ":")).encode() + b"\n"
    assert reply.header("Content-Type") == JSON_TYPE


def test_a_calls_stats_are_fns_array_of_stat_so_go_clients_can_decode_them(
    api: PlainHttp, finished_call: str
) -> None:
    call = wait_until_terminal(api, "myapp", finished_call)

    stats = call.get("stats", [])
    assert isinstance(stats, list), stats
    for stat in stats:
        assert set(stat) == {"timestamp", "metrics"}, stat
        assert RFC3339_MS.fullmatch(stat["timestamp"]), stat
        assert all(isinstance(value, int) for value in stat["metrics"].values()), stat
