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
from fnq.cli.tokens import tokens
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
main.add_command(tokens)
# `fn call` is `fn routes call`. Fn hid it from its help; fnq lists it, as the tutorial uses it.
main.add_command(make_call_command(hidden=False), "call")
# `fn start` (the local stack: moto, API, worker), `fn stop` and `fn worker` are loaded only when
# invoked: they bring moto and Chalice, which `fn calls get` must not pay for. Their one-line
# descriptions live with them (fnq/cli/start.py).
main.add_lazy_command("start", "fnq.cli.start:start")
main.add_lazy_command("stop", "fnq.cli.start:stop")
main.add_lazy_command("worker", "fnq.cli.start:worker")

# What `fn --help` says of each command, one whole line each: click cuts a docstring's first
# sentence at about 45 characters ("deploys a function to the functions server (bumps, builds,...").
# Fn's own words where they are true; `logs` was "manage function calls for apps" in Fn too.
SUMMARIES = {
    "apps": "manage applications",
    "call": "call a function: fn call APP /route (an async one answers its call id)",
    "calls": "manage function calls for apps: get (--wait), list, cancel, redrive, result",
    "deploy": "deploy the function in this directory: bump, build, upload, update its route",
    "init": "create a function: func.yaml and boilerplate for a runtime",
    "logs": "get a call's log",
    "routes": "manage routes",
    "tokens": "manage API tokens limited to some apps and rights: create, list, revoke",
    "version": "get fn server version",
}
for _name, _summary in SUMMARIES.items():
    main.commands[_name].short_help = _summary
