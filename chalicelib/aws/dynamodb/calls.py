"""Calls in the table (CallStore): every status change is one conditional write, through `_move`.

A call's item is its record (chalicelib/codec.py) plus its key, its index keys (the app's and the
route's partitions, sharded, and its status key; see table.py) and `expires_at` for DynamoDB's TTL.
Every move rewrites the status key with the status, so gsi3 lists a status by key, never by filter.
While the call is open (queued or running) it also carries `openpk`/`opensk`, its place in the
sparse index the sweeper reads: written by the same conditional writes that move the status,
removed by those that end the call.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.aws.dynamodb.table import (
    OPEN_INDEX,
    ConditionFailed,
    DynamoTable,
    call_key,
    idempotency_key,
    values,
)
from chalicelib.codec import CALL, epoch_ms, iso_time
from chalicelib.errors import ConflictError, TransitionError, call_not_found
from chalicelib.ids import id_before
from chalicelib.models import (
    LEASE_EXPIRED,
    SQS_MAX_DELAY_SECONDS,
    TRANSITIONS,
    Attempt,
    Call,
    CallbackAttempt,
    CallStatus,
    RunStats,
)
from chalicelib.ports import CallPage, CallQuery, ClaimLimits

# The open-index attributes, removed by every move that ends a call.
CLOSE = "openpk, opensk"

# Appends the `:entry` list to the call's attempts (with `:empty` for a record without any).
APPEND_ATTEMPT = "attempts = list_append(if_not_exists(attempts, :empty), :entry)"
# The attribute holding a call's function snapshot (FunctionSpec: timeout, memory, ...).
FUNCTION = next(f.attribute for f in CALL.fields if f.name == "function")
LOWEST_ID = "0" * 26


def status_key(status: CallStatus, call_id: str) -> str:
    """gsi3's sort key: a status's calls are one range of it, in id order."""
    return f"{status.value}#{call_id}"


def attempt_entry(
    number: int, started_at: datetime | None, status: CallStatus, now: datetime, error: str
) -> list[Any]:
    """The `:entry` that records one attempt's end.

    An update expression cannot copy attempt_started_at into a list element, so the runner, which
    read it when it claimed the call, passes it in (when nobody knows it, the attempt started now).
    """
    ended = Attempt(number, started_at or now, completed_at=now, status=status, error=error)
    return CALL.value("attempts", (ended,))  # type: ignore[no-any-return]


def fits_condition(limits: ClaimLimits | None) -> tuple[str, dict[str, Any]]:
    """A claim's condition that the call's function snapshot fits what the invocation can give.

    Part of the claim's own conditional write: no read first, and no call claimed that cannot
    finish. A record without a snapshot is claimed (and then fails as a platform fault).
    """
    bounds = {"timeout": limits.max_timeout, "memory": limits.max_memory} if limits else {}
    clauses = [f"{FUNCTION}.{field} <= :max_{field}" for field, bound in bounds.items() if bound is not None]
    if not clauses:
        return "", {}
    named = {f"max_{field}": bound for field, bound in bounds.items() if bound is not None}
    return f"(attribute_not_exists({FUNCTION}) OR ({' AND '.join(clauses)}))", named


class DynamoCallStore:
    def __init__(self, table: DynamoTable, retention_days: int = 30, queued_grace_seconds: int = 900) -> None:
        self._table = table
        self._retention = timedelta(days=retention_days)
        # How long a queued call may wait for its message before the sweeper sends another.
        self._queued_grace = timedelta(seconds=queued_grace_seconds)

    def _due_ms(self, now: datetime) -> int:
        return epoch_ms(now + self._queued_grace)

    def insert_call(self, call: Call) -> None:
        self._table.put(
            self._call_item(call),
            "attribute_not_exists(pk)",
            lambda: ConflictError(f"Call {call.id} already exists"),
        )

    def _call_item(self, call: Call) -> dict[str, Any]:
        return {
            **call_key(call.id),
            "gsi1pk": self._table.call_partition(call.app_name, call.id),
            "gsi1sk": call.id,
            "gsi2pk": self._table.call_partition(call.app_name, call.id, call.path),
            "gsi2sk": call.id,
            "gsi3sk": status_key(call.status, call.id),
            "kind": "call",
            **self._open_keys(call),
            **CALL.encode(call),
            # DynamoDB's TTL deletes the record after the retention (moto never does; fine locally).
            "expires_at": int((call.created_at + self._retention).timestamp()),
        }

    def insert_call_once(self, call: Call, key: str, fingerprint: str, until: datetime) -> tuple[str, str]:
        """Write the call and its idempotency key item together, unless a live item holds the key.

        One transaction, so a key never points at a call that was not written. Answers the id and
        fingerprint of the call that holds the key: this one's when it was new. An expired key
        item (past `until` of its writer; moto's TTL never deletes it) is overwritten.
        """
        now = call.created_at
        key_item = {
            **idempotency_key(call.app_name, key),
            "kind": "idempotency",
            "call_id": call.id,
            "fingerprint": fingerprint,
            "expires_at": int(until.timestamp()),
        }
        try:
            self._table.put_together(
                [
                    (
                        key_item,
                        "attribute_not_exists(pk) OR expires_at < :now",
                        {"now": int(now.timestamp())},
                    ),
                    (self._call_item(call), "attribute_not_exists(pk)", {}),
                ]
            )
        except ConditionFailed as exc:
            if 0 not in exc.failed:
                raise ConflictError(f"Call {call.id} already exists") from exc
            held = self._table.get(idempotency_key(call.app_name, key))
            if held is None:
                # The holder expired and TTL deleted it between the write and the read: the key
                # is free again (a repeat of this race would need another expiry: not a loop).
                return self.insert_call_once(call, key, fingerprint, until)
            return str(held["call_id"]), str(held["fingerprint"])
        return call.id, fingerprint

    def _open_keys(self, call: Call) -> dict[str, Any]:
        """A new call's place in the open index: a sync call's lease end, a queued call's due time."""
        if call.status is CallStatus.RUNNING and call.lease_expires_at is not None:
            deadline = epoch_ms(call.lease_expires_at)
        elif call.status is CallStatus.QUEUED and call.not_before is not None:
            # A delayed call: beyond SQS's delay it has no message and the sweeper sends it when
            # due; within, its message is delayed and it is overdue only a grace after.
            wait = (call.not_before - call.created_at).total_seconds()
            late = self._queued_grace if wait <= SQS_MAX_DELAY_SECONDS else timedelta(0)
            deadline = epoch_ms(call.not_before + late)
        elif call.status is CallStatus.QUEUED:
            deadline = self._due_ms(call.created_at)
        else:
            return {}
        return {"openpk": self._table.open_partition(call.id), "opensk": deadline}

    def due_calls(self, now: datetime, limit: int) -> list[Call]:
        """Open calls whose deadline has passed: up to `limit` per shard, one Query each, by key."""
        found: list[dict[str, Any]] = []
        for partition in self._table.open_partitions():
            found += self._table.query(
                limit,
                IndexName=OPEN_INDEX,
                KeyConditionExpression="openpk = :pk AND opensk < :now_ms",
                ExpressionAttributeValues=values(pk=partition, now_ms=epoch_ms(now)),
            )
        return [CALL.decode(i) for i in found]

    def get_call(self, call_id: str) -> Call:
        item = self._table.get(call_key(call_id))
        if item is None:
            raise call_not_found()
        return CALL.decode(item)

    def list_calls(self, query: CallQuery) -> CallPage:
        """One page merged from the shards (listing.py), through the index that keys what is asked.

        An app's calls: gsi1; a route's: gsi2; an app's of one status: gsi3. A route's calls of one
        status read gsi3 with the path as a filter: a page then stops at its read budget, and may
        come back short, even empty, with a cursor (a fourth index would key it, at the cost of two
        more index writes per status move: see docs/ARCHITECTURE.md).
        """
        # Here, not at the top: only the listing routes merge shards, and the worker's and the
        # scheduled Lambdas never do; kept off the cold start's import path (bench row 6).
        from chalicelib.aws.dynamodb import listing

        if query.status:
            index, key, sort = "gsi3", "gsi1pk", "gsi3sk"
            partitions = self._table.call_partitions(query.app_name)
        else:
            index = "gsi2" if query.path else "gsi1"
            key, sort = f"{index}pk", f"{index}sk"
            partitions = self._table.call_partitions(query.app_name, query.path)
        prefix = f"{query.status.value}#" if query.status else ""
        low = query.min_id or LOWEST_ID
        params: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": f"{key} = :pk AND {sort} BETWEEN :low AND :high",
            "ScanIndexForward": False,
        }
        named: dict[str, Any] = {}
        if query.status and query.path:
            params["FilterExpression"] = "#path = :path"
            params["ExpressionAttributeNames"] = {"#path": "path"}
            named["path"] = query.path

        def fetch(shard: int, below: str, limit: int) -> listing.Read:
            high = id_before(below)
            if not high or low > high:
                return listing.Read([], 0, None)
            bounds = values(pk=partitions[shard], low=prefix + low, high=prefix + high, **named)
            items, scanned, last = self._table.query_page(
                Limit=limit, ExpressionAttributeValues=bounds, **params
            )
            return listing.Read(items, scanned, last["pk"].removeprefix("CALL#") if last else None)

        starts = listing.decode_cursor(query.cursor, len(partitions))
        if query.before_id:
            starts = [min(start, query.before_id) if start else None for start in starts]
        budget = listing.read_budget(query.limit, len(partitions))
        page = listing.merge_page(starts, query.limit, fetch, budget)
        cursor = listing.encode_cursor(page.next_positions)
        return CallPage([CALL.decode(item) for item in page.items], cursor)

    def claim(self, call_id: str, now: datetime, limits: ClaimLimits | None = None) -> Call:
        sets = (
            "attempt = if_not_exists(attempt, :zero) + :one, lease_until = :now_ms + lease_ms, "
            "started_at = if_not_exists(started_at, :now), attempt_started_at = :now, "
            "opensk = :now_ms + lease_ms"
        )
        named: dict[str, Any] = {"zero": 0, "one": 1, "now_ms": epoch_ms(now), "now": iso_time(now)}
        fits, fit_values = fits_condition(limits)
        named.update(fit_values)
        try:
            return self._move(call_id, {CallStatus.QUEUED}, CallStatus.RUNNING, sets, guard=fits, **named)
        except TransitionError as exc:
            current: Call | None = exc.current
            lease = current.lease_expires_at if current else None
            if not (current and current.status is CallStatus.RUNNING and lease and lease < now):
                raise
        # The worker holding the lease died (or hung past its timeout): take over, and record the
        # lost attempt. The condition on `attempt` makes exactly one taker win.
        lost = attempt_entry(
            current.attempt, current.attempt_started_at, CallStatus.ERROR, now, LEASE_EXPIRED
        )
        return self._move(
            call_id,
            {CallStatus.RUNNING},
            CallStatus.RUNNING,
            f"{sets}, {APPEND_ATTEMPT}",
            guard=" AND ".join(filter(None, ["attempt = :seen AND lease_until < :now_ms", fits])),
            seen=current.attempt,
            empty=[],
            entry=lost,
            **named,
        )

    def finish(
        self,
        call_id: str,
        attempt: int,
        status: CallStatus,
        now: datetime,
        error: str = "",
        stats: RunStats | None = None,
        attempt_started_at: datetime | None = None,
        dead: bool = False,
    ) -> Call:
        sets = f"completed_at = :now, #error = :error, {APPEND_ATTEMPT}"
        named: dict[str, Any] = {
            "now": iso_time(now),
            "error": error,
            "empty": [],
            "entry": attempt_entry(attempt, attempt_started_at, status, now, error),
            "attempt": attempt,
        }
        if dead:
            sets += ", dead = :dead"
            named["dead"] = True
        if stats is not None:
            sets += ", stats = :stats"
            named["stats"] = CALL.value("stats", stats)
        return self._move(
            call_id,
            {CallStatus.RUNNING},
            status,
            sets,
            f"lease_until, {CLOSE}",
            "attempt = :attempt",
            **named,
        )

    def requeue(
        self,
        call_id: str,
        attempt: int,
        now: datetime,
        error: str,
        attempt_started_at: datetime | None = None,
    ) -> Call:
        return self._move(
            call_id,
            {CallStatus.RUNNING},
            CallStatus.QUEUED,
            f"#error = :error, {APPEND_ATTEMPT}, opensk = :due",
            "lease_until",
            "attempt = :attempt",
            due=self._due_ms(now),
            error=error,
            empty=[],
            entry=attempt_entry(attempt, attempt_started_at, CallStatus.ERROR, now, error),
            attempt=attempt,
        )

    def fail_queued(self, call_id: str, now: datetime, error: str) -> Call:
        return self._move(
            call_id,
            {CallStatus.QUEUED},
            CallStatus.ERROR,
            "completed_at = :now, #error = :error, dead = :dead",
            CLOSE,
            now=iso_time(now),
            error=error,
            dead=True,
        )

    def redrive(self, call_id: str, now: datetime) -> Call:
        return self._move(
            call_id,
            {CallStatus.ERROR},
            CallStatus.QUEUED,
            "redrive_base = attempt, redriven_at = :now, openpk = :openpk, opensk = :due",
            "dead, completed_at, #error",
            "dead = :dead",
            dead=True,
            now=iso_time(now),
            openpk=self._table.open_partition(call_id),
            due=self._due_ms(now),
        )

    def cancel(self, call_id: str, now: datetime) -> Call:
        return self._move(
            call_id,
            {CallStatus.QUEUED, CallStatus.RUNNING},
            CallStatus.CANCELLED,
            "completed_at = :now",
            f"lease_until, {CLOSE}",
            now=iso_time(now),
        )

    def expire_lease(
        self,
        call_id: str,
        attempt: int,
        now: datetime,
        target: CallStatus,
        error: str,
        attempt_started_at: datetime | None = None,
    ) -> Call:
        """The sweeper's move of a call running past its lease: back to queued (async, to be re-sent)
        or to error (sync: its client is gone), recording the lost attempt. The guard is the
        takeover's: this attempt still holds the call, and its lease has expired."""
        sets = f"#error = :error, {APPEND_ATTEMPT}"
        removes = "lease_until"
        named: dict[str, Any] = {}
        if target is CallStatus.QUEUED:
            sets += ", opensk = :due"
            named["due"] = self._due_ms(now)
        else:
            sets += ", completed_at = :now"
            removes += f", {CLOSE}"
            named["now"] = iso_time(now)
        return self._move(
            call_id,
            {CallStatus.RUNNING},
            target,
            sets,
            removes,
            "attempt = :attempt AND lease_until < :now_ms",
            attempt=attempt,
            now_ms=epoch_ms(now),
            error=error,
            empty=[],
            entry=attempt_entry(attempt, attempt_started_at, CallStatus.ERROR, now, error),
            **named,
        )

    def resend_due(self, call_id: str, now: datetime) -> Call:
        """A queued call past its due time gets a new due time; the winner of this write re-sends."""
        return self._move(
            call_id,
            {CallStatus.QUEUED},
            CallStatus.QUEUED,
            "opensk = :due",
            guard="opensk < :now_ms",
            due=self._due_ms(now),
            now_ms=epoch_ms(now),
        )

    def renew(self, call_id: str, attempt: int, now: datetime, lease_seconds: int) -> None:
        self._move(
            call_id,
            {CallStatus.RUNNING},
            CallStatus.RUNNING,
            # The open index's deadline follows the lease, so the sweeper never meets a live call.
            "lease_until = :until, opensk = :until",
            guard="attempt = :attempt",
            until=epoch_ms(now) + lease_seconds * 1000,
            attempt=attempt,
        )

    def record_callback(self, call_id: str, attempt: CallbackAttempt) -> Call:
        """Append the attempt if the call holds exactly the attempts before it (no status change)."""
        prior = attempt.number - 1
        # A record written before callbacks existed has no list at all: that is none yet too.
        held = "size(#callbacks) = :prior" + (" OR attribute_not_exists(#callbacks)" if prior == 0 else "")
        named: dict[str, Any] = {"empty": [], "entry": CALL.value("callbacks", (attempt,)), "prior": prior}
        try:
            item = self._table.update(
                call_key(call_id),
                "SET #callbacks = list_append(if_not_exists(#callbacks, :empty), :entry)",
                f"attribute_exists(pk) AND ({held})",
                {"#callbacks": "callbacks"},
                named,
            )
        except ConditionFailed as exc:
            if exc.old is None:
                raise call_not_found() from exc
            raise TransitionError(
                f"Call {call_id}: callback attempt {attempt.number} was recorded already",
                CALL.decode(exc.old),
            ) from exc
        return CALL.decode(item)

    def _move(
        self,
        call_id: str,
        sources: set[CallStatus],
        target: CallStatus,
        sets: str = "",
        removes: str = "",
        guard: str = "",
        **named: Any,
    ) -> Call:
        """One transition as one conditional write: status in `sources` → `target`, plus `sets`.

        The move must be in models.TRANSITIONS; the status condition is built from `sources`, and
        `guard` adds to it (the attempt that holds the call, an expired lease, `dead`).
        """
        if not all(target in TRANSITIONS[source] for source in sources):
            raise ValueError(f"{sorted(sources)} → {target} is not a transition of models.TRANSITIONS")
        sources_named = {f"from_{source.value}": source.value for source in sources}
        condition = "#status IN (" + ", ".join(f":{name}" for name in sorted(sources_named)) + ")"
        update = (
            "SET #status = :to, gsi3sk = :status_key"
            + (f", {sets}" if sets else "")
            + (f" REMOVE {removes}" if removes else "")
        )
        names = {"#status": "status"}
        if "#error" in update:
            names["#error"] = "error"
        try:
            item = self._table.update(
                call_key(call_id),
                update,
                f"attribute_exists(pk) AND {condition}" + (f" AND {guard}" if guard else ""),
                names,
                {"to": target.value, "status_key": status_key(target, call_id), **sources_named, **named},
            )
        except ConditionFailed as exc:
            if exc.old is None:
                raise call_not_found() from exc
            current = CALL.decode(exc.old)
            raise TransitionError(f"Call {call_id} is {current.status.value}", current) from exc
        return CALL.decode(item)
