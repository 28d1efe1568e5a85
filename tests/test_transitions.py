"""The one table of call transitions, and the store refusing any write it does not allow."""

from __future__ import annotations

import pytest

from chalicelib.models import TRANSITIONS, CallStatus
from tests.conftest import Stack

FINAL = {CallStatus.SUCCESS, CallStatus.TIMEOUT, CallStatus.CANCELLED}


def test_finished_calls_never_move_and_only_an_error_may_be_redriven_to_queued() -> None:
    assert all(TRANSITIONS[status] == frozenset() for status in FINAL)
    assert TRANSITIONS[CallStatus.ERROR] == frozenset({CallStatus.QUEUED})
    assert CallStatus.SUCCESS not in TRANSITIONS[CallStatus.QUEUED]  # a call runs before it succeeds


def test_the_store_refuses_a_write_the_table_does_not_allow(stack: Stack) -> None:
    store = stack.components.stores.calls.inner  # the table's store, under the callbacks wrapper
    with pytest.raises(ValueError, match="not a transition"):
        store._move("01BVJ5T7CA07WGE00000000000", {CallStatus.SUCCESS}, CallStatus.QUEUED)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not a transition"):
        store._move("01BVJ5T7CA07WGE00000000000", {CallStatus.QUEUED}, CallStatus.SUCCESS)  # type: ignore[attr-defined]
