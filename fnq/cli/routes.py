"""`fn routes …`: list, create, inspect, update, delete (and `routes call`), as Fn 0.4.x prints them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from chalicelib.rules import absolute_route_path
from fnq.cli.call import make_call_command
from fnq.cli.client import paginate, wrapped
from fnq.cli.errors import CliError
from fnq.cli.factory import CliFactory, pass_factory
from fnq.cli.group import FnGroup
from fnq.cli.output import go_json, lookup, tab_table
from fnq.cli.params import parse_headers, parse_pairs


@click.group("routes", cls=FnGroup, no_args_is_help=True)
def routes() -> None:
    """manage routes"""


def _route_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The route flags of `routes create` and `routes update` (Fn's `routeFlags`)."""
    options = [
        click.option(
            "--image", "-i", default="", help="image name (fnq runs the route's bundle; kept as a label)"
        ),
        click.option("--memory", "-m", type=int, default=0, help="memory in MiB"),
        click.option("--type", "-t", "type_", default="", help="route type - sync or async"),
        click.option("--config", "-c", multiple=True, help="route configuration KEY=VALUE"),
        click.option("--headers", multiple=True, help="route response headers NAME=v1;v2"),
        click.option(
            "--format", "-f", "format_", default="", help="function IO format - default, http or json"
        ),
        click.option("--timeout", type=int, default=0, help="route timeout (eg. 30)"),
        click.option("--idle-timeout", type=int, default=0, help="route idle timeout (eg. 30)"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _route_from_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """Only the flags given, in Go's (alphabetical) field order, as Fn's `routeWithFlags` builds it."""
    route: dict[str, Any] = {}
    if flags["config"]:
        route["config"] = parse_pairs(flags["config"])
    if flags["format_"]:
        route["format"] = flags["format_"]
    if flags["headers"]:
        route["headers"] = parse_headers(flags["headers"])
    if flags["idle_timeout"] > 0:
        route["idle_timeout"] = flags["idle_timeout"]
    if flags["image"]:
        route["image"] = flags["image"]
    if flags["memory"] > 0:
        route["memory"] = flags["memory"]
    if flags["timeout"] > 0:
        route["timeout"] = flags["timeout"]
    if flags["type_"]:
        route["type"] = flags["type_"]
    return route


@routes.command("list")
@click.argument("app")
@click.option("--cursor", default="", help="pagination cursor")
@click.option("-n", "limit", type=int, default=100, show_default=True, help="number of routes to return")
@pass_factory
def list_routes(factory: CliFactory, app: str, cursor: str, limit: int) -> None:
    """list routes for app"""
    if limit < 0:
        raise CliError("number of routes: negative value not allowed")
    found = paginate(factory.create_client(), f"/apps/{app}/routes", "routes", limit, cursor)
    endpoint = factory.endpoint()
    host = endpoint.netloc + endpoint.prefix
    rows = [["path", "image", "endpoint"]]
    for route in found:
        path = str(route.get("path", ""))
        rows.append([path, str(route.get("image", "")), f"{host}/r/{app}{absolute_route_path(path)}"])
    click.echo(tab_table(rows), nl=False)


@routes.command("create")
@click.argument("app")
@click.argument("path")
@click.argument("image_arg", metavar="[IMAGE]", required=False, default="")
@_route_options
@pass_factory
def create_route(factory: CliFactory, /, app: str, path: str, image_arg: str, **flags: Any) -> None:
    """create a route in an app

    Fn required IMAGE to look like owner/name:tag because it pulled it from a registry; fnq runs
    the bundle `fn deploy` uploads and keeps the image only as a label, so any name is accepted.
    """
    route = _route_from_flags(flags)
    route["image"] = image_arg or route.get("image", "")
    if not route["image"]:
        raise CliError("no image specified")
    route["path"] = absolute_route_path(path)
    body = {"route": dict(sorted(route.items()))}
    created = wrapped(factory.create_client().api("POST", f"/apps/{app}/routes", json_body=body), "route")
    click.echo(f"{created.get('path', route['path'])} created with {created.get('image', route['image'])}")


@routes.command("update")
@click.argument("app")
@click.argument("path")
@_route_options
@pass_factory
def update_route(factory: CliFactory, /, app: str, path: str, **flags: Any) -> None:
    """update a route in an app"""
    route_path = absolute_route_path(path)
    factory.create_client().api(
        "PATCH", f"/apps/{app}/routes{route_path}", json_body={"route": _route_from_flags(flags)}
    )
    click.echo(f"{app} {route_path.lstrip('/')} updated")


@routes.command("inspect")
@click.argument("app")
@click.argument("path")
@click.argument("prop", required=False, default="")
@pass_factory
def inspect_route(factory: CliFactory, app: str, path: str, prop: str) -> None:
    """retrieve one or all routes properties"""
    route_path = absolute_route_path(path)
    found = wrapped(factory.create_client().api("GET", f"/apps/{app}/routes{route_path}"), "route")
    if prop:
        try:
            click.echo(go_json(lookup(found, prop)), nl=False)
        except KeyError as exc:
            raise CliError("failed to inspect that route's field") from exc
        return
    click.echo(go_json(found), nl=False)


@routes.command("delete")
@click.argument("app")
@click.argument("path")
@pass_factory
def delete_route(factory: CliFactory, app: str, path: str) -> None:
    """delete a route from app"""
    route_path = absolute_route_path(path)
    factory.create_client().api("DELETE", f"/apps/{app}/routes{route_path}")
    click.echo(f"{app} {route_path.lstrip('/')} deleted")


routes.add_command(make_call_command(hidden=False), "call")
for _alias, _name in {"l": "list", "c": "create", "u": "update", "d": "delete", "i": "inspect"}.items():
    routes.add_alias(_alias, _name)
