"""`fn tokens` end to end: the CLI over real HTTP to the API (fn start's server) on moto.

The admin makes a read token for one app; whoever holds it sees that app and nothing else, and
after it is revoked, nothing at all. No output of `fn`, error or not, ever shows a token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from app import app as chalice_app
from chalicelib import wiring
from fnq.cli.factory import CliFactory
from fnq.cli.main import main
from fnq.local.stack import bind_api
from tests.conftest import ADMIN_TOKEN, Stack, open_stack
from tests.local.support import free_port


@dataclass
class Served:
    stack: Stack
    url: str

    def fn(self, token: str, *args: str) -> Result:
        """`fn ARGS` with FN_TOKEN=token. The API's request log, written meanwhile, is in its stderr."""
        factory = CliFactory(environ={"FN_API_URL": self.url, "FN_TOKEN": token}, stderr_is_tty=lambda: False)
        return CliRunner().invoke(main, list(args), obj=factory)


@contextmanager
def serving_api(port: int) -> Iterator[None]:
    """fn start's API server for app.py on `port`, in a thread."""
    # Chalice's create_local_server gives the app a local subclass by rewriting that subclass's
    # __bases__ to include the app's class, which fails ("inheritance cycle") once the app has it,
    # as it does when another test module served it first: the app gets its own class back before,
    # and after, so that a later server in this process can be made too.
    own = type(chalice_app)
    if own.__name__ == "CustomLocalChalice":
        own = own.__bases__[-1]
    chalice_app.__class__ = own
    api = bind_api("127.0.0.1", port)
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        api.server.shutdown()
        api.server.server_close()
        thread.join(5)
        chalice_app.__class__ = own


@pytest.fixture
def served(aws: None, tmp_path: Path) -> Iterator[Served]:
    with open_stack(tmp_path, ADMIN_TOKEN) as stack:
        port = free_port()
        with serving_api(port):
            # The server builds nothing of its own: it serves the stack's installed components.
            assert wiring.components() is stack.components
            yield Served(stack, f"http://127.0.0.1:{port}")


def test_a_read_token_made_with_fn_sees_its_app_only_until_it_is_revoked(served: Served) -> None:
    for app in ("a", "b"):
        assert served.fn(ADMIN_TOKEN, "apps", "create", app).exit_code == 0

    created = served.fn(ADMIN_TOKEN, "tokens", "create", "dashboard", "--app", "a", "--right", "read")
    assert created.exit_code == 0, created.output
    announced, secret = created.stdout.splitlines()
    token_id = announced.removeprefix("Successfully created token:  ")
    assert secret.startswith(f"fnq_{token_id}_")

    assert served.fn(secret, "apps", "list").stdout == "a\n"
    refused = served.fn(secret, "calls", "list", "b")
    assert (refused.exit_code, errors(refused)) == (
        1,
        ["ERROR: Forbidden: the token has no read right on app b"],
    )
    assert '"GET /v1/apps/b/calls HTTP/1.1" 403' in refused.stderr  # the API's log line is checked too
    not_admin = served.fn(secret, "tokens", "list")
    assert errors(not_admin) == ["ERROR: Forbidden: the token has no admin right on every app"]
    listed = served.fn(ADMIN_TOKEN, "tokens", "list")
    assert listed.stdout.splitlines()[1].split() == [token_id, "dashboard", "a", "read", "never"]

    assert served.fn(ADMIN_TOKEN, "tokens", "revoke", token_id).stdout == f"Token {token_id} revoked\n"

    gone = served.fn(secret, "apps", "list")
    assert (gone.exit_code, errors(gone)) == (1, ["ERROR: Unauthorized: set FN_TOKEN to the API's token"])
    # Neither fn nor the API's log shows a token, whichever way the request went.
    for result in (created, refused, not_admin, listed, gone):
        assert ADMIN_TOKEN not in result.output
    for result in (refused, not_admin, listed, gone):
        assert secret not in result.output and secret.split("_")[2] not in result.output


def errors(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
