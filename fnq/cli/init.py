"""`fn init --runtime python|node|go [NAME]`: a new function directory, with Fn's messages."""

from __future__ import annotations

from pathlib import Path

import click

from chalicelib.errors import FnqError
from fnq.cli.errors import CliError
from fnq.cli.factory import CliFactory, pass_factory

RUNTIMES = ("python", "node", "go")


@click.command("init")
@click.argument("directory", required=False, default="")
@click.option("--runtime", required=True, type=click.Choice(RUNTIMES), help="choose an existing runtime")
@click.option("--type", "type_", type=click.Choice(("sync", "async")), default=None, help="sync or async")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("json", "default")),
    default="json",
    show_default=True,
    help="function IO format",
)
@pass_factory
def init(factory: CliFactory, directory: str, runtime: str, type_: str | None, fmt: str) -> None:
    """create a local func.yaml file (and boilerplate) in NAME, or in the current directory"""
    from chalicelib.execute.funcfile import find_func_file

    target = Path.cwd() / directory if directory else Path.cwd()
    # Fn names the function after its directory, lower-cased.
    name = target.resolve().name.lower()
    if find_func_file(target):
        raise CliError("Function file already exists, aborting")
    write_boilerplate = factory.create_boilerplate_writer()
    if directory:
        click.echo(f"Creating function at: /{directory.strip('/')}")
    try:
        target.mkdir(parents=True, exist_ok=True)
        write_boilerplate(runtime, name, target, fmt=fmt, type_=type_)
    except FnqError as exc:
        raise CliError(exc.message) from exc
    except OSError as exc:
        raise CliError(f"cannot create the function in {target}: {exc.strerror or exc}") from exc
    click.echo(f"Runtime: {runtime}")
    click.echo("Function boilerplate generated.")
    click.echo("func.yaml created.")
