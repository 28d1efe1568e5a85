"""Settings: one frozen object built from the environment. Every variable name lives here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_TABLE = "FNQ_TABLE"
ENV_BUCKET = "FNQ_BUCKET"
ENV_CALLS_QUEUE_URL = "FNQ_CALLS_QUEUE_URL"
ENV_DEAD_LETTER_QUEUE_URL = "FNQ_DEAD_LETTER_QUEUE_URL"
ENV_CACHE_DIR = "FNQ_CACHE_DIR"
ENV_MAX_REQUEST_BYTES = "FNQ_MAX_REQUEST_BYTES"
ENV_MAX_LOG_BYTES = "FNQ_MAX_LOG_BYTES"
ENV_INLINE_BODY_BYTES = "FNQ_INLINE_BODY_BYTES"
ENV_INLINE_LOG_BYTES = "FNQ_INLINE_LOG_BYTES"
ENV_ROUTE_CACHE_SECONDS = "FNQ_ROUTE_CACHE_SECONDS"
ENV_CALL_SHARDS = "FNQ_CALL_SHARDS"
ENV_LEASE_GRACE_SECONDS = "FNQ_LEASE_GRACE_SECONDS"
ENV_HEARTBEAT_SECONDS = "FNQ_HEARTBEAT_SECONDS"
ENV_LEASE_SECONDS = "FNQ_LEASE_SECONDS"
ENV_CALL_RETENTION_DAYS = "FNQ_CALL_RETENTION_DAYS"
ENV_AWS_MAX_ATTEMPTS = "FNQ_AWS_MAX_ATTEMPTS"
ENV_API_TOKEN = "FNQ_API_TOKEN"
ENV_MAX_ATTEMPTS = "FNQ_MAX_ATTEMPTS"
ENV_MAX_ASYNC_TIMEOUT = "FNQ_MAX_ASYNC_TIMEOUT"
ENV_MAX_SYNC_TIMEOUT = "FNQ_MAX_SYNC_TIMEOUT"
ENV_MAX_FUNCTION_PROCESSES = "FNQ_MAX_FUNCTION_PROCESSES"
ENV_MAX_PROCESSES_PER_FUNCTION = "FNQ_MAX_PROCESSES_PER_FUNCTION"
ENV_PROCESS_WAIT_SECONDS = "FNQ_PROCESS_WAIT_SECONDS"
ENV_ASYNC_PROCESS_WAIT_SECONDS = "FNQ_ASYNC_PROCESS_WAIT_SECONDS"
ENV_SWEEP_QUEUED_SECONDS = "FNQ_SWEEP_QUEUED_SECONDS"
ENV_SWEEP_INTERVAL_SECONDS = "FNQ_SWEEP_INTERVAL_SECONDS"
ENV_WORKER_MARGIN_SECONDS = "FNQ_WORKER_MARGIN_SECONDS"
ENV_CALLBACK_ALLOW_PRIVATE = "FNQ_CALLBACK_ALLOW_PRIVATE"
ENV_CALLBACK_MAX_ATTEMPTS = "FNQ_CALLBACK_MAX_ATTEMPTS"
ENV_CALLBACK_BACKOFF_SECONDS = "FNQ_CALLBACK_BACKOFF_SECONDS"
ENV_CALLBACK_TIMEOUT_SECONDS = "FNQ_CALLBACK_TIMEOUT_SECONDS"
ENV_ENDPOINT_URL = "AWS_ENDPOINT_URL"
ENV_REGION = "AWS_DEFAULT_REGION"
DEFAULT_REGION = "us-east-1"

# The queue name is a literal because Chalice reads `@app.on_sqs_message(queue=...)` when it
# packages the app; the deployed template points the event source at the stack's queue instead.
CALLS_QUEUE_NAME = "fnq-calls"
DEAD_LETTER_QUEUE_NAME = "fnq-calls-dlq"
# The calls handler's batch (app.py): Lambda's most for an SQS event source without a batching
# window. A worker runs a batch's calls side by side, so no process cap may be below it.
CALLS_BATCH_SIZE = 10

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    table: str = "fnq"
    bucket: str = "fnq-data"
    calls_queue_url: str = ""
    dead_letter_queue_url: str = ""
    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    cache_dir: Path = Path("/tmp/fnq-cache")
    # Fn had no default limit; Lambda's own request limit is 6 MB, so anything above is moot there.
    max_request_bytes: int = 6 * MIB
    # Fn's FN_MAX_LOG_SIZE_BYTES default.
    max_log_bytes: int = 1 * MIB
    # Bodies up to this size live in the call record; larger ones go to S3 (items are <= 400 KB).
    inline_body_bytes: int = 64 * 1024
    # A sync call's log up to this size lives in its record (one write); a larger one goes to S3.
    # 4 KiB adds at most 4 write units, which cost what the PutObject they save does (at on-demand
    # prices, $1.25 a million write units against $5 a million PUTs).
    inline_log_bytes: int = 4 * 1024
    route_cache_seconds: float = 5.0
    # Calls of one app are spread over this many index partitions (see docs/ARCHITECTURE.md).
    call_shards: int = 4
    # A lease lasts the function's timeout plus this margin for fetching code and recording.
    lease_grace_seconds: int = 60
    # The worker renews a running call's lease every heartbeat_seconds, to now + lease_seconds,
    # so a dead worker's call is taken over within about lease_seconds whatever its timeout, and
    # a cancelled call is killed within one heartbeat. heartbeat_seconds 0: no heartbeats, and
    # the lease is the timeout + lease_grace_seconds as before.
    heartbeat_seconds: float = 10.0
    lease_seconds: int = 45
    call_retention_days: int = 30
    # Attempts per AWS request (botocore standard mode: throttling and transient faults, backoff).
    aws_max_attempts: int = 5
    # Claims of one call before the platform gives up on it (as the queue's maxReceiveCount).
    max_attempts: int = 5
    # When set, every API request but `/` and `/version` must carry `Authorization: Bearer <token>`
    # (what `fn` sends from FN_TOKEN). Unset, the API is open: fine on loopback, not on AWS.
    api_token: str = ""
    # Fn allows async timeouts up to an hour; on Lambda the worker itself stops at 15 minutes, so
    # the deployed stages lower this (see .chalice/config.json) and routes above it are refused.
    max_async_timeout: int = 3600
    # Fn allows sync timeouts up to 120 s; a sync call runs inside the API's invocation, which API
    # Gateway cuts at 29 s and Lambda at the API function's timeout, so the deployed stages lower
    # this (see .chalice/config.json) and sync routes above it are refused (chalicelib/routes.py).
    max_sync_timeout: int = 120
    # Function processes (hot and cold, busy and idle) one API or worker process may run at once,
    # in all and per function (app + route); 0 lifts a cap. See chalicelib/execute/capacity.py.
    max_function_processes: int = 32
    # Per function, a whole batch of one function's calls: below it the last calls of the batch
    # wait for a slot after their claim, until the first ones end (a second wave).
    max_processes_per_function: int = CALLS_BATCH_SIZE
    # How long a call waits past a cap: a sync call then gets 503 with Retry-After; an async call
    # goes back to the queue (keep this under lease_grace_seconds).
    process_wait_seconds: float = 10.0
    async_process_wait_seconds: float = 30.0
    # A queued call whose message has not claimed it this long after it was queued is re-sent by
    # the sweeper (a duplicate message is harmless: claims are conditional).
    sweep_queued_seconds: int = 900
    # How often `fn worker` runs a sweeper pass (the deployed stack: a schedule, every minute).
    sweep_interval_seconds: float = 60.0
    # The worker starts a call only if the invocation's remaining time covers the call's timeout
    # plus this margin (fetching code and body, storing the log, recording the outcome). Below the
    # lease grace, so that the longest async timeout still fits a fresh 900 s invocation.
    worker_margin_seconds: int = 30
    # Completion callbacks (docs/CALLBACKS.md): loopback, private, link-local and other non-public
    # addresses are refused unless this is set (`fn start` sets it: its receivers are local).
    callback_allow_private: bool = False
    # Delivery attempts of one callback, and the wait before the 2nd (times 4 each time, at most 900 s).
    callback_max_attempts: int = 5
    callback_backoff_seconds: int = 30
    # One attempt in all (connect, send, answer); a delivery runs inside the worker's margin.
    callback_timeout_seconds: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        base = cls()
        return cls(
            table=env.get(ENV_TABLE, base.table),
            bucket=env.get(ENV_BUCKET, base.bucket),
            calls_queue_url=env.get(ENV_CALLS_QUEUE_URL, base.calls_queue_url),
            dead_letter_queue_url=env.get(ENV_DEAD_LETTER_QUEUE_URL, base.dead_letter_queue_url),
            region=env.get(ENV_REGION) or env.get("AWS_REGION") or base.region,
            endpoint_url=env.get(ENV_ENDPOINT_URL) or None,
            cache_dir=Path(env.get(ENV_CACHE_DIR, str(base.cache_dir))),
            max_request_bytes=int(env.get(ENV_MAX_REQUEST_BYTES, base.max_request_bytes)),
            max_log_bytes=int(env.get(ENV_MAX_LOG_BYTES, base.max_log_bytes)),
            inline_body_bytes=int(env.get(ENV_INLINE_BODY_BYTES, base.inline_body_bytes)),
            inline_log_bytes=int(env.get(ENV_INLINE_LOG_BYTES, base.inline_log_bytes)),
            route_cache_seconds=float(env.get(ENV_ROUTE_CACHE_SECONDS, base.route_cache_seconds)),
            call_shards=max(1, int(env.get(ENV_CALL_SHARDS, base.call_shards))),
            lease_grace_seconds=int(env.get(ENV_LEASE_GRACE_SECONDS, base.lease_grace_seconds)),
            heartbeat_seconds=float(env.get(ENV_HEARTBEAT_SECONDS, base.heartbeat_seconds)),
            lease_seconds=int(env.get(ENV_LEASE_SECONDS, base.lease_seconds)),
            call_retention_days=int(env.get(ENV_CALL_RETENTION_DAYS, base.call_retention_days)),
            aws_max_attempts=max(1, int(env.get(ENV_AWS_MAX_ATTEMPTS, base.aws_max_attempts))),
            api_token=env.get(ENV_API_TOKEN, base.api_token),
            max_attempts=max(1, int(env.get(ENV_MAX_ATTEMPTS, base.max_attempts))),
            max_async_timeout=int(env.get(ENV_MAX_ASYNC_TIMEOUT, base.max_async_timeout)),
            max_sync_timeout=int(env.get(ENV_MAX_SYNC_TIMEOUT, base.max_sync_timeout)),
            max_function_processes=max(
                0, int(env.get(ENV_MAX_FUNCTION_PROCESSES, base.max_function_processes))
            ),
            max_processes_per_function=max(
                0, int(env.get(ENV_MAX_PROCESSES_PER_FUNCTION, base.max_processes_per_function))
            ),
            process_wait_seconds=float(env.get(ENV_PROCESS_WAIT_SECONDS, base.process_wait_seconds)),
            async_process_wait_seconds=float(
                env.get(ENV_ASYNC_PROCESS_WAIT_SECONDS, base.async_process_wait_seconds)
            ),
            sweep_queued_seconds=max(1, int(env.get(ENV_SWEEP_QUEUED_SECONDS, base.sweep_queued_seconds))),
            sweep_interval_seconds=float(env.get(ENV_SWEEP_INTERVAL_SECONDS, base.sweep_interval_seconds)),
            worker_margin_seconds=int(env.get(ENV_WORKER_MARGIN_SECONDS, base.worker_margin_seconds)),
            callback_allow_private=_flag(env.get(ENV_CALLBACK_ALLOW_PRIVATE, "")),
            callback_max_attempts=max(1, int(env.get(ENV_CALLBACK_MAX_ATTEMPTS, base.callback_max_attempts))),
            callback_backoff_seconds=max(
                0, int(env.get(ENV_CALLBACK_BACKOFF_SECONDS, base.callback_backoff_seconds))
            ),
            callback_timeout_seconds=float(
                env.get(ENV_CALLBACK_TIMEOUT_SECONDS, base.callback_timeout_seconds)
            ),
        )


def _flag(value: str) -> bool:
    """An on/off setting: on for 1, true, yes, on (any case); off for anything else, unset included."""
    return value.strip().lower() in ("1", "true", "yes", "on")
