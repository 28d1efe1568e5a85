"""Put a saved state back into a freshly provisioned embedded endpoint, through its APIs.

Items go back with BatchWriteItem (25 a request) before anything serves: a query must find
every item of its partition. Objects (bundles, logs, payloads) are read one key at a time, so
they come back later: the recorder puts each back when a request first touches it (or lists its
prefix), and a thread puts back the rest, newest first (capture.py). Both are AWS requests to the
endpoint (in-process, see inprocess.py), so a restore reads and writes nothing of moto's own.

What AWS would have deleted meanwhile is not restored: items past the table's TTL attribute, and
objects past the bucket's lifecycle expiration (fnq's: logs after the retention days), as the
deployed stack forgets them. The table and bucket are looked up in the endpoint (their names are
generated at each start); the state is keyed by item key and object key, not by those names.
"""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fnq.local.inprocess import EndpointError, InProcessEndpoint
from fnq.local.journal import Journal, Saved, StoredObject

log = logging.getLogger(__name__)

BATCH = 25  # BatchWriteItem's limit
DAY_SECONDS = 86400


@dataclass(frozen=True)
class Restored:
    items: int
    seconds: float


def key_schema(endpoint: InProcessEndpoint, table: str) -> list[str]:
    """The table's key attribute names (hash first)."""
    described = endpoint.dynamodb("DescribeTable", {"TableName": table})["Table"]
    ordered = sorted(described["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
    return [str(k["AttributeName"]) for k in ordered]


def prune_expired(saved: Saved, endpoint: InProcessEndpoint, table: str, bucket: str, now: float) -> int:
    """Drop from `saved` what AWS would have deleted by `now`; answer how many entries went."""
    expired = 0
    ttl = _ttl_attribute(endpoint, table)
    if ttl:
        for key, item in list(saved.items.items()):
            value = item.get(ttl, {}).get("N")
            if value is not None and float(value) < now:
                del saved.items[key]
                expired += 1
    for prefix, days in _expirations(endpoint, bucket):
        for key, stored in list(saved.objects.items()):
            if key.startswith(prefix) and stored.saved_at + days * DAY_SECONDS < now:
                del saved.objects[key]
                expired += 1
    return expired


def restore_items(saved: Saved, endpoint: InProcessEndpoint, table: str) -> Restored:
    """Write every saved item to the endpoint's table."""
    started = time.monotonic()
    items = list(saved.items.values())
    for start in range(0, len(items), BATCH):
        _write_batch(endpoint, table, items[start : start + BATCH])
    return Restored(len(items), time.monotonic() - started)


def put_back(
    journal: Journal, endpoint: InProcessEndpoint, bucket: str, key: str, stored: StoredObject
) -> bool:
    """Write one saved object to the endpoint's bucket; False if its body is lost."""
    body = journal.body(stored)
    if body is None:
        log.warning("saved object %s has lost its body; it is not restored", key)
        return False
    endpoint.put_object(bucket, key, body, stored.content_type, stored.metadata)
    return True


def _write_batch(endpoint: InProcessEndpoint, table: str, items: Sequence[Mapping[str, Any]]) -> None:
    pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items]}
    for _ in range(10):
        answer = endpoint.dynamodb("BatchWriteItem", {"RequestItems": pending})
        pending = answer.get("UnprocessedItems") or {}
        if not pending:
            return
    raise EndpointError(f"BatchWriteItem left {len(pending.get(table, []))} items unprocessed")


def _ttl_attribute(endpoint: InProcessEndpoint, table: str) -> str | None:
    described = endpoint.dynamodb("DescribeTimeToLive", {"TableName": table})["TimeToLiveDescription"]
    if described.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        return None
    return str(described.get("AttributeName") or "") or None


def _expirations(endpoint: InProcessEndpoint, bucket: str) -> list[tuple[str, int]]:
    """(prefix, days) of the bucket's enabled lifecycle rules that expire objects after days."""
    reply = endpoint.request(
        "GET", f"/{bucket}", {"Authorization": endpoint.s3_authorization}, query="lifecycle"
    )
    if reply.status != 200:
        return []  # no lifecycle configuration
    found: list[tuple[str, int]] = []
    root = ElementTree.fromstring(reply.body)
    for rule in root.iter():
        if _tag(rule) != "Rule":
            continue
        fields = {_tag(e): (e.text or "").strip() for e in rule.iter()}
        if fields.get("Status") == "Enabled" and fields.get("Days", "").isdigit():
            found.append((fields.get("Prefix", ""), int(fields["Days"])))
    return found


def _tag(element: Any) -> str:
    return str(element.tag).rsplit("}", 1)[-1]
