"""The one exception the CLI raises on purpose; click prints it the way Fn does."""

from __future__ import annotations

from typing import IO, Any

import click


class CliError(click.ClickException):
    """Printed as `ERROR: <message>` on stderr, exit status 1 (Fn's `main` does exactly this)."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"ERROR: {self.message}", err=True)


class ApiError(CliError):
    """The server answered with an error status; `message` is its `error.message` when it sent one."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
