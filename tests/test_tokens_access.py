"""Every route's right (chalicelib/http/access.py), checked with real scoped tokens.

The matrix sends one request per route with a token holding one right on app `a`: a right the
table does not grant must be refused (403), any other must get past the check (whatever the
route answers then: the requests are built so that nothing is created). Apps with real calls
are in tests/test_tokens_apps.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import app as chalice_app
from chalicelib.http import access, blueprint
from chalicelib.models import Right
from tests.conftest import ADMIN_TOKEN, Stack, bearer, create_token, fake_aws_env, mocked_aws, open_stack

CALL_ID = "01BVJ5T7CA07WGE00000000000"
# One request per resource: (path with {app}, body per method). Bodies are invalid or name what
# does not exist, so an allowed request changes nothing and the matrix's cases stay independent.
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "ping": ("/", {}),
    "version": ("/version", {}),
    "apps": ("/v1/apps", {"POST": {"app": {"name": "{app}", "config": "not a map"}}}),
    "app": ("/v1/apps/{app}", {"PATCH": {"app": {}}}),
    "callback_secret": ("/v1/apps/{app}/callback_secret", {}),
    "routes": ("/v1/apps/{app}/routes", {"POST": {"route": {}}}),
    "route": ("/v1/apps/{app}/routes/x", {"PUT": {"route": {"image": 1}}, "PATCH": {"route": {}}}),
    "calls": ("/v1/apps/{app}/calls", {}),
    "call": (f"/v1/apps/{{app}}/calls/{CALL_ID}", {}),
    "call_log": (f"/v1/apps/{{app}}/calls/{CALL_ID}/log", {}),
    "call_result": (f"/v1/apps/{{app}}/calls/{CALL_ID}/result", {}),
    "call_cancel": (f"/v1/apps/{{app}}/calls/{CALL_ID}/cancel", {}),
    "call_redrive": (f"/v1/apps/{{app}}/calls/{CALL_ID}/redrive", {}),
    "calls_redrive": ("/v1/apps/{app}/calls/redrive", {}),
    "bundle": ("/v1/bundles/sha256/" + "0" * 64, {}),
    "invoke_root": ("/r/{app}", {}),
    "invoke": ("/r/{app}/x", {}),
    "tokens": ("/v1/tokens", {"POST": {"token": {}}}),
    "token": ("/v1/tokens/0123456789abcdef", {}),
    "ui_page": ("/ui", {}),
    "ui_asset": ("/ui/app.js", {}),
}
CASES = sorted(access.ACCESS)


@dataclass
class Matrix:
    stack: Stack
    tokens: dict[Right, str]  # one right each, on app `a`

    def send(self, resource: str, method: str, app: str, token: str) -> tuple[int, Any]:
        path, bodies = REQUESTS[resource]
        body = json.loads(json.dumps(bodies.get(method, {})).replace("{app}", app))
        headers = {"content-type": "application/json", **bearer(token)}
        response = self.stack.request(method, path.replace("{app}", app), body or None, headers)
        # Every refusal is Fn's JSON envelope; what gets past may be anything (the dashboard's HTML).
        json_reply = response.headers.get("Content-Type", "").startswith("application/json")
        return int(response.status_code), json.loads(response.body) if json_reply else response.body


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """One stack for the whole matrix: its requests only read, so they cannot disturb each other."""
    with pytest.MonkeyPatch.context() as monkeypatch, mocked_aws():
        fake_aws_env(monkeypatch)
        with open_stack(Path(tmp_path_factory.mktemp("matrix")), ADMIN_TOKEN) as stack:
            yield Matrix(stack, {right: create_token(stack, ["a"], [right]) for right in Right})


def allowed(need: access.Access, right: Right) -> bool:
    """What the table promises a token holding `right` on app `a` alone, for a request on `a`."""
    if need.scope in (access.Scope.PUBLIC, access.Scope.TOKEN):
        return True
    if need.scope is access.Scope.EVERY_APP:
        return False  # the token is for `a` only
    return right in (need.right, Right.ADMIN)


def registered_routes() -> dict[tuple[str, str], str]:
    """(resource, method) → the path of its first registered view (`{s0}` read as `{path}`).

    A view registered through blueprint.register counts for the methods it serves; any other
    view of the app (no token check wraps it) for every method it is registered for.
    """
    found: dict[tuple[str, str], str] = {}
    for path, methods in chalice_app.routes.items():
        for method, entry in methods.items():
            resource = blueprint.VIEW_RESOURCES.get(entry.view_name)
            if resource is None:
                found.setdefault((entry.view_name, method), path)
            elif method in blueprint.SERVED[resource]:
                found.setdefault((resource, method), path.replace("{s0}", "{path}"))
    return found


def documented_routes() -> set[tuple[str, str, str, str]]:
    """docs/TOKENS.md's route table: (method, path, right, scope), `any` method spelled out."""
    rows = set()
    text = (Path(__file__).parents[1] / "docs" / "TOKENS.md").read_text()
    for line in text.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].startswith("/") and cells[0] != "method":
            method, path, right, scope = cells
            for each in access.METHODS if method == "any" else (method,):
                rows.add((each, path, right, scope))
    return rows


def test_docs_tokens_md_lists_every_route_with_the_right_the_code_requires() -> None:
    in_code = {
        (
            method,
            path,
            str(access.ACCESS[(resource, method)].right or "-"),
            access.ACCESS[(resource, method)].scope.value,
        )
        for (resource, method), path in registered_routes().items()
    }

    assert documented_routes() == in_code


def test_every_registered_route_is_classified_and_every_classification_is_a_route() -> None:
    routes = registered_routes()
    for (resource, method), path in routes.items():
        assert (resource, method) in access.ACCESS, f"{method} {path} is not classified"
        if resource not in blueprint.SERVED:  # no token check wraps it: it had better be public
            assert access.ACCESS[(resource, method)] is access.PUBLIC, f"{method} {path} is not checked"

    assert set(routes) == set(access.ACCESS)
    assert set(REQUESTS) == {resource for resource, _ in access.ACCESS}


@pytest.mark.parametrize("right", list(Right), ids=str)
@pytest.mark.parametrize(("resource", "method"), CASES, ids=[f"{r}-{m}" for r, m in CASES])
def test_a_token_gets_past_a_route_exactly_when_the_table_grants_its_right(
    matrix: Matrix, resource: str, method: str, right: Right
) -> None:
    need = access.ACCESS[(resource, method)]

    status, reply = matrix.send(resource, method, "a", matrix.tokens[right])

    if allowed(need, right):
        assert status not in (401, 403), reply
    else:
        assert status == 403, reply
        assert reply["error"]["message"].startswith(f"Forbidden: the token has no {need.right} right")


APP_CASES = [case for case in CASES if access.ACCESS[case].scope in (access.Scope.APP, access.Scope.NAMED)]


@pytest.mark.parametrize(("resource", "method"), APP_CASES, ids=[f"{r}-{m}" for r, m in APP_CASES])
def test_no_right_on_app_a_reaches_app_b(matrix: Matrix, resource: str, method: str) -> None:
    for right in Right:
        status, reply = matrix.send(resource, method, "b", matrix.tokens[right])

        assert status == 403, (right, reply)
        assert reply["error"]["message"].startswith("Forbidden: the token has no ")


def test_the_stack_token_gets_past_every_route(matrix: Matrix) -> None:
    for resource, method in CASES:
        status, reply = matrix.send(resource, method, "b", ADMIN_TOKEN)
        assert status not in (401, 403), (resource, method, reply)
