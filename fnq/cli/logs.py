"""`fn logs get APP CALL_ID|last`: a call's log, printed exactly as stored (no added newline)."""

from __future__ import annotations

import click

from fnq.cli.client import decode_object, paginate, wrapped
from fnq.cli.errors import CliError
from fnq.cli.factory import CliFactory, pass_factory
from fnq.cli.group import FnGroup

LAST_ALIASES = frozenset({"last", "l"})


@click.group("logs", cls=FnGroup, no_args_is_help=True)
def logs() -> None:
    """manage function calls for apps"""


@logs.command("get")
@click.argument("app")
@click.argument("call_id")
@pass_factory
def get_log(factory: CliFactory, app: str, call_id: str) -> None:
    """get logs for a call. Must provide call_id or last (l) to retrieve the most recent calls logs."""
    client = factory.create_client()
    if call_id in LAST_ALIASES:
        # The first call of the (newest-first) list is the last one made, as in Fn.
        newest = paginate(client, f"/apps/{app}/calls", "calls", 1)
        if not newest:
            raise CliError("No previous calls found.")
        call_id = str(newest[0].get("id", ""))
    reply = client.api_response("GET", f"/apps/{app}/calls/{call_id}/log")
    content_type = (reply.header("Content-Type") or "").lower()
    if content_type.startswith("text/plain"):
        # Fn's CLI could not read a text/plain log; a server that sends one gets printed anyway.
        click.echo(reply.body, nl=False)
        return
    log = wrapped(decode_object(reply), "log")
    click.echo(str(log.get("log", "")), nl=False)


logs.add_alias("g", "get")
