"""`fn tokens …` against the protocol peer: the requests it sends and the lines it prints."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.cli.peer import FnPeer, RunFn

SECRET = "fnq_0123456789abcdef_" + "ab" * 32
TOKEN = {
    "id": "0123456789abcdef",
    "name": "ci",
    "apps": ["myapp", "other"],
    "rights": ["invoke", "read"],
    "created_at": "2030-01-02T03:04:05.000Z",
}
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_tokens_create_posts_the_scope_and_prints_the_secret_alone_on_the_last_line(
    fn: RunFn, peer: FnPeer
) -> None:
    peer.on(
        "POST",
        "/v1/tokens",
        body={"message": "Token successfully created", "token": {**TOKEN, "secret": SECRET}},
    )

    result = fn("tokens", "create", "ci", "-a", "myapp", "--app", "other", "-r", "invoke", "--right", "read")

    assert (result.exit_code, result.stdout) == (
        0,
        f"Successfully created token:  0123456789abcdef\n{SECRET}\n",
    )
    assert peer.requests[0].json() == {
        "token": {"apps": ["myapp", "other"], "name": "ci", "rights": ["invoke", "read"]}
    }


def test_tokens_create_turns_expires_in_into_a_time(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", "/v1/tokens", body={"token": {**TOKEN, "secret": SECRET}})

    fn("tokens", "create", "-a", "*", "-r", "admin", "--expires-in", "30d", wall_clock=lambda: NOW)

    assert peer.requests[0].json()["token"]["expires_at"] == "2030-02-01T03:04:05+00:00"


def test_tokens_create_refuses_a_lifetime_it_cannot_read_and_a_right_there_is_not(
    fn: RunFn, peer: FnPeer
) -> None:
    bad_lifetime = fn("tokens", "create", "-a", "myapp", "-r", "read", "--expires-in", "soon")
    bad_right = fn("tokens", "create", "-a", "myapp", "-r", "root")

    assert bad_lifetime.exit_code == bad_right.exit_code == 1
    assert bad_lifetime.stderr == (
        "ERROR: invalid --expires-in 'soon': expected a number and s, m, h or d, e.g. 30d\n"
    )
    assert bad_right.stderr.startswith("ERROR: Invalid value for '--right' / '-r': 'root' is not one of")
    assert peer.requests == []


def test_tokens_list_prints_a_table_without_secrets(fn: RunFn, peer: FnPeer) -> None:
    other = {
        "id": "fedcba9876543210",
        "apps": ["*"],
        "rights": ["admin"],
        "expires_at": "2030-02-01T03:04:05Z",
    }
    peer.on("GET", "/v1/tokens", body={"tokens": [TOKEN, other], "next_cursor": ""})

    result = fn("tokens", "list")

    assert result.stdout == (
        "id\t\t\tname\tapps\t\trights\t\texpires\n"
        "0123456789abcdef\tci\tmyapp,other\tinvoke,read\tnever\n"
        "fedcba9876543210\t-\t*\t\tadmin\t\t2030-02-01T03:04:05.000Z\n"
    )


def test_tokens_list_says_so_when_there_are_none(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/tokens", body={"tokens": [], "next_cursor": ""})

    assert fn("tokens", "l").stdout == "no tokens found\n"


def test_tokens_revoke_takes_an_id_or_the_whole_token(fn: RunFn, peer: FnPeer) -> None:
    peer.on("DELETE", "/v1/tokens/0123456789abcdef", body={"message": "Token revoked"})

    by_id = fn("tokens", "revoke", "0123456789abcdef")
    by_token = fn("tokens", "revoke", SECRET)

    assert by_id.stdout == by_token.stdout == "Token 0123456789abcdef revoked\n"
    assert peer.seen == ["DELETE /v1/tokens/0123456789abcdef"] * 2


def test_a_refused_token_is_an_error_line_that_never_prints_the_token(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/tokens", 401, {"error": {"message": "Unauthorized: set FN_TOKEN to the API's token"}})

    result = fn("tokens", "list", env={"FN_TOKEN": SECRET})

    assert (result.exit_code, result.stderr) == (1, "ERROR: Unauthorized: set FN_TOKEN to the API's token\n")
    assert SECRET not in result.output
