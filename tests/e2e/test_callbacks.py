"""Completion callbacks through `fn start` and the `fn` command, to a real receiver on loopback in
this process: one signed delivery per call (checked with docs/CALLBACKS.md's snippets, Python and
Node), retries after failures with the backoff the local event source honours, and every attempt
shown by `fn calls get`."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.callback_receiver import Delivery, documented_snippet, receiving, verified_by_the_documented_python
from tests.e2e.support import FN, fn, require, serving
from tests.local.support import FnStart, Http, free_port


@pytest.fixture(scope="module")
def quick() -> Iterator[FnStart]:
    """`fn start` with callback retries 1 s apart (then 4 s): the suite does not wait 30 s."""
    started = FnStart(
        free_port(), command=(str(FN), "start"), new_session=True, env={"FNQ_CALLBACK_BACKOFF_SECONDS": "1"}
    )
    with serving(started) as stack:
        yield stack


def invoke(stack: FnStart, app: str, route: str, callback: str) -> str:
    request = urllib.request.Request(
        f"{stack.url}/r/{app}/{route}", data=b"", method="POST", headers={"Fn-Callback-Url": callback}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.headers["Fn_call_id"])


def callbacks_of(
    http: Http, app: str, call_id: str, count: int, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The call's recorded attempts, once there are `count` (a delivery is recorded after its POST)."""
    deadline = time.monotonic() + timeout
    while True:
        call = http.json("GET", f"/v1/apps/{app}/calls/{call_id}")[1]["call"]
        found: list[dict[str, Any]] = call.get("callbacks", [])
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} attempts recorded after {timeout} s: {call}"
        time.sleep(0.1)


def verified_by_the_documented_node(secret: str, delivery: Delivery, workdir: Path) -> bool:
    """docs/CALLBACKS.md's Node snippet, verbatim, on the delivery's headers and raw body."""
    require("node", "node is not installed: the Node verification snippet cannot run")
    (workdir / "body.bin").write_bytes(delivery.body)
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    (workdir / "headers.json").write_text(json.dumps(headers))
    script = documented_snippet("javascript") + (
        "\nconst fs = require('fs');\n"
        "const headers = JSON.parse(fs.readFileSync('headers.json', 'utf8'));\n"
        "console.log(verify(process.argv[1], headers, fs.readFileSync('body.bin')));\n"
    )
    done = subprocess.run(
        ["node", "-e", script, secret], cwd=workdir, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip() == "true"


def test_a_receiver_failing_twice_gets_a_third_signed_attempt_and_fn_calls_get_shows_all_three(
    quick: FnStart, tmp_path: Path
) -> None:
    http = Http(quick.url)
    http.deploy(tmp_path, "cbapp", "hello", "async")
    secret = http.json("GET", "/v1/apps/cbapp/callback_secret")[1]["callback_secret"]["secret"]
    with receiving([500, 500]) as receiver:
        call_id = invoke(quick, "cbapp", "hello", receiver.url)
        deliveries = receiver.wait_for(3)
        attempts = callbacks_of(http, "cbapp", call_id, 3)

    assert len(deliveries) == 3
    for number, delivery in enumerate(deliveries, 1):
        assert delivery.headers["Fn-Callback-Attempt"] == str(number)
        assert (delivery.call["id"], delivery.call["status"]) == (call_id, "success")
        assert verified_by_the_documented_python(secret, delivery)
    assert verified_by_the_documented_node(secret, deliveries[-1], tmp_path)
    assert not verified_by_the_documented_node("fnqcb_not-the-secret", deliveries[-1], tmp_path)
    assert [(a["number"], a["outcome"], a["status_code"]) for a in attempts] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "delivered", 200),
    ]

    shown = fn("calls", "get", "cbapp", call_id, cwd=tmp_path, api_url=quick.url).stdout
    lines = shown.splitlines()
    assert "Status: success" in lines
    assert f"Callback URL: {receiver.url}" in lines
    # "Callback attempt N: <time> <outcome> (<detail>)"
    printed = [line.split(" ", 4)[4] for line in lines if line.startswith("Callback attempt")]
    assert printed == ["failed (HTTP 500)", "failed (HTTP 500)", "delivered (HTTP 200)"]


def test_each_call_sync_or_async_gets_exactly_one_delivery(quick: FnStart, tmp_path: Path) -> None:
    http = Http(quick.url)
    http.deploy(tmp_path, "oneapp", "later", "async")
    http.deploy(tmp_path, "oneapp", "now", "sync")
    secret = http.json("GET", "/v1/apps/oneapp/callback_secret")[1]["callback_secret"]["secret"]
    with receiving() as receiver:
        ids = [invoke(quick, "oneapp", route, receiver.url) for route in ("later", "now", "later", "now")]
        receiver.wait_for(len(ids))
        for call_id in ids:
            assert [a["outcome"] for a in callbacks_of(http, "oneapp", call_id, 1)] == ["delivered"]
        delivered = list(receiver.deliveries)

    assert sorted(d.call["id"] for d in delivered) == sorted(ids)
    assert all(verified_by_the_documented_python(secret, d) for d in delivered)
