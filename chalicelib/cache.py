"""The invoke path's app + route lookup, served from memory for a few seconds (Fn cached it 5 s too).

A cache per process: writes made through this process forget what they change at once; another
process's writes are seen when the entry expires. `CachedRouteStore` and `CachedAppStore` wrap the
stores and share one `RouteCache`, so an app's config change reaches its next call here too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.models import App, Route
from chalicelib.ports import AppStore, RouteStore

MAX_ENTRIES = 10_000
Lookup = tuple[App | None, Route | None]


class RouteCache:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, Lookup]] = {}

    def get(self, app_name: str, path: str) -> Lookup | None:
        hit = self._entries.get((app_name, path))
        if hit is None or hit[0] < self._clock():
            return None
        return hit[1]

    def put(self, app_name: str, path: str, found: Lookup) -> None:
        if len(self._entries) > MAX_ENTRIES:
            self._entries.clear()
        self._entries[(app_name, path)] = (self._clock() + self._ttl, found)

    def forget(self, app_name: str) -> None:
        for key in [k for k in self._entries if k[0] == app_name]:
            del self._entries[key]


class CachedRouteStore:
    """A RouteStore whose `get_app_and_route` answers from the cache, misses included."""

    def __init__(self, routes: RouteStore, cache: RouteCache) -> None:
        self._routes = routes
        self._cache = cache

    def get_app_and_route(self, app_name: str, path: str) -> Lookup:
        found = self._cache.get(app_name, path)
        if found is None:
            found = self._routes.get_app_and_route(app_name, path)
            self._cache.put(app_name, path, found)
        return found

    def get_route(self, app_name: str, path: str) -> Route:
        return self._routes.get_route(app_name, path)

    def list_routes(self, app_name: str, after_path: str | None, limit: int) -> list[Route]:
        return self._routes.list_routes(app_name, after_path, limit)

    def create_route(self, route: Route) -> Route:
        created = self._routes.create_route(route)
        self._cache.forget(route.app_name)
        return created

    def put_route(self, route: Route) -> Route:
        stored = self._routes.put_route(route)
        self._cache.forget(route.app_name)
        return stored

    def delete_route(self, app_name: str, path: str) -> None:
        self._routes.delete_route(app_name, path)
        self._cache.forget(app_name)


class CachedAppStore:
    """An AppStore whose writes forget the app's cached lookups (its config is in them)."""

    def __init__(self, apps: AppStore, cache: RouteCache) -> None:
        self._apps = apps
        self._cache = cache

    def get_app(self, name: str) -> App:
        return self._apps.get_app(name)

    def list_apps(self, after_name: str | None, limit: int) -> list[App]:
        return self._apps.list_apps(after_name, limit)

    def create_app(self, app: App) -> App:
        created = self._apps.create_app(app)
        self._cache.forget(app.name)
        return created

    def put_app(self, app: App) -> App:
        stored = self._apps.put_app(app)
        self._cache.forget(app.name)
        return stored

    def delete_app(self, name: str) -> None:
        self._apps.delete_app(name)
        self._cache.forget(name)
