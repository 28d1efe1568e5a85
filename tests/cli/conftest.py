"""Fixtures: a loopback Fn protocol peer (see peer.py), a fake clock, and `fn` run in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner, Result

from fnq.cli.factory import CliFactory
from fnq.cli.main import main
from tests.cli.peer import FakeClock, FnPeer, RunFn, handler_for


@pytest.fixture
def peer() -> Iterator[FnPeer]:
    state = FnPeer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fn(peer: FnPeer, clock: FakeClock) -> RunFn:
    """Run `fn ARGS…` in-process against the peer, with stderr and stdout kept apart."""

    def run(
        *args: str, input: bytes | str | None = None, env: dict[str, str] | None = None, **factory: Any
    ) -> Result:
        defaults: dict[str, Any] = {
            "environ": {"FN_API_URL": peer.url, **(env or {})},
            "sleep": clock.sleep,
            "clock": clock,
            "stderr_is_tty": lambda: False,
            "stdin_is_character_device": lambda: input is None,
        }
        return CliRunner().invoke(main, list(args), input=input, obj=CliFactory(**{**defaults, **factory}))

    return run
