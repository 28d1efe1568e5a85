"""`fn`: the command tree, as Fn 0.4.x lays it out. Commands live one group per module.

Entry point: `fn = "fnq.cli.main:main"` (pyproject.toml).
"""

from __future__ import annotations

import click

from fnq.cli.apps import apps
from fnq.cli.call import make_call_command
from fnq.cli.calls import calls
from fnq.cli.deploy import deploy
from fnq.cli.factory import CliFactory
from fnq.cli.group import FnGroup
from fnq.cli.init import init
from fnq.cli.logs import logs
from fnq.cli.routes import routes
from fnq.cli.version import version


@click.group(
    "fn", cls=FnGroup, no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.pass_context
def main(ctx: click.Context) -> None:
    """fn: Fn-style functions on AWS serverless primitives (fnq).

    Talks to the server at FN_API_URL (default http://localhost:8080; https and a path prefix such
    as an API Gateway stage are kept). FN_TOKEN, when set, is sent as a bearer token.
    """
    if ctx.obj is None:
        ctx.obj = CliFactory()


for _command in (init, apps, routes, calls, logs, deploy, version):
    main.add_command(_command)
# Fn's hidden top-level shortcut: `fn call` is `fn routes call`.
main.add_command(make_call_command(hidden=True), "call")
# `fn start` (the local stack: moto, API, worker) and `fn worker` are loaded only when invoked:
# they bring moto and Chalice, which `fn calls get` must not pay for.
main.add_lazy_command("start", "fnq.cli.start:start")
main.add_lazy_command("worker", "fnq.cli.start:worker")
