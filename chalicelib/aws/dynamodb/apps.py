"""Apps in the table (AppStore): one item each, listed by name through gsi1's APPS partition."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb.table import (
    APP_SK,
    APPS_PARTITION,
    DynamoTable,
    app_key,
    app_partition,
    call_key,
    values,
)
from chalicelib.codec import APP
from chalicelib.errors import ConflictError, app_not_found
from chalicelib.models import App


def app_item(app: App) -> dict[str, Any]:
    return {
        **app_key(app.name),
        "gsi1pk": APPS_PARTITION,
        "gsi1sk": app.name,
        "kind": "app",
        **APP.encode(app),
    }


class DynamoAppStore:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def create_app(self, app: App) -> App:
        self._table.put(
            app_item(app), "attribute_not_exists(pk)", lambda: ConflictError("App already exists")
        )
        return app

    def get_app(self, name: str) -> App:
        item = self._table.get(app_key(name))
        if item is None:
            raise app_not_found()
        return APP.decode(item)

    def put_app(self, app: App) -> App:
        self._table.put(app_item(app), "attribute_exists(pk)", app_not_found)
        return app

    def list_apps(self, after_name: str | None, limit: int) -> list[App]:
        condition = "gsi1pk = :pk"
        named: dict[str, Any] = {"pk": APPS_PARTITION}
        if after_name:
            condition += " AND gsi1sk > :after"
            named["after"] = after_name
        items = self._table.query(
            limit,
            IndexName="gsi1",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values(**named),
        )
        return [APP.decode(item) for item in items]

    def delete_app(self, name: str) -> None:
        """The app, its routes (its partition) and its calls (its index partitions), app item last."""
        self.get_app(name)
        keys: list[dict[str, Any]] = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in self._table.query_all(
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=values(pk=app_partition(name)),
                ProjectionExpression="pk, sk",
            )
        ]
        for partition in self._table.call_partitions(name):
            keys += [
                call_key(item["id"])
                for item in self._table.query_all(
                    IndexName="gsi1",
                    KeyConditionExpression="gsi1pk = :pk",
                    ExpressionAttributeValues=values(pk=partition),
                )
            ]
        # The app item goes last, so a failure half-way leaves an app that can be deleted again.
        keys.sort(key=lambda k: k["sk"] == APP_SK)
        self._table.delete_many(keys)
