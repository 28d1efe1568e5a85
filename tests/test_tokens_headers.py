"""Nothing of the platform reaches a function: the header rule of docs/TOKENS.md.

Each function here shows everything it was given (its environment, and for `json` its input
line); the token must be in none of it, nor in the call record as DynamoDB holds it.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import ADMIN_TOKEN, Stack
from tests.support import REGION

SHOW_DEFAULT = """
import json, os, sys
sys.stdin.read()
print(json.dumps({"env": dict(os.environ)}))
"""

SHOW_JSON = """
import json, os, sys
for line in sys.stdin:
    shown = json.dumps({"env": dict(os.environ), "input": json.loads(line)})
    print(json.dumps({"body": shown, "content_type": "application/json"}), flush=True)
"""

SOURCES = {"default": SHOW_DEFAULT, "json": SHOW_JSON}

# Headers a caller may send beside the token, and whether the function sees each.
SENT = {
    "x-probe": "probe-value",
    "cookie": "session=caller-cookie",
    "x-forwarded-for": "203.0.113.9",
    "x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793",
    "proxy-authorization": "Basic cHJveHktc2VjcmV0",
    "x-amz-security-token": "caller-aws-session-token",
}
SEEN = {"X-Probe", "Cookie", "X-Forwarded-For", "X-Amzn-Trace-Id"}
WITHHELD = {"Proxy-Authorization", "X-Amz-Security-Token"}


def run_call(stack: Stack, type_: str, fmt: str, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Call a function that shows what it got; answer the call id and what it showed."""
    stack.deploy("myapp", "show", SOURCES[fmt], type=type_, format=fmt)
    response = stack.request("POST", "/r/myapp/show", b"{}", headers)
    call_id = response.headers["Fn_call_id"]
    if type_ == "sync":
        assert response.status_code == 200, response.body
        return call_id, json.loads(response.body)
    assert response.status_code == 202
    stack.work()
    status, log = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}/log")
    assert status == 200, log
    text = log["log"]["log"]
    return call_id, json.loads(text[text.index("{") :])


def stored_item(stack: Stack, call_id: str) -> str:
    """The call's item as DynamoDB holds it, read past fnq's own code."""
    db = boto3.client("dynamodb", region_name=REGION)
    item = db.get_item(
        TableName=stack.settings.table, Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": "#CALL"}}
    )
    return json.dumps(item["Item"], default=str)


def headers_shown(shown: dict[str, Any], fmt: str) -> set[str]:
    if fmt == "json":
        return set(shown["input"]["protocol"]["headers"])
    return {name.removeprefix("FN_HEADER_") for name in shown["env"] if name.startswith("FN_HEADER_")}


@pytest.mark.parametrize("fmt", ["default", "json"])
@pytest.mark.parametrize("type_", ["sync", "async"])
def test_the_api_token_reaches_neither_the_function_nor_the_call_record(
    secured: Stack, type_: str, fmt: str
) -> None:
    call_id, shown = run_call(secured, type_, fmt, SENT)

    assert ADMIN_TOKEN not in json.dumps(shown)
    assert "Authorization" not in headers_shown(shown, fmt)
    item = stored_item(secured, call_id)
    assert ADMIN_TOKEN not in item
    assert "probe-value" in item  # the record does hold the request's other headers


@pytest.mark.parametrize("fmt", ["default", "json"])
def test_a_function_sees_the_callers_headers_but_no_credential_meant_for_someone_else(
    secured: Stack, fmt: str
) -> None:
    call_id, shown = run_call(secured, "sync", fmt, SENT)

    seen = headers_shown(shown, fmt)
    assert seen >= SEEN
    assert not seen & WITHHELD
    item = stored_item(secured, call_id)
    assert "cHJveHktc2VjcmV0" not in item and "caller-aws-session-token" not in item


def test_on_an_open_api_the_authorization_header_is_the_callers_and_reaches_the_function(
    stack: Stack,
) -> None:
    # No FNQ_API_TOKEN: the header carries nothing of the platform's, as in Fn.
    _, shown = run_call(stack, "sync", "default", {"authorization": "Bearer the-functions-own"})

    assert shown["env"]["FN_HEADER_Authorization"] == "Bearer the-functions-own"
