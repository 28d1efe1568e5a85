"""Apps `a` and `b` with real calls: a token for `a` reaches nothing of `b`, whatever its right."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from tests.conftest import Stack, bearer, create_token


@dataclass
class TwoApps:
    stack: Stack
    calls: dict[str, str]  # app → the id of a call it ran

    def as_token(self, apps: list[str], rights: list[str]) -> Stack:
        return replace(self.stack, headers=bearer(create_token(self.stack, apps, rights)))


@pytest.fixture
def two_apps(secured: Stack) -> TwoApps:
    calls = {}
    for app in ("a", "b"):
        secured.deploy(app, "hello")
        response = secured.request("POST", f"/r/{app}/hello")
        assert response.status_code == 200
        calls[app] = response.headers["Fn_call_id"]
    return TwoApps(secured, calls)


def test_a_read_token_for_a_reads_a_and_nothing_of_b(two_apps: TwoApps) -> None:
    reader = two_apps.as_token(["a"], ["read"])
    a_call, b_call = two_apps.calls["a"], two_apps.calls["b"]

    assert reader.json("GET", f"/v1/apps/a/calls/{a_call}")[0] == 200
    assert reader.json("GET", f"/v1/apps/a/calls/{a_call}/log")[0] == 200
    assert [app["name"] for app in reader.json("GET", "/v1/apps")[1]["apps"]] == ["a"]
    for path in ("", "/calls", f"/calls/{b_call}", f"/calls/{b_call}/log", "/routes", "/routes/hello"):
        assert reader.json("GET", f"/v1/apps/b{path}") == (
            403,
            {"error": {"message": "Forbidden: the token has no read right on app b"}},
        ), path
    # b's call under a's name is a call a does not have.
    assert reader.json("GET", f"/v1/apps/a/calls/{b_call}")[0] == 404
    assert reader.json("GET", f"/v1/apps/a/calls/{b_call}/log")[0] == 404


def test_a_refusal_is_the_same_whether_the_other_app_exists_or_not(two_apps: TwoApps) -> None:
    reader = two_apps.as_token(["a"], ["read"])

    existing = reader.json("GET", "/v1/apps/b/calls")
    missing = reader.json("GET", "/v1/apps/zz/calls")

    assert existing[0] == missing[0] == 403
    assert existing[1]["error"]["message"].replace(" b", " zz") == missing[1]["error"]["message"]


def test_a_deploy_token_for_a_changes_a_and_nothing_of_b(two_apps: TwoApps) -> None:
    deployer = two_apps.as_token(["a"], ["deploy"])
    route = {"route": {"timeout": 7}}

    assert deployer.json("PATCH", "/v1/apps/a/routes/hello", route)[0] == 200
    assert deployer.json("PATCH", "/v1/apps/b/routes/hello", route)[0] == 403
    assert deployer.json("DELETE", "/v1/apps/b")[0] == 403
    assert deployer.json("POST", "/v1/apps", {"app": {"name": "c"}})[0] == 403
    assert deployer.json("GET", "/v1/apps/a/calls")[0] == 403  # deploy is not read
    assert two_apps.stack.json("GET", "/v1/apps/b/routes/hello")[1]["route"]["timeout"] == 30


def test_an_invoke_token_for_a_calls_a_and_not_b(two_apps: TwoApps) -> None:
    invoker = two_apps.as_token(["a"], ["invoke"])

    assert invoker.request("POST", "/r/a/hello").status_code == 200
    assert invoker.request("POST", "/r/b/hello").status_code == 403
    assert invoker.json("POST", f"/v1/apps/b/calls/{two_apps.calls['b']}/cancel")[0] == 403
