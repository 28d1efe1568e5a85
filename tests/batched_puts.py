"""Writes batched for setting up many records on moto: the store's own PutItems, 25 to a request.

Shared by tests that need thousands of calls (tests/test_listing_reads.py) and bench/listing.py:
one request per item costs minutes on moto, where BatchWriteItem takes seconds.
"""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse


class BatchedPuts:
    """While active, the client's PutItems are held (answered as if written) and sent 25 at a time
    as BatchWriteItem. Their conditions are dropped: only for items known to be new."""

    BATCH = 25  # BatchWriteItem's limit

    def __init__(self, client: Any) -> None:
        self._client = client
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self.requests = 0

    def _hold(self, params: dict[str, Any], **_: Any) -> None:
        self._pending.setdefault(params["TableName"], []).append({"PutRequest": {"Item": params["Item"]}})

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("", 200, {}, None), {}  # type: ignore[arg-type]

    def __enter__(self) -> BatchedPuts:
        self._client.meta.events.register("before-parameter-build.dynamodb.PutItem", self._hold)
        self._client.meta.events.register("before-call.dynamodb.PutItem", self._answer)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.meta.events.unregister("before-parameter-build.dynamodb.PutItem", self._hold)
        self._client.meta.events.unregister("before-call.dynamodb.PutItem", self._answer)
        self.flush(0)

    def flush(self, keep: int = BATCH - 1) -> None:
        """Send full batches (every held item when `keep` is 0)."""
        for table, requests in self._pending.items():
            while len(requests) > keep:
                batch, requests[:] = requests[: self.BATCH], requests[self.BATCH :]
                unprocessed: Any = {table: batch}
                while unprocessed:
                    self.requests += 1
                    unprocessed = self._client.batch_write_item(RequestItems=unprocessed).get(
                        "UnprocessedItems"
                    )
