"""Scoped tokens' life: created by the admin, shown once, stored as a hash, expiring, revoked."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from chalicelib import wiring
from chalicelib.ids import format_time
from tests.conftest import ADMIN_TOKEN, Stack, bearer
from tests.support import REGION, Clock

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def create(stack: Stack, **token: Any) -> dict[str, Any]:
    status, reply = stack.json("POST", "/v1/tokens", {"token": {"apps": ["a"], "rights": ["read"], **token}})
    assert status == 200, reply
    return dict(reply["token"])


def stored_tokens(stack: Stack) -> list[dict[str, Any]]:
    db = boto3.client("dynamodb", region_name=REGION)
    return db.query(
        TableName=stack.settings.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "TOKENS"}},
    )["Items"]


def test_a_token_is_shown_once_and_stored_only_as_the_hash_of_its_secret(secured: Stack) -> None:
    created = create(secured, name="dashboard", apps=["a", "b"], rights=["read", "invoke"])

    secret = created["secret"]
    prefix, token_id, random_part = secret.split("_")
    assert (prefix, token_id) == ("fnq", created["id"])
    assert len(random_part) == 64
    shown = {k: v for k, v in created.items() if k not in ("secret", "created_at")}
    assert shown == {"id": token_id, "name": "dashboard", "apps": ["a", "b"], "rights": ["read", "invoke"]}
    # Never again: not when inspected, not when listed, not in the table.
    assert "secret" not in secured.json("GET", f"/v1/tokens/{token_id}")[1]["token"]
    assert [t.get("secret") for t in secured.json("GET", "/v1/tokens")[1]["tokens"]] == [None]
    (item,) = stored_tokens(secured)
    assert random_part not in json.dumps(item)
    assert item["secret_hash"] == {"S": hashlib.sha256(random_part.encode()).hexdigest()}


def test_a_token_works_until_it_is_revoked(secured: Stack) -> None:
    token = create(secured)
    holder = replace(secured, headers=bearer(token["secret"]))
    assert holder.json("GET", "/v1/apps")[0] == 200

    assert secured.json("DELETE", f"/v1/tokens/{token['id']}") == (200, {"message": "Token revoked"})

    assert holder.json("GET", "/v1/apps") == (
        401,
        {"error": {"message": "Unauthorized: set FN_TOKEN to the API's token"}},
    )
    assert secured.json("DELETE", f"/v1/tokens/{token['id']}") == (
        404,
        {"error": {"message": "Token not found"}},
    )
    assert secured.json("GET", "/v1/tokens")[1]["tokens"] == []


def test_a_token_past_its_expiry_is_refused_and_the_table_can_expire_it(secured: Stack) -> None:
    clock = Clock(T0)
    components = wiring.build(secured.settings, clock=clock)
    wiring.install(components)
    token = create(secured, expires_at="2030-01-02T04:04:05.999+00:00")
    holder = replace(secured, headers=bearer(token["secret"]))
    assert token["expires_at"] == "2030-01-02T04:04:05.000Z"  # whole seconds, as stored

    clock.now = T0 + timedelta(minutes=59)
    assert holder.json("GET", "/v1/apps")[0] == 200
    clock.now = T0 + timedelta(hours=1)
    assert holder.json("GET", "/v1/apps") == (
        401,
        {"error": {"message": "Unauthorized: the token has expired"}},
    )
    # DynamoDB's TTL reads epoch seconds: the table deletes expired tokens by itself.
    (item,) = stored_tokens(secured)
    assert item["expires_at"] == {"N": str(int((T0 + timedelta(hours=1)).timestamp()))}


def test_a_create_request_is_validated(secured: Stack) -> None:
    bad: list[tuple[Any, str]] = [
        ({}, "Missing new token"),
        ({"token": {"rights": ["read"]}}, 'Missing token apps: a list of app names, or ["*"] for every app'),
        ({"token": {"apps": ["a"]}}, "Missing token rights: a list of invoke, read, deploy, admin"),
        (
            {"token": {"apps": ["a"], "rights": ["root"]}},
            "Invalid token right: root (invoke, read, deploy or admin)",
        ),
        ({"token": {"apps": ["*", "a"], "rights": ["read"]}}, 'Token apps: "*" (every app) stands alone'),
        ({"token": {"apps": ["a b"], "rights": ["read"]}}, "Invalid app name"),
        ({"token": {"apps": ["a"], "rights": ["read"], "secret": "x"}}, "Invalid token field: secret"),
        ({"token": {"apps": ["a"], "rights": ["read"], "name": "a\nb"}}, "Invalid token name"),
        (
            {"token": {"apps": ["a"], "rights": ["read"], "expires_at": "2030-01-01"}},
            "Invalid token expires_at",
        ),
        (
            {"token": {"apps": ["a"], "rights": ["read"], "expires_at": "2001-01-01T00:00:00Z"}},
            "Invalid token expires_at: the time has passed",
        ),
    ]
    for body, message in bad:
        status, reply = secured.json("POST", "/v1/tokens", body)
        assert status == 400, body
        assert reply["error"]["message"].startswith(message), (body, reply)
    assert secured.json("GET", "/v1/tokens")[1]["tokens"] == []


def test_only_an_admin_of_every_app_manages_tokens(secured: Stack) -> None:
    admin_of_a = replace(secured, headers=bearer(create(secured, rights=["admin"])["secret"]))
    admin_of_all = replace(secured, headers=bearer(create(secured, apps=["*"], rights=["admin"])["secret"]))

    assert admin_of_a.json("GET", "/v1/tokens") == (
        403,
        {"error": {"message": "Forbidden: the token has no admin right on every app"}},
    )
    assert admin_of_a.json("POST", "/v1/tokens", {"token": {"apps": ["*"], "rights": ["admin"]}})[0] == 403
    assert admin_of_all.json("POST", "/v1/tokens", {"token": {"apps": ["b"], "rights": ["read"]}})[0] == 200
    assert len(admin_of_all.json("GET", "/v1/tokens")[1]["tokens"]) == 3


def test_tokens_are_listed_by_id_page_by_page(secured: Stack) -> None:
    ids = sorted(create(secured)["id"] for _ in range(3))

    first = secured.json("GET", "/v1/tokens?per_page=2")[1]
    second = secured.json("GET", f"/v1/tokens?per_page=2&cursor={first['next_cursor']}")[1]

    assert [t["id"] for t in first["tokens"] + second["tokens"]] == ids
    assert second["next_cursor"] == ""


def test_any_other_authorization_is_refused_alike_and_never_echoed(secured: Stack) -> None:
    token = create(secured)
    token_id = token["id"]
    wrong_secret = f"fnq_{token_id}_{'0' * 64}"
    for value in (
        "Bearer " + wrong_secret,
        "Bearer fnq_0000000000000000_" + "0" * 64,
        "Bearer " + token["secret"] + "x",
        "Basic " + token["secret"],
        "Bearer ünïcödé-" + ADMIN_TOKEN,
        "Bearer",
        ADMIN_TOKEN,
    ):
        response = secured.request("GET", "/v1/apps", headers={"authorization": value})
        assert response.status_code == 401, value
        assert json.loads(response.body) == {
            "error": {"message": "Unauthorized: set FN_TOKEN to the API's token"}
        }


def test_an_open_api_refuses_to_make_tokens_that_would_restrict_nobody(stack: Stack) -> None:
    status, reply = stack.json("POST", "/v1/tokens", {"token": {"apps": ["a"], "rights": ["read"]}})

    assert (status, reply) == (
        409,
        {"error": {"message": "Tokens need an API that requires a token: set FNQ_API_TOKEN"}},
    )


def test_a_scoped_token_costs_one_read_by_key(secured: Stack) -> None:
    token = create(secured)
    token_id = token["id"]
    holder = replace(secured, headers=bearer(token["secret"]))
    seen: list[tuple[str, dict[str, Any]]] = []
    secured.components.clients.dynamodb.meta.events.register(
        "provide-client-params", lambda **kw: seen.append((kw["model"].name, kw["params"]))
    )

    assert holder.json("GET", "/v1/apps/a/calls")[0] == 404  # the app does not exist: after the check

    name, params = seen[0]
    assert (name, params["Key"]["sk"], params["ConsistentRead"]) == (
        "GetItem",
        {"S": "TOKEN#" + token_id},
        True,
    )
    assert "Scan" not in [name for name, _ in seen]


def test_token_times_are_fns(secured: Stack) -> None:
    clock = Clock(T0)
    wiring.install(wiring.build(secured.settings, clock=clock))

    assert create(secured)["created_at"] == format_time(T0)
