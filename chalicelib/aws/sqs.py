"""The calls queue on SQS. Messages carry the call id only; the state lives in DynamoDB."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.clients import AwsClients
from chalicelib.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

log = logging.getLogger(__name__)

# SQS's bounds on a message's visibility timeout, and on the entries of one batch request.
MAX_VISIBILITY_SECONDS = 43200
MAX_BATCH_ENTRIES = 10


def message_body(call_id: str) -> str:
    return json.dumps({"call_id": call_id}, separators=(",", ":"))


class SqsCallQueue:
    def __init__(self, clients: AwsClients, queue_url: str) -> None:
        self._clients = clients
        self._queue_url = queue_url

    def send(self, call_id: str, delay_seconds: int = 0) -> None:
        try:
            self._clients.sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=message_body(call_id),
                DelaySeconds=max(0, min(delay_seconds, 900)),
            )
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailableError(f"Could not enqueue call {call_id}: {exc}") from exc

    def redeliver_after(self, seconds_by_receipt: Mapping[str, int]) -> None:
        """ChangeMessageVisibility for up to 10 messages a request (a Lambda batch is one request)."""
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            {
                "Id": str(i),
                "ReceiptHandle": receipt,
                "VisibilityTimeout": min(max(0, s), MAX_VISIBILITY_SECONDS),
            }
            for i, (receipt, s) in enumerate(seconds_by_receipt.items())
        ]
        for start in range(0, len(entries), MAX_BATCH_ENTRIES):
            chunk = entries[start : start + MAX_BATCH_ENTRIES]
            try:
                reply = self._clients.sqs.change_message_visibility_batch(
                    QueueUrl=self._queue_url,
                    Entries=chunk,
                )
            except (ClientError, BotoCoreError) as exc:
                log.warning("could not reschedule %d message(s): %s", len(chunk), exc)
                continue
            for failed in reply.get("Failed", []):
                # Deleted meanwhile, or a stale receipt handle: the message is another delivery's now.
                log.warning("could not reschedule message %s: %s", failed.get("Id"), failed.get("Message"))
