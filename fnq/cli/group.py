"""A click group that behaves like Fn's urfave/cli app: short aliases, lazy commands, Fn's errors."""

from __future__ import annotations

import importlib
from typing import Any

import click

from fnq.cli.errors import CliError


class FnGroup(click.Group):
    """Adds what Fn's command tree has and click lacks.

    * aliases (`fn apps l`, `fn calls g`), resolved but not listed in help;
    * lazy commands, imported on first use, so a command that pulls in heavy modules (`fn start`
      runs moto and Chalice) costs nothing to the others;
    * usage errors printed as `ERROR: <message>` with exit status 1, as Fn prints them, instead of
      click's usage block and status 2.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases: dict[str, str] = {}
        self.lazy: dict[str, str] = {}

    def add_alias(self, alias: str, target: str) -> None:
        self.aliases[alias] = target

    def add_lazy_command(self, name: str, import_path: str) -> None:
        """Register `module:attribute` as command `name`, imported when it is first invoked."""
        self.lazy[name] = import_path

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `fn apps` alone prints the help and succeeds, as in Fn (click 8.2+ would exit 2).
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            click.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = self.aliases.get(cmd_name, cmd_name)
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise CliError(_usage_message(exc)) from exc


def _usage_message(exc: click.UsageError) -> str:
    """Fn's wording for missing arguments (`Missing required arguments: <app> <call-id>`)."""
    if isinstance(exc, click.MissingParameter) and isinstance(exc.param, click.Argument) and exc.ctx:
        names = [
            f"<{param.name.replace('_', '-')}>"
            for param in exc.ctx.command.params
            if isinstance(param, click.Argument) and param.required and param.name
        ]
        return "Missing required arguments: " + " ".join(names)
    return exc.format_message()
