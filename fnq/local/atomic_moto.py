"""Make moto's DynamoDB honour one guarantee of the real service: writes to an item are serialised.

Real DynamoDB evaluates a ConditionExpression and applies the write atomically. moto evaluates and
writes without a lock, so two threads can both pass `status = queued` and both claim a call
(measured: a function ran twice in about 1 run of 40 with two copies of a message in one batch).
fnq's exactly-once guarantee rests on that atomicity, so wherever fnq runs on moto (the tests and
`fn start`, whose moto server runs in-process) the backend's mutations take one lock.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_MUTATIONS = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")
_MARK = "_fnq_atomic"


def make_moto_dynamodb_atomic() -> None:
    """Idempotent: wrap moto's DynamoDB backend mutations in one process-wide lock."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _MUTATIONS:
        method = getattr(DynamoDBBackend, name, None)
        if method is None or getattr(method, _MARK, False):
            continue
        setattr(DynamoDBBackend, name, _locked(method))


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper
