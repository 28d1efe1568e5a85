"""The calls queue on SQS. Messages carry the call id only; the state lives in DynamoDB."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.clients import AwsClients
from chalicelib.errors import ServiceUnavailableError
from chalicelib.ports import CallbackDelivery

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import ChangeMessageVisibilityBatchRequestEntryTypeDef

log = logging.getLogger(__name__)

# SQS's bounds on a message's visibility timeout, and on the entries of one batch request.
MAX_VISIBILITY_SECONDS = 43200
MAX_BATCH_ENTRIES = 10


def message_body(call_id: str) -> str:
    return json.dumps({"call_id": call_id}, separators=(",", ":"))


def callback_message_body(delivery: CallbackDelivery) -> str:
    """A callback delivery: no `call_id` key at the top, so nothing mistakes it for a call to run."""
    fields = {"call_id": delivery.call_id, "app": delivery.app_name, "attempt": delivery.attempt}
    return json.dumps({"callback": {**fields, "first": delivery.first}}, separators=(",", ":"))


class SqsCallQueue:
    def __init__(self, clients: AwsClients, queue_url: str) -> None:
        self._clients = clients
        self._queue_url = queue_url

    def send(self, call_id: str, delay_seconds: int = 0) -> None:
        self._send(message_body(call_id), delay_seconds, f"call {call_id}")

    def send_callback(self, delivery: CallbackDelivery, delay_seconds: int = 0) -> None:
        self._send(callback_message_body(delivery), delay_seconds, f"call {delivery.call_id}'s callback")

    def _send(self, body: str, delay_seconds: int, what: str) -> None:
        try:
            self._clients.sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=body,
                DelaySeconds=max(0, min(delay_seconds, 900)),
            )
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailableError(f"Could not enqueue {what}: {exc}") from exc

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
