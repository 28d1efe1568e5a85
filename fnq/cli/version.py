"""`fn version`: this client's version and the server's (`GET /version`); never asks GitHub."""

from __future__ import annotations

import click

from fnq.cli.client import decode_object
from fnq.cli.errors import CliError
from fnq.cli.factory import CliFactory, client_version, pass_factory


@click.command("version")
@pass_factory
def version(factory: CliFactory) -> None:
    """get fn server version"""
    click.echo(f"Client version: {client_version()}")
    # Like Fn: an unreachable server is not an error here, its version is just unknown.
    server = "?"
    try:
        reply = factory.create_client().request("GET", "/version", headers={"Accept": "application/json"})
        if reply.status < 300:
            server = str(decode_object(reply).get("version") or "?")
    except CliError:
        pass
    click.echo(f"Server version: {server}")
