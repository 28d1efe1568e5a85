"""Routes in the table (RouteStore): items in their app's partition, sorted by path."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb.table import (
    APP_SK,
    ROUTE_PREFIX,
    DynamoTable,
    app_key,
    app_partition,
    route_key,
)
from chalicelib.codec import APP, ROUTE
from chalicelib.errors import ConflictError, route_not_found
from chalicelib.models import App, Route


def route_item(route: Route) -> dict[str, Any]:
    return {**route_key(route.app_name, route.path), "kind": "route", **ROUTE.encode(route)}


class DynamoRouteStore:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def get_route(self, app_name: str, path: str) -> Route:
        item = self._table.get(route_key(app_name, path))
        if item is None:
            raise route_not_found()
        return ROUTE.decode(item)

    def get_app_and_route(self, app_name: str, path: str) -> tuple[App | None, Route | None]:
        found = self._table.get_many([app_key(app_name), route_key(app_name, path)])
        app = next((APP.decode(i) for i in found if i["sk"] == APP_SK), None)
        route = next((ROUTE.decode(i) for i in found if i["sk"] != APP_SK), None)
        return app, route

    def create_route(self, route: Route) -> Route:
        self._table.put(
            route_item(route), "attribute_not_exists(pk)", lambda: ConflictError("Route already exists")
        )
        return route

    def put_route(self, route: Route) -> Route:
        self._table.put(route_item(route))
        return route

    def list_routes(self, app_name: str, after_path: str | None, limit: int) -> list[Route]:
        items = self._table.query_sorted(app_partition(app_name), ROUTE_PREFIX, after_path, limit)
        return [ROUTE.decode(item) for item in items]

    def delete_route(self, app_name: str, path: str) -> None:
        self._table.delete(route_key(app_name, path), route_not_found)
