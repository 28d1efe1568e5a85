"""fnq on moto inside the bench process, as the tests run it: the API through Chalice's test client,
the worker through `app.handle_calls` with SQS events built from real receives.

Only entry points that outlive refactors are used: the HTTP API, `wiring`, the SQS handler.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.local import LambdaContext
from moto import mock_aws

from app import handle_calls
from chalicelib.settings import DEFAULT_REGION
from fnq.local.moto_patches import make_moto_dynamodb_atomic
from fnq.local.resources import FAKE_KEY
from fnq.local.worker import WORKER_MEMORY_MB, WORKER_TIMEOUT_SECONDS
from tests.conftest import Stack, open_stack
from tests.support import receive_event, settle

# The calls handler's timeout and memory in .chalice/config.json (tests/infra keeps fnq.local.worker's
# defaults equal to them): the remaining time a fresh invocation has, the memory its calls share.
WORKER_TIMEOUT_MS = WORKER_TIMEOUT_SECONDS * 1000


def quiet() -> None:
    """Keep the table readable: moto's CloudFormation warns about the bucket policy it skips, and a
    listing stopped at its time budget is logged by the API as an internal error."""
    warnings.filterwarnings("ignore", message="Tried to parse AWS.*BucketPolicy")
    for name in ("moto", "botocore", "chalicelib", "app"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextmanager
def moto_stack(workdir: Path) -> Iterator[Stack]:
    """A fresh in-process moto with fnq's resources, fnq's components installed, the test client."""
    quiet()
    saved = dict(os.environ)
    # In-process moto intercepts nothing when an endpoint is set; the credentials are fake.
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(
        AWS_ACCESS_KEY_ID=FAKE_KEY, AWS_SECRET_ACCESS_KEY=FAKE_KEY, AWS_DEFAULT_REGION=DEFAULT_REGION
    )
    make_moto_dynamodb_atomic()
    try:
        with mock_aws(config={"core": {"reset_boto3_session": False}}), open_stack(workdir) as stack:
            yield stack
    finally:
        os.environ.clear()
        os.environ.update(saved)


def lambda_context() -> Any:
    """What Lambda passes the calls handler: a fresh invocation with the configured timeout ahead."""
    return LambdaContext("handle_calls", memory_size=WORKER_MEMORY_MB, max_runtime_ms=WORKER_TIMEOUT_MS)


def receive_records(stack: Stack, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """`count` records of the calls queue, as Lambda's event source would hand them over."""
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(records) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(records)} of {count} messages arrived on the calls queue")
        wanted = min(10, count - len(records))
        records += receive_event(stack.settings.calls_queue_url, wanted)["Records"]
    return records


def handle(stack: Stack, records: list[dict[str, Any]]) -> float:
    """One invocation of the calls handler with these records; answer its wall time. The
    messages are then settled as the event source would (reported failures stay queued)."""
    event = {"Records": records}
    began = time.perf_counter()
    response = handle_calls(event, lambda_context())
    elapsed = time.perf_counter() - began
    settle(stack.settings.calls_queue_url, event, response or {})
    failed = (response or {}).get("batchItemFailures") or []
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(records)} records failed: {failed[:3]}")
    return elapsed


@dataclass(frozen=True)
class Request:
    name: str
    on_handler_thread: bool  # made by the thread that called the handler (the batch's claims)
    wall: float  # seconds from botocore's before-call to its after-call
    cpu: float  # this process's CPU in that time, on the requesting thread: moto's and botocore's


class RequestClock:
    """Times the AWS requests of fnq's own clients (botocore's hooks, as tests/aws_requests.py
    counts them). On moto in-process a request is CPU of this process, under its one GIL: what
    the handler's figures owe to the emulation rather than to the handler."""

    def __init__(self, stack: Stack) -> None:
        self.requests: list[Request] = []
        self._handler = threading.get_ident()
        self._lock = threading.Lock()
        clients = stack.components.clients
        self._clients = [clients.dynamodb, clients.s3, clients.sqs]
        for client in self._clients:
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)

    def close(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-call", self._before)
            client.meta.events.unregister("after-call", self._after)

    def _before(self, context: dict[str, Any], **_: Any) -> None:
        context["bench_began"] = (time.perf_counter(), time.thread_time())

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        wall, cpu = context.pop("bench_began", (None, None))
        if wall is None or cpu is None:
            return
        request = Request(
            model.name,
            threading.get_ident() == self._handler,
            time.perf_counter() - wall,
            time.thread_time() - cpu,
        )
        with self._lock:
            self.requests.append(request)
