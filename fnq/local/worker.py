"""`fn worker`: the SQS event source, emulated, around the handlers Lambda runs (app.py).

It works against any endpoint the environment names (AWS_ENDPOINT_URL: moto server, LocalStack, or
none for AWS itself) and the FNQ_* variables; `fn start` runs it as a supervised child process.
Stopping (SIGTERM, SIGINT) lets batches in flight finish for a grace period; whatever is still
running then is recovered the way a dead Lambda's work is: its message comes back after the
visibility timeout and the call's lease expires.

Each invocation gets Lambda's limits: a context for the worker's timeout and memory
(FNQ_WORKER_TIMEOUT_SECONDS, FNQ_WORKER_MEMORY_MB; the deployed worker's 900 s and 1769 MB by
default), and an invocation still running at its deadline is cut as Lambda cuts one: the worker
kills its function processes and starts afresh in the same process (exec), so the calls of every
batch it was running come back by their messages and leases.

`python -m fnq.cli worker` runs it without the console script.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

import boto3
from botocore.config import Config

from chalicelib.execute.guard import guard_this_process
from chalicelib.settings import ENV_CALLS_QUEUE_URL, Settings
from fnq.local.event_source import (
    WAIT_SECONDS,
    Handler,
    InvocationContext,
    InvocationLimits,
    SqsEventSource,
    Watchdog,
)
from fnq.local.lifeline import PARENT_CHECK_SECONDS, abandon, parent_is_gone
from fnq.local.supervisor import kill_adopted
from fnq.local.sweeper import start_sweeping

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
# The functions' limits as .chalice/config.json gives them to the deployed Lambdas (every stage
# has the same; tests/infra checks it). The calls worker's can be changed for the local stack.
ENV_WORKER_TIMEOUT_SECONDS = "FNQ_WORKER_TIMEOUT_SECONDS"
ENV_WORKER_MEMORY_MB = "FNQ_WORKER_MEMORY_MB"
WORKER_TIMEOUT_SECONDS = 900
WORKER_MEMORY_MB = 1769
DEAD_LETTER_LIMITS = InvocationLimits("handle_dead_calls", 60, 256)
# Set across the exec that replaces a worker whose invocation timed out (see `cut_invocation`).
ENV_RESTARTED = "FNQ_WORKER_RESTARTED"
# After such a restart, the receives the old worker left open at the endpoint end within their
# long poll; a message they take meanwhile would be handed to a connection nobody reads.
RESTART_PAUSE_SECONDS = WAIT_SECONDS + 0.5
# Read timeout above the long-poll wait; standard retries ride out a restarting endpoint.
_SQS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20)


def lambda_handlers() -> tuple[Handler, Handler]:
    """The calls and dead-letter handlers exactly as Lambda invokes them: (event, context)."""
    # Imported here: app.py pulls in Chalice, which `fn worker --help` need not pay for.
    from app import handle_calls, handle_dead_calls

    return handle_calls, handle_dead_calls


def worker_limits(environ: dict[str, str] | None = None) -> InvocationLimits:
    env = os.environ if environ is None else environ
    return InvocationLimits(
        "handle_calls",
        float(env.get(ENV_WORKER_TIMEOUT_SECONDS, WORKER_TIMEOUT_SECONDS)),
        int(env.get(ENV_WORKER_MEMORY_MB, WORKER_MEMORY_MB)),
    )


def cut_invocation(context: InvocationContext) -> None:
    """End this worker as Lambda ends a sandbox whose invocation timed out, and start a new one.

    A thread cannot be stopped, so the process goes: its function processes are killed (each leads
    its own process group) and the same command replaces it (exec keeps the pid, so `fn start`'s
    supervisor and `--parent-pid` see the same worker). The calls of the batches in flight, this
    one's and any other poller's, come back as a dead Lambda's do: by their messages and leases.
    """
    log.error(
        "%s invocation %s: Task timed out after %.2f seconds; the worker restarts, killing its functions",
        context.function_name,
        context.aws_request_id,
        context.timeout_seconds,
    )
    # Every child of the worker is a function process (or an orphan one left, adopted: the worker
    # is a subreaper, guard.py); the new image's reaper reaps what is left as zombies.
    kill_adopted(lambda _: True)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ[ENV_RESTARTED] = "1"
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def run_worker(pollers: int = 2, parent_pid: int | None = None, stop: threading.Event | None = None) -> int:
    """Poll until SIGTERM/SIGINT (or `stop`, or the death of `parent_pid`); answer the exit code."""
    # Before any function runs: they must not read this process's credentials (guard.py).
    guard_this_process()
    settings = Settings.from_env()
    if not settings.calls_queue_url:
        print(f"ERROR: {ENV_CALLS_QUEUE_URL} is not set; see docs/LOCAL.md", file=sys.stderr)
        return 1
    stop = stop or threading.Event()
    owns_process = threading.current_thread() is threading.main_thread()
    if owns_process:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    if os.environ.pop(ENV_RESTARTED, None):
        log.info("pid %d restarted after an invocation timed out", os.getpid())
        stop.wait(RESTART_PAUSE_SECONDS)
    calls, dead_calls = lambda_handlers()
    session = boto3.session.Session(region_name=settings.region)
    # Only a worker that owns its process may end it; one run inside another program (a test)
    # keeps the context and the failed answer of an overdue invocation, without the cut.
    watchdog = Watchdog(cut_invocation) if owns_process else None
    limits = worker_limits()

    def source(
        queue_url: str, handler: Handler, limits: InvocationLimits, log_each: bool = False
    ) -> SqsEventSource:
        # One client per poller thread: clients are thread-safe, but this keeps their connection
        # pools apart so one long poll never waits on another.
        sqs = session.client("sqs", endpoint_url=settings.endpoint_url, config=_SQS_CONFIG)
        return SqsEventSource(
            sqs, queue_url, handler, settings.region, log_each=log_each, limits=limits, watchdog=watchdog
        )

    sources = [source(settings.calls_queue_url, calls, limits) for _ in range(max(1, pollers))]
    if settings.dead_letter_queue_url:
        sources.append(source(settings.dead_letter_queue_url, dead_calls, DEAD_LETTER_LIMITS, log_each=True))
    threads = [
        threading.Thread(target=s.run, args=(stop,), name=f"poller-{i}", daemon=True)
        for i, s in enumerate(sources)
    ]
    if watchdog is not None:
        threading.Thread(target=watchdog.run, args=(stop,), name="watchdog", daemon=True).start()
    for thread in threads:
        thread.start()
    start_sweeping(stop, settings.sweep_interval_seconds, settings.region)
    log.info(
        "pid %d polling %s with %d poller(s) (invocations of %g s, %d MB)%s; endpoint %s",
        os.getpid(),
        settings.calls_queue_url,
        max(1, pollers),
        limits.timeout_seconds,
        limits.memory_mb,
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
