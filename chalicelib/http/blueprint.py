"""The Chalice blueprint, the use cases it is bound to, and how views are registered.

Chalice serves fixed-depth routes only (no greedy `{proxy+}` locally), so multi-segment route
paths are registered once per depth up to rules.MAX_PATH_SEGMENTS, and every method of a
resource goes to one view that dispatches, so an unknown method or path answers Fn's 404.
Every resource's one view checks the request's token against what http/access.py's table says
its method needs, then runs the handler; any error becomes Fn's envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple
from urllib.parse import unquote

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib import errors
from chalicelib.apps import Apps
from chalicelib.callbacks import CallbackSecrets
from chalicelib.calls import Calls
from chalicelib.http import access
from chalicelib.http.responses import error_response, failure
from chalicelib.invoke import Invoker
from chalicelib.models import Right
from chalicelib.routes import Routes
from chalicelib.rules import MAX_PATH_SEGMENTS, parse_json_object
from chalicelib.tokens import Grant, Tokens
from chalicelib.uploads import BundleUploads

log = logging.getLogger(__name__)

METHODS = list(access.METHODS)


class UseCases(NamedTuple):
    """What the API serves; `tokens` also decides what each request's token may do.

    A NamedTuple, not a dataclass: made once, never compared; cheaper to define at import.
    """

    apps: Apps
    routes: Routes
    bundles: BundleUploads
    invoker: Invoker
    calls: Calls
    tokens: Tokens
    callback_secrets: CallbackSecrets


bp = Blueprint(__name__)
_use_cases: Callable[[], UseCases] | None = None
# The grant of the request being served, set before its view runs (Chalice serves a request per thread).
_grant: ContextVar[Grant] = ContextVar("grant")

# What was registered, for tests/test_tokens_access.py: Chalice view name → resource, and the
# methods each resource's views serve.
VIEW_RESOURCES: dict[str, str] = {}
SERVED: dict[str, frozenset[str]] = {}
# The grant of a request to a public route, which carries no token: no right on any app.
ANONYMOUS = Grant(frozenset(), frozenset())


def bind(factory: Callable[[], UseCases]) -> None:
    """app.py binds the composition root; it is built on the first request, not at import."""
    global _use_cases
    _use_cases = factory


def use_cases() -> UseCases:
    assert _use_cases is not None, "chalicelib.http.bind() was not called"
    return _use_cases()


def grant() -> Grant:
    """What the request's token may do (views of LISTED and NAMED routes narrow with it)."""
    return _grant.get()


def require(right: Right, app: str) -> None:
    """For NAMED routes: the token must hold `right` on the app the body names."""
    access.require(grant(), right, app)


def resource_view(resource: str, handlers: dict[str, Callable[..., Response]]) -> Callable[..., Response]:
    """One view for every method of a resource: the token check of its method, then its handler.

    Every error becomes Fn's envelope; nothing a client sends gives a stack trace.
    """
    # A KeyError here, at import, is a route that access.ACCESS does not classify.
    needs = {method: access.ACCESS[(resource, method)] for method in handlers}
    public = bool(needs) and all(need.scope is access.Scope.PUBLIC for need in needs.values())
    SERVED[resource] = frozenset(handlers)

    def view(**params: str) -> Response:
        request = bp.current_request
        handler = handlers.get(request.method)
        need = needs.get(request.method) or (access.PUBLIC if public else access.UNSERVED)
        try:
            params = {k: unquote(v) for k, v in params.items()}
            current = ANONYMOUS
            if need.scope is not access.Scope.PUBLIC:
                current = use_cases().tokens.authenticate(request.headers.get("authorization"))
                access.check(need, current, params.get("app"))
            reset = _grant.set(current)
            try:
                return handler(**params) if handler else not_found_path()
            finally:
                _grant.reset(reset)
        except errors.FnqError as exc:
            return failure(exc)
        except Exception:
            # The message and traceback only: never the request, whose headers hold the token.
            log.exception("internal error")
            return error_response(500, "internal server error")

    view.__name__ = resource
    return view


def not_found_path() -> Response:
    request = bp.current_request
    return error_response(404, f"Path not found: {request.context.get('path', '')}")


def register(path: str, name: str, **handlers: Callable[..., Response]) -> None:
    """Serve `path` as the resource `name` (its methods classified in access.ACCESS by that name)."""
    _register(path, name, name, handlers)


def _register(path: str, name: str, resource: str, handlers: dict[str, Callable[..., Response]]) -> None:
    VIEW_RESOURCES[name] = resource
    bp.route(path, methods=METHODS, content_types=["*/*"], name=name)(resource_view(resource, handlers))


def register_public(path: str, name: str, **handlers: Callable[..., Response]) -> None:
    """A resource open even when the API requires a token (Fn's ping and version)."""
    if any(access.ACCESS[(name, method)] is not access.PUBLIC for method in handlers):
        raise ValueError(f"{name}: access.ACCESS does not classify it as public")
    register(path, name, **handlers)


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

        _register(template, f"{name}_{depth}", name, {m: with_path(h) for m, h in handlers.items()})


def raw_body() -> bytes:
    raw = bp.current_request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def body() -> dict[str, Any]:
    return parse_json_object(raw_body())


def query(name: str) -> str | None:
    params: Mapping[str, Any] = bp.current_request.query_params or {}
    value = params.get(name)
    return str(value) if value is not None else None
