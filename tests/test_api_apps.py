"""Fn v1 apps: shapes, status codes and messages as Fn 0.3.391 answers them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Stack


def test_creating_an_app_answers_200_with_fn_envelope(stack: Stack) -> None:
    status, body = stack.json("POST", "/v1/apps", {"app": {"name": "myapp", "config": {"DB": "x"}}})
    assert status == 200
    assert body["message"] == "App successfully created"
    assert body["app"]["name"] == "myapp"
    assert body["app"]["config"] == {"DB": "x"}
    assert body["app"]["created_at"].endswith("Z") and len(body["app"]["created_at"]) == 24


def test_zero_timestamps_sent_by_fn_cli_are_ignored(stack: Stack) -> None:
    zero = "0001-01-01T00:00:00.000Z"
    status, body = stack.json(
        "POST", "/v1/apps", {"app": {"name": "a", "created_at": zero, "updated_at": zero}}
    )
    assert status == 200
    assert not body["app"]["created_at"].startswith("0001")


def test_a_second_app_with_the_same_name_is_a_conflict(stack: Stack) -> None:
    stack.json("POST", "/v1/apps", {"app": {"name": "myapp"}})
    response = stack.request("POST", "/v1/apps", json.dumps({"app": {"name": "myapp"}}))
    assert response.status_code == 409
    assert response.body == b'{"error":{"message":"App already exists"}}\n'


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "Invalid JSON"),
        ("[1,2]", "Invalid JSON"),
        ('{"nope": 1}', "Missing new application"),
        ('{"app": {}}', "Missing app name"),
        ('{"app": {"name": "' + "a" * 31 + '"}}', "App name must be 30 characters or less"),
        ('{"app": {"name": "bad name!"}}', "Invalid app name"),
        ('{"app": {"name": "ok", "config": {"A": 1}}}', "Invalid app config: expected an object of strings"),
    ],
)
def test_bad_app_input_is_a_400_with_fn_message(stack: Stack, payload: str, message: str) -> None:
    response = stack.request("POST", "/v1/apps", payload, {"content-type": "application/json"})
    assert response.status_code == 400
    assert json.loads(response.body) == {"error": {"message": message}}


def test_get_update_and_delete_an_app(stack: Stack) -> None:
    stack.json("POST", "/v1/apps", {"app": {"name": "myapp", "config": {"A": "1", "B": "2"}}})
    status, body = stack.json("GET", "/v1/apps/myapp")
    assert (status, body["message"]) == (200, "Successfully loaded app")

    status, body = stack.json("PATCH", "/v1/apps/myapp", {"app": {"config": {"A": "", "C": "3"}}})
    assert status == 200
    assert body["message"] == "App successfully updated"
    assert body["app"]["config"] == {"B": "2", "C": "3"}  # "" deletes a key, as in Fn

    status, body = stack.json("PATCH", "/v1/apps/myapp", {"app": {"name": "other"}})
    assert (status, body["error"]["message"]) == (409, "Could not update - name is immutable")

    status, body = stack.json("DELETE", "/v1/apps/myapp")
    assert (status, body) == (200, {"message": "App deleted"})
    status, body = stack.json("GET", "/v1/apps/myapp")
    assert (status, body) == (404, {"error": {"message": "App not found"}})


def test_deleting_an_app_deletes_its_routes_calls_and_logs(stack: Stack) -> None:
    stack.deploy("gone", "hello", type="async")
    call_id = stack.request("POST", "/r/gone/hello").headers["Fn_call_id"]
    stack.work()
    assert stack.json("DELETE", "/v1/apps/gone")[0] == 200
    assert stack.json("GET", f"/v1/apps/gone/calls/{call_id}")[0] == 404
    assert stack.json("GET", f"/v1/apps/gone/calls/{call_id}/log")[0] == 404
    assert stack.json("GET", "/v1/apps/gone/routes/hello")[0] == 404


def test_apps_are_listed_by_name_with_a_cursor_when_the_page_is_full(stack: Stack) -> None:
    for name in ["c", "a", "b", "e", "d"]:
        stack.json("POST", "/v1/apps", {"app": {"name": name}})
    _status, page1 = stack.json("GET", "/v1/apps?per_page=2")
    assert [a["name"] for a in page1["apps"]] == ["a", "b"]
    assert page1["next_cursor"]
    names = [a["name"] for a in page1["apps"]]
    cursor = page1["next_cursor"]
    while cursor:
        _status, page = stack.json("GET", f"/v1/apps?per_page=2&cursor={cursor}")
        names += [a["name"] for a in page["apps"]]
        cursor = page["next_cursor"]
    assert names == ["a", "b", "c", "d", "e"]


def test_unknown_paths_and_methods_answer_fn_404(stack: Stack) -> None:
    for method, path in [("GET", "/nope"), ("GET", "/v1/apps/x/nothing/here"), ("DELETE", "/v1/apps")]:
        response = stack.request(method, path)
        assert response.status_code == 404, path
        assert json.loads(response.body)["error"]["message"].startswith("Path not found")


def test_ping_and_version_answer_like_fn(stack: Stack) -> None:
    assert stack.json("GET", "/version") == (200, {"version": "0.3.391"})
    assert stack.json("GET", "/")[1]["hello"] == "world!"


def test_with_a_token_configured_requests_need_it_but_ping_and_version_do_not(stack: Stack) -> None:
    from dataclasses import replace

    from chalicelib import wiring

    wiring.install(wiring.build(replace(stack.settings, api_token="s3cret")))
    assert stack.json("GET", "/version")[0] == 200
    assert stack.json("GET", "/v1/apps") == (
        401,
        {"error": {"message": "Unauthorized: set FN_TOKEN to the API's token"}},
    )
    assert stack.json("GET", "/v1/apps", headers={"authorization": "Bearer wrong"})[0] == 401
    assert stack.json("POST", "/r/myapp/hello")[0] == 401
    assert stack.json("GET", "/v1/apps", headers={"authorization": "Bearer s3cret"})[0] == 200
