"""boto3 clients, built lazily on first use and never at import (moto must be active first)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
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

    def _client(self, service: str) -> Any:
        session = boto3.session.Session(region_name=self._region)
        return session.client(service, endpoint_url=self._endpoint_url, config=self._config)  # type: ignore[call-overload]

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
