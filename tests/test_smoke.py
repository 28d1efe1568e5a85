from tests.conftest import Stack


def test_an_async_call_goes_from_queued_to_success_with_its_log(stack: Stack) -> None:
    stack.deploy("myapp", "hello", type="async")
    response = stack.request("POST", "/r/myapp/hello", '{"name":"Ada"}', {"content-type": "text/plain"})
    assert response.status_code == 202, response.body
    call_id = response.headers["Fn_call_id"]
    _status, body = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")
    assert body["call"]["status"] == "queued"
    stack.work()
    _status, body = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}")
    assert body["call"]["status"] == "success", body
    _status, log = stack.json("GET", f"/v1/apps/myapp/calls/{call_id}/log")
    assert log["log"]["log"] == '{"message": "Hello Ada"}\n'
