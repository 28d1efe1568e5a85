"""One codec: every field of App, Route and Call reaches its item and comes back, through moto too.

The samples are built from the dataclass fields themselves, each set to a value other than its
default, so a field added to models.py is covered here without touching this file or the stores.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import pytest

from chalicelib.codec import APP, CALL, ROUTE, RecordCodec
from chalicelib.ids import new_call_id
from chalicelib.models import App, Call, Route
from tests.conftest import Stack

R = TypeVar("R")
# Whole milliseconds: the lease is stored in epoch milliseconds.
WHEN = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
KEYS = {"id": new_call_id(WHEN), "app_name": "myapp", "path": "/hello"}


def sample_value(hint: Any, default: Any) -> Any:
    """A value of type `hint` that is not `default`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return sample_value(next(a for a in args if a is not type(None)), default)
    if origin is tuple:
        return (sample_value(args[0], None),)
    if origin is list:
        return [sample_value(args[0], None)]
    if origin is dict:
        return {"KEY": sample_value(args[1], None)}
    if hint is Any:
        return {"n": 1, "s": "x", "l": [2, "y"], "m": {"b": True}}  # floats: issue 11
    if hint is bool:
        return not default
    if hint is int:
        return (default or 0) + 7
    if hint is str:
        return "value"
    if hint is bytes:
        return b"\x00body"
    if hint is datetime:
        return WHEN
    if isinstance(hint, type) and issubclass(hint, Enum):
        return next(member for member in hint if member != default)
    if dataclasses.is_dataclass(hint):
        return sample(hint)  # type: ignore[arg-type]
    raise TypeError(f"no sample for {hint!r}")


def sample(record: type[R]) -> R:
    hints = typing.get_type_hints(record)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(record):  # type: ignore[arg-type]
        default = None if f.default is dataclasses.MISSING else f.default
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        values[f.name] = KEYS.get(f.name) or sample_value(hints[f.name], default)
    return record(**values)


def unset_fields(record: Any) -> list[str]:
    """Fields left at their default: a round trip of those could pass with the field dropped."""
    return [
        f.name
        for f in dataclasses.fields(record)
        if (f.default is not dataclasses.MISSING and getattr(record, f.name) == f.default)
        or (f.default_factory is not dataclasses.MISSING and getattr(record, f.name) == f.default_factory())
    ]


@pytest.mark.parametrize(("codec", "record"), [(APP, App), (ROUTE, Route), (CALL, Call)])
def test_every_field_of_a_record_is_an_attribute_of_its_item_and_comes_back(
    codec: RecordCodec[Any], record: type[Any]
) -> None:
    value = sample(record)
    assert unset_fields(value) == []

    item = codec.encode(value)

    assert len(item) == len(dataclasses.fields(record))
    assert codec.decode(item) == value


def test_a_call_item_keeps_the_attribute_names_the_update_expressions_use() -> None:
    item = CALL.encode(sample(Call))

    assert {"fn", "req", "lease_ms", "lease_until"} <= set(item)
    assert item["lease_ms"] == 7000  # seconds in the record, milliseconds in the item
    assert item["lease_until"] == int(WHEN.timestamp() * 1000)
    assert item["created_at"] == "2024-05-06T07:08:09.123000Z"


def test_an_item_without_optional_attributes_gives_the_fields_defaults() -> None:
    listed = {"id": KEYS["id"], "app_name": "myapp", "path": "/p", "type": "async", "status": "queued"}

    call = CALL.decode({**listed, "created_at": "2024-05-06T07:08:09.123000Z"})

    assert (call.function, call.request, call.attempts, call.dead, call.lease_seconds) == (
        None,
        None,
        (),
        False,
        0,
    )


def test_a_field_of_a_type_the_codec_does_not_know_is_refused_when_the_codec_is_built() -> None:
    @dataclass(frozen=True)
    class Odd:
        tags: set[str] = field(default_factory=set)

    with pytest.raises(TypeError, match="no conversion"):
        RecordCodec(Odd)


def test_every_field_of_an_app_a_route_and_a_call_survives_the_table(stack: Stack) -> None:
    stores = stack.components.stores
    app, route, call = sample(App), sample(Route), sample(Call)

    stores.apps.create_app(app)
    stores.routes.put_route(route)
    stores.calls.insert_call(call)

    assert stores.apps.get_app(app.name) == app
    assert stores.routes.get_route(route.app_name, route.path) == route
    assert stores.calls.get_call(call.id) == call
