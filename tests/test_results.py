"""An async call's result: the response body alone, apart from the log that also holds stderr."""

from __future__ import annotations

import json

from tests.conftest import Stack

NOISY = """
import json, sys
print("working on it", file=sys.stderr)
print(json.dumps({"message": "Hello World"}))
"""

BINARY = """
import sys
sys.stdout.buffer.write(bytes([0, 255, 254, 10]))
"""


def invoke(stack: Stack, path: str, body: bytes = b"") -> str:
    response = stack.request("POST", path, body)
    assert response.status_code == 202, response.body
    call_id: str = json.loads(response.body)["call_id"]
    return call_id


def test_the_result_is_the_body_alone_while_the_log_keeps_stderr_and_output(stack: Stack) -> None:
    stack.deploy("myapp", "hello", NOISY, type="async")
    call_id = invoke(stack, "/r/myapp/hello")

    pending = stack.request("GET", f"/v1/apps/myapp/calls/{call_id}/result")
    assert pending.status_code == 404
    message = json.loads(pending.body)["error"]["message"]
    assert message.startswith("Call result not found") and "still queued" in message

    stack.work()
    result = stack.request("GET", f"/v1/apps/myapp/calls/{call_id}/result")
    assert result.status_code == 200
    assert json.loads(result.body) == {"message": "Hello World"}
    assert b"working on it" not in result.body
    assert result.headers["Content-Type"].startswith("application/json")
    log = stack.components.stores.blobs.get_log("myapp", call_id)
    assert b"working on it" in log and b'{"message": "Hello World"}' in log


def test_a_binary_result_comes_back_byte_for_byte(stack: Stack) -> None:
    stack.deploy("myapp", "bin", BINARY, type="async")
    call_id = invoke(stack, "/r/myapp/bin")
    stack.work()

    # As `fn calls result` asks: API Gateway and Chalice send bytes only to a client accepting them.
    result = stack.request("GET", f"/v1/apps/myapp/calls/{call_id}/result", headers={"accept": "*/*"})

    assert (result.status_code, result.body) == (200, bytes([0, 255, 254, 10]))
    assert result.headers["Content-Type"] == "application/octet-stream"


def test_a_call_of_another_app_or_unknown_has_no_result(stack: Stack) -> None:
    stack.deploy("myapp", "hello", NOISY, type="async")
    stack.deploy("other", "hello", NOISY, type="async")
    call_id = invoke(stack, "/r/myapp/hello")
    stack.work()

    assert stack.request("GET", f"/v1/apps/other/calls/{call_id}/result").status_code == 404
    missing = stack.request("GET", "/v1/apps/myapp/calls/01C92S7X4NNG8G00GZJ0000002/result")
    assert missing.status_code == 404
