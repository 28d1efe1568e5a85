"""`fn apps …`: list, create, inspect, update, delete and config, printed as Fn 0.4.x prints them."""

from __future__ import annotations

from typing import Any

import click

from fnq.cli.client import FnClient, paginate, wrapped
from fnq.cli.errors import CliError
from fnq.cli.factory import CliFactory, pass_factory
from fnq.cli.group import FnGroup
from fnq.cli.output import go_json, lookup
from fnq.cli.params import parse_pairs


@click.group("apps", cls=FnGroup, no_args_is_help=True)
def apps() -> None:
    """manage applications"""


@apps.command("list")
@click.option("--cursor", default="", help="pagination cursor")
@click.option("-n", "limit", type=int, default=100, show_default=True, help="number of apps to return")
@pass_factory
def list_apps(factory: CliFactory, cursor: str, limit: int) -> None:
    """list all apps"""
    if limit < 0:
        raise CliError("number of apps: negative value not allowed")
    found = paginate(factory.create_client(), "/apps", "apps", limit, cursor)
    if not found:
        click.echo("no apps found")
    for app in found:
        click.echo(app.get("name", ""))


@apps.command("create")
@click.argument("app")
@click.option("--config", "-c", multiple=True, help="application configuration KEY=VALUE")
@pass_factory
def create_app(factory: CliFactory, app: str, config: tuple[str, ...]) -> None:
    """create a new app"""
    body: dict[str, object] = {"name": app}
    if config:
        body = {"config": parse_pairs(config), "name": app}
    created = wrapped(factory.create_client().api("POST", "/apps", json_body={"app": body}), "app")
    # Two spaces: Fn prints with fmt.Println("Successfully created app: ", name).
    click.echo(f"Successfully created app:  {created.get('name', app)}")


@apps.command("inspect")
@click.argument("app")
@click.argument("prop", required=False, default="")
@pass_factory
def inspect_app(factory: CliFactory, app: str, prop: str) -> None:
    """retrieve one or all apps properties"""
    found = _get_app(factory.create_client(), app)
    if prop:
        try:
            click.echo(go_json(lookup(found, prop)), nl=False)
        except KeyError as exc:
            raise CliError(f"failed to inspect field {prop}") from exc
        return
    click.echo(go_json(found), nl=False)


@apps.command("update")
@click.argument("app")
@click.option("--config", "-c", multiple=True, help="application configuration KEY=VALUE")
@pass_factory
def update_app(factory: CliFactory, app: str, config: tuple[str, ...]) -> None:
    """update an app"""
    _patch_config(factory.create_client(), app, parse_pairs(config))
    click.echo(f"app {app} updated")


@apps.command("delete")
@click.argument("app")
@pass_factory
def delete_app(factory: CliFactory, app: str) -> None:
    """delete an app"""
    factory.create_client().api("DELETE", f"/apps/{app}")
    click.echo(f"App {app} deleted")


@click.group("config", cls=FnGroup, no_args_is_help=True)
def config() -> None:
    """manage your app's function configs"""


apps.add_command(config)


@config.command("set")
@click.argument("app")
@click.argument("key")
@click.argument("value")
@pass_factory
def config_set(factory: CliFactory, app: str, key: str, value: str) -> None:
    """store a configuration key for this application"""
    _patch_config(factory.create_client(), app, {key: value}, "error updating app configuration: ")
    click.echo(f"{app} updated {key} with {value}")


@config.command("get")
@click.argument("app")
@click.argument("key")
@pass_factory
def config_get(factory: CliFactory, app: str, key: str) -> None:
    """inspect configuration key for this application"""
    values = _get_app(factory.create_client(), app).get("config") or {}
    if key not in values:
        raise CliError("config key does not exist")
    click.echo(values[key])


@config.command("list")
@click.argument("app")
@pass_factory
def config_list(factory: CliFactory, app: str) -> None:
    """list configuration key/value pairs for this application"""
    values = _get_app(factory.create_client(), app).get("config") or {}
    # Fn printed Go's map order (random); sorted is the same set and reads better.
    for key in sorted(values):
        click.echo(f"{key}={values[key]}")


@config.command("unset")
@click.argument("app")
@click.argument("key")
@pass_factory
def config_unset(factory: CliFactory, app: str, key: str) -> None:
    """remove a configuration key for this application"""
    # An empty value deletes the key: that is how Fn's PATCH merges config.
    _patch_config(factory.create_client(), app, {key: ""}, "error updating app configuration: ")
    click.echo(f"removed key '{key}' from app '{app}' ")


@apps.command("callback-secret")
@click.argument("app")
@click.option("--rotate", is_flag=True, help="make a new secret; the old one stops signing at once")
@pass_factory
def callback_secret(factory: CliFactory, app: str, rotate: bool) -> None:
    """print the secret that signs the app's completion callbacks (fnq)"""
    answer = factory.create_client().api("POST" if rotate else "GET", f"/apps/{app}/callback_secret")
    click.echo(wrapped(answer, "callback_secret").get("secret", ""))


def _get_app(client: FnClient, app: str) -> dict[str, Any]:
    return wrapped(client.api("GET", f"/apps/{app}"), "app")


def _patch_config(client: FnClient, app: str, values: dict[str, str], context: str = "") -> None:
    body = {"app": {"config": values}} if values else {"app": {}}
    try:
        client.api("PATCH", f"/apps/{app}", json_body=body)
    except CliError as exc:
        raise CliError(context + exc.message) from exc


for _alias, _name in {"c": "create", "i": "inspect", "u": "update", "l": "list", "d": "delete"}.items():
    apps.add_alias(_alias, _name)
for _alias, _name in {"s": "set", "g": "get", "l": "list", "u": "unset"}.items():
    config.add_alias(_alias, _name)
