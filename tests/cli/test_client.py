from __future__ import annotations

import click
import pytest

from fnq.cli.client import Endpoint
from fnq.cli.errors import CliError
from fnq.cli.main import main
from tests.cli.peer import FnPeer, RunFn


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:8080", Endpoint("http", "localhost", 8080, "")),
        ("localhost:8080", Endpoint("http", "localhost", 8080, "")),
        ("http://localhost:8080/v1/", Endpoint("http", "localhost", 8080, "")),
        ("https://x.execute-api.aws/api/", Endpoint("https", "x.execute-api.aws", 443, "/api")),
        ("HTTPS://h:8443/stage/v1", Endpoint("https", "h", 8443, "/stage")),
    ],
)  # fmt: skip
def test_fn_api_url_keeps_scheme_host_port_and_a_path_prefix(url: str, expected: Endpoint) -> None:
    assert Endpoint.parse(url) == expected


def test_a_default_port_is_left_out_of_urls() -> None:
    assert Endpoint.parse("https://h/api").url("/v1/apps") == "https://h/api/v1/apps"
    assert Endpoint.parse("http://h:8080").url("/v1/apps") == "http://h:8080/v1/apps"


def test_an_fn_api_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(CliError, match="invalid FN_API_URL"):
        Endpoint.parse("ftp://h")


def test_requests_go_below_the_path_prefix(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/stage/v1/apps", body={"apps": [{"name": "a"}], "next_cursor": ""})

    result = fn("apps", "list", env={"FN_API_URL": peer.url + "/stage"})

    assert (result.exit_code, result.stdout) == (0, "a\n")


def test_fn_token_is_sent_as_a_bearer_token(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps", body={"apps": [], "next_cursor": ""})

    fn("apps", "list", env={"FN_TOKEN": "s3cret"})

    assert peer.requests[0].headers["Authorization"] == "Bearer s3cret"


def test_no_authorization_header_without_a_token(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps", body={"apps": [], "next_cursor": ""})

    fn("apps", "list")

    assert "Authorization" not in peer.requests[0].headers


def test_a_server_error_without_envelope_shows_status_and_body(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp", 500, body="oops", headers={"Content-Type": "text/plain"})

    result = fn("apps", "inspect", "myapp")

    assert (result.exit_code, result.stderr) == (
        1,
        "ERROR: unexpected response from server: status 500: oops\n",
    )


def test_an_api_gateway_error_shows_its_message_and_status(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp", 403, body={"message": "Forbidden"})

    assert fn("apps", "inspect", "myapp").stderr == "ERROR: Forbidden (status 403)\n"


def test_a_success_that_is_not_json_is_an_error_not_a_traceback(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp", body="<html>", headers={"Content-Type": "text/html"})

    result = fn("apps", "inspect", "myapp")

    assert (result.exit_code, result.stderr) == (1, "ERROR: invalid JSON from server (status 200): <html>\n")


def test_a_closed_port_is_reported_like_go_does(fn: RunFn) -> None:
    result = fn("apps", "list", env={"FN_API_URL": "http://127.0.0.1:1"})

    assert (result.exit_code, result.stderr) == (
        1,
        'ERROR: Get "http://127.0.0.1:1/v1/apps": dial tcp 127.0.0.1:1: connect: connection refused\n',
    )


def test_names_with_unsafe_characters_are_percent_encoded(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/caf%C3%A9%20app", body={"app": {"name": "café app"}})

    assert fn("apps", "inspect", "café app", "name").stdout == '"café app"\n'


def test_fn_help_lists_every_command_with_one_whole_line(fn: RunFn) -> None:
    # Fn hid `call` (the tutorial's command) and described `logs` as "manage function calls for
    # apps"; click cut long descriptions at about 45 characters ("...").
    top = fn("--help").stdout
    listed = top.split("Commands:\n", 1)[1].splitlines()
    names = [line.split()[0] for line in listed if line.startswith("  ") and not line.startswith("    ")]

    assert names == sorted(main.list_commands(click.Context(main)))
    assert {"call", "start", "stop", "worker", "logs", "apps"} <= set(names)
    assert "  logs     get a call's log" in listed
    assert not any(line.rstrip().endswith("...") for line in listed), top
    assert "  call " in fn("routes", "--help").stdout


@pytest.mark.parametrize("token", ["s3cr3t\nX-Injected: 1", "s3cr3t\r"], ids=["lf", "cr"])
def test_a_token_a_header_cannot_carry_is_an_error_line_that_does_not_print_it(
    fn: RunFn, peer: FnPeer, token: str
) -> None:
    result = fn("apps", "list", env={"FN_API_URL": peer.url, "FN_TOKEN": token})

    assert result.exit_code == 1
    assert "s3cr3t" not in result.stdout + result.stderr
    assert result.stderr == (
        f'ERROR: Get "{peer.url}/v1/apps": invalid header field value for "Authorization" '
        "(FN_TOKEN holds a line break)\n"
    )
