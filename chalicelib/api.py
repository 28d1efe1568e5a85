"""Fn's v1 HTTP API on Chalice, and the one place where errors become HTTP responses.

Chalice serves fixed-depth routes only (no greedy `{proxy+}` locally), so multi-segment route
paths are registered once per depth up to rules.MAX_PATH_SEGMENTS, and every method of a
resource goes to one view that dispatches, so an unknown method or path answers Fn's 404.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib import errors
from chalicelib.models import CallStatus, Route
from chalicelib.rules import MAX_PATH_SEGMENTS, app_body, parse_json_object, route_body
from chalicelib.service import IncomingRequest, Service

log = logging.getLogger(__name__)

FN_VERSION = "0.3.391"
JSON = "application/json; charset=utf-8"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CATCH_ALL_DEPTH = 10

STATUS: dict[type[errors.FnqError], int] = {
    errors.InvalidInputError: 400,
    errors.UnauthorizedError: 401,
    errors.NotFoundError: 404,
    errors.NotAcceptableError: 406,
    errors.ConflictError: 409,
    errors.TransitionError: 409,
    errors.PayloadTooLargeError: 413,
    errors.FunctionFailedError: 502,
    errors.ServiceUnavailableError: 503,
    errors.FunctionTimeoutError: 504,
}

bp = Blueprint(__name__)
_service: Callable[[], Service] | None = None


def bind(service_factory: Callable[[], Service]) -> None:
    """app.py binds the composition root; the service is built on the first request, not at import."""
    global _service
    _service = service_factory


def service() -> Service:
    assert _service is not None, "api.bind() was not called"
    return _service()


# ---------------------------------------------------------------- responses
def ok(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Fn marshals success bodies without a trailing newline.
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": JSON, **(headers or {})},
    )


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # Fn encodes error bodies with json.Encoder, which adds a trailing newline.
    body = json.dumps({"error": {"message": message}}, separators=(",", ":")) + "\n"
    return Response(body=body, status_code=status, headers={"Content-Type": JSON, **(headers or {})})


def status_of(exc: errors.FnqError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def fn_view(view: Callable[..., Response], public: bool = False) -> Callable[..., Response]:
    """Every view's errors become Fn's envelope; nothing a client sends gives a stack trace."""

    def wrapped(**params: str) -> Response:
        try:
            if not public:
                service().authorize(bp.current_request.headers.get("authorization"))
            return view(**{k: unquote(v) for k, v in params.items()})
        except errors.FnqError as exc:
            return error_response(status_of(exc), exc.message)
        except Exception:
            log.exception("internal error")
            return error_response(500, "internal server error")

    wrapped.__name__ = view.__name__
    return wrapped


def not_found_path() -> Response:
    request = bp.current_request
    return error_response(404, f"Path not found: {request.context.get('path', '')}")


def dispatch(handlers: dict[str, Callable[..., Response]]) -> Callable[..., Response]:
    def view(**params: str) -> Response:
        handler = handlers.get(bp.current_request.method)
        return handler(**params) if handler else not_found_path()

    return view


def register(path: str, name: str, **handlers: Callable[..., Response]) -> None:
    bp.route(path, methods=METHODS, content_types=["*/*"], name=name)(fn_view(dispatch(handlers)))


def register_public(path: str, name: str, **handlers: Callable[..., Response]) -> None:
    """A resource open even when the API requires a token (Fn's ping and version)."""
    view = fn_view(dispatch(handlers), public=True)
    bp.route(path, methods=METHODS, content_types=["*/*"], name=name)(view)


def register_deep(prefix: str, name: str, **handlers: Callable[..., Response]) -> None:
    """Register `prefix/{s0}/.../{sN}` for every depth; handlers get `path` rebuilt from the segments."""
    for depth in range(1, MAX_PATH_SEGMENTS + 1):
        segments = [f"s{i}" for i in range(depth)]
        template = prefix + "/" + "/".join(f"{{{s}}}" for s in segments)

        def with_path(
            handler: Callable[..., Response], segments: list[str] = segments
        ) -> Callable[..., Response]:
            def view(**params: str) -> Response:
                path = "/" + "/".join(params.pop(s) for s in segments)
                return handler(path=path, **params)

            return view

        register(template, f"{name}_{depth}", **{m: with_path(h) for m, h in handlers.items()})


def raw_body() -> bytes:
    raw = bp.current_request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def body() -> dict[str, Any]:
    return parse_json_object(raw_body())


def query(name: str) -> str | None:
    params: Mapping[str, Any] = bp.current_request.query_params or {}
    value = params.get(name)
    return str(value) if value is not None else None


# --------------------------------------------------------------------- misc
def ping() -> Response:
    return ok({"goto": "https://github.com/fnproject/fn", "hello": "world!"})


def version() -> Response:
    return ok({"version": FN_VERSION})


register_public("/", "ping", GET=ping)
register_public("/version", "version", GET=version)


# --------------------------------------------------------------------- apps
def list_apps() -> Response:
    page = service().list_apps(query("cursor"), query("per_page"))
    return ok(
        {
            "message": "Successfully listed applications",
            "next_cursor": page.next_cursor,
            "apps": [a.to_fn() for a in page.items],
        }
    )


def create_app() -> Response:
    app = service().create_app(app_body(body()))
    return ok({"message": "App successfully created", "app": app.to_fn()})


def get_app(app: str) -> Response:
    return ok({"message": "Successfully loaded app", "app": service().get_app(app).to_fn()})


def update_app(app: str) -> Response:
    updated = service().update_app(app, app_body(body()))
    return ok({"message": "App successfully updated", "app": updated.to_fn()})


def delete_app(app: str) -> Response:
    service().delete_app(app)
    return ok({"message": "App deleted"})


register("/v1/apps", "apps", GET=list_apps, POST=create_app)
register("/v1/apps/{app}", "app", GET=get_app, PATCH=update_app, DELETE=delete_app)


# ------------------------------------------------------------------- routes
def route_reply(message: str, route: Route) -> Response:
    return ok({"message": message, "route": route.to_fn()})


def list_routes(app: str) -> Response:
    page = service().list_routes(app, query("cursor"), query("per_page"))
    return ok(
        {
            "message": "Successfully listed routes",
            "next_cursor": page.next_cursor,
            "routes": [r.to_fn() for r in page.items],
        }
    )


def create_route(app: str) -> Response:
    return route_reply("Route successfully created", service().create_route(app, route_body(body())))


def get_route(app: str, path: str) -> Response:
    return route_reply("Successfully loaded route", service().get_route(app, path))


def put_route(app: str, path: str) -> Response:
    route, created = service().put_route(app, path, route_body(body()))
    return route_reply("Route successfully created" if created else "Route successfully updated", route)


def patch_route(app: str, path: str) -> Response:
    return route_reply("Route successfully updated", service().patch_route(app, path, route_body(body())))


def delete_route(app: str, path: str) -> Response:
    service().delete_route(app, path)
    return ok({"message": "Route deleted"})


register("/v1/apps/{app}/routes", "routes", GET=list_routes, POST=create_route)
register_deep(
    "/v1/apps/{app}/routes", "route", GET=get_route, PUT=put_route, PATCH=patch_route, DELETE=delete_route
)


# -------------------------------------------------------------------- calls
def list_calls(app: str) -> Response:
    page = service().list_calls(
        app,
        path=query("path"),
        cursor=query("cursor"),
        per_page=query("per_page"),
        from_time=query("from_time"),
        to_time=query("to_time"),
        status=query("status"),
    )
    return ok(
        {
            "message": "Successfully listed calls",
            "next_cursor": page.next_cursor,
            "calls": [c.to_fn() for c in page.items],
        }
    )


def get_call(app: str, call: str) -> Response:
    return ok({"message": "Successfully loaded call", "call": service().get_call(app, call).to_fn()})


def cancel_call(app: str, call: str) -> Response:
    cancelled = service().cancel_call(app, call)
    return ok({"message": "Call cancelled", "call": cancelled.to_fn()})


def get_log(app: str, call: str) -> Response:
    """Fn's content negotiation: JSON by default, raw text for `text/plain`, else 406."""
    accept = bp.current_request.headers.get("accept", "")
    text = service().get_log(app, call)
    if not accept or "application/json" in accept or "*/*" in accept:
        log_text = text.decode("utf-8", errors="replace")
        return ok(
            {"message": "Successfully loaded log", "log": {"call_id": call, "log": log_text, "app_name": app}}
        )
    if "text/plain" in accept:
        return Response(
            body=text.decode("utf-8", errors="replace"),
            status_code=200,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
    raise errors.NotAcceptableError("unable to respond within acceptable response content types")


register("/v1/apps/{app}/calls", "calls", GET=list_calls)
register("/v1/apps/{app}/calls/{call}", "call", GET=get_call)


def redrive_call(app: str, call: str) -> Response:
    return ok({"message": "Call redriven", "call": service().redrive_call(app, call).to_fn()})


def redrive_calls(app: str) -> Response:
    ids = service().redrive_app(app)
    return ok({"message": f"Redrove {len(ids)} dead calls", "call_ids": ids})


register("/v1/apps/{app}/calls/{call}/cancel", "call_cancel", POST=cancel_call)
register("/v1/apps/{app}/calls/{call}/redrive", "call_redrive", POST=redrive_call)
# A literal beside {call}: API Gateway and Chalice's matcher both prefer it ("redrive" is no call id).
register("/v1/apps/{app}/calls/redrive", "calls_redrive", POST=redrive_calls)
register("/v1/apps/{app}/calls/{call}/log", "call_log", GET=get_log)


# ------------------------------------------------------------------ bundles
def bundle_reply(message: str, digest: str, size: int | None = None) -> Response:
    info: dict[str, Any] = {"digest": digest}
    if size is not None:
        info["size"] = size
    return ok({"message": message, "bundle": info})


def get_bundle(digest: str) -> Response:
    return bundle_reply("Bundle found", service().has_bundle(digest))


def put_bundle(digest: str) -> Response:
    stored, size = service().put_bundle(digest, raw_body())
    return bundle_reply("Bundle stored", stored, size)


register("/v1/bundles/sha256/{digest}", "bundle", GET=get_bundle, PUT=put_bundle)


# ------------------------------------------------------------------- invoke
def invoke(app: str, path: str = "/") -> Response:
    request = bp.current_request
    headers = {name.title() if name.islower() else name: [value] for name, value in request.headers.items()}
    host = request.headers.get("host", "localhost")
    raw_query = "&".join(f"{k}={v}" for k, v in (request.query_params or {}).items())
    url = f"http://{host}/r/{app}{path}" + (f"?{raw_query}" if raw_query else "")
    incoming = IncomingRequest(
        method=request.method,
        url=url,
        headers=headers,
        body=raw_body(),
        content_type=request.headers.get("content-type", ""),
    )
    result = service().invoke(app, path, incoming)
    reply_headers: dict[str, Any] = {name: ", ".join(values) for name, values in result.route_headers.items()}
    reply_headers["Fn_call_id"] = result.call_id
    execution = result.execution
    if execution is None:
        return ok({"call_id": result.call_id}, status=202, headers=reply_headers)
    if execution.status is CallStatus.TIMEOUT:
        return error_response(504, "Timed out", reply_headers)
    if execution.status is CallStatus.ERROR:
        return error_response(502, execution.error or "function failed", reply_headers)
    for name, values in execution.headers.items():
        reply_headers[name] = ", ".join(values)
    return function_output(execution.output, execution.content_type, execution.status_code, reply_headers)


def function_output(output: bytes, content_type: str, status: int, headers: dict[str, Any]) -> Response:
    """Fn's rules: the function's content type, else JSON when the body starts with `{`, else sniffed."""
    try:
        text: str | bytes = output.decode("utf-8")
        sniffed = JSON if output.lstrip().startswith(b"{") else "text/plain; charset=utf-8"
    except UnicodeDecodeError:
        text, sniffed = output, "application/octet-stream"
    headers["Content-Type"] = content_type or sniffed
    return Response(body=text, status_code=status or 200, headers=headers)


register("/r/{app}", "invoke_root", **dict.fromkeys(METHODS, invoke))
register_deep("/r/{app}", "invoke", **dict.fromkeys(METHODS, invoke))


# ---------------------------------------------------------------- catch-all
for _depth in range(1, CATCH_ALL_DEPTH + 1):
    _template = "/" + "/".join(f"{{p{i}}}" for i in range(_depth))
    register(_template, f"not_found_{_depth}")
