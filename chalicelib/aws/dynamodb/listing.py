"""One newest-first page of calls merged from the shards of an index, reading about one page.

An app's calls are spread over shards (index partitions) by a random character of their id, so
each shard holds about 1/S of any page. A page asks each shard for its share of the page, then
merges: an item is listed only once every shard with items left has shown its next one (so the
page is in order across shards), and a shard whose shown items have all been listed is asked for
its share of what is still missing. A page of 100 over 4 shards reads about 107 items, where
asking every shard for a whole page read 400.

A page also stops at a read budget (`read_budget`) and hands back what it has with a cursor: a
filtered read (a route's calls of one status) may match little, and must not scan the app.

The cursor says where each shard continues. When every shard with items left continues below the
same id (always, unless the page was filtered), it is that id alone: the last id listed, the form
of Fn's own cursor for calls. Otherwise it is one field per shard, "." between them, each an id to
continue strictly below, or empty for a shard with nothing left. Every shard continues
strictly below every id listed, and nothing above where it continues is left unlisted: pages are
newest first, without duplicates or gaps.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import InvalidInputError
from chalicelib.ids import is_call_id

# Where a shard starts when there is no cursor: strictly below this, above every id (ids begin with
# 0-7). A position is this, an id, or None for a shard with nothing left.
TOP = "8" + "0" * 25
SEPARATOR = "."
# The first round asks each shard for a little less than its share: a shard that holds more of the
# page is asked again, which costs a query; one that holds less leaves its surplus unread.
FIRST_SHARE = 0.9


def read_budget(limit: int, shards: int) -> int:
    """The items one page may read: a quarter over the page, but at least 3 per shard over it.

    The merge needs at least one item beyond the page from each shard (its next one), and its
    shares round up, so small pages need the fixed margin (a page of 30 over 4 shards: 42).
    """
    return limit + max(limit // 4, 3 * shards)


@dataclass(frozen=True)
class Read:
    """One query of one shard: the items it matched, newest first; how many it evaluated (what
    DynamoDB bills); and the id of the last one it evaluated, None when the shard has no more."""

    items: list[dict[str, Any]]
    scanned: int
    last_id: str | None


# fetch(shard, below, limit): up to `limit` items of `shard` with ids strictly below `below`.
Fetch = Callable[[int, str, int], Read]


@dataclass
class _Shard:
    start: str | None  # where this page began reading it (None: it had nothing left)
    below: str = ""  # where its next read starts
    done: bool = False  # it has nothing more below `below`
    shown: deque[dict[str, Any]] = field(default_factory=deque)  # read, not yet listed

    def __post_init__(self) -> None:
        self.done = self.start is None
        self.below = self.start or ""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_positions: list[str | None]  # where each shard continues; all None: nothing left
    scanned: int


def merge_page(starts: Sequence[str | None], limit: int, fetch: Fetch, budget: int) -> Page:
    """Up to `limit` items across the shards, newest first (by "id"), from each shard's position."""
    shards = [_Shard(start) for start in starts]
    scanned = 0

    def read_more(number: int, shard: _Shard, count: int) -> bool:
        """Ask the shard for `count` more items (fewer if the budget is nearly spent); False: spent."""
        nonlocal scanned
        wanted = min(count, budget - scanned)
        if wanted <= 0:
            return False
        read = fetch(number, shard.below, wanted)
        scanned += read.scanned
        shard.shown.extend(read.items)
        if read.last_id is None:
            shard.done = True
        else:
            shard.below = read.last_id
        return True

    def share(missing: float) -> int:
        """Each shard's share of `missing` items: they are spread evenly, at random."""
        live = sum(1 for shard in shards if not shard.done) or 1
        return max(1, math.ceil(missing / live))

    listed: list[dict[str, Any]] = []
    first = share(FIRST_SHARE * limit)
    for number, shard in enumerate(shards):
        if not shard.done:
            read_more(number, shard, first)  # the budget always covers the first round
    stopped = False
    while len(listed) < limit and not stopped:
        for number, shard in enumerate(shards):
            # An item may be listed only when every shard with items left has shown its next.
            while not shard.shown and not shard.done and not stopped:
                stopped = not read_more(number, shard, share(limit - len(listed)))
        if stopped:
            break
        heads = [shard for shard in shards if shard.shown]
        if not heads:
            break  # every shard has run out
        newest = max(heads, key=lambda shard: str(shard.shown[0]["id"]))
        listed.append(newest.shown.popleft())
    last = str(listed[-1]["id"]) if listed else None
    return Page(listed, [_resume(shard, last) for shard in shards], scanned)


def _resume(shard: _Shard, last: str | None) -> str | None:
    """Where a shard continues on the next page, given the last id listed on this one."""
    if shard.shown:
        # Items it showed but were not listed are read again next time, from the last id listed.
        return shard.start if last is None else last
    if shard.done:
        return None
    # Everything it evaluated above `below` was listed (or filtered out): continue from there. Below
    # the last id listed, not above it: a shard cannot have unlisted items above that id.
    return shard.below if last is None else min(shard.below, last)


def encode_cursor(positions: Sequence[str | None]) -> str:
    """The opaque `next_cursor`: "" when no shard has anything left.

    When the shards with items left all continue below one id, the cursor is that id, even if
    some shards have run out: the next page then asks those again (empty queries, no items read),
    and the cursor keeps the form of Fn's, the last id listed.
    """
    live = {position for position in positions if position is not None}
    if not live:
        return ""
    if len(live) == 1:
        return live.pop()
    return SEPARATOR.join(position or "" for position in positions)


def decode_cursor(cursor: str | None, shards: int) -> list[str | None]:
    """Each shard's position from a cursor this module made (or an id, as Fn's cursor is)."""
    if not cursor:
        return [TOP] * shards
    fields = cursor.split(SEPARATOR)
    if len(fields) == 1 and _is_position(cursor):
        return [cursor] * shards
    # Per-shard fields from another shard count cannot be mapped onto these shards.
    if len(fields) != shards or not all(not f or _is_position(f) for f in fields) or not any(fields):
        raise InvalidInputError("Invalid cursor")
    return [f or None for f in fields]


def _is_position(value: str) -> bool:
    return value == TOP or is_call_id(value)
