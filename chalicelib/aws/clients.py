"""AWS clients from botocore, built lazily on first use and never at import (moto must be active first).

botocore alone, not boto3: boto3 adds nothing fnq uses to a client, and importing it pulls in
s3transfer and its resource layer, about half of a cold start's import time (bench row 6).
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


class AwsClients:
    def __init__(self, region: str, endpoint_url: str | None = None, max_attempts: int = 5) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        # Standard mode retries throttling and transient faults with backoff; a call that still
        # fails surfaces as an error the worker turns into a redelivery, so nothing is lost.
        self._config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=5,
            read_timeout=30,
        )
        self._session: Any = None
        # A batch's threads may ask for their first clients at once; a botocore session is not
        # safe to create clients from concurrently, so they are made one at a time.
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        with self._lock:
            if self._session is None:
                # One session for all three: the credential chain and endpoint data load once.
                self._session = botocore.session.get_session()
            return self._session.create_client(
                service, region_name=self._region, endpoint_url=self._endpoint_url, config=self._config
            )

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self._client("dynamodb")
        return client

    @cached_property
    def s3(self) -> S3Client:
        client: S3Client = self._client("s3")
        return client

    @cached_property
    def sqs(self) -> SQSClient:
        client: SQSClient = self._client("sqs")
        return client
