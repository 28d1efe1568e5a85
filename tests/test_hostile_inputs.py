"""Issue #11's causes, each with its exact input: a 4xx saying what to change (or the call's `error`),
and afterwards every app, route and call still reads back.

The answers Fn 0.3.391 gave, where it had one, are in docs/ARCHITECTURE.md ("Input limits").
Unknown methods (405), func.yaml types and bad bundle CRCs have their own tests:
tests/local/test_api_server.py and tests/test_api_bundles.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.errors import PayloadTooLargeError
from chalicelib.models import App
from chalicelib.rules import (
    ANNOTATION_KEY_ERROR,
    ANNOTATION_VALUE_ERROR,
    ANNOTATION_VALUE_LENGTH_ERROR,
)
from tests.conftest import Stack

HEADER_NAME = "header names are HTTP tokens: ASCII letters, digits and !#$%&'*+-.^_`|~, at most 256 bytes"
JSON_HEADERS = {"content-type": "application/json"}
MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One request, and the answer it must get."""

    name: str
    method: str
    path: str
    body: str | bytes
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def app_with(name: str, fields: str, status: int, message: str) -> Case:
    return Case(name, "POST", "/v1/apps", '{"app": {"name": "h", ' + fields + "}}", status, message)


def route_with(name: str, fields: str, message: str) -> Case:
    body = '{"route": {"path": "/r", "image": "r:0.0.1", ' + fields + "}}"
    return Case(name, "POST", "/v1/apps/h/routes", body, 400, message)


BODY_60_MIB = b'{"app": {"name": "h", "config": {"K": "' + b"x" * (60 * MIB) + b'"}}}'
ARRAY_3_MILLION = b'{"app": {"name": "h", "annotations": {"k": [' + b"0," * 2_999_999 + b"0]}}}"
HEADERS_90_X_5_KB = {f"x-h{i}": "v" * 5000 for i in range(90)}
HEADERS_SIZE = sum(len(k) + len(v) for k, v in {**JSON_HEADERS, **HEADERS_90_X_5_KB}.items())
X_500_KB = "x" * 500_000
X_450_KB = "x" * 450_000
NESTED_1000 = "[" * 1000 + "]" * 1000

CASES = [
    app_with("annotation NaN", '"annotations": {"k": NaN}', 400, "Invalid JSON: NaN is not a JSON number"),
    app_with(
        "annotation Infinity",
        '"annotations": {"k": Infinity}',
        400,
        "Invalid JSON: Infinity is not a JSON number",
    ),
    app_with(
        "annotation 1e400",
        '"annotations": {"k": 1e400}',
        400,
        "Invalid JSON: the number 1e400 cannot be stored exactly; send it as a string",
    ),
    app_with("annotation [null, null]", '"annotations": {"k": [null, null]}', 400, ANNOTATION_VALUE_ERROR),
    app_with(
        "annotation 500 KB", f'"annotations": {{"k": "{X_500_KB}"}}', 400, ANNOTATION_VALUE_LENGTH_ERROR
    ),
    app_with("annotation empty key", '"annotations": {"": 1}', 400, ANNOTATION_KEY_ERROR),
    app_with(
        "nested 1,000 levels",
        f'"annotations": {{"k": {NESTED_1000}}}',
        400,
        "Invalid JSON: nested deeper than 32 levels",
    ),
    app_with(
        "config 500 KB",
        f'"config": {{"K": "{X_500_KB}"}}',
        400,
        "Invalid app config: 500,001 bytes of keys and values, at most 65,536",
    ),
    app_with(
        "config empty key",
        '"config": {"": "v"}',
        400,
        "Invalid app config: a key is empty (config keys become environment variable names)",
    ),
    route_with(
        "route config 450 KB",
        f'"config": {{"K": "{X_450_KB}"}}',
        "Invalid route config: 450,001 bytes of keys and values, at most 65,536",
    ),
    route_with(
        "route headers 450 KB",
        f'"headers": {{"X-A": ["{X_450_KB}"]}}',
        "Invalid route headers: 450,003 bytes of names and values, at most 16,384",
    ),
    route_with(
        "route header empty name", '"headers": {"": ["x"]}', f"Invalid route header name '': {HEADER_NAME}"
    ),
    route_with(
        "route header value CR/LF",
        '"headers": {"X-A": ["a\\r\\nb"]}',
        "Invalid route header X-A: a value holds CR, LF or another control character",
    ),
    route_with(
        "route header name outside latin-1",
        '"headers": {"\\u20ac": ["x"]}',
        f"Invalid route header name '\u20ac': {HEADER_NAME}",
    ),
    route_with(
        "route header name with CRLF",
        '"headers": {"X-A\\r\\nSet-Cookie": ["x=1"]}',
        f"Invalid route header name 'X-A\\r\\nSet-Cookie': {HEADER_NAME}",
    ),
    Case(
        "route path over 1 KB",
        "POST",
        "/v1/apps/h/routes",
        '{"route": {"path": "/' + "a" * 1100 + '", "image": "r:0.0.1"}}',
        400,
        "Route path too long: 1,101 bytes, at most 1,000",
    ),
    Case(
        "route path with a lone surrogate",
        "POST",
        "/v1/apps/h/routes",
        '{"route": {"path": "/\\ud800", "image": "r:0.0.1"}}',
        400,
        "Invalid JSON: a string holds a lone surrogate (\\ud800), which is not UTF-8 text",
    ),
    Case(
        "60 MiB JSON body",
        "POST",
        "/v1/apps",
        BODY_60_MIB,
        413,
        f"Request content too large ({len(BODY_60_MIB):,} bytes; at most {MIB:,} for this resource)",
    ),
    Case(
        "3-million-element array",
        "POST",
        "/v1/apps",
        ARRAY_3_MILLION,
        413,
        f"Request content too large ({len(ARRAY_3_MILLION):,} bytes; at most {MIB:,} for this resource)",
    ),
    Case(
        "Fn-Delay past any date",
        "POST",
        "/r/myapp/a",
        b"{}",
        400,
        "a call may be delayed by at most 14 days",
        {"fn-delay": "1" + "0" * 18},
    ),
    Case(
        "90 x 5 KB headers on an async invoke",
        "POST",
        "/r/myapp/a",
        b"{}",
        431,
        f"Request header fields too large ({HEADERS_SIZE:,} bytes of names and values; at most 32,768)",
        HEADERS_90_X_5_KB,
    ),
]


@pytest.fixture
def deployed(stack: Stack) -> Stack:
    """myapp with an async route /a and a call already made, so that reading back has something to read."""
    stack.deploy("myapp", "a", type="async")
    assert stack.request("POST", "/r/myapp/a", b"{}").status_code == 202
    return stack


def assert_everything_reads_back(stack: Stack) -> None:
    status, listing = stack.json("GET", "/v1/apps")
    assert status == 200, listing
    assert listing["apps"], "the app made by the fixture is listed"
    for app in listing["apps"]:
        assert stack.json("GET", f"/v1/apps/{app['name']}")[0] == 200
        status, routes = stack.json("GET", f"/v1/apps/{app['name']}/routes")
        assert status == 200, routes
        for route in routes["routes"]:
            assert stack.json("GET", f"/v1/apps/{app['name']}/routes{route['path']}")[0] == 200
        status, calls = stack.json("GET", f"/v1/apps/{app['name']}/calls")
        assert status == 200, calls
        for call in calls["calls"]:
            assert stack.json("GET", f"/v1/apps/{app['name']}/calls/{call['id']}")[0] == 200


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_input_is_a_4xx_saying_what_to_change_and_everything_still_reads_back(
    deployed: Stack, case: Case
) -> None:
    response = deployed.request(case.method, case.path, case.body, {**JSON_HEADERS, **case.headers})

    assert (response.status_code, json.loads(response.body)) == (
        case.status,
        {"error": {"message": case.message}},
    )
    assert_everything_reads_back(deployed)


@pytest.mark.parametrize(
    ("literal", "stored"),
    [("1.5", 1.5), ("1" * 39, int("1" * 39)), ("-0.25e2", -25.0), ('[1, {"a": []}]', [1, {"a": []}])],
)
def test_numbers_a_double_holds_exactly_are_kept_exactly(deployed: Stack, literal: str, stored: Any) -> None:
    body = '{"app": {"name": "h", "annotations": {"k": ' + literal + "}}}"
    assert deployed.request("POST", "/v1/apps", body, JSON_HEADERS).status_code == 200

    status, reply = deployed.json("GET", "/v1/apps/h")
    assert status == 200
    assert reply["app"]["annotations"] == {"k": stored}
    assert_everything_reads_back(deployed)


def test_a_bearer_token_outside_ascii_is_a_401_not_a_500(deployed: Stack) -> None:
    wiring.install(wiring.build(replace(deployed.settings, api_token="s3cret")))

    status, body = deployed.json("GET", "/v1/apps", headers={"authorization": "Bearer \u00e9"})

    assert (status, body) == (401, {"error": {"message": "Unauthorized: set FN_TOKEN to the API's token"}})


# A json-format function that answers what it is asked to: the headers and status_code of its
# response come from the request body.
ANSWERS = """
import json, sys
for line in sys.stdin:
    request = json.loads(line)
    answer = json.loads(request["body"])
    out = {"body": "done", "content_type": "text/plain", "protocol": answer}
    sys.stdout.write(json.dumps(out) + "\\n")
    sys.stdout.flush()
"""


def test_response_headers_http_cannot_carry_are_dropped_and_the_log_says_which(deployed: Stack) -> None:
    deployed.deploy("myapp", "answers", ANSWERS, format="json")
    protocol = {
        "status_code": 200,
        "headers": {
            "X-Fine": ["yes"],
            "X-A\r\nSet-Cookie": ["x=1"],
            "\u20ac": ["euro"],
            "X-Split": ["a\r\nSet-Cookie: y=2"],
            "Content-Length": ["1"],
            "X-Huge": ["x" * 70_000],
        },
    }

    response = deployed.request("POST", "/r/myapp/answers", json.dumps({**protocol}), JSON_HEADERS)

    assert (response.status_code, response.body) == (200, b"done")
    assert response.headers["X-Fine"] == "yes"
    assert "Set-Cookie" not in response.headers and "X-Split" not in response.headers
    assert response.headers.get("Content-Length") in (None, "4")
    # A sync call's small log lives in its record: read it as the log endpoint does.
    log = deployed.components.use_cases.calls.get_log("myapp", response.headers["Fn_call_id"]).decode()
    assert (
        "fnq: response headers dropped (HTTP cannot carry them, the server sets them, or too large): "
        "'X-A\\r\\nSet-Cookie', '\u20ac', 'X-Split', 'Content-Length', 'X-Huge'"
    ) in log
    assert_everything_reads_back(deployed)


def test_a_300_kb_error_text_is_stored_once_cut_short_with_a_marker(deployed: Stack) -> None:
    deployed.deploy("myapp", "answers", ANSWERS, format="json", type="async")
    status_code = "x" * 300_000
    call_id = deployed.request(
        "POST", "/r/myapp/answers", json.dumps({"status_code": status_code}), JSON_HEADERS
    ).headers["Fn_call_id"]
    full_error = f"invalid json response from function: status_code {status_code!r}"

    deployed.work()

    status, body = deployed.json("GET", f"/v1/apps/myapp/calls/{call_id}")
    assert status == 200
    call = body["call"]
    assert call["status"] == "error"
    assert call["error"].startswith("invalid json response from function: status_code 'xxx")
    assert call["error"].endswith(f" -----error text truncated: {len(full_error):,} bytes in all-----")
    assert len(call["error"].encode()) <= 2048
    assert call["attempts"][-1]["error"] == call["error"]
    assert_everything_reads_back(deployed)


def test_the_store_refuses_a_record_dynamodb_cannot_hold_naming_its_largest_fields(deployed: Stack) -> None:
    # Past the rules (a record built in code): the store's own check, before DynamoDB's.
    app = App(name="big", config={"K": "x" * 300_000}, annotations={"k": "y" * 200_000})

    with pytest.raises(PayloadTooLargeError) as refused:
        deployed.components.stores.apps.create_app(app)

    assert "more than DynamoDB holds in one item (409,600); its largest fields: config, annotations" in str(
        refused.value
    )
    assert_everything_reads_back(deployed)
