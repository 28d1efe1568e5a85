"""The calls queue on SQS. Messages carry the call id only; the state lives in DynamoDB."""

from __future__ import annotations

import json

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws.clients import AwsClients
from chalicelib.errors import ServiceUnavailableError


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
