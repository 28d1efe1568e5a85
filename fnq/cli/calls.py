"""`fn calls get|list` as Fn 0.4.x prints them, plus `calls get --wait` (fnq's addition)."""

from __future__ import annotations

import itertools
import sys
from typing import Any

import click

from fnq.cli.client import API_PREFIX, FnClient, encode_path, error_message, paginate, wrapped
from fnq.cli.errors import ApiError, CliError
from fnq.cli.factory import CliFactory, pass_factory
from fnq.cli.group import FnGroup
from fnq.cli.output import call_block, callback_lines
from fnq.cli.params import unix_seconds

# Wire statuses of a call that has not finished: fnq's `queued`/`running`, and Fn's `delayed`
# (in Fn's model, never written). Every other status is terminal: success, error, timeout, cancelled.
PENDING_STATUSES = frozenset({"queued", "running", "delayed"})
MAX_POLL_SECONDS = 1.0
FIRST_POLL_SECONDS = 0.1
SPINNER_TICK_SECONDS = 0.1


@click.group("calls", cls=FnGroup, no_args_is_help=True)
def calls() -> None:
    """manage function calls for apps"""


@calls.command("get")
@click.argument("app")
@click.argument("call_id")
@click.option(
    "--wait", is_flag=True, help="poll until the call is finished (success, error, timeout, cancelled)"
)
@click.option("--timeout", type=float, default=300.0, show_default=True, help="seconds to wait with --wait")
@pass_factory
def get_call(factory: CliFactory, app: str, call_id: str, wait: bool, timeout: float) -> None:
    """get function call info per app"""
    client = factory.create_client()
    call = _wait_for_call(factory, client, app, call_id, timeout) if wait else _get_call(client, app, call_id)
    click.echo(call_block(call, app) + callback_lines(call), nl=False)


@calls.command("list")
@click.argument("app")
@click.option("--path", default="", help="only calls of this route")
@click.option("--cursor", default="", help="pagination cursor")
@click.option("--from-time", default="", help="only calls created after this RFC 3339 time")
@click.option("--to-time", default="", help="only calls created before this RFC 3339 time")
@click.option("-n", "limit", type=int, default=100, show_default=True, help="number of calls to return")
@pass_factory
def list_calls(
    factory: CliFactory, app: str, path: str, cursor: str, from_time: str, to_time: str, limit: int
) -> None:
    """list all calls for the specific app (newest first)"""
    if limit < 0:
        raise CliError("number of calls: negative value not allowed")
    query = {"path": path} if path else {}
    if from_time:
        query["from_time"] = unix_seconds(from_time)
    if to_time:
        query["to_time"] = unix_seconds(to_time)
    found = paginate(factory.create_client(), f"/apps/{app}/calls", "calls", limit, cursor, query)
    click.echo("".join(call_block(call, app) for call in found), nl=False)


@calls.command("cancel")
@click.argument("app")
@click.argument("call_id")
@pass_factory
def cancel_call(factory: CliFactory, app: str, call_id: str) -> None:
    """cancel a queued or running call (fnq)"""
    factory.create_client().api("POST", f"/apps/{app}/calls/{call_id}/cancel")
    click.echo(f"Call {call_id} cancelled")


@calls.command("result")
@click.argument("app")
@click.argument("call_id")
@pass_factory
def get_result(factory: CliFactory, app: str, call_id: str) -> None:
    """print an async call's response body alone, bytes as they are (fnq)"""
    # Accept anything: API Gateway and Chalice answer a binary content type only to a request
    # that accepts it (the JSON API's `Accept: application/json` would get a 400 for bytes).
    target = encode_path(f"{API_PREFIX}/apps/{app}/calls/{call_id}/result")
    reply = factory.create_client().request("GET", target, headers={"Accept": "*/*"})
    if reply.status >= 300:
        raise ApiError(reply.status, error_message(reply))
    # Bytes: click.echo writes them to the binary stream unchanged (binary or non-UTF-8 results).
    click.echo(reply.body, nl=False)


@calls.command("redrive")
@click.argument("app")
@click.argument("call_id", required=False)
@click.option("--all", "everything", is_flag=True, help="every dead call of the app")
@pass_factory
def redrive_calls(factory: CliFactory, app: str, call_id: str | None, everything: bool) -> None:
    """queue dead calls again: dead-lettered, never enqueued, or out of attempts (fnq)"""
    if bool(call_id) == everything:
        raise CliError("give a call id or --all")
    client = factory.create_client()
    if call_id:
        client.api("POST", f"/apps/{app}/calls/{call_id}/redrive")
        click.echo(f"Call {call_id} redriven")
        return
    ids = client.api("POST", f"/apps/{app}/calls/redrive").get("call_ids") or []
    click.echo("".join(f"Call {i} redriven\n" for i in ids) + f"Redrove {len(ids)} dead calls of {app}")


def _get_call(client: FnClient, app: str, call_id: str) -> dict[str, Any]:
    return wrapped(client.api("GET", f"/apps/{app}/calls/{call_id}"), "call")


def _wait_for_call(
    factory: CliFactory, client: FnClient, app: str, call_id: str, timeout: float
) -> dict[str, Any]:
    """Poll with a growing delay (0.1 s, doubling, at most 1 s) until the call is terminal.

    A 404 is an error at once: fnq records a call when it accepts it, so an unknown id will not
    appear later (Fn only wrote the record at the end; there, a 404 could mean "not yet").
    """
    spinner = _Spinner(enabled=factory.stderr_is_tty())
    deadline = factory.clock() + timeout
    delay = FIRST_POLL_SECONDS
    try:
        while True:
            call = _get_call(client, app, call_id)
            status = str(call.get("status", ""))
            if status not in PENDING_STATUSES:
                return call
            remaining = deadline - factory.clock()
            if remaining <= 0:
                raise CliError(f"timed out waiting for call {call_id}")
            spinner.pause(factory, min(delay, remaining), f"Waiting for call {call_id}: {status}")
            delay = min(delay * 2, MAX_POLL_SECONDS)
    finally:
        spinner.clear()


class _Spinner:
    """A one-line progress mark on stderr, only for a terminal: piped output stays clean."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.frames = itertools.cycle("|/-\\")
        self.shown = False

    def pause(self, factory: CliFactory, seconds: float, text: str) -> None:
        if not self.enabled:
            factory.sleep(seconds)
            return
        while seconds > 0:
            self._write(f"\r{next(self.frames)} {text}\x1b[K")
            self.shown = True
            step = min(SPINNER_TICK_SECONDS, seconds)
            factory.sleep(step)
            seconds -= step

    def clear(self) -> None:
        if self.shown:
            self._write("\r\x1b[K")
            self.shown = False

    @staticmethod
    def _write(text: str) -> None:
        # Straight to the stream: click.echo would strip the erase-line code when it cannot tell
        # the stream is a terminal, and we only get here once we know it is one.
        sys.stderr.write(text)
        sys.stderr.flush()


calls.add_alias("g", "get")
calls.add_alias("l", "list")
