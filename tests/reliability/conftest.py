"""One `fn start` for the reliability tests, tuned so that recovery happens in seconds.

A running call's lease is renewed every FNQ_HEARTBEAT_SECONDS (1 s here) to FNQ_LEASE_SECONDS
(3 s) ahead, and a message a dead worker held comes back after the calls queue's visibility
timeout (`--visibility-timeout 2`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.settings import DEFAULT_REGION
from fnq.local.resources import FAKE_KEY
from tests.local.support import PYTHON, REPO, FnStart, Http, Process, free_port, process_env
from tests.support import bundle_of, write_function

VISIBILITY_SECONDS = 2
LEASE_GRACE_SECONDS = 1
# Leases renewed every second to now + 3 s: a dead worker's call is free 3 s after its last beat.
HEARTBEAT_SECONDS = 1
LEASE_SECONDS = 3


class TunedFnStart(FnStart):
    """`fn start` with short recovery timings; knows its embedded AWS endpoint and queues."""

    def __init__(self, port: int) -> None:
        argv = [PYTHON, "-m", "fnq.local", "--port", str(port), "--ephemeral"]
        argv += ["--visibility-timeout", str(VISIBILITY_SECONDS)]
        env = process_env(
            {
                "FNQ_LEASE_GRACE_SECONDS": str(LEASE_GRACE_SECONDS),
                "FNQ_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
                "FNQ_LEASE_SECONDS": str(LEASE_SECONDS),
            }
        )
        Process.__init__(self, argv, env, cwd=REPO)
        self.url = f"http://localhost:{port}"

    def banner_value(self, name: str) -> str:
        match = re.search(rf"^  {name} +(\S+)", self.output, re.MULTILINE)
        assert match, self.output
        return match[1]

    @property
    def aws_endpoint(self) -> str:
        return self.banner_value("AWS endpoint")

    @property
    def calls_queue(self) -> str:
        return self.banner_value("calls queue")

    @property
    def dead_letter_queue(self) -> str:
        return self.banner_value("dead letters")

    def sqs(self) -> Any:
        session = boto3.session.Session(aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY)
        return session.client("sqs", region_name=DEFAULT_REGION, endpoint_url=self.aws_endpoint)

    def depth(self, queue_url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs().get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
        return sum(int(attributes["Attributes"][n]) for n in names)


@pytest.fixture(scope="session")
def stack() -> Iterator[TunedFnStart]:
    started = TunedFnStart(free_port())
    try:
        started.ready()
        yield started
    finally:
        started.stop()


def deploy(http: Http, functions: Path, app: str, name: str, source: str, **route: Any) -> str:
    """Upload `source` as a python function and PUT an async route running it; answer its digest."""
    digest, data = bundle_of(write_function(functions / f"{app}-{name}", source, name=name))
    status, _, reply = http.request("PUT", f"/v1/bundles/sha256/{digest[7:]}", data, "application/zip")
    assert status == 200, reply
    spec = {"image": f"{name}:0.0.1", "bundle": digest, "type": "async", **route}
    status, body = http.json("PUT", f"/v1/apps/{app}/routes/{name}", {"route": spec})
    assert status == 200, body
    return digest
