"""`fn logs get APP CALL_ID|last`: a call's log, printed exactly as stored (no added newline).

A call's log is stored when the call finishes. Asked for the log of a call that is still queued
or running, Fn's CLI printed `ERROR: Call log not found`, which reads as if the call were lost;
fnq's says what the call is doing and how to wait for it (docs/CLI.md lists this departure).
"""

from __future__ import annotations

import click

from fnq.cli.calls import PENDING_STATUSES
from fnq.cli.client import FnClient, Response, decode_object, paginate, wrapped
from fnq.cli.errors import ApiError, CliError
from fnq.cli.factory import CliFactory, pass_factory
from fnq.cli.group import FnGroup

LAST_ALIASES = frozenset({"last", "l"})


@click.group("logs", cls=FnGroup, no_args_is_help=True)
def logs() -> None:
    """get a call's log"""


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
    reply = _log_of(client, app, call_id)
    content_type = (reply.header("Content-Type") or "").lower()
    if content_type.startswith("text/plain"):
        # Fn's CLI could not read a text/plain log; a server that sends one gets printed anyway.
        click.echo(reply.body, nl=False)
        return
    log = wrapped(decode_object(reply), "log")
    click.echo(str(log.get("log", "")), nl=False)


logs.add_alias("g", "get")


def _log_of(client: FnClient, app: str, call_id: str) -> Response:
    try:
        return client.api_response("GET", f"/apps/{app}/calls/{call_id}/log")
    except ApiError as exc:
        if exc.status != 404:
            raise
        status = _pending_status(client, app, call_id)
        if status is None:
            raise
        raise CliError(
            f"call {call_id} is {status}: its log is stored when it finishes; "
            f"wait for it with: fn calls get --wait {app} {call_id}"
        ) from exc


def _pending_status(client: FnClient, app: str, call_id: str) -> str | None:
    """The call's status when it has not finished yet; None otherwise, or when it cannot be read."""
    try:
        call = wrapped(client.api("GET", f"/apps/{app}/calls/{call_id}"), "call")
    except CliError:
        return None
    status = str(call.get("status", ""))
    return status if status in PENDING_STATUSES else None
