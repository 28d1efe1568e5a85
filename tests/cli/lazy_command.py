"""A command module for the lazy-loading test, standing in for `fn start`."""

from __future__ import annotations

import click


@click.command("hello")
def hello() -> None:
    click.echo("hello from a lazy command")
