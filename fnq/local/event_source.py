"""Lambda's SQS event source mapping, emulated around the handler Lambda would run.

What the emulation keeps from the real thing (and why it matters to fnq):
* long-poll receives of up to 10 messages, delivered as one Lambda-shaped event built from the real
  `receive_message` output (unique message ids and receipt handles, Lambda's attribute names);
* the queue's own visibility timeout: a message not deleted comes back after it, and the queue's
  redrive policy moves it to the dead-letter queue after maxReceiveCount receives;
* ReportBatchItemFailures: after the handler returns, every record not listed in
  `batchItemFailures` is deleted; a handler that raises, or answers an identifier that is empty or
  not in the batch, fails the whole batch (nothing is deleted), as Lambda documents;
* the function's limits: the handler gets a Lambda-like context (`get_remaining_time_in_millis()`,
  `memory_limit_in_mb`) for the configured timeout and memory, and an invocation that runs past its
  timeout is a failed one (nothing deleted) that a `Watchdog` cuts, as Lambda ends the sandbox.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger(__name__)

# A Lambda handler: (event, context) → response.
Handler = Callable[[dict[str, Any], Any], Any]

MAX_BATCH = 10
# Short enough that a stop request is noticed within about a second; long enough that an idle
# poller costs one request a second.
WAIT_SECONDS = 1
RETRY_PAUSE_SECONDS = 1.0
# How often the watchdog looks for invocations past their deadline.
WATCH_SECONDS = 0.1


@dataclass(frozen=True)
class InvocationLimits:
    """What Lambda gives one invocation of the function: its configured timeout and memory."""

    function_name: str
    timeout_seconds: float
    memory_mb: int


@dataclass
class InvocationContext:
    """The part of Lambda's context object the handlers use, for one invocation."""

    function_name: str
    memory_limit_in_mb: int
    deadline: float  # time.monotonic() at which Lambda would end the invocation
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def starting_now(cls, limits: InvocationLimits) -> InvocationContext:
        deadline = time.monotonic() + limits.timeout_seconds
        return cls(limits.function_name, limits.memory_mb, deadline, limits.timeout_seconds)

    def get_remaining_time_in_millis(self) -> int:
        # Rounded up: 0 only once the deadline has passed (then the invocation is overdue).
        return max(0, math.ceil((self.deadline - time.monotonic()) * 1000))

    @property
    def overdue(self) -> bool:
        return time.monotonic() >= self.deadline


class Watchdog:
    """Calls `cut` for an invocation still running at its deadline, as Lambda ends a sandbox whose
    invocation times out. Threads cannot be stopped, so `cut` ends the whole process (see worker.py)."""

    def __init__(self, cut: Callable[[InvocationContext], None], period: float = WATCH_SECONDS) -> None:
        self._cut = cut
        self._period = period
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._contexts: dict[int, InvocationContext] = {}

    @contextlib.contextmanager
    def watching(self, context: InvocationContext) -> Iterator[None]:
        key = id(context)
        with self._lock:
            self._contexts[key] = context
        try:
            yield
        finally:
            with self._lock:
                self._contexts.pop(key, None)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self._period):
            with self._lock:
                overdue = [(key, c) for key, c in self._contexts.items() if c.overdue]
                for key, _ in overdue:
                    del self._contexts[key]  # cut once
            for _, context in overdue:
                self._cut(context)


def lambda_event(messages: list[MessageTypeDef], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda hands an SQS-triggered function for these received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m.get("Body", ""),
                "attributes": dict(m.get("Attributes", {})),
                "messageAttributes": dict(m.get("MessageAttributes", {})),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def records_to_delete(event: Mapping[str, Any], response: Any) -> list[Mapping[str, Any]]:
    """The records Lambda deletes after the handler answered `response` (partial batch failures)."""
    records: list[Mapping[str, Any]] = list(event["Records"])
    failures = response.get("batchItemFailures") if isinstance(response, Mapping) else None
    if not failures:
        return records
    ids = {r["messageId"] for r in records}
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or identifier not in ids:
            log.error("handler reported an unknown item %r: the whole batch fails", identifier)
            return []
        failed.add(identifier)
    return [r for r in records if r["messageId"] not in failed]


class SqsEventSource:
    """One poller: receive a batch, run the handler, delete what succeeded; repeat until stopped."""

    def __init__(
        self,
        sqs: SQSClient,
        queue_url: str,
        handler: Handler,
        region: str,
        batch_size: int = MAX_BATCH,
        wait_seconds: int = WAIT_SECONDS,
        log_each: bool = False,
        limits: InvocationLimits | None = None,
        watchdog: Watchdog | None = None,
    ) -> None:
        """`limits`: the function's timeout and memory (a 900 s, 1769 MB worker by default)."""
        self._sqs = sqs
        self._queue_url = queue_url
        self._handler = handler
        self._region = region
        self._batch_size = max(1, min(batch_size, MAX_BATCH))
        self._wait_seconds = wait_seconds
        self._queue_arn: str | None = None
        # One line per message (for the dead-letter queue, whose messages are few and telling).
        self._log_each = log_each
        self._limits = limits or InvocationLimits("handle_calls", 900, 1769)
        self._watchdog = watchdog

    @property
    def queue_url(self) -> str:
        return self._queue_url

    def poll_once(self) -> int:
        """One receive and, if it brought messages, one handler invocation. Answers the batch size."""
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=self._wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = lambda_event(messages, self._arn(), self._region)
        if self._log_each:
            for record in event["Records"]:
                receives = record["attributes"].get("ApproximateReceiveCount", "?")
                log.info("%s: message %s (received %s times)", self._name(), record["messageId"], receives)
        context = InvocationContext.starting_now(self._limits)
        try:
            with self._watchdog.watching(context) if self._watchdog else contextlib.nullcontext():
                response = self._handler(event, context)
        except Exception:
            # A function error: Lambda deletes nothing; every message returns after its visibility.
            log.exception("handler failed on a batch of %d from %s", len(messages), self._queue_url)
            return len(messages)
        if context.overdue:
            # Lambda would have ended it at the deadline: a timed-out invocation answers nothing.
            log.error(
                "%s: invocation %s ran past its %g s timeout; nothing is deleted",
                self._name(),
                context.aws_request_id,
                context.timeout_seconds,
            )
            return len(messages)
        done = records_to_delete(event, response)
        self._delete(done)
        log.info("%s: batch of %d, %d to redeliver", self._name(), len(messages), len(messages) - len(done))
        return len(messages)

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set. Errors from the endpoint are logged and retried, never fatal."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                log.warning("polling %s failed (%s); retrying", self._queue_url, exc)
                stop.wait(RETRY_PAUSE_SECONDS)

    def _name(self) -> str:
        return self._queue_url.rsplit("/", 1)[-1]

    def _arn(self) -> str:
        if self._queue_arn is None:
            attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = attributes["Attributes"]["QueueArn"]
        return self._queue_arn

    def _delete(self, records: list[Mapping[str, Any]]) -> None:
        if not records:
            return
        entries = [{"Id": str(i), "ReceiptHandle": str(r["receiptHandle"])} for i, r in enumerate(records)]
        reply = self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)  # type: ignore[arg-type]
        for failed in reply.get("Failed", []):
            # The message comes back after its visibility timeout; the runner's claim makes the
            # second delivery a no-op for a call that already finished.
            log.warning("could not delete message %s: %s", failed.get("Id"), failed.get("Message"))
