"""Fn's v1 API: ping and version, apps, routes, calls and their logs, code bundles, and `/r/` invoke.

Views translate HTTP (query strings, bodies, headers) into use-case arguments and records into
Fn's envelopes; the rules live in the use cases, the errors' statuses in responses.py.
"""

from __future__ import annotations

import re
from typing import Any

from chalice import Response  # type: ignore[attr-defined]

from chalicelib import errors, inputs
from chalicelib.http import paging
from chalicelib.http.blueprint import (
    METHODS,
    body,
    bp,
    grant,
    query,
    raw_body,
    register,
    register_deep,
    register_public,
    require,
    use_cases,
)
from chalicelib.http.responses import JSON, error_response, ok
from chalicelib.invoke import IncomingRequest
from chalicelib.models import CallStatus, Right, Route
from chalicelib.rules import app_body, route_body

FN_VERSION = "0.3.391"
CATCH_ALL_DEPTH = 10


# --------------------------------------------------------------------- misc
def ping() -> Response:
    return ok({"goto": "https://github.com/fnproject/fn", "hello": "world!"})


def version() -> Response:
    return ok({"version": FN_VERSION})


register_public("/", "ping", GET=ping)
register_public("/version", "version", GET=version)


# --------------------------------------------------------------------- apps
def list_apps() -> Response:
    limit = paging.page_size(query("per_page"))
    cursor = paging.decode_cursor(query("cursor"))
    apps = use_cases().apps.list_apps(cursor, limit, grant().apps_with(Right.READ))
    return ok(
        {
            "message": "Successfully listed applications",
            "next_cursor": paging.next_cursor([a.name for a in apps], limit),
            "apps": [a.to_fn() for a in apps],
        }
    )


def create_app() -> Response:
    data = app_body(body())
    if isinstance(data.get("name"), str):  # any other name is refused as Fn refuses it
        require(Right.DEPLOY, data["name"])
    app = use_cases().apps.create_app(data)
    return ok({"message": "App successfully created", "app": app.to_fn()})


def get_app(app: str) -> Response:
    return ok({"message": "Successfully loaded app", "app": use_cases().apps.get_app(app).to_fn()})


def update_app(app: str) -> Response:
    updated = use_cases().apps.update_app(app, app_body(body()))
    return ok({"message": "App successfully updated", "app": updated.to_fn()})


def delete_app(app: str) -> Response:
    use_cases().apps.delete_app(app)
    return ok({"message": "App deleted"})


def callback_secret_reply(message: str, app: str, secret: str) -> Response:
    return ok({"message": message, "callback_secret": {"app_name": app, "secret": secret}})


def get_callback_secret(app: str) -> Response:
    """fnq's: the key that signs the app's completion callbacks (made at its first use)."""
    return callback_secret_reply("Callback secret", app, use_cases().callback_secrets.secret(app))


def rotate_callback_secret(app: str) -> Response:
    return callback_secret_reply("Callback secret rotated", app, use_cases().callback_secrets.rotate(app))


register("/v1/apps", "apps", GET=list_apps, POST=create_app)
register("/v1/apps/{app}", "app", GET=get_app, PATCH=update_app, DELETE=delete_app)
register(
    "/v1/apps/{app}/callback_secret", "callback_secret", GET=get_callback_secret, POST=rotate_callback_secret
)


# ------------------------------------------------------------------- routes
def route_reply(message: str, route: Route) -> Response:
    return ok({"message": message, "route": route.to_fn()})


def list_routes(app: str) -> Response:
    limit = paging.page_size(query("per_page"))
    routes = use_cases().routes.list_routes(app, paging.decode_cursor(query("cursor")), limit)
    return ok(
        {
            "message": "Successfully listed routes",
            "next_cursor": paging.next_cursor([r.path for r in routes], limit),
            "routes": [r.to_fn() for r in routes],
        }
    )


def create_route(app: str) -> Response:
    return route_reply("Route successfully created", use_cases().routes.create_route(app, route_body(body())))


def get_route(app: str, path: str) -> Response:
    return route_reply("Successfully loaded route", use_cases().routes.get_route(app, path))


def put_route(app: str, path: str) -> Response:
    route, created = use_cases().routes.put_route(app, path, route_body(body()))
    return route_reply("Route successfully created" if created else "Route successfully updated", route)


def patch_route(app: str, path: str) -> Response:
    updated = use_cases().routes.patch_route(app, path, route_body(body()))
    return route_reply("Route successfully updated", updated)


def delete_route(app: str, path: str) -> Response:
    use_cases().routes.delete_route(app, path)
    return ok({"message": "Route deleted"})


register("/v1/apps/{app}/routes", "routes", GET=list_routes, POST=create_route)
register_deep(
    "/v1/apps/{app}/routes", "route", GET=get_route, PUT=put_route, PATCH=patch_route, DELETE=delete_route
)


# -------------------------------------------------------------------- calls
def list_calls(app: str) -> Response:
    wanted = paging.call_query(
        app,
        path=query("path"),
        cursor=query("cursor"),
        per_page=query("per_page"),
        from_time=query("from_time"),
        to_time=query("to_time"),
        status=query("status"),
    )
    page = use_cases().calls.list_calls(wanted)
    return ok(
        {
            "message": "Successfully listed calls",
            "next_cursor": page.next_cursor,
            "calls": [c.to_fn() for c in page.calls],
        }
    )


def get_call(app: str, call: str) -> Response:
    return ok({"message": "Successfully loaded call", "call": use_cases().calls.get_call(app, call).to_fn()})


def cancel_call(app: str, call: str) -> Response:
    cancelled = use_cases().calls.cancel_call(app, call)
    return ok({"message": "Call cancelled", "call": cancelled.to_fn()})


def get_log(app: str, call: str) -> Response:
    """Fn's content negotiation: JSON by default, raw text for `text/plain`, else 406."""
    accept = bp.current_request.headers.get("accept", "")
    text = use_cases().calls.get_log(app, call)
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


def get_result(app: str, call: str) -> Response:
    """The function's response body alone, with its content type by the invoke path's rules."""
    output, content_type = use_cases().calls.get_result(app, call)
    return function_output(output, content_type, 200, {"Fn_call_id": call})


def redrive_call(app: str, call: str) -> Response:
    return ok({"message": "Call redriven", "call": use_cases().calls.redrive_call(app, call).to_fn()})


def redrive_calls(app: str) -> Response:
    ids = use_cases().calls.redrive_app(app)
    return ok({"message": f"Redrove {len(ids)} dead calls", "call_ids": ids})


register("/v1/apps/{app}/calls", "calls", GET=list_calls)
register("/v1/apps/{app}/calls/{call}", "call", GET=get_call)
register("/v1/apps/{app}/calls/{call}/cancel", "call_cancel", POST=cancel_call)
register("/v1/apps/{app}/calls/{call}/redrive", "call_redrive", POST=redrive_call)
# A literal beside {call}: API Gateway and Chalice's matcher both prefer it ("redrive" is no call id).
register("/v1/apps/{app}/calls/redrive", "calls_redrive", POST=redrive_calls)
register("/v1/apps/{app}/calls/{call}/log", "call_log", GET=get_log)
register("/v1/apps/{app}/calls/{call}/result", "call_result", GET=get_result)


# ------------------------------------------------------------------ bundles
def bundle_reply(message: str, digest: str, size: int | None = None) -> Response:
    info: dict[str, Any] = {"digest": digest}
    if size is not None:
        info["size"] = size
    return ok({"message": message, "bundle": info})


def get_bundle(digest: str) -> Response:
    return bundle_reply("Bundle found", use_cases().bundles.has_bundle(digest))


def put_bundle(digest: str) -> Response:
    stored, size = use_cases().bundles.put_bundle(digest, raw_body())
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
    result = use_cases().invoker.invoke(app, path, incoming)
    reply_headers: dict[str, Any] = {name: ", ".join(values) for name, values in result.route_headers.items()}
    reply_headers["Fn_call_id"] = result.call_id
    execution = result.execution
    if execution is None:
        return ok({"call_id": result.call_id}, status=202, headers=reply_headers)
    if execution.status is CallStatus.TIMEOUT:
        return error_response(504, "Timed out", reply_headers)
    if execution.status in (CallStatus.ERROR, CallStatus.CANCELLED):  # cancelled: killed mid-run
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
    # A content type the function chose that HTTP cannot carry (CR/LF) would split the response.
    answered = content_type if content_type and not inputs.header_value_problem(content_type) else sniffed
    if not receivable(answered):
        kind = answered.split(";")[0].strip()
        return error_response(
            406,
            f"The function answered {kind}, a binary type: send Accept: {kind} (or */*) to receive it",
            headers,
        )
    headers["Content-Type"] = answered
    return Response(body=text, status_code=status or 200, headers=headers)


def receivable(content_type: str) -> bool:
    """API Gateway sends a binary type only to a client whose Accept names one (Chalice, deployed
    and local, answers anyone else its own 400, without the call's id); so does this API."""
    binary = bp.current_app.api.binary_types
    accept = bp.current_request.headers.get("accept")
    return not _names_one_of(content_type, binary) or (accept is not None and _names_one_of(accept, binary))


def _names_one_of(header: str, types: list[str]) -> bool:
    parts = {part.strip().lower() for part in re.split("[,;]", header)}
    return "*/*" in parts or "*/*" in types or bool(parts & {t.lower() for t in types})


register("/r/{app}", "invoke_root", **dict.fromkeys(METHODS, invoke))
register_deep("/r/{app}", "invoke", **dict.fromkeys(METHODS, invoke))


# ---------------------------------------------------------------- catch-all
for _depth in range(1, CATCH_ALL_DEPTH + 1):
    _template = "/" + "/".join(f"{{p{i}}}" for i in range(_depth))
    register(_template, f"not_found_{_depth}")
