"""fnq on moto inside the bench process, as the tests run it: the API through Chalice's test client,
the worker through `app.handle_calls` with SQS events built from real receives.

Only entry points that outlive refactors are used: the HTTP API, `wiring`, the SQS handler.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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
