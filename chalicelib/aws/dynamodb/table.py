"""fnq's one DynamoDB table: the key layout, DynamoDB's types in and out, conditional writes, queries.

    item   pk          sk            gsi1pk               gsi1sk  gsi2pk                      gsi2sk
    app    APP#<app>   #APP          APPS                 <app>   -                           -
    route  APP#<app>   ROUTE#<path>  -                    -       -                           -
    secret APP#<app>   #CALLBACK_SECRET  (an app's callback signing secret)
    call   CALL#<id>   #CALL         CALLS#<app>#<shard>  <id>    CALLS#<app>#<path>#<shard>  <id>
    key    IDEM#<app>#<Idempotency-Key>  #IDEM  -             -       -                           -
    token  TOKENS      TOKEN#<id>    -                    -       -                           -

    every call, too:                                      gsi3sk <status>#<id>
    open call (queued or running), and only while open:   openpk OPEN#<shard>   opensk <deadline, epoch ms>

gsi1 lists an app's calls (and the apps), gsi2 a route's calls, gsi3 (keyed gsi1pk, gsi3sk) an
app's calls of one status. Calls of an app are spread over `shards` index
partitions (by the id's last character) so a busy app is not capped by one partition's write
rate; a listing reads the shards and merges them (listing.py). A record's own attributes come
from chalicelib/codec.py; the stores add these keys to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.clients import AwsClients
from chalicelib.aws.dynamodb.typed import deserialize, serialize
from chalicelib.errors import FnqError, PayloadTooLargeError
from chalicelib.ids import CROCKFORD

APP_SK = "#APP"
CALLBACK_SECRET_SK = "#CALLBACK_SECRET"
CALL_SK = "#CALL"
IDEMPOTENCY_SK = "#IDEM"
ROUTE_PREFIX = "ROUTE#"
APPS_PARTITION = "APPS"
# The sparse index of open calls by deadline (lease end when running, due time when queued): the
# sweeper queries `opensk < now` per shard and never scans. Terminal calls carry no openpk.
OPEN_INDEX = "open"
OPEN_PREFIX = "OPEN#"
# Tokens are few and read by key; one partition lists them without an index (whose projection
# would have to carry their fields).
TOKENS_PARTITION = "TOKENS"
TOKEN_PREFIX = "TOKEN#"
BATCH_WRITE_MAX = 25
# DynamoDB's item limit: attribute names and values, sized as `item_size` does.
ITEM_BYTES = 400 * 1024


def app_partition(app_name: str) -> str:
    return f"APP#{app_name}"


def app_key(app_name: str) -> dict[str, str]:
    return {"pk": app_partition(app_name), "sk": APP_SK}


def callback_secret_key(app_name: str) -> dict[str, str]:
    return {"pk": app_partition(app_name), "sk": CALLBACK_SECRET_SK}


def route_key(app_name: str, path: str) -> dict[str, str]:
    return {"pk": app_partition(app_name), "sk": ROUTE_PREFIX + path}


def call_key(call_id: str) -> dict[str, str]:
    return {"pk": f"CALL#{call_id}", "sk": CALL_SK}


def idempotency_key(app_name: str, key: str) -> dict[str, str]:
    """An app's Idempotency-Key: keys are per app, so two apps never see each other's calls."""
    return {"pk": f"IDEM#{app_name}#{key}", "sk": IDEMPOTENCY_SK}


def token_key(token_id: str) -> dict[str, str]:
    return {"pk": TOKENS_PARTITION, "sk": TOKEN_PREFIX + token_id}


def dump(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: serialize(v) for k, v in item.items() if v is not None}


def load(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values back: numbers as int (float when not whole, as JSON's), binaries as bytes."""
    return {k: deserialize(v) for k, v in item.items()}


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size by DynamoDB's rules, from its typed JSON form (`dump`'s output): names and
    values in UTF-8; a number about one byte per two significant digits plus one; a list or map
    3 bytes plus 1 per element (and a map's keys); a boolean or null 1 byte."""
    return sum(_utf8(name) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    total = 0
    pending = [value]
    while pending:
        kind, inner = next(iter(pending.pop().items()))
        if kind == "S":
            total += _utf8(inner)
        elif kind == "N":
            total += _number_size(inner)
        elif kind == "B":  # bytes here; base64 text on the wire
            total += len(inner) * 3 // 4 if isinstance(inner, str) else len(bytes(inner))
        elif kind in ("BOOL", "NULL"):
            total += 1
        elif kind in ("SS", "NS", "BS"):
            total += sum(_value_size({kind[0]: member}) for member in inner)
        elif kind == "M":
            total += 3 + sum(_utf8(key) + 1 for key in inner)
            pending.extend(inner.values())
        elif kind == "L":
            total += 3 + len(inner)
            pending.extend(inner)
    return total


def _number_size(text: str) -> int:
    digits = "".join(c for c in text.upper().split("E")[0] if c.isdigit()).strip("0")
    return (len(digits) + 1) // 2 + 1


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def values(**named: Any) -> dict[str, Any]:
    """ExpressionAttributeValues: `:name` for each keyword."""
    return {f":{k}": serialize(v) for k, v in named.items()}


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class ConditionFailed(Exception):
    """An update's condition was false; `old` is the item as it was (None: there was none)."""

    def __init__(self, old: dict[str, Any] | None) -> None:
        super().__init__("conditional check failed")
        self.old = old
        self.failed: list[int] = []  # put_together: which of the puts were refused


class DynamoTable:
    """The table every store shares, and the layout of its call index partitions."""

    def __init__(self, clients: AwsClients, name: str, shards: int = 4) -> None:
        self._clients = clients
        self.name = name
        self.shards = max(1, shards)

    @property
    def _db(self) -> Any:
        return self._clients.dynamodb

    def call_partitions(self, app_name: str, path: str | None = None) -> list[str]:
        """The index partitions holding the calls of an app (gsi1), or of one of its routes (gsi2)."""
        prefix = f"CALLS#{app_name}#{path}" if path else f"CALLS#{app_name}"
        return [f"{prefix}#{shard}" for shard in range(self.shards)]

    def call_partition(self, app_name: str, call_id: str, path: str | None = None) -> str:
        return self.call_partitions(app_name, path)[CROCKFORD.index(call_id[-1]) % self.shards]

    def open_partitions(self) -> list[str]:
        """The partitions of the open-calls index (all apps: the sweeper reads every one)."""
        return [f"{OPEN_PREFIX}{shard}" for shard in range(self.shards)]

    def open_partition(self, call_id: str) -> str:
        return self.open_partitions()[CROCKFORD.index(call_id[-1]) % self.shards]

    def get(self, key: Mapping[str, str], consistent: bool = False) -> dict[str, Any] | None:
        params: dict[str, Any] = {"TableName": self.name, "Key": dump(key)}
        if consistent:
            params["ConsistentRead"] = True
        item = self._db.get_item(**params).get("Item")
        return load(item) if item else None

    def get_many(self, keys: Iterable[Mapping[str, str]]) -> list[dict[str, Any]]:
        """The items that exist among `keys`, in one round trip when DynamoDB answers them all."""
        request: dict[str, Any] = {self.name: {"Keys": [dump(k) for k in keys]}}
        found: list[dict[str, Any]] = []
        while request:
            response = self._db.batch_get_item(RequestItems=request)
            found += [load(i) for i in response.get("Responses", {}).get(self.name, [])]
            request = response.get("UnprocessedKeys") or {}
        return found

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        refused: Callable[[], FnqError] | None = None,
    ) -> None:
        """A put, conditional when `condition` is given: a failed condition raises `refused()`.

        An item DynamoDB cannot hold is refused here, by name, rather than by the service as a 500.
        """
        dumped = dump(item)
        size = item_size(dumped)
        if size > ITEM_BYTES:
            largest = sorted(dumped, key=lambda name: -item_size({name: dumped[name]}))[:3]
            raise PayloadTooLargeError(
                f"The record would be {size:,} bytes, more than DynamoDB holds in one item ({ITEM_BYTES:,}); "
                f"its largest fields: {', '.join(largest)}"
            )
        params: dict[str, Any] = {"TableName": self.name, "Item": dumped}
        if condition:
            params["ConditionExpression"] = condition
        self._refusing(refused, self._db.put_item, **params)

    def delete(self, key: Mapping[str, str], refused: Callable[[], FnqError]) -> None:
        """Delete an item that exists; when it does not, raise `refused()`."""
        self._refusing(
            refused,
            self._db.delete_item,
            TableName=self.name,
            Key=dump(key),
            ConditionExpression="attribute_exists(pk)",
        )

    def delete_many(self, keys: Sequence[Mapping[str, str]]) -> None:
        """Delete in batches, in the order given."""
        for start in range(0, len(keys), BATCH_WRITE_MAX):
            requests = [{"DeleteRequest": {"Key": dump(k)}} for k in keys[start : start + BATCH_WRITE_MAX]]
            pending: dict[str, Any] = {self.name: requests}
            while pending:
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def update(
        self,
        key: Mapping[str, str],
        update: str,
        condition: str,
        names: dict[str, str],
        named: dict[str, Any],
    ) -> dict[str, Any]:
        """A conditional update answering the item after it; ConditionFailed carries the item before."""
        try:
            response = self._db.update_item(
                TableName=self.name,
                Key=dump(key),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values(**named),
                ReturnValues="ALL_NEW",
                # The current item comes with the refusal: no second read to learn why.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            raise ConditionFailed(load(old) if old else None) from exc
        return load(response["Attributes"])

    def query_page(self, **params: Any) -> tuple[list[dict[str, Any]], int, dict[str, Any] | None]:
        """One Query request: its items, how many it evaluated (ScannedCount: what a filter does
        not reduce, and what DynamoDB bills), and its LastEvaluatedKey (None: nothing more)."""
        response = self._db.query(TableName=self.name, **params)
        last = response.get("LastEvaluatedKey")
        items = [load(item) for item in response.get("Items", [])]
        return items, int(response.get("ScannedCount", 0)), load(last) if last else None

    def query(self, limit: int | None = None, **params: Any) -> list[dict[str, Any]]:
        """Up to `limit` matching items, following pages (a filter can leave pages short)."""
        if limit:
            params["Limit"] = limit
        items: list[dict[str, Any]] = []
        for item in self.query_all(**params):
            items.append(item)
            if limit and len(items) >= limit:
                break
        return items

    def query_sorted(self, pk: str, prefix: str, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Items of partition `pk` whose sort key is `prefix` + something after `after`, in order."""
        if after:
            condition = "pk = :pk AND sk > :after"
            named: dict[str, Any] = {"pk": pk, "after": prefix + after}
        else:
            condition = "pk = :pk AND begins_with(sk, :prefix)"
            named = {"pk": pk, "prefix": prefix}
        return self.query(limit, KeyConditionExpression=condition, ExpressionAttributeValues=values(**named))

    def query_all(self, **params: Any) -> Iterator[dict[str, Any]]:
        params["TableName"] = self.name
        while True:
            response = self._db.query(**params)
            for item in response.get("Items", []):
                yield load(item)
            if "LastEvaluatedKey" not in response:
                return
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def put_together(self, puts: Sequence[tuple[Mapping[str, Any], str, Mapping[str, Any]]]) -> None:
        """Conditional puts, all or none (one TransactWriteItems).

        A failed condition raises ConditionFailed with `old=None` and `failed` naming the indexes
        of the puts whose condition was false (the caller reads what it needs).
        """
        items = [
            {
                "Put": {
                    "TableName": self.name,
                    "Item": dump(item),
                    "ConditionExpression": condition,
                    **({"ExpressionAttributeValues": values(**named)} if named else {}),
                }
            }
            for item, condition, named in puts
        ]
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []  # type: ignore[typeddict-item]
            failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
            if not failed:
                raise  # a conflict with another transaction, throttling: the client may retry
            refused = ConditionFailed(None)
            refused.failed = failed
            raise refused from exc

    @staticmethod
    def _refusing(refused: Callable[[], FnqError] | None, request: Callable[..., Any], **params: Any) -> None:
        try:
            request(**params)
        except ClientError as exc:
            if refused is not None and _conditional_failed(exc):
                raise refused() from exc
            raise
