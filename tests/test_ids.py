"""Call ids: ULIDs (made by python-ulid), sorting by their creation millisecond; their bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.ids import CROCKFORD, id_before, is_call_id, lowest_id_at, new_call_id

WHEN = datetime(2026, 11, 30, 12, 34, 56, 789000, tzinfo=UTC)


def decoded(call_id: str) -> int:
    value = 0
    for char in call_id:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_a_call_id_is_a_ulid_whose_first_48_bits_are_its_creation_millisecond() -> None:
    call_id = new_call_id(WHEN)

    assert is_call_id(call_id)
    assert decoded(call_id) >> 80 == int(WHEN.timestamp() * 1000)
    assert call_id[:10] == lowest_id_at(int(WHEN.timestamp() * 1000))[:10]


def test_ids_of_one_millisecond_differ_in_their_80_random_bits() -> None:
    ids = {new_call_id(WHEN) for _ in range(100)}

    assert len(ids) == 100
    assert len({decoded(i) & ((1 << 80) - 1) for i in ids}) == 100


def test_ids_sort_by_creation_time_and_time_bounds_are_id_bounds() -> None:
    earlier, later = new_call_id(WHEN), new_call_id(WHEN + timedelta(milliseconds=1))
    bound = lowest_id_at(int(WHEN.timestamp() * 1000) + 1)

    assert earlier < bound <= later
    assert id_before(bound) >= earlier
