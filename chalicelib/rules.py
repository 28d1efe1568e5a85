"""Fn's validation and merge rules for apps and routes (api/models/app.go, route.go). Pure."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.bundles import is_digest
from chalicelib.errors import ConflictError, InvalidInputError
from chalicelib.models import App, Route, RouteFormat, RouteType

MAX_APP_NAME = 30
# Chalice serves fixed-depth routes (no greedy path parameters locally), so route paths have a
# bounded number of segments; see docs/ARCHITECTURE.md.
MAX_PATH_SEGMENTS = 8
MAX_SYNC_TIMEOUT = 120
MAX_ASYNC_TIMEOUT = 3600
MAX_IDLE_TIMEOUT = 3600
MAX_MEMORY = 8192
MAX_RETRIES = 10
_APP_NAME = re.compile(r"^[\w-]+$")  # Fn: unicode letters and digits, '_' and '-'
_CPUS = re.compile(r"^(\d+(\.\d{1,3})?|\d+m)$")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError("Invalid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidInputError("Invalid JSON")
    return value


def validate_app_name(name: Any) -> str:
    if not name:
        raise InvalidInputError("Missing app name")
    if not isinstance(name, str):
        raise InvalidInputError("Invalid JSON")
    if len(name) > MAX_APP_NAME:
        raise InvalidInputError(f"App name must be {MAX_APP_NAME} characters or less")
    if not _APP_NAME.match(name) or "\n" in name:
        raise InvalidInputError("Invalid app name")
    return name


def absolute_route_path(path: str) -> str:
    """Fn's `cleanRoutePath` (its CLI's `WithSlash`): Go's `path.Clean`, made absolute.

    `a//b/../c/` → `/a/c`, `` → `/.` as Go has it. normpath is path.Clean but for keeping two
    leading slashes (POSIX gives them a meaning); dropping every leading slash covers that.
    """
    return "/" + posixpath.normpath(path).lstrip("/")


def clean_route_path(path: Any) -> str:
    if not path:
        raise InvalidInputError("Missing route Path")
    if not isinstance(path, str):
        raise InvalidInputError("Invalid JSON")
    if not path.startswith("/"):
        raise InvalidInputError("Invalid route path format")
    if ":" in path:
        raise InvalidInputError("Dynamic URL is not allowed")
    cleaned = absolute_route_path(path)
    if cleaned != "/" and cleaned.count("/") > MAX_PATH_SEGMENTS:
        raise InvalidInputError(f"Route path may have at most {MAX_PATH_SEGMENTS} segments")
    return cleaned


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInputError(f"Invalid {what}: expected an object of strings")
    return dict(value)


def _headers(value: Any) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values()
    ):
        raise InvalidInputError("Invalid route headers: expected an object of string lists")
    return {k: list(v) for k, v in value.items()}


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"Invalid route {field}: expected an integer")
    return value


def _merge_strings(old: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """Fn's config merge: new keys overwrite, a key set to "" is deleted."""
    merged = {**old, **new}
    return {k: v for k, v in merged.items() if v != ""}


# ------------------------------------------------------------------- apps
def app_body(body: dict[str, Any]) -> dict[str, Any]:
    app = body.get("app")
    if not isinstance(app, dict):
        raise InvalidInputError("Missing new application")
    return app


def new_app(data: dict[str, Any], now: datetime) -> App:
    return App(
        name=validate_app_name(data.get("name")),
        config=_merge_strings({}, _string_map(data.get("config"), "app config")),
        annotations=_annotations(data.get("annotations")),
        created_at=now,
        updated_at=now,
    )


def updated_app(app: App, data: dict[str, Any], now: datetime) -> App:
    if data.get("name") not in (None, "", app.name):
        raise ConflictError("Could not update - name is immutable")
    return replace(
        app,
        config=_merge_strings(app.config, _string_map(data.get("config"), "app config")),
        annotations=_merge_annotations(app.annotations, _annotations(data.get("annotations"))),
        updated_at=now,
    )


def _annotations(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError("Invalid annotations: expected an object")
    return dict(value)


def _merge_annotations(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = {**old, **new}
    return {k: v for k, v in merged.items() if v not in ("", None)}


# ----------------------------------------------------------------- routes
def route_body(body: dict[str, Any]) -> dict[str, Any]:
    route = body.get("route")
    if not isinstance(route, dict):
        raise InvalidInputError("Missing new route")
    return route


def new_route(
    app_name: str, path: str, data: dict[str, Any], now: datetime, max_async_timeout: int = MAX_ASYNC_TIMEOUT
) -> Route:
    """A route from a create request: Fn's defaults for what is left out, then validation."""
    if not data.get("image"):
        raise InvalidInputError("Missing route Image")
    route = _apply(Route(app_name=app_name, path=path, created_at=now, updated_at=now), data)
    return validate_route(route, max_async_timeout)


def updated_route(
    route: Route, data: dict[str, Any], now: datetime, max_async_timeout: int = MAX_ASYNC_TIMEOUT
) -> Route:
    """Fn's merge update: non-zero scalars overwrite; `[]` headers and `""` config keys are deleted."""
    if data.get("path") not in (None, "") and clean_route_path(data["path"]) != route.path:
        raise ConflictError("Could not update - path is immutable")
    return validate_route(replace(_apply(route, data, merge=True), updated_at=now), max_async_timeout)


def _apply(route: Route, data: dict[str, Any], merge: bool = False) -> Route:
    changes: dict[str, Any] = {}
    if data.get("image"):
        if not isinstance(data["image"], str):
            raise InvalidInputError("Invalid route Image")
        changes["image"] = data["image"]
    for field in ("memory", "timeout", "idle_timeout", "max_retries"):
        if data.get(field) is not None:
            value = _int(data[field], field)
            if value:
                changes[field] = value
    if data.get("type"):
        try:
            changes["type"] = RouteType(data["type"])
        except ValueError as exc:
            raise InvalidInputError("Invalid route Type") from exc
    if data.get("format"):
        try:
            changes["format"] = RouteFormat(data["format"])
        except ValueError as exc:
            raise InvalidInputError("Invalid route Format (fnq runs `default` and `json`)") from exc
    if data.get("cpus"):
        cpus = data["cpus"]
        if not isinstance(cpus, str) or not _CPUS.match(cpus):
            raise InvalidInputError(
                "Cpus is invalid. Value should be either between [0.000 and 1024.000] or [0m and 1024000m] "
                "milliCPU units"
            )
        changes["cpus"] = cpus
    if data.get("bundle"):
        if not isinstance(data["bundle"], str) or not is_digest(data["bundle"]):
            raise InvalidInputError("Invalid route bundle: expected sha256:<64 hex digits>")
        changes["bundle"] = data["bundle"]
    config = _string_map(data.get("config"), "route config")
    headers = _headers(data.get("headers"))
    annotations = _annotations(data.get("annotations"))
    if merge:
        changes["config"] = _merge_strings(route.config, config)
        changes["headers"] = {k: v for k, v in {**route.headers, **headers}.items() if v}
        changes["annotations"] = _merge_annotations(route.annotations, annotations)
    else:
        changes["config"] = _merge_strings({}, config)
        changes["headers"] = {k: v for k, v in headers.items() if v}
        changes["annotations"] = annotations
    return replace(route, **changes)


def validate_route(route: Route, max_async_timeout: int = MAX_ASYNC_TIMEOUT) -> Route:
    """Fn's limits; `max_async_timeout` is lower than Fn's hour where the worker cannot run that long."""
    limit = MAX_SYNC_TIMEOUT if route.type is RouteType.SYNC else max_async_timeout
    if not 0 < route.timeout <= limit:
        raise InvalidInputError(
            f"timeout value is out of range. Sync should be between 0 and {MAX_SYNC_TIMEOUT}, "
            f"async should be between 0 and {max_async_timeout}"
        )
    if not 0 < route.idle_timeout <= MAX_IDLE_TIMEOUT:
        raise InvalidInputError("idle_timeout value is out of range. It should be between 0 and 3600")
    if not 0 < route.memory <= MAX_MEMORY:
        raise InvalidInputError("memory value is out of range. It should be between 0 and 8192")
    if not 0 <= route.max_retries <= MAX_RETRIES:
        raise InvalidInputError(
            f"max_retries value is out of range. It should be between 0 and {MAX_RETRIES}"
        )
    return route
