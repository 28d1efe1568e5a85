"""Apps, routes and calls in one DynamoDB table. Item ↔ model mapping stays in this module.

Layout (docs/ARCHITECTURE.md explains the choices):

    item   pk          sk            gsi1pk               gsi1sk  gsi2pk                      gsi2sk
    app    APP#<app>   #APP          APPS                 <app>   -                           -
    route  APP#<app>   ROUTE#<path>  -                    -       -                           -
    call   CALL#<id>   #CALL         CALLS#<app>#<shard>  <id>    CALLS#<app>#<path>#<shard>  <id>

Calls of an app are spread over `shards` index partitions (by the id's last character) so a busy
app is not capped by one partition's write rate; a listing queries every shard and merges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.aws.clients import AwsClients
from chalicelib.errors import (
    ConflictError,
    FnqError,
    TransitionError,
    app_not_found,
    call_not_found,
    route_not_found,
)
from chalicelib.ids import CROCKFORD, id_before
from chalicelib.models import (
    LEASE_EXPIRED,
    TRANSITIONS,
    App,
    Attempt,
    Call,
    CallRequest,
    CallStatus,
    FunctionSpec,
    Route,
    RouteFormat,
    RouteType,
    RunStats,
)
from chalicelib.ports import CallQuery

_ser = TypeSerializer()
_de = TypeDeserializer()

CALL_SK = "#CALL"
# Appends the `:entry` list to the call's attempts (with `:empty` for the first).
APPEND_ATTEMPT = "attempts = list_append(if_not_exists(attempts, :empty), :entry)"
APP_SK = "#APP"
LOWEST_ID = "0" * 26
HIGHEST_ID = "7" + "Z" * 25


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _epoch_ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _from_epoch_ms(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value) / 1000, UTC)


def _dump(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in item.items() if v is not None}


def _load(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def _values(**values: Any) -> dict[str, Any]:
    return {f":{k}": _ser.serialize(v) for k, v in values.items()}


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoStore:
    """AppStore, RouteStore and CallStore on one table."""

    def __init__(self, clients: AwsClients, table: str, shards: int = 4, retention_days: int = 30) -> None:
        self._clients = clients
        self._table = table
        self._shards = max(1, shards)
        self._retention = timedelta(days=retention_days)

    @property
    def _db(self) -> Any:
        return self._clients.dynamodb

    def _put(self, item: Mapping[str, Any], condition: str, refused: Callable[[], FnqError]) -> None:
        """A conditional put; a failed condition raises `refused()`."""
        try:
            self._db.put_item(TableName=self._table, Item=_dump(item), ConditionExpression=condition)
        except ClientError as exc:
            if _conditional_failed(exc):
                raise refused() from exc
            raise

    # ------------------------------------------------------------------ apps
    def create_app(self, app: App) -> App:
        self._put(
            self._app_item(app), "attribute_not_exists(pk)", lambda: ConflictError("App already exists")
        )
        return app

    def get_app(self, name: str) -> App:
        item = self._db.get_item(TableName=self._table, Key=_dump({"pk": f"APP#{name}", "sk": APP_SK})).get(
            "Item"
        )
        if not item:
            raise app_not_found()
        return self._app(_load(item))

    def put_app(self, app: App) -> App:
        self._put(self._app_item(app), "attribute_exists(pk)", app_not_found)
        return app

    def list_apps(self, after_name: str | None, limit: int) -> list[App]:
        cond = "gsi1pk = :pk"
        values: dict[str, Any] = {"pk": "APPS"}
        if after_name:
            cond += " AND gsi1sk > :after"
            values["after"] = after_name
        items = self._query(
            IndexName="gsi1",
            KeyConditionExpression=cond,
            ExpressionAttributeValues=_values(**values),
            Limit=limit,
        )
        return [self._app(item) for item in items]

    def delete_app(self, name: str) -> None:
        self.get_app(name)
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in self._query_all(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=_values(pk=f"APP#{name}"),
                ProjectionExpression="pk, sk",
            )
        ]
        for shard in range(self._shards):
            for item in self._query_all(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues=_values(pk=f"CALLS#{name}#{shard}"),
            ):
                keys.append({"pk": f"CALL#{item['id']}", "sk": CALL_SK})
        # The app item goes last, so a failure half-way leaves an app that can be deleted again.
        keys.sort(key=lambda k: k["sk"] == APP_SK)
        for start in range(0, len(keys), 25):
            requests = [{"DeleteRequest": {"Key": _dump(k)}} for k in keys[start : start + 25]]
            pending: dict[str, Any] = {self._table: requests}
            while pending:
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    @staticmethod
    def _app_item(app: App) -> dict[str, Any]:
        return {
            "pk": f"APP#{app.name}",
            "sk": APP_SK,
            "gsi1pk": "APPS",
            "gsi1sk": app.name,
            "kind": "app",
            "name": app.name,
            "config": app.config,
            "annotations": app.annotations,
            "created_at": _time(app.created_at),
            "updated_at": _time(app.updated_at),
        }

    @staticmethod
    def _app(item: Mapping[str, Any]) -> App:
        return App(
            name=item["name"],
            config=dict(item.get("config") or {}),
            annotations=_plain(item.get("annotations") or {}),
            created_at=_parse(item.get("created_at")),
            updated_at=_parse(item.get("updated_at")),
        )

    # ---------------------------------------------------------------- routes
    def get_route(self, app_name: str, path: str) -> Route:
        key = {"pk": f"APP#{app_name}", "sk": f"ROUTE#{path}"}
        item = self._db.get_item(TableName=self._table, Key=_dump(key)).get("Item")
        if not item:
            raise route_not_found()
        return self._route(_load(item))

    def get_app_and_route(self, app_name: str, path: str) -> tuple[App | None, Route | None]:
        keys = [{"pk": f"APP#{app_name}", "sk": APP_SK}, {"pk": f"APP#{app_name}", "sk": f"ROUTE#{path}"}]
        request: dict[str, Any] = {self._table: {"Keys": [_dump(k) for k in keys]}}
        found: list[dict[str, Any]] = []
        while request:
            response = self._db.batch_get_item(RequestItems=request)
            found += [_load(i) for i in response.get("Responses", {}).get(self._table, [])]
            request = response.get("UnprocessedKeys") or {}
        app = next((self._app(i) for i in found if i["sk"] == APP_SK), None)
        route = next((self._route(i) for i in found if i["sk"] != APP_SK), None)
        return app, route

    def create_route(self, route: Route) -> Route:
        self._put(
            self._route_item(route), "attribute_not_exists(pk)", lambda: ConflictError("Route already exists")
        )
        return route

    def put_route(self, route: Route) -> Route:
        self._db.put_item(TableName=self._table, Item=_dump(self._route_item(route)))
        return route

    def list_routes(self, app_name: str, after_path: str | None, limit: int) -> list[Route]:
        cond = "pk = :pk AND begins_with(sk, :prefix)"
        values: dict[str, Any] = {"pk": f"APP#{app_name}", "prefix": "ROUTE#"}
        if after_path:
            cond = "pk = :pk AND sk > :after"
            values = {"pk": f"APP#{app_name}", "after": f"ROUTE#{after_path}"}
        items = self._query(
            KeyConditionExpression=cond, ExpressionAttributeValues=_values(**values), Limit=limit
        )
        return [self._route(item) for item in items]

    def delete_route(self, app_name: str, path: str) -> None:
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=_dump({"pk": f"APP#{app_name}", "sk": f"ROUTE#{path}"}),
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                raise route_not_found() from exc
            raise

    @staticmethod
    def _route_item(route: Route) -> dict[str, Any]:
        return {
            "pk": f"APP#{route.app_name}",
            "sk": f"ROUTE#{route.path}",
            "kind": "route",
            "app_name": route.app_name,
            "path": route.path,
            "image": route.image,
            "memory": route.memory,
            "cpus": route.cpus,
            "type": route.type.value,
            "format": route.format.value,
            "timeout": route.timeout,
            "idle_timeout": route.idle_timeout,
            "headers": route.headers,
            "config": route.config,
            "annotations": route.annotations,
            "bundle": route.bundle,
            "max_retries": route.max_retries,
            "created_at": _time(route.created_at),
            "updated_at": _time(route.updated_at),
        }

    @staticmethod
    def _route(item: Mapping[str, Any]) -> Route:
        return Route(
            app_name=item["app_name"],
            path=item["path"],
            image=item.get("image", ""),
            memory=int(item.get("memory", 128)),
            cpus=item.get("cpus", ""),
            type=RouteType(item.get("type", "sync")),
            format=RouteFormat(item.get("format", "default")),
            timeout=int(item.get("timeout", 30)),
            idle_timeout=int(item.get("idle_timeout", 30)),
            headers={k: list(v) for k, v in (item.get("headers") or {}).items()},
            config=dict(item.get("config") or {}),
            annotations=_plain(item.get("annotations") or {}),
            bundle=item.get("bundle", ""),
            max_retries=int(item.get("max_retries", 0)),
            created_at=_parse(item.get("created_at")),
            updated_at=_parse(item.get("updated_at")),
        )

    # ----------------------------------------------------------------- calls
    def _shard(self, call_id: str) -> int:
        return CROCKFORD.index(call_id[-1]) % self._shards

    def _call_key(self, call_id: str) -> dict[str, Any]:
        return _dump({"pk": f"CALL#{call_id}", "sk": CALL_SK})

    def insert_call(self, call: Call) -> None:
        shard = self._shard(call.id)
        item: dict[str, Any] = {
            "pk": f"CALL#{call.id}",
            "sk": CALL_SK,
            "gsi1pk": f"CALLS#{call.app_name}#{shard}",
            "gsi1sk": call.id,
            "gsi2pk": f"CALLS#{call.app_name}#{call.path}#{shard}",
            "gsi2sk": call.id,
            "kind": "call",
            "id": call.id,
            "app_name": call.app_name,
            "path": call.path,
            "type": call.type.value,
            "status": call.status.value,
            "created_at": _time(call.created_at),
            "started_at": _time(call.started_at),
            "attempt": call.attempt,
            "lease_ms": call.lease_seconds * 1000,
            "lease_until": _epoch_ms(call.lease_expires_at),
            "attempt_started_at": _time(call.started_at),
            # DynamoDB's TTL deletes the record after the retention (moto never does; fine locally).
            "expires_at": int((call.created_at + self._retention).timestamp()),
        }
        if call.function:
            item["fn"] = _function_item(call.function)
        if call.request:
            item["req"] = _request_item(call.request)
        self._put(item, "attribute_not_exists(pk)", lambda: ConflictError(f"Call {call.id} already exists"))

    def get_call(self, call_id: str) -> Call:
        item = self._db.get_item(TableName=self._table, Key=self._call_key(call_id)).get("Item")
        if not item:
            raise call_not_found()
        return self._call(_load(item))

    def list_calls(self, query: CallQuery) -> list[Call]:
        index, pk = (
            ("gsi2", f"CALLS#{query.app_name}#{query.path}")
            if query.path
            else ("gsi1", f"CALLS#{query.app_name}")
        )
        low = query.min_id or LOWEST_ID
        high = id_before(query.before_id) if query.before_id else HIGHEST_ID
        if not high or low > high:
            return []
        params: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :pk AND {index}sk BETWEEN :low AND :high",
            "ScanIndexForward": False,
        }
        values: dict[str, Any] = {"low": low, "high": high}
        if query.status:
            params["FilterExpression"] = "#status = :status"
            params["ExpressionAttributeNames"] = {"#status": "status"}
            values["status"] = query.status.value
        found: list[dict[str, Any]] = []
        for shard in range(self._shards):
            shard_values = _values(pk=f"{pk}#{shard}", **values)
            found += self._query(ExpressionAttributeValues=shard_values, Limit=query.limit, **params)
        found.sort(key=lambda i: i["id"], reverse=True)
        return [self._call(i) for i in found[: query.limit]]

    def claim(self, call_id: str, now: datetime) -> Call:
        sets = (
            "attempt = if_not_exists(attempt, :zero) + :one, lease_until = :now_ms + lease_ms, "
            "started_at = if_not_exists(started_at, :now), attempt_started_at = :now"
        )
        values: dict[str, Any] = {"zero": 0, "one": 1, "now_ms": _epoch_ms(now), "now": _time(now)}
        try:
            return self._move(call_id, {CallStatus.QUEUED}, CallStatus.RUNNING, sets, **values)
        except TransitionError as exc:
            current: Call | None = exc.current
            lease = current.lease_expires_at if current else None
            if not (current and current.status is CallStatus.RUNNING and lease and lease < now):
                raise
        # The worker holding the lease died (or hung past its timeout): take over, and record the
        # lost attempt. The condition on `attempt` makes exactly one taker win.
        lost = self._attempt_entry(
            current.attempt, current.attempt_started_at, CallStatus.ERROR, now, LEASE_EXPIRED
        )
        return self._move(
            call_id,
            {CallStatus.RUNNING},
            CallStatus.RUNNING,
            f"{sets}, {APPEND_ATTEMPT}",
            guard="attempt = :seen AND lease_until < :now_ms",
            seen=current.attempt,
            empty=[],
            entry=[lost],
            **values,
        )

    def finish(
        self,
        call_id: str,
        attempt: int,
        status: CallStatus,
        now: datetime,
        error: str = "",
        stats: RunStats | None = None,
        attempt_started_at: datetime | None = None,
        dead: bool = False,
    ) -> Call:
        sets = f"completed_at = :now, #error = :error, {APPEND_ATTEMPT}"
        values: dict[str, Any] = {
            "now": _time(now),
            "error": error,
            "empty": [],
            "entry": [self._attempt_entry(attempt, attempt_started_at, status, now, error)],
            "attempt": attempt,
        }
        if dead:
            sets += ", dead = :dead"
            values["dead"] = True
        if stats is not None:
            sets += ", stats = :stats"
            values["stats"] = {k: v for k, v in stats.to_fn().items() if v is not None}
        return self._move(
            call_id, {CallStatus.RUNNING}, status, sets, "lease_until", "attempt = :attempt", **values
        )

    def requeue(
        self,
        call_id: str,
        attempt: int,
        now: datetime,
        error: str,
        attempt_started_at: datetime | None = None,
    ) -> Call:
        return self._move(
            call_id,
            {CallStatus.RUNNING},
            CallStatus.QUEUED,
            f"#error = :error, {APPEND_ATTEMPT}",
            "lease_until",
            "attempt = :attempt",
            error=error,
            empty=[],
            entry=[self._attempt_entry(attempt, attempt_started_at, CallStatus.ERROR, now, error)],
            attempt=attempt,
        )

    def fail_queued(self, call_id: str, now: datetime, error: str) -> Call:
        return self._move(
            call_id,
            {CallStatus.QUEUED},
            CallStatus.ERROR,
            "completed_at = :now, #error = :error, dead = :dead",
            now=_time(now),
            error=error,
            dead=True,
        )

    def redrive(self, call_id: str, now: datetime) -> Call:
        return self._move(
            call_id,
            {CallStatus.ERROR},
            CallStatus.QUEUED,
            "redrive_base = attempt, redriven_at = :now",
            "dead, completed_at, #error",
            "dead = :dead",
            dead=True,
            now=_time(now),
        )

    def cancel(self, call_id: str, now: datetime) -> Call:
        return self._move(
            call_id,
            {CallStatus.QUEUED, CallStatus.RUNNING},
            CallStatus.CANCELLED,
            "completed_at = :now",
            "lease_until",
            now=_time(now),
        )

    @staticmethod
    def _attempt_entry(
        attempt: int, started_at: datetime | None, status: CallStatus, now: datetime, error: str
    ) -> dict[str, Any]:
        # An update expression cannot copy attempt_started_at into a list element, so the
        # runner, which read it when it claimed the call, passes it in.
        entry: dict[str, Any] = {"number": attempt, "status": status.value, "completed_at": _time(now)}
        if started_at:
            entry["started_at"] = _time(started_at)
        if error:
            entry["error"] = error
        return entry

    def _move(
        self,
        call_id: str,
        sources: set[CallStatus],
        target: CallStatus,
        sets: str = "",
        removes: str = "",
        guard: str = "",
        **values: Any,
    ) -> Call:
        """One transition as one conditional write: status in `sources` → `target`, plus `sets`.

        The move must be in models.TRANSITIONS; the status condition is built from `sources`, and
        `guard` adds to it (the attempt that holds the call, an expired lease, `dead`).
        """
        if not all(target in TRANSITIONS[source] for source in sources):
            raise ValueError(f"{sorted(sources)} → {target} is not a transition of models.TRANSITIONS")
        sources_values = {f"from_{source.value}": source.value for source in sources}
        condition = "#status IN (" + ", ".join(f":{name}" for name in sorted(sources_values)) + ")"
        update = (
            "SET #status = :to" + (f", {sets}" if sets else "") + (f" REMOVE {removes}" if removes else "")
        )
        names = {"#status": "status"}
        if "#error" in update:
            names["#error"] = "error"
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=self._call_key(call_id),
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(pk) AND {condition}"
                + (f" AND {guard}" if guard else ""),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=_values(to=target.value, **sources_values, **values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            if not old:
                raise call_not_found() from exc
            current = self._call(_load(old))
            raise TransitionError(f"Call {call_id} is {current.status.value}", current) from exc
        return self._call(_load(response["Attributes"]))

    @staticmethod
    def _call(item: Mapping[str, Any]) -> Call:
        attempts = tuple(
            Attempt(
                number=int(a["number"]),
                started_at=_parse(a.get("started_at")) or _parse(a.get("completed_at")) or datetime.now(UTC),
                completed_at=_parse(a.get("completed_at")),
                status=CallStatus(a.get("status", "error")),
                error=a.get("error", ""),
            )
            for a in item.get("attempts") or []
        )
        stats = item.get("stats")
        created = _parse(item["created_at"])
        assert created is not None
        return Call(
            id=item["id"],
            app_name=item["app_name"],
            path=item["path"],
            type=RouteType(item.get("type", "async")),
            status=CallStatus(item["status"]),
            created_at=created,
            function=_function(item["fn"]) if "fn" in item else None,
            request=_request(item["req"]) if "req" in item else None,
            started_at=_parse(item.get("started_at")),
            completed_at=_parse(item.get("completed_at")),
            error=item.get("error", ""),
            attempt=int(item.get("attempt", 0)),
            lease_seconds=int(item.get("lease_ms", 0)) // 1000,
            dead=bool(item.get("dead", False)),
            redrive_base=int(item.get("redrive_base", 0)),
            lease_expires_at=_from_epoch_ms(item.get("lease_until")),
            attempt_started_at=_parse(item.get("attempt_started_at")),
            stats=RunStats(
                duration_ms=int(stats["duration_ms"]),
                exit_code=None if stats.get("exit_code") is None else int(stats["exit_code"]),
                max_rss_kb=None if stats.get("max_rss_kb") is None else int(stats["max_rss_kb"]),
            )
            if stats
            else None,
            attempts=attempts,
        )

    # --------------------------------------------------------------- queries
    def _query(self, **params: Any) -> list[dict[str, Any]]:
        """Up to params["Limit"] matching items, following pages (a filter can leave pages short)."""
        limit = params.get("Limit")
        items: list[dict[str, Any]] = []
        for item in self._query_all(**params):
            items.append(item)
            if limit and len(items) >= limit:
                break
        return items

    def _query_all(self, **params: Any) -> Iterator[dict[str, Any]]:
        params["TableName"] = self._table
        while True:
            response = self._db.query(**params)
            for item in response.get("Items", []):
                yield _load(item)
            if "LastEvaluatedKey" not in response:
                return
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _function_item(spec: FunctionSpec) -> dict[str, Any]:
    return {
        "bundle": spec.bundle,
        "format": spec.format.value,
        "timeout": spec.timeout,
        "idle_timeout": spec.idle_timeout,
        "memory": spec.memory,
        "config": spec.config,
        "max_retries": spec.max_retries,
    }


def _function(item: Mapping[str, Any]) -> FunctionSpec:
    return FunctionSpec(
        bundle=item.get("bundle", ""),
        format=RouteFormat(item.get("format", "default")),
        timeout=int(item.get("timeout", 30)),
        idle_timeout=int(item.get("idle_timeout", 30)),
        memory=int(item.get("memory", 128)),
        config=dict(item.get("config") or {}),
        max_retries=int(item.get("max_retries", 0)),
    )


def _request_item(request: CallRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": request.url,
        "headers": request.headers,
        "content_type": request.content_type,
        "body": request.body,
        "body_key": request.body_key,
        "body_size": request.body_size,
    }


def _request(item: Mapping[str, Any]) -> CallRequest:
    body = item.get("body")
    return CallRequest(
        method=item.get("method", "POST"),
        url=item.get("url", ""),
        headers={k: list(v) for k, v in (item.get("headers") or {}).items()},
        content_type=item.get("content_type", ""),
        body=body.value if isinstance(body, Binary) else body,  # type: ignore[attr-defined]
        body_key=item.get("body_key"),
        body_size=int(item.get("body_size", 0)),
    )


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; annotations are JSON, so give them back as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
