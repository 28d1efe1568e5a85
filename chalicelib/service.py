"""Use cases: apps, routes, bundles, invoking, and reading calls and logs."""

from __future__ import annotations

import base64
import contextlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from chalicelib import rules
from chalicelib.bundles import DIGEST_PREFIX, digest_of, validate_bundle
from chalicelib.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    TransitionError,
    UnauthorizedError,
    app_not_found,
    call_not_found,
    route_not_found,
)
from chalicelib.ids import is_call_id, lowest_id_at, new_call_id
from chalicelib.models import App, Call, CallRequest, CallStatus, FunctionSpec, Route, RouteType
from chalicelib.ports import (
    AppStore,
    CallQuery,
    CallQueue,
    CallStore,
    CodeStore,
    Execution,
    LogStore,
    Page,
    PayloadStore,
    RouteStore,
)
from chalicelib.runner import CallRunner

log = logging.getLogger(__name__)

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    url: str
    headers: dict[str, list[str]]
    body: bytes
    content_type: str = ""


@dataclass(frozen=True)
class InvokeResult:
    call_id: str
    route_headers: dict[str, list[str]]
    execution: Execution | None = None  # None for async calls


@dataclass
class _RouteCache:
    """Route lookups served from memory for a few seconds (Fn cached them 5 s too)."""

    ttl: float
    entries: dict[tuple[str, str], tuple[float, App | None, Route | None]] = field(default_factory=dict)

    def get(self, key: tuple[str, str]) -> tuple[App | None, Route | None] | None:
        hit = self.entries.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1], hit[2]

    def put(self, key: tuple[str, str], app: App | None, route: Route | None) -> None:
        if len(self.entries) > 10_000:
            self.entries.clear()
        self.entries[key] = (time.monotonic() + self.ttl, app, route)

    def forget(self, app_name: str) -> None:
        for key in [k for k in self.entries if k[0] == app_name]:
            del self.entries[key]


def page_size(raw: str | None) -> int:
    """Fn's pageParams: default 30, at most 100, anything unparsable or <= 0 means the default."""
    try:
        value = int(raw or 0)
    except ValueError:
        return DEFAULT_PER_PAGE
    return DEFAULT_PER_PAGE if value <= 0 else min(value, MAX_PER_PAGE)


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError("Invalid cursor") from exc


class Service:
    def __init__(
        self,
        apps: AppStore,
        routes: RouteStore,
        calls: CallStore,
        queue: CallQueue,
        logs: LogStore,
        payloads: PayloadStore,
        code: CodeStore,
        runner: CallRunner,
        clock: Callable[[], datetime],
        max_request_bytes: int,
        inline_body_bytes: int,
        lease_grace_seconds: int,
        route_cache_seconds: float = 5.0,
        api_token: str = "",
        max_async_timeout: int = rules.MAX_ASYNC_TIMEOUT,
    ) -> None:
        self._apps = apps
        self._routes = routes
        self._calls = calls
        self._queue = queue
        self._logs = logs
        self._payloads = payloads
        self._code = code
        self._runner = runner
        self._clock = clock
        self._max_request_bytes = max_request_bytes
        self._inline_body_bytes = inline_body_bytes
        self._lease_grace = lease_grace_seconds
        self._cache = _RouteCache(route_cache_seconds)
        self._api_token = api_token
        self._max_async_timeout = max_async_timeout

    def authorize(self, authorization: str | None) -> None:
        """With a token configured, the request must carry `Bearer <token>` (compared in constant time)."""
        if not self._api_token:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self._api_token):
            raise UnauthorizedError("Unauthorized: set FN_TOKEN to the API's token")

    # ------------------------------------------------------------------ apps
    def list_apps(self, cursor: str | None, per_page: str | None) -> Page[App]:
        limit = page_size(per_page)
        apps = self._apps.list_apps(decode_cursor(cursor), limit)
        return Page(apps, encode_cursor(apps[-1].name) if len(apps) == limit else "")

    def create_app(self, data: dict[str, object]) -> App:
        return self._apps.create_app(rules.new_app(data, self._clock()))

    def get_app(self, name: str) -> App:
        return self._apps.get_app(name)

    def update_app(self, name: str, data: dict[str, object]) -> App:
        app = rules.updated_app(self._apps.get_app(name), data, self._clock())
        self._cache.forget(name)
        return self._apps.put_app(app)

    def delete_app(self, name: str) -> None:
        self._apps.delete_app(name)
        self._logs.delete_logs(name)
        self._cache.forget(name)

    # ---------------------------------------------------------------- routes
    def list_routes(self, app_name: str, cursor: str | None, per_page: str | None) -> Page[Route]:
        limit = page_size(per_page)
        routes = self._routes.list_routes(app_name, decode_cursor(cursor), limit)
        if not routes:
            self._apps.get_app(app_name)  # Fn: 404 only when the app is missing and has no routes
        return Page(routes, encode_cursor(routes[-1].path) if len(routes) == limit else "")

    def create_route(self, app_name: str, data: dict[str, object]) -> Route:
        """POST: the path comes from the body; the app is created when missing (as Fn does)."""
        path = rules.clean_route_path(data.get("path"))
        route = rules.new_route(
            rules.validate_app_name(app_name), path, data, self._clock(), self._max_async_timeout
        )
        self._check_bundle(route)
        self._ensure_app(app_name)
        created = self._routes.create_route(route)
        self._cache.forget(app_name)
        return created

    def put_route(self, app_name: str, path: str, data: dict[str, object]) -> tuple[Route, bool]:
        """PUT: create (app too) or merge-update. Returns the route and whether it was created."""
        path = rules.clean_route_path(path)
        if data.get("path") not in (None, "") and rules.clean_route_path(data["path"]) != path:
            raise ConflictError("Could not update - path is immutable")
        try:
            existing = self._routes.get_route(app_name, path)
        except NotFoundError:
            existing = None
        now = self._clock()
        if existing is None:
            route = rules.new_route(
                rules.validate_app_name(app_name), path, data, now, self._max_async_timeout
            )
        else:
            route = rules.updated_route(existing, data, now, self._max_async_timeout)
        self._check_bundle(route)
        self._ensure_app(app_name)
        self._routes.put_route(route)
        self._cache.forget(app_name)
        return route, existing is None

    def patch_route(self, app_name: str, path: str, data: dict[str, object]) -> Route:
        path = rules.clean_route_path(path)
        route = rules.updated_route(
            self._routes.get_route(app_name, path), data, self._clock(), self._max_async_timeout
        )
        self._check_bundle(route)
        self._routes.put_route(route)
        self._cache.forget(app_name)
        return route

    def get_route(self, app_name: str, path: str) -> Route:
        return self._routes.get_route(app_name, rules.clean_route_path(path))

    def delete_route(self, app_name: str, path: str) -> None:
        self._routes.delete_route(app_name, rules.clean_route_path(path))
        self._cache.forget(app_name)

    def _ensure_app(self, name: str) -> None:
        now = self._clock()
        with contextlib.suppress(ConflictError):  # it exists already
            self._apps.create_app(App(name=name, created_at=now, updated_at=now))

    def _check_bundle(self, route: Route) -> None:
        if route.bundle and not self._code.has_bundle(route.bundle):
            raise InvalidInputError(f"Bundle not found: {route.bundle} (upload it first)")

    # --------------------------------------------------------------- bundles
    def put_bundle(self, hex_digest: str, data: bytes) -> tuple[str, int]:
        digest = DIGEST_PREFIX + hex_digest
        if digest_of(data) != digest:
            raise InvalidInputError(f"Bundle digest mismatch: body is {digest_of(data)}")
        validate_bundle(data)
        if not self._code.has_bundle(digest):
            self._code.put_bundle(digest, data)
        return digest, len(data)

    def has_bundle(self, hex_digest: str) -> str:
        digest = DIGEST_PREFIX + hex_digest
        if not self._code.has_bundle(digest):
            raise NotFoundError("Bundle not found")
        return digest

    # ---------------------------------------------------------------- invoke
    def lookup(self, app_name: str, path: str) -> tuple[App, Route]:
        key = (app_name, path)
        cached = self._cache.get(key)
        app, route = cached if cached is not None else self._routes.get_app_and_route(app_name, path)
        if cached is None:
            self._cache.put(key, app, route)
        if app is None:
            raise app_not_found()
        if route is None:
            raise route_not_found()
        return app, route

    def invoke(self, app_name: str, path: str, request: IncomingRequest) -> InvokeResult:
        if len(request.body) > self._max_request_bytes:
            raise PayloadTooLargeError("Request content too large")
        app, route = self.lookup(app_name, "/" + path.strip("/"))
        now = self._clock()
        call_id = new_call_id(now)
        call = self._new_call(call_id, app, route, request, now)
        if route.type is RouteType.ASYNC:
            self._calls.insert_call(call)  # persist first ...
            try:
                self._queue.send(call_id)  # ... then publish
            except ServiceUnavailableError:
                self._fail_unsent(call_id)
                raise
            return InvokeResult(call_id, route.headers)
        running = self._insert_running(call, now)
        try:
            execution = self._runner.run_sync(running)
        except Exception as exc:
            log.exception("sync call %s failed before running", call_id)
            self._record_platform_fault(running, str(exc))
            raise ServiceUnavailableError("Could not run the function, try again") from exc
        return InvokeResult(call_id, route.headers, execution)

    def _new_call(
        self, call_id: str, app: App, route: Route, request: IncomingRequest, now: datetime
    ) -> Call:
        body: bytes | None = request.body
        body_key = None
        if len(request.body) > self._inline_body_bytes:
            body_key = call_id
            self._payloads.put_payload(body_key, request.body)
            body = None
        return Call(
            id=call_id,
            app_name=app.name,
            path=route.path,
            type=route.type,
            status=CallStatus.QUEUED,
            created_at=now,
            function=FunctionSpec(
                bundle=route.bundle,
                format=route.format,
                timeout=route.timeout,
                idle_timeout=route.idle_timeout,
                memory=route.memory,
                config={**app.config, **route.config},  # route wins, as in Fn
                max_retries=route.max_retries,
            ),
            request=CallRequest(
                method=request.method,
                url=request.url,
                headers=request.headers,
                content_type=request.content_type,
                body=body,
                body_key=body_key,
                body_size=len(request.body),
            ),
            lease_seconds=route.timeout + self._lease_grace,
        )

    def _insert_running(self, call: Call, now: datetime) -> Call:
        running = replace(
            call,
            status=CallStatus.RUNNING,
            started_at=now,
            attempt=1,
            attempt_started_at=now,
            lease_expires_at=now + timedelta(seconds=call.lease_seconds),
        )
        self._calls.insert_call(running)
        return running

    def _record_platform_fault(self, call: Call, error: str) -> None:
        try:
            self._calls.finish(
                call.id, call.attempt, CallStatus.ERROR, self._clock(), f"platform fault: {error}"
            )
        except Exception:
            log.exception("call %s: could not record the failure", call.id)

    def _fail_unsent(self, call_id: str) -> None:
        """The message never left: the record must not stay queued with nothing to run it."""
        try:
            self._calls.fail_queued(call_id, self._clock(), "could not enqueue the call; it was not run")
        except Exception:
            log.exception("call %s: not enqueued and not marked failed", call_id)

    # ----------------------------------------------------------------- calls
    def get_call(self, app_name: str, call_id: str) -> Call:
        if not is_call_id(call_id):
            raise call_not_found()
        call = self._calls.get_call(call_id)
        if call.app_name != app_name:
            raise call_not_found()
        return call

    def list_calls(
        self,
        app_name: str,
        path: str | None = None,
        cursor: str | None = None,
        per_page: str | None = None,
        from_time: str | None = None,
        to_time: str | None = None,
        status: str | None = None,
    ) -> Page[Call]:
        limit = page_size(per_page)
        before = cursor if cursor else None
        if before is not None and not is_call_id(before):
            raise InvalidInputError("Invalid cursor")
        # Ids begin with their creation time, so Fn's exclusive second bounds become id bounds.
        min_id = lowest_id_at(_epoch(from_time, "from_time") * 1000 + 1) if from_time else None
        if to_time:
            bound = lowest_id_at(_epoch(to_time, "to_time") * 1000)
            before = min(before, bound) if before else bound
        try:
            wanted = CallStatus(status) if status else None
        except ValueError as exc:
            raise InvalidInputError(f"Invalid status: {status}") from exc
        query = CallQuery(
            app_name=app_name,
            path=rules.clean_route_path(path) if path else None,
            status=wanted,
            before_id=before,
            min_id=min_id,
            limit=limit,
        )
        calls = self._calls.list_calls(query)
        if not calls:
            self._apps.get_app(app_name)  # an empty page for an app that exists, else 404
        return Page(calls, calls[-1].id if len(calls) == limit else "")

    def get_log(self, app_name: str, call_id: str) -> bytes:
        if not is_call_id(call_id):
            raise NotFoundError("Call log not found")
        return self._logs.get_log(app_name, call_id)

    def cancel_call(self, app_name: str, call_id: str) -> Call:
        self.get_call(app_name, call_id)
        try:
            return self._calls.cancel(call_id, self._clock())
        except TransitionError as exc:
            current = exc.current
            state = current.status.value if isinstance(current, Call) else "finished"
            raise ConflictError(f"Call is {state} and cannot be cancelled") from exc

    def redrive_call(self, app_name: str, call_id: str) -> Call:
        """Queue a dead call again (409 for any other); it gets a fresh allowance of attempts."""
        self.get_call(app_name, call_id)
        return self._redrive(call_id)

    def _redrive(self, call_id: str) -> Call:
        try:
            call = self._calls.redrive(call_id, self._clock())
        except TransitionError as exc:
            current = exc.current
            state = current.status.value if isinstance(current, Call) else "gone"
            raise ConflictError(f"Call is {state} and not dead: only dead calls can be redriven") from exc
        try:
            self._queue.send(call_id)
        except ServiceUnavailableError:
            self._fail_unsent(call_id)
            raise
        return call

    def redrive_app(self, app_name: str) -> list[str]:
        """Redrive every dead call of the app; answers their ids.

        The conditional redrive itself tells dead calls from other errors, so the listing reads
        only the index (which does not project `dead`).
        """
        redriven: list[str] = []
        cursor: str | None = None
        while True:
            page = self.list_calls(app_name, cursor=cursor, per_page=str(MAX_PER_PAGE), status="error")
            for call in page.items:  # listed under the app already: no second read
                with contextlib.suppress(ConflictError):
                    redriven.append(self._redrive(call.id).id)
            if not page.next_cursor:
                return redriven
            cursor = page.next_cursor


def _epoch(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not an epoch time") from exc
