"""Our DynamoDB attribute (de)serializer gives what boto3's gave, for every kind of value fnq stores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from chalicelib.aws.dynamodb.typed import deserialize, serialize

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -7,
    2**63,
    10**37,
    Decimal("1.5"),
    Decimal("-0.001"),
    "",
    "héllo",
    b"",
    bytes(range(256)),
    [],
    [1, "a", None, [b"x"]],
    (1, 2),
    {},
    {"fn": {"config": {"A": "b"}, "timeout": 30}, "attempts": [{"number": 1, "ok": True}]},
]


def plain(value: Any) -> Any:
    """boto3's deserialized value as our adapter used to hand it on (table._plain before this module)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary):
        return value.value  # type: ignore[attr-defined]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_value_is_written_and_read_back_as_boto3_did(value: Any) -> None:
    typed = TypeSerializer().serialize(value)

    assert serialize(value) == typed
    assert deserialize(typed) == plain(TypeDeserializer().deserialize(typed))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "Float types are not supported"),
        (Decimal("NaN"), "Infinity and NaN"),
        (Decimal("Infinity"), "Infinity and NaN"),
        ({1, 2}, "Unsupported type"),
        (object(), "Unsupported type"),
    ],
    ids=repr,
)
def test_what_boto3_refused_is_refused(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        serialize(value)


def test_a_number_dynamodb_would_round_is_refused_not_stored_altered() -> None:
    with pytest.raises(ArithmeticError):
        serialize(10**38 + 1)  # 39 significant digits
    with pytest.raises(ArithmeticError):
        TypeSerializer().serialize(10**38 + 1)
