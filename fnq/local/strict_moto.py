"""Make moto's DynamoDB refuse what DynamoDB refuses, with DynamoDB's ValidationException.

moto 5.2.5 stored items the service refuses, so the tests and `fn start` passed where production
would fail (../shared/PLATFORM-NOTES.md, "kinder than AWS"):

* a map with an empty key (app config `{"": "v"}`): stored, and every later read of the record
  failed, so `GET /v1/apps` answered 500 for everyone;
* an item over 400 KB reached through UpdateItem: moto sizes only a put's top-level attributes,
  so a `list_append` grows an item without limit (a 300 KB error text written twice);
* documents nested deeper than DynamoDB's 32 levels;
* numbers beyond DynamoDB's range or its 38 significant digits inside lists, maps and update
  values (moto checks only a put's top-level numbers, through a float).

The checks sit where moto's backend receives a write: PutItem (BatchWriteItem and transactions
call it), UpdateItem's values, and the item an update leaves, which is put back as it was when
it is too large. Empty key attributes and empty sets moto refuses already, as DynamoDB does.
`make_moto_dynamodb_strict` checks that every name it replaces exists in the installed moto and
raises, naming moto's version, when one has moved, rather than silently leaving moto kind.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib.aws.dynamodb.table import ITEM_BYTES, item_size

_MARK = "_fnq_strict"

# DynamoDB's limits (developer guide, "Service, account, and table quotas" and "Data types").
MAX_DEPTH = 32
MAX_DIGITS = 38
LARGEST = Decimal("9.9999999999999999999999999999999999999E+125")
SMALLEST = Decimal("1E-130")

# DynamoDB's messages. The nesting and number texts are the service's own; for an empty map key
# the service's exact text was not captured here (no account), so it states the naming rule.
TOO_DEEP = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)
OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"
UNDERFLOW = "Number underflow. Attempting to store a number with magnitude smaller than supported range"
TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"
EMPTY_NAME = (
    "One or more parameter values were invalid: "
    "An attribute name (a map key) must be at least one character long"
)


def make_moto_dynamodb_strict() -> None:
    """Idempotent: moto's DynamoDB backend refuses, as DynamoDB does, the writes listed above."""
    import moto
    from moto.dynamodb.exceptions import ItemSizeTooLarge, MockValidationException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    def refuse(message: str) -> None:
        raise MockValidationException(message)

    _require(moto.__version__, DynamoDBBackend, "put_item", ("item_attrs", "expression_attribute_values"))
    _require(moto.__version__, DynamoDBBackend, "update_item", ("expression_attribute_values",))
    _require(moto.__version__, UpdateExpressionExecutor, "execute", ("node",))
    _wrap(DynamoDBBackend, "put_item", lambda original: _checked_put(original, refuse, ItemSizeTooLarge))
    _wrap(DynamoDBBackend, "update_item", lambda original: _checked_update_values(original, refuse))
    _wrap(UpdateExpressionExecutor, "execute", lambda original: _sized_update(original, ItemSizeTooLarge))


def _require(version: str, owner: type, name: str, parameters: tuple[str, ...]) -> None:
    method = owner.__dict__.get(name)
    if method is None:
        raise RuntimeError(
            f"moto {version}: {owner.__name__}.{name} is gone; fnq/local/strict_moto.py needs updating"
        )
    if getattr(method, _MARK, False):
        return
    missing = [p for p in parameters if p not in inspect.signature(method).parameters]
    if missing:
        raise RuntimeError(
            f"moto {version}: {owner.__name__}.{name} has no parameter {', '.join(missing)}; "
            "fnq/local/strict_moto.py needs updating"
        )


def _wrap(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = owner.__dict__[name]
    if getattr(original, _MARK, False):
        return
    wrapper = functools.wraps(original)(make(original))
    setattr(wrapper, _MARK, True)
    setattr(owner, name, wrapper)


def _checked_put(
    original: Callable[..., Any], refuse: Callable[[str], None], too_large: type
) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        item = arguments["item_attrs"]
        for value in [*item.values(), *(arguments.get("expression_attribute_values") or {}).values()]:
            _check_value(value, refuse)
        if item_size(item) > ITEM_BYTES:
            raise too_large()
        return original(self, *args, **kwargs)

    return put_item


def _checked_update_values(original: Callable[..., Any], refuse: Callable[[str], None]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        for value in (arguments.get("expression_attribute_values") or {}).values():
            _check_value(value, refuse)
        return original(self, *args, **kwargs)

    return update_item


def _sized_update(original: Callable[..., Any], too_large: type) -> Callable[..., Any]:
    # moto turns ItemSizeTooLarge raised here into UpdateItem's "Item size to update has exceeded
    # the maximum allowed size"; the item is put back first, as DynamoDB leaves it untouched.
    def execute(self: Any, node: Any = None) -> Any:
        if node is not None:  # the recursion inside one update
            return original(self, node)
        before = copy.deepcopy(self.item.attrs)
        result = original(self)
        if item_size({name: value.to_regular_json() for name, value in self.item.attrs.items()}) > ITEM_BYTES:
            self.item.attrs = before
            raise too_large()
        return result

    return execute


def _check_value(value: Any, refuse: Callable[[str], None]) -> None:
    """One attribute value in DynamoDB's JSON form (or moto's DynamoType), without recursion."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        kind, inner = _typed(current)
        if kind in ("M", "L"):
            if depth + 1 >= MAX_DEPTH:
                refuse(TOO_DEEP)
            children = inner.items() if kind == "M" else enumerate(inner)
            for key, child in children:
                if kind == "M" and key == "":
                    refuse(EMPTY_NAME)
                pending.append((child, depth + 1))
        elif kind == "N":
            _check_number(inner, refuse)
        elif kind == "NS":
            for number in inner:
                _check_number(number, refuse)


def _check_number(text: Any, refuse: Callable[[str], None]) -> None:
    try:
        number = Decimal(str(text))
    except InvalidOperation:
        refuse(f"The parameter cannot be converted to a numeric value: {text}")
        return
    if not number.is_finite():
        refuse(f"The parameter cannot be converted to a numeric value: {text}")
        return
    digits = number.as_tuple().digits
    significant = "".join(map(str, digits)).strip("0")
    if len(significant) > MAX_DIGITS:
        refuse(TOO_PRECISE)
    if number and abs(number) > LARGEST:
        refuse(OVERFLOW)
    if number and abs(number) < SMALLEST:
        refuse(UNDERFLOW)


def _typed(value: Any) -> tuple[str, Any]:
    return next(iter(value.items())) if isinstance(value, dict) and value else ("", None)
