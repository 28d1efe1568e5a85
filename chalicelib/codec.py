"""Records ↔ stored items, derived from the dataclass fields of models.py. Pure: no boto3.

An item is a plain dict: an attribute for every field that is not None, under the field's own
name, its value converted by the field's type:

    datetime            "2018-03-20T18:11:17.123456Z" (UTC, microseconds; sorts as it reads)
    Enum                its wire value
    dataclass           a map of its own fields, by the same rules
    tuple[X, ...]       a list
    dict[K, V], list[X] the same, each value by its type
    X | None            no attribute when None; the field's default when the attribute is absent
    str, int, bool, bytes       as they are
    Any                 its compact JSON text (a client's free-form JSON, e.g. Fn's annotations:
                        numbers kept exactly, and none of DynamoDB's limits on maps and numbers
                        apply inside it; Fn stored annotation values as compacted JSON too)

A field stored under another name or in another form is declared once below (`CALL`), where the
table's update expressions need it: DynamoDB computes `lease_until = :now_ms + lease_ms`, so the
lease is stored in epoch milliseconds. Adding a field to a record therefore needs nothing here.
An item read back may lack any attribute that has a default (an index projects a few attributes).
The adapter turns these plain values into DynamoDB's typed ones (chalicelib/aws/dynamodb/table.py).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Generic, NamedTuple, TypeVar

from chalicelib.models import App, Attempt, Call, Route, Token

R = TypeVar("R")

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TIME_FORMAT)


def parse_iso_time(value: Any) -> datetime:
    return datetime.strptime(str(value), TIME_FORMAT).replace(tzinfo=UTC)


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def from_epoch_ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def epoch_seconds(value: datetime) -> int:
    return int(value.timestamp())


def from_epoch_seconds(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


# The codec's own small values are NamedTuples rather than frozen dataclasses: as immutable, and a
# NamedTuple class costs a fifth of a frozen dataclass's to define at import (bench row 6).
class Conversion(NamedTuple):
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


JSON_TEXT = Conversion(_json_text, json.loads)
TIME = Conversion(iso_time, parse_iso_time)
EPOCH_MS = Conversion(epoch_ms, from_epoch_ms)
EPOCH_SECONDS = Conversion(epoch_seconds, from_epoch_seconds)
# Whole seconds in the record, milliseconds in the item.
MILLISECONDS = Conversion(lambda seconds: int(seconds) * 1000, lambda ms: int(ms) // 1000)


class Stored(NamedTuple):
    """A field kept under another attribute name, or in another form than its type's."""

    attribute: str
    conversion: Conversion | None = None


def conversion_of(hint: Any) -> Conversion:
    """How a value of the type `hint` is encoded and decoded (the table in the module docstring)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in args if arg is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"the codec has no conversion for {hint!r} (only `X | None` unions)")
        return conversion_of(inner[0])
    if origin is tuple:
        item = conversion_of(args[0])
        return Conversion(lambda v: [item.encode(x) for x in v], lambda v: tuple(item.decode(x) for x in v))
    if origin is dict:
        value = conversion_of(args[1])
        return Conversion(
            lambda v: {k: value.encode(x) for k, x in v.items()},
            lambda v: {k: value.decode(x) for k, x in v.items()},
        )
    if origin is list:
        item = conversion_of(args[0])
        return Conversion(lambda v: [item.encode(x) for x in v], lambda v: [item.decode(x) for x in v])
    if hint is datetime:
        return TIME
    if isinstance(hint, type) and issubclass(hint, Enum):
        return Conversion(lambda v: v.value, hint)
    if dataclasses.is_dataclass(hint):
        nested = RecordCodec(hint)  # type: ignore[arg-type]
        return Conversion(nested.encode, nested.decode)
    if hint in (int, bool, str, bytes):
        return Conversion(_same, hint)
    if hint is Any:
        return JSON_TEXT
    raise TypeError(f"the codec has no conversion for {hint!r}")


class _Field(NamedTuple):
    name: str
    attribute: str
    conversion: Conversion


class RecordCodec(Generic[R]):
    """One record type ↔ its item, built from the dataclass's fields and their type hints."""

    def __init__(self, record: type[R], stored: Mapping[str, Stored] | None = None) -> None:
        stored = stored or {}
        hints = typing.get_type_hints(record)
        names = {f.name for f in dataclasses.fields(record)}  # type: ignore[arg-type]
        unknown = set(stored) - names
        if unknown:
            raise ValueError(f"{record.__name__} has no fields {sorted(unknown)}")
        self.record = record
        self.fields = tuple(
            _Field(
                name,
                stored[name].attribute if name in stored else name,
                (stored[name].conversion if name in stored else None) or conversion_of(hints[name]),
            )
            for name in (f.name for f in dataclasses.fields(record))  # type: ignore[arg-type]
        )

    def encode(self, record: R) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for f in self.fields:
            value = getattr(record, f.name)
            if value is not None:
                item[f.attribute] = f.conversion.encode(value)
        return item

    def decode(self, item: Mapping[str, Any]) -> R:
        values = {
            f.name: f.conversion.decode(item[f.attribute])
            for f in self.fields
            if item.get(f.attribute) is not None
        }
        return self.record(**values)

    def value(self, name: str, value: Any) -> Any:
        """One field's value as the item holds it (for the values of an update expression)."""
        return next(f.conversion.encode(value) for f in self.fields if f.name == name)


APP = RecordCodec(App)
ROUTE = RecordCodec(Route)
CALL = RecordCodec(
    Call,
    {
        "function": Stored("fn"),
        "request": Stored("req"),
        "lease_seconds": Stored("lease_ms", MILLISECONDS),
        "lease_expires_at": Stored("lease_until", EPOCH_MS),
    },
)
# An entry of a call's `attempts` list, appended by an update expression.
ATTEMPT = RecordCodec(Attempt)
# `expires_at` is the table's TTL attribute: as epoch seconds, DynamoDB itself deletes a token
# some time after it expired (the API refuses it from the first second on).
TOKEN = RecordCodec(Token, {"expires_at": Stored("expires_at", EPOCH_SECONDS)})
