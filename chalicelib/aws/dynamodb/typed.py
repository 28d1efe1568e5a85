"""Plain values ↔ DynamoDB's typed attribute values (`{"S": "x"}`, `{"N": "1"}`, ...).

Our own, not boto3's TypeSerializer: importing boto3 for it would bring boto3 (and s3transfer)
back onto the cold start's import path. It keeps boto3's rules for what fnq stores:

    None → NULL    bool → BOOL    int, Decimal → N (38 digits, exact, or TypeError)    str → S
    bytes → B      list, tuple → L    Mapping → M    float, set, anything else → TypeError

and reads back N as int when it is whole (else float, as JSON would), B as bytes. fnq never
writes sets, so sets are refused both ways rather than half supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's number type: 38 significant digits, exponents -128..126. A value it would round is
# refused here, as boto3 refuses it, instead of being stored altered.
NUMBERS = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def serialize(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):  # before int: bool is an int
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        number = str(NUMBERS.create_decimal(value))
        if number in {"Infinity", "-Infinity", "NaN", "sNaN"}:
            raise TypeError("Infinity and NaN not supported")
        return {"N": number}
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {key: serialize(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(item) for item in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(attribute: Mapping[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        number = NUMBERS.create_decimal(value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "M":
        return {key: deserialize(item) for key, item in value.items()}
    if kind == "L":
        return [deserialize(item) for item in value]
    if kind == "NULL":
        return None
    if kind == "B":
        return bytes(value)
    raise TypeError(f"DynamoDB type {kind} is not one fnq stores")
