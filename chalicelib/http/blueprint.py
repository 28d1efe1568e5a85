"""The Chalice blueprint, the use cases it is bound to, and how views are registered.

Chalice serves fixed-depth routes only (no greedy `{proxy+}` locally), so multi-segment route
paths are registered once per depth up to rules.MAX_PATH_SEGMENTS, and every method of a
resource goes to one view that dispatches, so an unknown method or path answers Fn's 404.
Every view runs inside `fn_view`: the token check, and any error as Fn's envelope.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib import errors
from chalicelib.apps import Apps
from chalicelib.calls import Calls
from chalicelib.http.responses import error_response, failure
from chalicelib.invoke import Invoker
from chalicelib.routes import Routes
from chalicelib.rules import MAX_PATH_SEGMENTS, parse_json_object
from chalicelib.uploads import BundleUploads

log = logging.getLogger(__name__)

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class UseCases:
    """What the API serves; `api_token`, when set, is the bearer token every request must carry."""

    apps: Apps
    routes: Routes
    bundles: BundleUploads
    invoker: Invoker
    calls: Calls
    api_token: str = ""


bp = Blueprint(__name__)
_use_cases: Callable[[], UseCases] | None = None


def bind(factory: Callable[[], UseCases]) -> None:
    """app.py binds the composition root; it is built on the first request, not at import."""
    global _use_cases
    _use_cases = factory


def use_cases() -> UseCases:
    assert _use_cases is not None, "chalicelib.http.bind() was not called"
    return _use_cases()


def authorize(token: str, authorization: str | None) -> None:
    """With a token configured, the request must carry `Bearer <token>` (compared in constant time)."""
    if not token:
        return
    scheme, _, sent = (authorization or "").partition(" ")
    # compare_digest raises on str outside ASCII ("Bearer é"): compare the UTF-8 bytes instead.
    sent_bytes = sent.strip().encode("utf-8", "surrogatepass")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        sent_bytes, token.encode("utf-8", "surrogatepass")
    ):
        raise errors.UnauthorizedError("Unauthorized: set FN_TOKEN to the API's token")


def fn_view(view: Callable[..., Response], public: bool = False) -> Callable[..., Response]:
    """Every view's errors become Fn's envelope; nothing a client sends gives a stack trace."""

    def wrapped(**params: str) -> Response:
        try:
            if not public:
                authorize(use_cases().api_token, bp.current_request.headers.get("authorization"))
            return view(**{k: unquote(v) for k, v in params.items()})
        except errors.FnqError as exc:
            return failure(exc)
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
