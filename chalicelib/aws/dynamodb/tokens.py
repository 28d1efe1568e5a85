"""Scoped tokens in the table (TokenStore): one partition, one item per token, sorted by id."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb.table import TOKEN_PREFIX, TOKENS_PARTITION, DynamoTable, token_key
from chalicelib.codec import TOKEN
from chalicelib.errors import ConflictError, token_not_found
from chalicelib.models import Token


def token_item(token: Token) -> dict[str, Any]:
    return {**token_key(token.id), "kind": "token", **TOKEN.encode(token)}


class DynamoTokenStore:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def create_token(self, token: Token) -> Token:
        self._table.put(
            token_item(token), "attribute_not_exists(pk)", lambda: ConflictError("Token already exists")
        )
        return token

    def find_token(self, token_id: str) -> Token | None:
        # Consistent: a token revoked a moment ago must not pass on a stale replica.
        item = self._table.get(token_key(token_id), consistent=True)
        return TOKEN.decode(item) if item else None

    def list_tokens(self, after_id: str | None, limit: int) -> list[Token]:
        items = self._table.query_sorted(TOKENS_PARTITION, TOKEN_PREFIX, after_id, limit)
        return [TOKEN.decode(item) for item in items]

    def delete_token(self, token_id: str) -> None:
        self._table.delete(token_key(token_id), token_not_found)
