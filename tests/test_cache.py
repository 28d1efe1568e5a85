"""The invoke path's app + route lookup: from memory for a few seconds, forgotten on this process's writes."""

from __future__ import annotations

from chalicelib.aws.dynamodb.routes import DynamoRouteStore
from chalicelib.aws.dynamodb.table import DynamoTable
from chalicelib.cache import CachedRouteStore, RouteCache
from chalicelib.models import App, Route
from tests.conftest import Stack

SHOWS_CONFIG = """
import os
print(os.environ.get("GREETING", "none"))
"""


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_lookup_is_served_from_memory_until_it_expires(stack: Stack) -> None:
    table = DynamoTable(stack.components.clients, stack.settings.table, stack.settings.call_shards)
    routes = DynamoRouteStore(table)
    ticks = Ticks()
    cached = CachedRouteStore(routes, RouteCache(ttl=5, clock=ticks))
    stack.components.stores.apps.create_app(App(name="myapp"))
    assert cached.get_app_and_route("myapp", "/late")[1] is None

    # GIVEN another process adds the route (a write this cache does not see)
    routes.put_route(Route(app_name="myapp", path="/late", image="late:1"))

    # THEN the miss is remembered until the entry expires, and the route is found after
    ticks.now += 4
    assert cached.get_app_and_route("myapp", "/late")[1] is None
    ticks.now += 2
    assert cached.get_app_and_route("myapp", "/late")[1] == routes.get_route("myapp", "/late")


def test_an_app_config_change_reaches_the_next_call_at_once(stack: Stack) -> None:
    stack.deploy("myapp", "greet", SHOWS_CONFIG)
    assert stack.request("POST", "/r/myapp/greet").body == b"none\n"  # the lookup is cached now

    status, _ = stack.json("PATCH", "/v1/apps/myapp", {"app": {"config": {"GREETING": "hi"}}})

    assert status == 200
    assert stack.request("POST", "/r/myapp/greet").body == b"hi\n"
