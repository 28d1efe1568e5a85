from __future__ import annotations

import sys

import click
from click.testing import CliRunner

from fnq.cli.group import FnGroup
from tests.cli.peer import RunFn


def make_group() -> FnGroup:
    @click.group(cls=FnGroup)
    def group() -> None:
        pass

    return group


def test_a_lazy_command_is_imported_only_when_it_runs() -> None:
    sys.modules.pop("tests.cli.lazy_command", None)
    group = make_group()
    group.add_lazy_command("hello", "tests.cli.lazy_command:hello")
    assert "tests.cli.lazy_command" not in sys.modules

    result = CliRunner().invoke(group, ["hello"])

    assert (result.exit_code, result.stdout) == (0, "hello from a lazy command\n")


def test_aliases_resolve_to_their_command() -> None:
    group = make_group()

    @group.command("list")
    def list_() -> None:
        click.echo("listed")

    group.add_alias("l", "list")

    assert CliRunner().invoke(group, ["l"]).stdout == "listed\n"


def test_a_group_without_a_subcommand_prints_its_help_and_succeeds(fn: RunFn) -> None:
    result = fn("apps")

    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: ") and "  create " in result.stdout
