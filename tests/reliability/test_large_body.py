"""Large binary bodies through fn start's real HTTP server: intact up to the limit, 413 above it."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from tests.local.support import Http
from tests.reliability.conftest import TunedFnStart, deploy

pytestmark = pytest.mark.e2e

SHA256_OF_STDIN = """
import hashlib, sys
print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())
"""
SIX_MIB = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def hasher(stack: TunedFnStart, tmp_path_factory: pytest.TempPathFactory) -> Http:
    http = Http(stack.url)
    deploy(http, tmp_path_factory.mktemp("functions"), "bodies", "sha", SHA256_OF_STDIN, timeout=30)
    return http


def test_a_six_megabyte_binary_body_reaches_an_async_function_intact(hasher: Http) -> None:
    body = os.urandom(6_000_000)
    status, _, reply = hasher.request("POST", "/r/bodies/sha", body, "application/octet-stream")
    assert status == 202, reply
    call_id = json.loads(reply)["call_id"]
    call = hasher.wait_for_call("bodies", call_id, timeout=60)
    assert call["status"] == "success", call
    assert hasher.log_of("bodies", call_id).strip() == hashlib.sha256(body).hexdigest()


def test_a_body_one_byte_over_the_limit_is_refused_with_413(hasher: Http) -> None:
    status, _, reply = hasher.request("POST", "/r/bodies/sha", bytes(SIX_MIB + 1), "application/octet-stream")
    assert status == 413
    message = f"Request content too large ({SIX_MIB + 1:,} bytes; at most {SIX_MIB:,} for this resource)"
    assert json.loads(reply) == {"error": {"message": message}}


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "image/png", ""])
def test_a_binary_body_arrives_intact_whatever_its_content_type(hasher: Http, content_type: str) -> None:
    body = os.urandom(100_000) + b"\xff\xfe\x80"  # never valid UTF-8
    status, _, reply = hasher.request("POST", "/r/bodies/sha", body, content_type)
    assert status == 202, reply
    call_id = json.loads(reply)["call_id"]
    assert hasher.wait_for_call("bodies", call_id, timeout=60)["status"] == "success"
    assert hasher.log_of("bodies", call_id).strip() == hashlib.sha256(body).hexdigest()


def test_a_body_exactly_at_the_limit_is_accepted(hasher: Http) -> None:
    status, _, reply = hasher.request("POST", "/r/bodies/sha", bytes(SIX_MIB), "application/octet-stream")
    assert status == 202, reply
    call = hasher.wait_for_call("bodies", json.loads(reply)["call_id"], timeout=60)
    assert call["status"] == "success", call
