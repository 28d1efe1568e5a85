"""Apps' callback signing secrets (CallbackSecretStore): one item in the app's partition each.

In the app's partition (`APP#<app>`, sort key `#CALLBACK_SECRET`) and not in the app's item, so
that no app listing or app JSON can carry it, and deleting the app deletes it with its routes.
"""

from __future__ import annotations

from chalicelib.aws.dynamodb.table import DynamoTable, callback_secret_key
from chalicelib.errors import ConflictError


class DynamoCallbackSecretStore:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def get_secret(self, app_name: str) -> str | None:
        item = self._table.get(callback_secret_key(app_name), consistent=True)
        return str(item["secret"]) if item else None

    def add_secret(self, app_name: str, secret: str) -> str:
        try:
            self._table.put(
                self._item(app_name, secret),
                "attribute_not_exists(pk)",
                lambda: ConflictError("the app has a callback secret already"),
            )
        except ConflictError:
            held = self.get_secret(app_name)
            if held is None:  # deleted between the two requests (the app was): try again
                return self.add_secret(app_name, secret)
            return held
        return secret

    def replace_secret(self, app_name: str, secret: str) -> None:
        self._table.put(self._item(app_name, secret))

    @staticmethod
    def _item(app_name: str, secret: str) -> dict[str, str]:
        return {**callback_secret_key(app_name), "kind": "callback_secret", "secret": secret}
