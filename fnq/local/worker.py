"""`fn worker`: the SQS event source, emulated, around the handlers Lambda runs (app.py).

It works against any endpoint the environment names (AWS_ENDPOINT_URL: moto server, LocalStack, or
none for AWS itself) and the FNQ_* variables; `fn start` runs it as a supervised child process.
Stopping (SIGTERM, SIGINT) lets batches in flight finish for a grace period; whatever is still
running then is recovered the way a dead Lambda's work is: its message comes back after the
visibility timeout and the call's lease expires.

`python -m fnq.cli worker` runs it without the console script.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.execute.guard import guard_this_process
from chalicelib.settings import ENV_CALLS_QUEUE_URL, Settings
from fnq.local.event_source import Handler, SqsEventSource
from fnq.local.lifeline import PARENT_CHECK_SECONDS, abandon, parent_is_gone
from fnq.local.sweeper import start_sweeping

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
# Read timeout above the long-poll wait; standard retries ride out a restarting endpoint.
_SQS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)


def lambda_handlers() -> tuple[Handler, Handler]:
    """The calls and dead-letter handlers exactly as Lambda invokes them: (event, context)."""
    # Imported here: app.py pulls in Chalice, which `fn worker --help` need not pay for.
    from app import handle_calls, handle_dead_calls

    def calls(event: dict[str, Any]) -> Any:
        return handle_calls(event, None)

    def dead_calls(event: dict[str, Any]) -> Any:
        return handle_dead_calls(event, None)

    return calls, dead_calls


def run_worker(pollers: int = 2, parent_pid: int | None = None, stop: threading.Event | None = None) -> int:
    """Poll until SIGTERM/SIGINT (or `stop`, or the death of `parent_pid`); answer the exit code."""
    # Before any function runs: they must not read this process's credentials (guard.py).
    guard_this_process()
    settings = Settings.from_env()
    if not settings.calls_queue_url:
        print(f"ERROR: {ENV_CALLS_QUEUE_URL} is not set; see docs/LOCAL.md", file=sys.stderr)
        return 1
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    calls, dead_calls = lambda_handlers()
    session = boto3.session.Session(region_name=settings.region)

    def source(queue_url: str, handler: Handler, log_each: bool = False) -> SqsEventSource:
        # One client per poller thread: clients are thread-safe, but this keeps their connection
        # pools apart so one long poll never waits on another.
        sqs = session.client("sqs", endpoint_url=settings.endpoint_url, config=_SQS_CONFIG)
        return SqsEventSource(sqs, queue_url, handler, settings.region, log_each=log_each)

    sources = [source(settings.calls_queue_url, calls) for _ in range(max(1, pollers))]
    if settings.dead_letter_queue_url:
        sources.append(source(settings.dead_letter_queue_url, dead_calls, log_each=True))
    threads = [
        threading.Thread(target=s.run, args=(stop,), name=f"poller-{i}", daemon=True)
        for i, s in enumerate(sources)
    ]
    for thread in threads:
        thread.start()
    start_sweeping(stop, settings.sweep_interval_seconds, settings.region)
    log.info(
        "pid %d polling %s with %d poller(s)%s; endpoint %s",
        os.getpid(),
        settings.calls_queue_url,
        max(1, pollers),
        f", dead letters from {settings.dead_letter_queue_url}" if settings.dead_letter_queue_url else "",
        settings.endpoint_url or "AWS",
    )
    while not stop.wait(1.0 if parent_pid is None else PARENT_CHECK_SECONDS):
        if parent_is_gone(parent_pid):
            # The supervisor died without stopping us (SIGKILL): do not outlive it, nor let the
            # functions finish what the next fn start will run again.
            assert parent_pid is not None
            abandon(parent_pid)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    busy = sum(thread.is_alive() for thread in threads)
    if busy:
        log.warning(
            "stopping with %d batch(es) in flight; their messages return after the visibility timeout", busy
        )
    log.info("stopped")
    return 0
