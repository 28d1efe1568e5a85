"""`fn call APP /route`: invoke a function through `/r/…`, reading the answer as Fn 0.4.x does."""

from __future__ import annotations

import json
import sys

import click

from chalicelib.execute.environment import canonical_header
from chalicelib.rules import absolute_route_path
from fnq.cli.client import Response, encode_path
from fnq.cli.errors import CliError
from fnq.cli.factory import CliFactory, pass_factory

MAX_BODY_BYTES = 5 * 1024 * 1024
# A sync call may run for Fn's maximum sync timeout (120 s) before the server answers.
CALL_TIMEOUT_SECONDS = 150.0
# Fn reads `FN_CALL_ID` (Go canonicalises it to `Fn_call_id`); fnq also accepts the dashed form,
# which proxies that drop underscored headers leave intact.
CALL_ID_HEADERS = ("Fn_call_id", "Fn-Call-Id")


def make_call_command(hidden: bool) -> click.Command:
    """One command object per place: `fn call` is hidden in Fn's help, `fn routes call` is listed."""

    @click.command("call", hidden=hidden)
    @click.argument("app")
    @click.argument("path")
    @click.option(
        "--method", default="", help="HTTP method (default: GET without input, POST with piped input)"
    )
    @click.option(
        "--content-type", default="text/plain", show_default=True, help="Content-Type of the request"
    )
    @click.option("-e", "--env", "env", multiple=True, help="send environment variable NAME as header Name")
    @click.option("--display-call-id", is_flag=True, help="print the call ID on stderr")
    @pass_factory
    def call(
        factory: CliFactory,
        /,
        app: str,
        path: str,
        method: str,
        content_type: str,
        env: tuple[str, ...],
        display_call_id: bool,
    ) -> None:
        """call a remote function"""
        body = None if factory.stdin_is_character_device() else _read_stdin()
        method = (method or ("GET" if body is None else "POST")).upper()
        headers = {"Content-Type": content_type}
        for name in env:
            headers[canonical_header(name)] = factory.environ.get(name, "")
        target = encode_path(f"/r/{app}{absolute_route_path(path)}")
        try:
            reply = factory.create_client().request(
                method, target, body=body, headers=headers, timeout=CALL_TIMEOUT_SECONDS
            )
        except CliError as exc:
            raise CliError(f"error running route: {exc.message}") from exc
        _print_reply(reply, display_call_id)
        if reply.status >= 400:
            raise CliError(f"error calling function: status {reply.status}")

    return call


def _read_stdin() -> bytes:
    data: bytes = sys.stdin.buffer.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        # Fn cut the body at 5 MiB without a word; sending half a request is worse than none.
        raise CliError(f"request body too large: more than {MAX_BODY_BYTES} bytes on stdin")
    return data


def _print_reply(reply: Response, display_call_id: bool) -> None:
    """Fn's `CallFN`: with a call-id header the body is the function's output, copied raw;
    without one the body is JSON: a call id (async) or an error envelope."""
    call_id = next((value for name in CALL_ID_HEADERS if (value := reply.header(name))), None)
    if call_id is not None:
        if display_call_id:
            click.echo(f"Call ID: {call_id}", err=True)
        click.echo(reply.body, nl=False)
        return
    text = reply.body.decode("utf-8", "replace").lstrip()
    if not text:
        raise CliError("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except ValueError as exc:
        raise CliError(f"invalid character {text[0]!r} looking for beginning of value") from exc
    if not isinstance(value, dict):
        raise CliError(f"unexpected response (status {reply.status}): {text[:200]}")
    if value.get("call_id"):
        click.echo(f"Call ID: {value['call_id']}", err=True)
        return
    error = value.get("error")
    message = error.get("message", "") if isinstance(error, dict) else ""
    # One line in the CLI's one error style. Fn printed `Error: <message>` on stdout, then
    # `ERROR: error calling function: status N` on stderr (docs/CLI.md lists this departure).
    raise CliError(message or f"error calling function: status {reply.status}")
