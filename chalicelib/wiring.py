"""The composition root: Settings → adapters → use cases. The tests' seam.

Built on first use (the first request or message), never at import, so moto or a local endpoint
is in place before any client exists; reset() lets tests build a fresh graph.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.aws.clients import AwsClients
from chalicelib.aws.dynamodb import DynamoStore
from chalicelib.aws.s3 import S3Blobs
from chalicelib.aws.sqs import SqsCallQueue
from chalicelib.batch import CallBatchHandler, DeadLetterHandler
from chalicelib.execute.executor import Executor
from chalicelib.ids import utcnow
from chalicelib.ports import FunctionExecutor
from chalicelib.runner import CallRunner
from chalicelib.service import Service
from chalicelib.settings import Settings


@dataclass(frozen=True)
class Components:
    settings: Settings
    clients: AwsClients
    service: Service
    runner: CallRunner
    calls_handler: CallBatchHandler
    dead_letters: DeadLetterHandler


def build(
    settings: Settings,
    executor: FunctionExecutor | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Components:
    clients = AwsClients(settings.region, settings.endpoint_url, settings.aws_max_attempts)
    store = DynamoStore(clients, settings.table, settings.call_shards, settings.call_retention_days)
    blobs = S3Blobs(clients, settings.bucket, settings.cache_dir)
    queue = SqsCallQueue(clients, settings.calls_queue_url)
    runner = CallRunner(
        calls=store,
        code=blobs,
        payloads=blobs,
        logs=blobs,
        queue=queue,
        executor=executor or Executor(settings.max_log_bytes),
        clock=clock,
        max_attempts=settings.max_attempts,
    )
    service = Service(
        apps=store,
        routes=store,
        calls=store,
        queue=queue,
        logs=blobs,
        payloads=blobs,
        code=blobs,
        runner=runner,
        clock=clock,
        max_request_bytes=settings.max_request_bytes,
        inline_body_bytes=settings.inline_body_bytes,
        lease_grace_seconds=settings.lease_grace_seconds,
        route_cache_seconds=settings.route_cache_seconds,
        api_token=settings.api_token,
        max_async_timeout=settings.max_async_timeout,
    )
    return Components(
        settings, clients, service, runner, CallBatchHandler(runner), DeadLetterHandler(store, clock)
    )


_lock = threading.Lock()
_components: Components | None = None


def components() -> Components:
    global _components
    with _lock:
        if _components is None:
            _components = build(Settings.from_env())
        return _components


def install(value: Components | None) -> None:
    """Use these components from now on (tests, the local stack); None rebuilds from the environment."""
    global _components
    with _lock:
        _components = value
