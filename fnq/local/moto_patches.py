"""fnq's patches to moto, and the check that the moto installed is the one they were written for.

Wherever fnq runs on moto (the tests, and `fn start`, whose moto server runs in-process) three of
moto's shortcuts break what fnq relies on; each is patched here, in this process only:

* **DynamoDB writes are not serialised.** Real DynamoDB evaluates a ConditionExpression and
  applies the write atomically; moto evaluates and writes without a lock, so two threads can both
  pass `status = queued` and both claim a call (measured: a function ran twice in about 1 run of
  40 with two copies of a message in one batch). fnq's exactly-once guarantee rests on that
  atomicity, so the backend's mutations take one process-wide lock (`make_moto_dynamodb_atomic`).
* **SQS costs grow with the queue's depth; DynamoDB's bookkeeping outweighs its work.** Under
  `fn start` a backlog made every SQS request slower, and every API request beside it (one
  process, one GIL), so the backlog grew
  (`python -m bench.load`, 2,000 async calls from 16 clients: 1,500 messages queued, 110 s to
  drain after the last submit). `make_moto_server_fast` removes the causes, keeping moto's answers:
  - `ReceiveMessage` checks each message it delivers against the queue's retention period by
    computing *all* the queue's attributes, each Approximate* count a pass over every message:
    ~30 passes per receive of 10 (in-process: 9 ms at depth 10, 450 ms at 1,000, 1.7 s at
    3,000). The retention period is read from the queue object instead (3, 10 and 25 ms).
  - `SendMessage` computes all the attributes too (to read ContentBasedDeduplication), and every
    such pass reads the clock twice per message through a datetime round trip. `Message.visible`
    and `Message.delayed` read the same epoch milliseconds from `time.time()`.
  - The moto server matches each request's host against hundreds of URL patterns, under one lock
    shared by all requests. The answer depends on the host alone: it is remembered per host.
  - DynamoDB spent most of the endpoint's CPU on bookkeeping around fnq's UpdateItems (profiled
    under `python -m bench.load`): answers went through a serializer that walks the output model
    key by key (a fifth of the CPU; an item operation's result is DynamoDB's JSON already and is
    dumped as it is, `_json_answer`), each update expression was parsed twice and its tree
    deep-copied object by object (parsed once per text and copied by pickle, `_parsed_once`,
    `_copy_tree`). Answers and refusals are moto's own (tests/reliability/test_fast_moto.py).
* **DynamoDB stores what the service refuses**, so the tests and `fn start` passed where
  production would fail (../shared/PLATFORM-NOTES.md, "kinder than AWS"). `make_moto_dynamodb_strict`
  refuses these with DynamoDB's ValidationException, where moto's backend receives the write
  (PutItem, which BatchWriteItem and transactions call; UpdateItem's values; the item an update
  leaves, put back as it was when too large):
  - a map with an empty key (app config `{"": "v"}`): moto stored it and every later read of the
    record failed, so `GET /v1/apps` answered 500 for everyone;
  - an item over 400 KB reached through UpdateItem: moto sizes only a put's top-level attributes,
    so a `list_append` grew an item without limit (a 300 KB error text written twice); where
    moto's own looser bound refuses an update halfway, the item is put back too (moto left the
    actions before it applied);
  - documents nested deeper than 32 levels;
  - numbers beyond DynamoDB's range or its 38 significant digits inside lists, maps and update
    values (moto checks only a put's numbers outside lists, through a float).
  Empty key attributes and empty sets moto refuses already, as DynamoDB does.

All replace private members of moto's classes, which may move in any release; a patch that then
did nothing would leave the tests and `fn start` without the lock exactly-once depends on, and
nobody would know. So moto is pinned to the minor range these were written against
(`MOTO_PINNED`, the same range as in pyproject.toml), and before anything is replaced every member
in `MEMBERS` is checked (present, of the expected kind, with the parameters the replacement takes
or passes): `MotoMismatch` names each one that is not, with the installed moto version.
"""

from __future__ import annotations

import base64
import copy
import functools
import importlib
import importlib.metadata
import inspect
import json
import pickle
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from chalicelib.aws.dynamodb.table import ITEM_BYTES, item_size

# The moto[server] requirement in pyproject.toml (tests/local/test_moto_patches.py holds them equal).
MOTO_PINNED = ">=5.2,<5.3"

_DYNAMODB = "moto.dynamodb.models"
_SQS = "moto.sqs.models"
_SERVER = "moto.moto_server.werkzeug_app"
_EXECUTORS = "moto.dynamodb.parsing.executors"
_TYPES = "moto.dynamodb.models.dynamo_type"
_ERRORS = "moto.dynamodb.exceptions"
_RESPONSES = "moto.core.responses"
_EXPRESSIONS = "moto.dynamodb.parsing.expressions"
_AST = "moto.dynamodb.parsing.ast_nodes"
_DYNAMODB_RESPONSES = "moto.dynamodb.responses"
# Distinct update expressions whose parse is kept (fnq sends a handful).
PARSED_EXPRESSIONS = 256
# The DynamoDB operations whose answers skip moto's model-driven serializer (see _json_answer):
# their results are DynamoDB's JSON already, items in its attribute-value form.
ITEM_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem", "BatchWriteItem", "Query", "Scan"}
)
# Every write path of moto's DynamoDB handler: BatchWriteItem goes through put_item/delete_item
# item by item (the backend's own batch_write_item is an empty placeholder), which is also all
# that AWS promises for a batch: each item atomic, not the batch.
_MUTATIONS = ("put_item", "update_item", "delete_item", "transact_write_items")
_LOCK = threading.RLock()  # re-entrant: a transaction's writes may go through put_item again
_MARK = "_fnq_patched"
# The strictness wraps some of the methods the lock wraps: each patch marks its own wrappers (and
# functools.wraps carries a mark outward), so applying either again finds itself in the chain.
_STRICT_MARK = "_fnq_strict"

Load = Callable[[str], Any]


class Kind(Enum):
    FUNCTION = "a function"
    CLASSMETHOD = "a classmethod"
    PROPERTY = "a property"
    ATTRIBUTE = "an instance attribute"


@dataclass(frozen=True)
class Member:
    """One member of a moto class that a patch here replaces or reads."""

    module: str
    owner: str
    name: str
    kind: Kind
    # FUNCTION: its parameters after `self`, exactly (moto calls the replacement with them).
    parameters: tuple[str, ...] = ()
    # ATTRIBUTE: arguments that build an instance of the owner to look for it on.
    sample: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return f"{self.module}.{self.owner}.{self.name}"


_QUEUE = ("fnq-probe", "us-east-1", "123456789012")  # Queue(name, region, account_id)
_MESSAGE = ("probe", "")  # Message(message_id, body)
MEMBERS: tuple[Member, ...] = (
    # make_moto_dynamodb_atomic wraps these, whatever their parameters.
    *(Member(_DYNAMODB, "DynamoDBBackend", name, Kind.FUNCTION) for name in _MUTATIONS),
    # make_moto_server_fast replaces these...
    Member(
        _SQS,
        "SQSBackend",
        "is_message_valid_based_on_retention_period",
        Kind.FUNCTION,
        ("queue_name", "message"),
    ),
    Member(_SQS, "Message", "visible", Kind.PROPERTY),
    Member(_SQS, "Message", "delayed", Kind.PROPERTY),
    Member(_SERVER, "DomainDispatcherApplication", "get_backend_for_host", Kind.FUNCTION, ("host",)),
    Member(_RESPONSES, "BaseResponse", "serialized", Kind.FUNCTION, ("action_result",)),
    Member(_EXPRESSIONS, "UpdateExpressionParser", "make", Kind.CLASSMETHOD, ("expression_str",)),
    Member(_AST, "Node", "__init__", Kind.FUNCTION, ("children",)),
    # ... and the replacements read these.
    Member(_SQS, "SQSBackend", "get_queue", Kind.FUNCTION, ("queue_name",)),
    Member(_RESPONSES, "BaseResponse", "_get_action", Kind.FUNCTION, ()),
    Member(_RESPONSES, "ActionResult", "result", Kind.PROPERTY),
    Member(_DYNAMODB_RESPONSES, "DynamoResult", "__init__", Kind.FUNCTION, ("result",)),
    Member(_SQS, "Queue", "message_retention_period", Kind.ATTRIBUTE, sample=_QUEUE),
    *(
        Member(_SQS, "Message", name, Kind.ATTRIBUTE, sample=_MESSAGE)
        for name in ("sent_timestamp", "visible_at", "delayed_until")
    ),
    # make_moto_dynamodb_strict wraps these, reading the values they are called with by name...
    Member(
        _DYNAMODB,
        "DynamoDBBackend",
        "put_item",
        Kind.FUNCTION,
        (
            "table_name",
            "item_attrs",
            "expected",
            "condition_expression",
            "expression_attribute_names",
            "expression_attribute_values",
            "overwrite",
            "return_values_on_condition_check_failure",
        ),
    ),
    Member(
        _DYNAMODB,
        "DynamoDBBackend",
        "update_item",
        Kind.FUNCTION,
        (
            "table_name",
            "key",
            "update_expression",
            "expression_attribute_names",
            "expression_attribute_values",
            "attribute_updates",
            "expected",
            "condition_expression",
            "return_values_on_condition_check_failure",
        ),
    ),
    Member(_EXECUTORS, "UpdateExpressionExecutor", "execute", Kind.FUNCTION, ("node",)),
    # ... reads these, and raises moto's own errors (so moto answers them as DynamoDB does).
    Member(_EXECUTORS, "UpdateExpressionExecutor", "item", Kind.ATTRIBUTE, sample=(None, None, {})),
    Member(_TYPES, "Item", "attrs", Kind.ATTRIBUTE, sample=(None, None, {})),
    Member(_TYPES, "DynamoType", "to_regular_json", Kind.FUNCTION),
    Member(_ERRORS, "ItemSizeTooLarge", "__init__", Kind.FUNCTION),
    Member(_ERRORS, "MockValidationException", "__init__", Kind.FUNCTION, ("message",)),
)

# DynamoDB's limits (developer guide: "Service, account, and table quotas", "Data types").
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


class MotoMismatch(RuntimeError):
    """The installed moto lacks a member fnq's patches replace or read, or has it in another shape."""


def make_moto_dynamodb_atomic(load: Load = importlib.import_module) -> None:
    """Idempotent: wrap moto's DynamoDB backend mutations in one process-wide lock."""
    check_moto(MEMBERS, load)
    backend = load(_DYNAMODB).DynamoDBBackend
    for name in _MUTATIONS:
        _replace(backend, name, _locked(inspect.getattr_static(backend, name)))


def make_moto_server_fast(load: Load = importlib.import_module) -> None:
    """Idempotent: make moto's SQS and its server's routing cost the same at any queue depth, and
    its DynamoDB's item operations cost what the operation costs, not the bookkeeping around it."""
    check_moto(MEMBERS, load)
    sqs = load(_SQS)
    dispatcher = load(_SERVER).DomainDispatcherApplication
    _replace(sqs.SQSBackend, "is_message_valid_based_on_retention_period", _retention_check)
    _replace(sqs.Message, "visible", property(_visible))
    _replace(sqs.Message, "delayed", property(_delayed))
    _replace(
        dispatcher,
        "get_backend_for_host",
        _remembered(inspect.getattr_static(dispatcher, "get_backend_for_host")),
    )
    responses = load(_RESPONSES)
    handler = load(_DYNAMODB_RESPONSES).DynamoHandler
    answered_as_json = (responses.ActionResult, load(_DYNAMODB_RESPONSES).DynamoResult)
    parser = load(_EXPRESSIONS).UpdateExpressionParser
    _replace(parser, "make", classmethod(_parsed_once(inspect.getattr_static(parser, "make").__func__)))
    node = load(_AST).Node
    if "__deepcopy__" not in vars(node):  # moto's own, if a release brings one, is kept
        node.__deepcopy__ = _copy_tree
    service = responses.get_service_model("dynamodb")
    _replace(
        handler,
        "serialized",
        _json_answer(inspect.getattr_static(handler, "serialized"), answered_as_json, service),
    )


def make_moto_dynamodb_strict(load: Load = importlib.import_module) -> None:
    """Idempotent: moto's DynamoDB refuses, with DynamoDB's ValidationException, what DynamoDB does."""
    check_moto(MEMBERS, load)
    backend = load(_DYNAMODB).DynamoDBBackend
    executor = load(_EXECUTORS).UpdateExpressionExecutor
    errors = load(_ERRORS)

    def refuse(message: str) -> None:
        raise errors.MockValidationException(message)

    checks: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
        "put_item": lambda original: _checked_put(original, refuse, errors.ItemSizeTooLarge),
        "update_item": lambda original: _checked_update_values(original, refuse),
    }
    for name, make in checks.items():
        original = inspect.getattr_static(backend, name)
        if not getattr(original, _STRICT_MARK, False):
            _replace(backend, name, functools.wraps(original)(make(original)), _STRICT_MARK)
    original = inspect.getattr_static(executor, "execute")
    if not getattr(original, _STRICT_MARK, False):
        wrapper = functools.wraps(original)(_sized_update(original, errors.ItemSizeTooLarge))
        _replace(executor, "execute", wrapper, _STRICT_MARK)


def check_moto(members: Iterable[Member], load: Load = importlib.import_module) -> None:
    """Raise MotoMismatch naming every member that is missing or not of its expected shape."""
    problems = [f"{member}: {problem}" for member in members if (problem := _problem(member, load))]
    if problems:
        raise MotoMismatch(
            f"moto {_installed_version()} is not the moto fnq's patches were written for "
            f"(moto[server]{MOTO_PINNED} in pyproject.toml):\n"
            + "".join(f"  - {problem}\n" for problem in problems)
            + "The tests and `fn start` need these patches (exactly-once needs moto's DynamoDB writes "
            "serialised): install the pinned moto (pip install -e '.[dev]'), or check each patch in "
            "fnq/local/moto_patches.py against this moto before moving the pin."
        )


def _problem(member: Member, load: Load) -> str | None:
    try:
        owner = getattr(load(member.module), member.owner)
    except (ImportError, AttributeError) as exc:
        return f"cannot find {member.owner} ({exc})"
    if member.kind is Kind.ATTRIBUTE:
        try:
            instance = owner(*member.sample)
        except Exception as exc:  # any failure to build one means the class is not what we know
            return f"cannot build a {member.owner}{member.sample} to look for it ({exc!r})"
        return None if hasattr(instance, member.name) else "missing"
    try:
        found = inspect.getattr_static(owner, member.name)
    except AttributeError:
        return "missing"
    if member.kind is Kind.PROPERTY:
        return None if isinstance(found, property) else f"expected a property, found {type(found).__name__}"
    if member.kind is Kind.CLASSMETHOD:
        if not isinstance(found, classmethod):
            return f"expected a classmethod, found {type(found).__name__}"
        found = found.__func__
    elif not inspect.isfunction(found):
        return f"expected a function, found {type(found).__name__}"
    parameters = tuple(inspect.signature(found).parameters)[1:]
    if member.parameters and parameters != member.parameters:
        return f"expected parameters {member.parameters} after self, found {parameters}"
    return None


def _installed_version() -> str:
    try:
        return importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def _replace(owner: type, name: str, value: Any, mark: str = _MARK) -> None:
    current = inspect.getattr_static(owner, name)
    target = current.fget if isinstance(current, property) else current
    if getattr(target, mark, False):
        return  # already replaced in this process
    marked = value.fget if isinstance(value, property) else value
    setattr(marked, mark, True)
    setattr(owner, name, value)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(method, _MARK, False):
        return method

    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return locked


def _retention_check(self: Any, queue_name: str, message: Any) -> bool:
    # moto: retention_period + sent_timestamp / 1000 > unix_time(), the period read from the
    # attributes the queue computes; here from the queue field those attributes are built from.
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return bool(retention_period + message.sent_timestamp / 1000 > time.time())


def _visible(self: Any) -> bool:
    return bool(time.time() * 1000 > self.visible_at)


def _delayed(self: Any) -> bool:
    return bool(time.time() * 1000 < self.delayed_until)


def _remembered(original: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(original, _MARK, False):
        return original

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        cache: dict[str | None, Any] = self.__dict__.setdefault("_fnq_backend_by_host", {})
        if host not in cache:
            cache[host] = original(self, host)
        return cache[host]

    return get_backend_for_host


def _json_answer(original: Callable[..., Any], plain: tuple[type, ...], service: Any) -> Callable[..., Any]:
    # moto 5.2 answers every operation through a serializer that walks the operation's output
    # model member by member, trying several spellings of each key: for an UpdateItem returning
    # its item that was a fifth of fn start's endpoint CPU. An item operation's result is already
    # the JSON DynamoDB sends (moto builds it with the item's to_json), so it is dumped as it is,
    # keeping only the output model's top-level members as the serializer does. Errors and
    # anything else take moto's path (tests/reliability/test_fast_moto.py holds the two equal).
    if getattr(original, _MARK, False):
        return original
    members = {
        name: frozenset(service.operation_model(name).output_shape.members) for name in ITEM_OPERATIONS
    }

    def serialized(self: Any, action_result: Any) -> Any:
        operation = self._get_action()
        if operation not in ITEM_OPERATIONS or type(action_result) not in plain:
            return original(self, action_result)
        result = action_result.result
        if not isinstance(result, dict):
            return original(self, action_result)
        kept = members[operation]
        body = json.dumps({k: v for k, v in result.items() if k in kept and v is not None}, default=_blob)
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        return 200, headers, body

    return serialized


def _parsed_once(make: Callable[..., Any]) -> Callable[..., Any]:
    # moto parses an UpdateItem's expression twice (the handler, then the backend), 0.3 ms each
    # for fnq's; the parse depends on the text alone. The tree is kept pickled and each caller
    # gets a fresh copy (moto's validation rewrites the tree it is given), in a tenth of the time.
    @functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
    def pickled(cls: Any, expression: str) -> bytes:
        return pickle.dumps(make(cls, expression), pickle.HIGHEST_PROTOCOL)

    def parsed(cls: Any, expression_str: str) -> Any:
        return pickle.loads(pickled(cls, expression_str))

    return parsed


def _copy_tree(self: Any, memo: dict[int, Any]) -> Any:
    # moto's Validator deep-copies the expression tree it validates (0.4 ms for fnq's update
    # expressions, copy.deepcopy object by object); a pickle round trip makes the same
    # independent copy in a quarter of the time. A tree pickle cannot take is copied as deepcopy
    # would copy it.
    try:
        return pickle.loads(pickle.dumps(self, pickle.HIGHEST_PROTOCOL))
    except Exception:
        copied = object.__new__(type(self))
        memo[id(self)] = copied
        copied.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return copied


def _blob(value: Any) -> str:
    if isinstance(value, bytes):  # a B or BS value: base64, as the serializer writes a blob
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")


# --- DynamoDB's refusals (make_moto_dynamodb_strict) -------------------------------------------
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


def _sized_update(original: Callable[..., Any], too_large: type[Exception]) -> Callable[..., Any]:
    # moto answers ItemSizeTooLarge raised here as UpdateItem's "Item size to update has exceeded
    # the maximum allowed size"; the item is put back first, as DynamoDB leaves it untouched.
    def execute(self: Any, node: Any = None) -> Any:
        if node is not None:  # the recursion inside one update
            return original(self, node)
        attrs = self.item.attrs
        # Each value copied on its own (DynamoType copies itself cheaply): a deepcopy of moto's
        # size-checking dict re-sizes the whole item at every key it puts back.
        before = {name: copy.deepcopy(value) for name, value in attrs.items()}
        try:
            result = original(self)
            after = {name: value.to_regular_json() for name, value in self.item.attrs.items()}
            if item_size(after) > ITEM_BYTES:
                raise too_large()
        except too_large:  # ours, or moto's own (its looser bound, met halfway through the update)
            self.item.attrs = type(attrs)(before)  # its __init__ fills it without re-sizing
            raise
        return result

    return execute


def _check_value(value: Any, refuse: Callable[[str], None]) -> None:
    """One attribute value in DynamoDB's JSON form, without recursion (a hostile value is deep)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        kind, inner = _typed(current)
        if kind in ("M", "L"):
            # DynamoDB counts the attribute as level 1: 31 maps or lists inside it at most.
            if depth + 1 >= MAX_DEPTH:
                refuse(TOO_DEEP)
            for key, child in inner.items() if kind == "M" else enumerate(inner):
                if kind == "M" and key == "":
                    refuse(EMPTY_NAME)
                pending.append((child, depth + 1))
        elif kind == "N":
            _check_number(inner, refuse)
        elif kind == "NS":
            for number in inner:
                _check_number(number, refuse)


def _typed(value: Any) -> tuple[str, Any]:
    """An attribute value's type and content: {"S": "x"} → ("S", "x")."""
    if isinstance(value, dict) and len(value) == 1:
        kind, inner = next(iter(value.items()))
        return str(kind), inner
    return "", None


def _check_number(text: Any, refuse: Callable[[str], None]) -> None:
    try:
        number = Decimal(str(text))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        refuse(f"The parameter cannot be converted to a numeric value: {text}")
    if len("".join(map(str, number.as_tuple().digits)).strip("0")) > MAX_DIGITS:
        refuse(TOO_PRECISE)
    if number and abs(number) > LARGEST:
        refuse(OVERFLOW)
    if number and abs(number) < SMALLEST:
        refuse(UNDERFLOW)
