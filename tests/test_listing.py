"""Merging the shards of a calls index into pages (chalicelib/aws/dynamodb/listing.py), on a fake index
with DynamoDB's Query semantics: Limit counts the items evaluated, a filter drops some of those, and
LastEvaluatedKey is there whenever the Limit was reached."""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

import pytest

from chalicelib.aws.dynamodb.listing import (
    TOP,
    Page,
    Read,
    decode_cursor,
    encode_cursor,
    merge_page,
    read_budget,
)
from chalicelib.errors import InvalidInputError
from chalicelib.ids import CROCKFORD, lowest_id_at

START_MS = 1_790_000_000_000


def call_ids(count: int, seed: int) -> list[str]:
    """`count` distinct call ids, one a millisecond, with seeded random parts."""
    rnd = random.Random(seed)
    return [
        lowest_id_at(START_MS + n)[:10] + "".join(rnd.choice(CROCKFORD) for _ in range(16))
        for n in range(count)
    ]


@dataclass
class FakeIndex:
    """Calls spread over shards by the id's last character, as the table spreads them."""

    shards: list[list[tuple[str, bool]]]  # each newest first: (id, matches the filter)

    @classmethod
    def of(cls, ids: list[str], shards: int, matching: float = 1.0, seed: int = 0) -> FakeIndex:
        rnd = random.Random(seed)
        spread: list[list[tuple[str, bool]]] = [[] for _ in range(shards)]
        for call_id in sorted(ids, reverse=True):
            spread[CROCKFORD.index(call_id[-1]) % shards].append((call_id, rnd.random() < matching))
        return cls(spread)

    def fetch(self, shard: int, below: str, limit: int) -> Read:
        evaluated = [entry for entry in self.shards[shard] if entry[0] < below][:limit]
        items = [{"id": call_id} for call_id, matches in evaluated if matches]
        more = len(evaluated) == limit
        return Read(items, len(evaluated), evaluated[-1][0] if more else None)

    def matching(self) -> list[str]:
        return sorted((i for shard in self.shards for i, matches in shard if matches), reverse=True)


def walk(index: FakeIndex, limit: int) -> list[tuple[Page, str]]:
    """Every page from the first, each with the cursor it handed on."""
    pages: list[tuple[Page, str]] = []
    cursor = ""
    while True:
        starts = decode_cursor(cursor, len(index.shards))
        page = merge_page(starts, limit, index.fetch, read_budget(limit, len(index.shards)))
        cursor = encode_cursor(page.next_positions)
        pages.append((page, cursor))
        if not cursor:
            return pages
        assert len(pages) < 10_000, "the walk does not end"


@pytest.mark.parametrize(
    ("count", "shards", "limit", "matching"),
    [
        (1000, 4, 100, 1.0),
        (500, 4, 30, 1.0),
        (40, 4, 1, 1.0),
        (200, 1, 7, 1.0),
        (300, 3, 10, 0.3),  # a filter: pages stop at the budget
        (2000, 4, 100, 0.01),  # a filter that matches almost nothing: short and empty pages
        (0, 4, 30, 1.0),
    ],
)
def test_walking_the_pages_lists_every_call_once_newest_first_within_the_read_budget(
    count: int, shards: int, limit: int, matching: float
) -> None:
    index = FakeIndex.of(call_ids(count, seed=count), shards, matching)

    pages = walk(index, limit)

    listed = [item["id"] for page, _ in pages for item in page.items]
    assert listed == index.matching()
    assert all(page.scanned <= read_budget(limit, shards) for page, _ in pages)
    if matching == 1.0:  # unfiltered pages are full, but for the last
        assert all(len(page.items) == limit for page, cursor in pages if cursor)


def test_a_page_of_100_over_4_shards_reads_at_most_a_quarter_more_than_the_page() -> None:
    index = FakeIndex.of(call_ids(20_000, seed=1), 4)

    pages = walk(index, 100)

    reads = [page.scanned for page, _ in pages if len(page.items) == 100]
    assert len(reads) == 200
    assert max(reads) <= 125
    assert statistics.mean(reads) <= 110  # asking every shard for a page read 400


def test_an_unfiltered_cursor_is_the_last_id_listed_as_fns_cursor_is() -> None:
    index = FakeIndex.of(call_ids(500, seed=2), 4)

    (page, cursor), *_ = walk(index, 30)

    assert cursor == page.items[-1]["id"]
    assert decode_cursor(cursor, 4) == [cursor] * 4


def test_a_filtered_cursor_carries_each_shards_position_and_a_run_out_shard_as_empty() -> None:
    positions = ["01KAAAAAAAAAAAAAAAAAAAAAAA", None, TOP, "01KAAAAAAAAAAAAAAAAAAAAAAB"]

    cursor = encode_cursor(positions)

    assert cursor.count(".") == 3 and ".." in cursor
    assert decode_cursor(cursor, 4) == positions
    assert encode_cursor([None, None]) == ""
    assert encode_cursor([None, "01KAAAAAAAAAAAAAAAAAAAAAAA", None]) == "01KAAAAAAAAAAAAAAAAAAAAAAA"
    assert decode_cursor("", 3) == [TOP] * 3


@pytest.mark.parametrize(
    "cursor",
    [
        "nope",
        "01KAAAAAAAAAAAAAAAAAAAAAA",
        "01KAAAAAAAAAAAAAAAAAAAAAAA.01KAAAAAAAAAAAAAAAAAAAAAAA",
        "...",
        "x.y.z.w",
    ],
)
def test_a_cursor_the_listing_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInputError, match="Invalid cursor"):
        decode_cursor(cursor, 4)
