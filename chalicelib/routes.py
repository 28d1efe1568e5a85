"""Use cases of routes: Fn's create (the app too, when missing), merge-update and delete.

A route may name only a code bundle the server holds, so a call never meets missing code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from chalicelib import rules
from chalicelib.addresses import AddressGuard
from chalicelib.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.models import App, Route, RouteType
from chalicelib.ports import AppStore, CodeStore, RouteStore


class Routes:
    def __init__(
        self,
        apps: AppStore,
        routes: RouteStore,
        code: CodeStore,
        clock: Callable[[], datetime],
        max_async_timeout: int = rules.MAX_ASYNC_TIMEOUT,
        max_sync_timeout: int = rules.MAX_SYNC_TIMEOUT,
        guard: AddressGuard | None = None,
    ) -> None:
        self._apps = apps
        self._routes = routes
        self._code = code
        self._clock = clock
        self._max_async_timeout = max_async_timeout
        self._max_sync_timeout = max_sync_timeout
        self._guard = guard or AddressGuard()

    def list_routes(self, app_name: str, after_path: str | None, limit: int) -> list[Route]:
        routes = self._routes.list_routes(rules.existing_app_name(app_name), after_path, limit)
        if not routes:
            self._apps.get_app(app_name)  # Fn: 404 only when the app is missing and has no routes
        return routes

    def create_route(self, app_name: str, data: dict[str, object]) -> Route:
        """POST: the path comes from the body; the app is created when missing (as Fn does)."""
        path = rules.clean_route_path(data.get("path"))
        route = rules.new_route(
            rules.validate_app_name(app_name), path, data, self._clock(), self._max_async_timeout
        )
        route = self._within_sync_limit(route, data, created=True)
        self._check_bundle(route)
        self._check_callback(data)
        self._ensure_app(app_name)
        return self._routes.create_route(route)

    def put_route(self, app_name: str, path: str, data: dict[str, object]) -> tuple[Route, bool]:
        """PUT: create (app too) or merge-update. Returns the route and whether it was created."""
        path = rules.clean_route_path(path)
        if data.get("path") not in (None, "") and rules.clean_route_path(data["path"]) != path:
            raise ConflictError("Could not update - path is immutable")
        rules.validate_app_name(app_name)
        try:
            existing = self._routes.get_route(app_name, path)
        except NotFoundError:
            existing = None
        now = self._clock()
        if existing is None:
            route = rules.new_route(app_name, path, data, now, self._max_async_timeout)
        else:
            route = rules.updated_route(existing, data, now, self._max_async_timeout)
        route = self._within_sync_limit(route, data, created=existing is None)
        self._check_bundle(route)
        self._check_callback(data)
        self._ensure_app(app_name)
        self._routes.put_route(route)
        return route, existing is None

    def patch_route(self, app_name: str, path: str, data: dict[str, object]) -> Route:
        route = rules.updated_route(
            self.get_route(app_name, path), data, self._clock(), self._max_async_timeout
        )
        route = self._within_sync_limit(route, data, created=False)
        self._check_bundle(route)
        self._check_callback(data)
        self._routes.put_route(route)
        return route

    def _within_sync_limit(self, route: Route, data: dict[str, object], created: bool) -> Route:
        """A sync call runs inside the API's own invocation, so its timeout is capped by what the
        deployed API can serve (FNQ_MAX_SYNC_TIMEOUT: under API Gateway's 29 s and the API
        Lambda's timeout). A new route that names no timeout gets the cap when Fn's default (30 s)
        is above it; a route that asks for more is refused, naming the limit."""
        if route.type is not RouteType.SYNC or route.timeout <= self._max_sync_timeout:
            return route
        if created and not data.get("timeout"):
            return replace(route, timeout=self._max_sync_timeout)
        raise InvalidInputError(
            f"timeout value is out of range. A sync route on this API may run at most "
            f"{self._max_sync_timeout} s (the API's time limit); make the route async to run longer"
        )

    def get_route(self, app_name: str, path: str) -> Route:
        return self._routes.get_route(rules.existing_app_name(app_name), rules.clean_route_path(path))

    def delete_route(self, app_name: str, path: str) -> None:
        self._routes.delete_route(rules.existing_app_name(app_name), rules.clean_route_path(path))

    def _ensure_app(self, name: str) -> None:
        now = self._clock()
        with contextlib.suppress(ConflictError):  # it exists already
            self._apps.create_app(App(name=name, created_at=now, updated_at=now))

    def _check_callback(self, data: dict[str, object]) -> None:
        """A callback_url being set must point where callbacks may go (addresses.py); 400 naming
        the rule otherwise. Checked when set, and again at every delivery."""
        if data.get("callback_url"):
            self._guard.registered(data["callback_url"])

    def _check_bundle(self, route: Route) -> None:
        if route.bundle and not self._code.has_bundle(route.bundle):
            raise InvalidInputError(f"Bundle not found: {route.bundle} (upload it first)")
