"""Rows 9-11: the items DynamoDB reads to answer one page of an app's calls, for a small app and a
big one in the same table, without a filter, with `status=error` (a share of the calls failed) and
with `status=queued` (none queued).

The calls are written through the call store on moto in-process (HTTP would take minutes at
20,000): the store builds every item, and its PutItems are sent 25 at a time as BatchWriteItems
(one request per item costs minutes on moto). The failed ones go the way a real failure goes
(queued, claimed, finished in error, each write on its own), so whatever a status index keys on
is written as in production. The pages are asked for through the HTTP API
and the reads counted by botocore hooks on the API's DynamoDB client. moto answers a query on a
global secondary index by scanning the whole table, so a listing that reads thousands of items
is slow here: each one is stopped at the time budget, and its figure is then a lower bound.
"""

from __future__ import annotations

import importlib
import json
import time
import urllib.parse
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.onmoto import moto_stack
from bench.report import TIMES, Line, ratio
from bench.sizes import Sizes
from chalicelib.ids import new_call_id
from chalicelib.models import Call, CallStatus, RouteType
from tests.aws_requests import watch
from tests.batched_puts import BatchedPuts
from tests.conftest import Stack

SMALL, BIG = "small", "big"
FILTERS: tuple[tuple[str, str, str, str], ...] = (
    ("9", "", "no filter", f"≤ 1.25{TIMES} the page"),
    ("10", "error", "`status=error`", f"flat: ≤ 1.25{TIMES} the page at any size"),
    ("11", "queued", "`status=queued`, none queued", "flat"),
)


class BudgetExceeded(Exception):
    """Raised from the request hook: the listing has used its time on moto."""


@dataclass(frozen=True)
class Listing:
    items_read: int
    queries: int
    returned: int
    seconds: float
    stopped: bool

    def describe(self) -> str:
        bound = "≥ " if self.stopped else ""
        stop = ", stopped at the time budget" if self.stopped else ""
        return (
            f"{bound}{self.items_read:,} read in {bound}{self.queries} queries, {self.returned} returned, "
            f"{self.seconds:.1f} s{stop}"
        )


def _call_store(stack: Stack) -> Any:
    """The components' call store; on code older than `Components.stores`, one built as wiring did."""
    stores = getattr(stack.components, "stores", None)
    if stores is not None:
        return stores.calls
    legacy = importlib.import_module("chalicelib.aws.dynamodb").DynamoStore
    settings = stack.settings
    return legacy(
        stack.components.clients, settings.table, settings.call_shards, settings.call_retention_days
    )


def _insert(stack: Stack, app: str, count: int, error_share: float) -> int:
    """Write `count` calls of `app`; answer the requests it took."""
    store = _call_store(stack)
    every = max(1, round(1 / error_share)) if error_share > 0 else 0
    start = datetime.now(UTC) - timedelta(milliseconds=count + 1000)
    failed = []
    with BatchedPuts(stack.components.clients.dynamodb) as batched:
        for index in range(count):
            created = start + timedelta(milliseconds=index)
            call = Call(new_call_id(created), app, "/f", RouteType.ASYNC, CallStatus.SUCCESS, created)
            if every and index % every == every // 2:
                failed.append(call)
            else:
                store.insert_call(call)
                batched.flush()
    for call in failed:
        store.insert_call(replace(call, status=CallStatus.QUEUED, lease_seconds=60))
        claimed = store.claim(call.id, call.created_at)
        store.finish(call.id, claimed.attempt, CallStatus.ERROR, call.created_at, "container exit code 1")
    return batched.requests + 3 * len(failed)


def _list(stack: Stack, app: str, status: str, per_page: int, budget: float) -> Listing:
    requests = watch(stack.components)
    deadline = time.monotonic() + budget
    stopped = False

    def enforce(**_: Any) -> None:
        nonlocal stopped
        if time.monotonic() > deadline:
            stopped = True
            raise BudgetExceeded(f"listing {app} status={status or '*'} ran out of its {budget:.0f} s")

    dynamodb = stack.components.clients.dynamodb
    dynamodb.meta.events.register("before-call.dynamodb.Query", enforce)
    query = {"per_page": str(per_page), **({"status": status} if status else {})}
    began = time.monotonic()
    try:
        response = stack.request("GET", f"/v1/apps/{app}/calls?{urllib.parse.urlencode(query)}")
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.Query", enforce)
        requests.stop()
    took = time.monotonic() - began
    returned = 0
    if not stopped:
        if response.status_code != 200:
            raise RuntimeError(f"listing {app} answered {response.status_code}: {response.body[:300]!r}")
        calls = json.loads(response.body)["calls"]
        wrong = [c["id"] for c in calls if status and c["status"] != status]
        if wrong:
            raise RuntimeError(f"listing {app} status={status} answered {len(wrong)} calls of another status")
        returned = len(calls)
    return Listing(requests.items_read, requests.queries, returned, took, stopped)


def measure(sizes: Sizes, workdir: Path, only: frozenset[str] = frozenset()) -> list[Line]:
    small_n, big_n = sizes.listing_sizes
    with moto_stack(workdir) as stack:
        for app in (SMALL, BIG):
            status, reply = stack.json("POST", "/v1/apps", {"app": {"name": app}})
            if status != 200:
                raise RuntimeError(f"creating app {app} answered {status}: {reply}")
        began = time.monotonic()
        writes = _insert(stack, SMALL, small_n, sizes.error_share)
        writes += _insert(stack, BIG, big_n, sizes.error_share)
        inserted = time.monotonic() - began
        lines = []
        for number, status, words, goal in FILTERS:
            small = _list(stack, SMALL, status, sizes.per_page, sizes.listing_budget)
            big = _list(stack, BIG, status, sizes.per_page, sizes.listing_budget)
            bound = "≥ " if big.stopped else ""
            lines.append(
                Line(
                    number,
                    f"one page of calls (per_page={sizes.per_page}), items DynamoDB reads, "
                    f"{small_n:,} vs {big_n:,} calls, {words}",
                    f"{small.items_read:,} vs {bound}{big.items_read:,} "
                    f"({bound}{ratio(big.items_read, sizes.per_page)} the page; "
                    f"big/small {bound}{ratio(big.items_read, small.items_read)})",
                    f"{small_n:,} calls: {small.describe()}; {big_n:,} calls: {big.describe()}; "
                    f"{sizes.error_share:.0%} of calls in error; {small_n + big_n:,} calls written by the "
                    f"call store in {inserted:.0f} s ({writes:,} requests)",
                    goal,
                )
            )
    return lines
