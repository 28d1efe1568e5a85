"""`fn tokens create|list|revoke`: the API's scoped tokens (fnq's addition; Fn had none).

`create` prints the token's secret on its own last line: the server keeps only its hash, so this
is the one time it can be read (`export FN_TOKEN=$(fn tokens create ci -a myapp -r invoke | tail -n1)`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import click

from fnq.cli.client import paginate, wrapped
from fnq.cli.errors import CliError
from fnq.cli.factory import CliFactory, pass_factory
from fnq.cli.group import FnGroup
from fnq.cli.output import format_time, tab_table

RIGHTS = ("invoke", "read", "deploy", "admin")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# `fn tokens revoke` takes a token's id, or the whole token (fnq_<id>_<secret>) one has at hand.
_WHOLE_TOKEN = re.compile(r"^fnq_([0-9a-f]{16})_[0-9a-f]+$")


@click.group("tokens", cls=FnGroup, no_args_is_help=True)
def tokens() -> None:
    """manage API tokens limited to some apps and rights (fnq)"""


@tokens.command("create")
@click.argument("name", required=False, default="")
@click.option(
    "--app", "-a", "apps", multiple=True, required=True, help='an app the token is for ("*": every app)'
)
@click.option(
    "--right", "-r", "rights", multiple=True, required=True, type=click.Choice(RIGHTS), help="what it may do"
)
@click.option("--expires-in", default="", help="lifetime, e.g. 90m, 12h, 30d (default: until revoked)")
@pass_factory
def create_token(
    factory: CliFactory, name: str, apps: tuple[str, ...], rights: tuple[str, ...], expires_in: str
) -> None:
    """create a token; its secret is printed once, on the last line"""
    body: dict[str, Any] = {"apps": list(apps), "name": name, "rights": list(rights)}
    if expires_in:
        body["expires_at"] = (factory.wall_clock() + _duration(expires_in)).isoformat()
    created = wrapped(factory.create_client().api("POST", "/tokens", json_body={"token": body}), "token")
    secret = created.get("secret")
    if not isinstance(secret, str) or not secret:
        raise CliError('unexpected response from server: no token "secret"')
    click.echo(f"Successfully created token:  {created.get('id', '')}")
    click.echo(secret)


@tokens.command("list")
@click.option("--cursor", default="", help="pagination cursor")
@click.option("-n", "limit", type=int, default=100, show_default=True, help="number of tokens to return")
@pass_factory
def list_tokens(factory: CliFactory, cursor: str, limit: int) -> None:
    """list tokens (never their secrets)"""
    if limit < 0:
        raise CliError("number of tokens: negative value not allowed")
    found = paginate(factory.create_client(), "/tokens", "tokens", limit, cursor)
    if not found:
        click.echo("no tokens found")
        return
    rows = [["id", "name", "apps", "rights", "expires"]]
    for token in found:
        expires = token.get("expires_at")
        rows.append(
            [
                str(token.get("id", "")),
                str(token.get("name") or "-"),
                ",".join(str(a) for a in token.get("apps") or []),
                ",".join(str(r) for r in token.get("rights") or []),
                format_time(expires) if expires else "never",
            ]
        )
    click.echo(tab_table(rows), nl=False)


@tokens.command("revoke")
@click.argument("token")
@pass_factory
def revoke_token(factory: CliFactory, token: str) -> None:
    """revoke a token, by its id (or the whole token)"""
    whole = _WHOLE_TOKEN.match(token)
    token_id = whole[1] if whole else token
    factory.create_client().api("DELETE", f"/tokens/{token_id}")
    click.echo(f"Token {token_id} revoked")


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None or int(match[1]) == 0:
        raise CliError(f"invalid --expires-in {text[:40]!r}: expected a number and s, m, h or d, e.g. 30d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


for _alias, _name in {"c": "create", "l": "list", "r": "revoke"}.items():
    tokens.add_alias(_alias, _name)
