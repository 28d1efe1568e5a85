"""The embedded DynamoDB refuses what DynamoDB refuses, with DynamoDB's ValidationException.

Each write below was stored by moto 5.2.5 as it comes (or is refused by moto itself, as by
DynamoDB: those cases are here too, so a moto upgrade that loosens them shows). See
fnq/local/moto_patches.py (make_moto_dynamodb_strict) for the why and the messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from fnq.local import moto_patches
from tests.local.test_moto_patches import moto_with

TABLE = "strict"


@pytest.fixture
def db(aws: None) -> Iterator[Any]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield client


def nested(depth: int) -> dict[str, Any]:
    """`depth` maps around a string: nested(1) = {"M": {"n": {"S": "leaf"}}}."""
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"n": value}}
    return value


def refusal(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


BIG = "x" * (250 * 1024)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"M": {"": {"S": "v"}}}, moto_patches.EMPTY_NAME),
        ({"L": [{"M": {"ok": {"M": {"": {"N": "1"}}}}}]}, moto_patches.EMPTY_NAME),
        (nested(32), moto_patches.TOO_DEEP),
        ({"L": [{"N": "1e126"}]}, moto_patches.OVERFLOW),
        ({"M": {"k": {"N": "-1e-131"}}}, moto_patches.UNDERFLOW),
        ({"N": "1" * 39}, moto_patches.TOO_PRECISE),
        ({"NS": ["1", "1" + "0" * 30 + "1" * 9]}, moto_patches.TOO_PRECISE),
    ],
    ids=[
        "empty-map-key",
        "empty-key-deep-inside",
        "nested-32",
        "overflow",
        "underflow",
        "39-digits",
        "39-digit-set",
    ],
)
def test_a_put_dynamodb_refuses_is_refused_with_its_validation_exception(
    db: Any, value: dict[str, Any], message: str
) -> None:
    item = {"pk": {"S": "a"}, "v": value}

    assert refusal(lambda: db.put_item(TableName=TABLE, Item=item)) == ("ValidationException", message)
    assert "Item" not in db.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})


@pytest.mark.parametrize(
    "value",
    [nested(31), {"N": "9.99E+125"}, {"N": "1E-130"}, {"N": "1" * 38}, {"M": {}}],
    ids=["nested-31", "largest", "smallest", "38-digits", "empty-map"],
)
def test_what_dynamodb_holds_is_still_stored(db: Any, value: dict[str, Any]) -> None:
    db.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "v": value})

    assert db.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})["Item"]["v"] == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"M": {"": {"S": "v"}}}, moto_patches.EMPTY_NAME),
        (nested(32), moto_patches.TOO_DEEP),
        ({"N": "1e200"}, moto_patches.OVERFLOW),
    ],
    ids=["empty-map-key", "nested-32", "overflow"],
)
def test_an_update_value_dynamodb_refuses_is_refused_and_the_item_kept(
    db: Any, value: dict[str, Any], message: str
) -> None:
    db.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "v": {"S": "before"}})

    assert refusal(
        lambda: db.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": value},
        )
    ) == ("ValidationException", message)
    assert db.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})["Item"]["v"] == {"S": "before"}


def test_an_update_that_grows_the_item_past_400_kb_is_refused_and_the_item_kept(db: Any) -> None:
    db.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "entries": {"L": []}})

    def append() -> Any:
        return db.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET entries = list_append(entries, :entry)",
            ExpressionAttributeValues={":entry": {"L": [{"S": BIG}]}},
        )

    append()
    assert refusal(append) == (
        "ValidationException",
        "Item size to update has exceeded the maximum allowed size",
    )
    assert db.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})["Item"]["entries"] == {"L": [{"S": BIG}]}


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ({"pk": {"S": ""}}, ["empty string", "Key: pk"]),
        ({"pk": {"S": "a"}, "g": {"S": ""}}, ["empty string", "IndexName: gsi, IndexKey: g"]),
        ({"pk": {"S": "a"}, "s": {"SS": []}}, ["An string set  may not be empty"]),
        (
            {"pk": {"S": "a"}, "big": {"S": "x" * (401 * 1024)}},
            ["Item size has exceeded the maximum allowed size"],
        ),
    ],
    ids=["empty-key", "empty-index-key", "empty-set", "item-over-400-kb"],
)
def test_empty_keys_empty_sets_and_large_puts_are_refused_as_dynamodb_does(
    db: Any, item: dict[str, Any], words: list[str]
) -> None:
    # moto refuses these itself; its wording for an empty key is DynamoDB's older one.
    code, message = refusal(lambda: db.put_item(TableName=TABLE, Item=item))

    assert code == "ValidationException"
    assert all(word in message for word in words), message


def test_a_moto_whose_update_executor_changed_is_named_and_nothing_is_made_strict() -> None:
    class UpdateExpressionExecutor:  # moto's, with `execute` taking another parameter
        def __init__(self, update_ast: Any, item: Any, expression_attribute_names: Any) -> None:
            self.item = item

        def execute(self, ast_node: Any = None) -> None:
            pass

    load = moto_with("moto.dynamodb.parsing.executors", UpdateExpressionExecutor=UpdateExpressionExecutor)

    with pytest.raises(moto_patches.MotoMismatch) as raised:
        moto_patches.make_moto_dynamodb_strict(load)

    assert (
        "UpdateExpressionExecutor.execute: expected parameters ('node',) after self, found ('ast_node',)"
        in str(raised.value)
    )
    assert "execute" in vars(UpdateExpressionExecutor) and not hasattr(
        UpdateExpressionExecutor.execute, "_fnq_strict"
    )
