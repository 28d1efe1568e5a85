"""Items DynamoDB reads for one page of calls, counted by botocore hooks through the HTTP API: at most
1.25 times the page, for a small app (100 calls) and a big one (20,000) in the same table, with and
without every status filter.

The calls are written through the call store (which builds every index key), 25 to a request, with
seeded ids: the shards each call falls in, and so the figures, are the same at every run. On moto
a GSI query reads the whole table, so this test takes about 40 s; `python -m bench --only listing`
prints the same figures with the time each page takes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from chalicelib.ids import CROCKFORD, lowest_id_at
from chalicelib.models import Call, CallStatus, RouteType
from tests.aws_requests import watch
from tests.batched_puts import BatchedPuts
from tests.conftest import Stack

PER_PAGE = 100
BOUND = PER_PAGE * 1.25
START = datetime(2026, 11, 1, tzinfo=UTC)
# How a big app's 20,000 calls end (none queued: the old listing read the whole app to find none).
BIG = {CallStatus.SUCCESS: 13_800, CallStatus.ERROR: 4_000, CallStatus.TIMEOUT: 700,
       CallStatus.CANCELLED: 1_000, CallStatus.RUNNING: 500}  # fmt: skip
SMALL = {CallStatus.SUCCESS: 80, CallStatus.ERROR: 5, CallStatus.TIMEOUT: 5, CallStatus.CANCELLED: 5,
         CallStatus.RUNNING: 3, CallStatus.QUEUED: 2}  # fmt: skip


def write_calls(stack: Stack, app: str, statuses: dict[CallStatus, int], seed: int) -> dict[CallStatus, int]:
    rnd = random.Random(seed)
    ends = [status for status, count in statuses.items() for _ in range(count)]
    rnd.shuffle(ends)
    with BatchedPuts(stack.components.clients.dynamodb) as batched:
        for n, status in enumerate(ends):
            created = START + timedelta(milliseconds=n)
            call_id = lowest_id_at(int(created.timestamp() * 1000))[:10] + "".join(
                rnd.choice(CROCKFORD) for _ in range(16)
            )
            stack.components.stores.calls.insert_call(
                Call(call_id, app, "/f", RouteType.ASYNC, status, created)
            )
            batched.flush()
    return statuses


def read_one_page(stack: Stack, app: str, status: CallStatus | None) -> tuple[int, list[dict[str, str]]]:
    requests = watch(stack.components)
    query = f"per_page={PER_PAGE}" + (f"&status={status.value}" if status else "")
    try:
        code, body = stack.json("GET", f"/v1/apps/{app}/calls?{query}")
    finally:
        requests.stop()
    assert code == 200, body
    return requests.items_read, body["calls"]


def test_a_page_reads_at_most_a_quarter_more_than_it_lists_at_any_app_size_and_with_any_status(
    stack: Stack,
) -> None:
    for app in ("small", "big"):
        stack.json("POST", "/v1/apps", {"app": {"name": app}})
    apps = {
        "small": write_calls(stack, "small", SMALL, seed=1),
        "big": write_calls(stack, "big", BIG, seed=2),
    }

    for app, statuses in apps.items():
        for status in (None, *CallStatus):
            read, calls = read_one_page(stack, app, status)

            there = sum(statuses.values()) if status is None else statuses.get(status, 0)
            assert len(calls) == min(PER_PAGE, there), (app, status)
            assert all(c["status"] == status.value for c in calls) if status else True
            assert [c["id"] for c in calls] == sorted((c["id"] for c in calls), reverse=True)
            # What the page lists, plus at most what the shards showed beyond it.
            assert read <= BOUND, (app, status, read)
