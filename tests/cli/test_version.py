from __future__ import annotations

import tomllib
from pathlib import Path

from fnq.cli.factory import client_version
from tests.cli.peer import FnPeer, RunFn


def test_version_prints_the_client_and_the_server_version(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/version", body={"version": "0.3.391"})

    result = fn("version")

    assert result.stdout == f"Client version: {client_version()}\nServer version: 0.3.391\n"
    assert peer.seen == ["GET /version"]


def test_version_without_a_server_prints_a_question_mark_and_succeeds(fn: RunFn) -> None:
    result = fn("version", env={"FN_API_URL": "http://127.0.0.1:1"})

    assert (result.exit_code, result.stdout.splitlines()[1]) == (0, "Server version: ?")


def test_the_client_version_is_the_projects() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())

    assert client_version() == pyproject["project"]["version"]
