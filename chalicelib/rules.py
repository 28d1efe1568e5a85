"""Fn's validation and merge rules for apps and routes (api/models/app.go, route.go). Pure.

Beside Fn's own rules, every field is held to what can be stored and served (chalicelib/inputs.py):
config becomes environment variables, headers go out in every response, and the whole record
must fit one DynamoDB item.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib import inputs
from chalicelib.addresses import parse_callback_url
from chalicelib.bundles import is_digest
from chalicelib.errors import ConflictError, InvalidInputError, app_not_found
from chalicelib.inputs import size_text
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
# Patterns as text, compiled by re at their first use (and cached there), not at the cold start.
_APP_NAME = r"^[\w-]+$"  # Fn: unicode letters and digits, '_' and '-'
_CPUS = r"^(\d{1,4}(\.\d{1,3})?|\d{1,7}m)$"
_ANNOTATION_KEY = r"^[!-~]+$"  # Fn: printable ASCII, no space


def parse_json_object(raw: bytes, max_bytes: int = inputs.MAX_JSON_BODY_BYTES) -> dict[str, Any]:
    """A management request's body: refused by its size before it is parsed."""
    if len(raw) > max_bytes:
        raise inputs.content_too_large(len(raw), max_bytes)
    value = inputs.parse_json(raw)
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
    if not re.match(_APP_NAME, name) or "\n" in name:
        raise InvalidInputError("Invalid app name")
    return name


def absolute_route_path(path: str) -> str:
    """Fn's `cleanRoutePath` (its CLI's `WithSlash`): Go's `path.Clean`, made absolute.

    `a//b/../c/` → `/a/c`, `` → `/.` as Go has it. normpath is path.Clean but for keeping two
    leading slashes (POSIX gives them a meaning); dropping every leading slash covers that.
    """
    return "/" + posixpath.normpath(path).lstrip("/")


def is_app_name(name: str) -> bool:
    return 0 < len(name) <= MAX_APP_NAME and bool(re.match(_APP_NAME, name)) and "\n" not in name


def existing_app_name(name: str) -> str:
    """An app name from a URL: one that no app can have is Fn's 404, never a key DynamoDB refuses."""
    if not is_app_name(name):
        raise app_not_found()
    return name


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
    size = inputs.utf8_len(cleaned)
    if size > inputs.MAX_PATH_BYTES:
        raise InvalidInputError(
            f"Route path too long: {size_text(size)} bytes, at most {size_text(inputs.MAX_PATH_BYTES)}"
        )
    if cleaned != "/" and cleaned.count("/") > MAX_PATH_SEGMENTS:
        raise InvalidInputError(f"Route path may have at most {MAX_PATH_SEGMENTS} segments")
    return cleaned


def _config(value: Any, what: str) -> dict[str, str]:
    """Config keys and values become a function's environment variables."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidInputError(f"Invalid {what}: expected an object of strings")
    for key, text in value.items():
        if not key:
            raise InvalidInputError(
                f"Invalid {what}: a key is empty (config keys become environment variable names)"
            )
        if "=" in key or "\x00" in key:
            raise InvalidInputError(
                f"Invalid {what} key {key!r}: an environment variable name cannot hold '=' or NUL"
            )
        if "\x00" in text:
            raise InvalidInputError(f"Invalid {what} {key}: an environment variable cannot hold NUL")
    return dict(value)


def _check_config_size(config: dict[str, str], what: str) -> None:
    size = sum(inputs.utf8_len(k) + inputs.utf8_len(v) for k, v in config.items())
    if size > inputs.MAX_CONFIG_BYTES:
        raise InvalidInputError(
            f"Invalid {what}: {size_text(size)} bytes of keys and values, "
            f"at most {size_text(inputs.MAX_CONFIG_BYTES)}"
        )


def _headers(value: Any) -> dict[str, list[str]]:
    """The headers a route adds to every response: what HTTP can carry and the server does not set."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values()
    ):
        raise InvalidInputError("Invalid route headers: expected an object of string lists")
    for name, values in value.items():
        if not inputs.is_header_name(name):
            raise InvalidInputError(f"Invalid route header name {name!r}: {inputs.HEADER_NAME_RULE}")
        if name.lower() in inputs.SERVER_HEADERS:
            raise InvalidInputError(f"Invalid route header {name}: the server sets it")
        for text in values:
            problem = inputs.header_value_problem(text)
            if problem:
                raise InvalidInputError(f"Invalid route header {name}: {problem}")
    return {k: list(v) for k, v in value.items()}


def _check_headers_size(headers: dict[str, list[str]]) -> None:
    size = inputs.headers_bytes(headers)
    if size > inputs.MAX_ROUTE_HEADERS_BYTES:
        raise InvalidInputError(
            f"Invalid route headers: {size_text(size)} bytes of names and values, "
            f"at most {size_text(inputs.MAX_ROUTE_HEADERS_BYTES)}"
        )


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
    config = _merge_strings({}, _config(data.get("config"), "app config"))
    _check_config_size(config, "app config")
    return App(
        name=validate_app_name(data.get("name")),
        config=config,
        annotations=_merge_annotations({}, _annotations(data.get("annotations"), creating=True)),
        created_at=now,
        updated_at=now,
    )


def updated_app(app: App, data: dict[str, Any], now: datetime) -> App:
    if data.get("name") not in (None, "", app.name):
        raise ConflictError("Could not update - name is immutable")
    config = _merge_strings(app.config, _config(data.get("config"), "app config"))
    _check_config_size(config, "app config")
    return replace(
        app,
        config=config,
        annotations=_merge_annotations(
            app.annotations, _annotations(data.get("annotations"), creating=False)
        ),
        updated_at=now,
    )


ANNOTATION_KEY_ERROR = (
    "Invalid annotation key, annotation keys must be non-empty ascii strings excluding whitespace"
)
_KEY_BYTES = inputs.MAX_ANNOTATION_KEY_BYTES
ANNOTATION_KEY_LENGTH_ERROR = (
    f"Invalid annotation key length, annotation keys may not be larger than {_KEY_BYTES} bytes"
)
ANNOTATION_VALUE_ERROR = (
    "Invalid annotation value, annotation values may only be non-empty strings, numbers, objects, or arrays"
)
ANNOTATION_VALUE_LENGTH_ERROR = (
    "Invalid annotation value length, annotation values may not be larger than "
    f"{inputs.MAX_ANNOTATION_VALUE_BYTES} bytes when serialized as JSON"
)
ANNOTATION_COUNT_ERROR = (
    "Invalid annotation change, new key(s) exceed maximum permitted number of annotations keys "
    f"({inputs.MAX_ANNOTATIONS})"
)


def _annotations(value: Any, creating: bool) -> dict[str, Any]:
    """Fn's annotation rules (fn-api.md §1.3), each with Fn's message.

    On create a value of "" or null is refused; on an update it deletes the key. Values are
    strings, numbers, booleans, objects and arrays, with no null inside them either (Fn's
    schema: a value is an object, and Fn's message lists no null).
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInputError("Invalid annotations: expected an object")
    for key, item in value.items():
        if not re.match(_ANNOTATION_KEY, key):
            raise InvalidInputError(ANNOTATION_KEY_ERROR)
        if len(key) > inputs.MAX_ANNOTATION_KEY_BYTES:
            raise InvalidInputError(ANNOTATION_KEY_LENGTH_ERROR)
        if item == "" or item is None:
            if creating:
                raise InvalidInputError(ANNOTATION_VALUE_ERROR)
            continue
        if _holds_null(item):
            raise InvalidInputError(ANNOTATION_VALUE_ERROR)
        if inputs.utf8_len(inputs.compact_json(item)) > inputs.MAX_ANNOTATION_VALUE_BYTES:
            raise InvalidInputError(ANNOTATION_VALUE_LENGTH_ERROR)
    return dict(value)


def _holds_null(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if item is None:
            return True
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _merge_annotations(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Fn's merge, checked after it: "" or null deletes a key, and at most 100 keys remain."""
    merged = {**old, **new}
    kept = {k: v for k, v in merged.items() if not (v == "" or v is None)}
    if len(kept) > inputs.MAX_ANNOTATIONS:
        raise InvalidInputError(ANNOTATION_COUNT_ERROR)
    return kept


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
        image = data["image"]
        if not isinstance(image, str) or inputs.header_value_problem(image):
            raise InvalidInputError("Invalid route Image")
        if inputs.utf8_len(image) > inputs.MAX_IMAGE_BYTES:
            raise InvalidInputError(
                f"Invalid route Image: {size_text(inputs.utf8_len(image))} bytes, "
                f"at most {size_text(inputs.MAX_IMAGE_BYTES)}"
            )
        changes["image"] = image
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
        if not isinstance(cpus, str) or not re.match(_CPUS, cpus):
            raise InvalidInputError(
                "Cpus is invalid. Value should be either between [0.000 and 1024.000] or [0m and 1024000m] "
                "milliCPU units"
            )
        changes["cpus"] = cpus
    if data.get("bundle"):
        if not isinstance(data["bundle"], str) or not is_digest(data["bundle"]):
            raise InvalidInputError("Invalid route bundle: expected sha256:<64 hex digits>")
        changes["bundle"] = data["bundle"]
    if "callback_url" in data and data["callback_url"] is not None:
        # fnq's: "" removes it (Fn's clients never send the field, so Fn's zero-value merge is moot).
        url = data["callback_url"]
        changes["callback_url"] = parse_callback_url(url).url if url != "" else ""
    config = _config(data.get("config"), "route config")
    headers = _headers(data.get("headers"))
    annotations = _annotations(data.get("annotations"), creating=not merge)
    if merge:
        changes["config"] = _merge_strings(route.config, config)
        changes["headers"] = {k: v for k, v in {**route.headers, **headers}.items() if v}
        changes["annotations"] = _merge_annotations(route.annotations, annotations)
    else:
        changes["config"] = _merge_strings({}, config)
        changes["headers"] = {k: v for k, v in headers.items() if v}
        changes["annotations"] = _merge_annotations({}, annotations)
    _check_config_size(changes["config"], "route config")
    _check_headers_size(changes["headers"])
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
