"""Structured logs on Lambda: one JSON object a line, carrying the call id being worked on.

CloudWatch Logs Insights parses JSON lines into fields, so `filter call_id = "01J…"` finds every
line the worker and the runner wrote about one call. The call id is a context variable set by the
batch handler around each call (threads of a batch each carry their own), so no log call has to
pass it. Cheap: a record is formatted only when its level lets it through.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_call_id: ContextVar[str | None] = ContextVar("fnq_call_id", default=None)

# Set by the Lambda runtime in every function's environment; never on a workstation.
LAMBDA_FUNCTION_ENV = "AWS_LAMBDA_FUNCTION_NAME"


@contextmanager
def call_context(call_id: str) -> Iterator[None]:
    """Log lines written inside carry `call_id`."""
    token = _call_id.set(call_id)
    try:
        yield
    finally:
        _call_id.reset(token)


def current_call_id() -> str | None:
    return _call_id.get()


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "call_id"?, "error"?}` on one line; a message that is
    a JSON object gives its own fields instead of "message"."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        # A message that is itself a JSON object (the sweeper's events) becomes fields of the line,
        # not a string inside it, so metric filters and Logs Insights see its fields.
        fields = _json_object(message) if message.startswith("{") else None
        if fields is not None:
            line.update(fields)
        else:
            line["message"] = message
        call_id = _call_id.get()
        if call_id is not None:
            line["call_id"] = call_id
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _json_object(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def configure_lambda_logging() -> bool:
    """On Lambda, make the runtime's log handler write JSON lines, and let INFO through.

    Anywhere else (tests, `fn start`, `chalice local`) nothing changes: the workstation's own
    logging setup stays. Answers whether it configured anything.
    """
    if not os.environ.get(LAMBDA_FUNCTION_ENV):
        return False
    root = logging.getLogger()
    if not root.handlers:  # the Lambda runtime installs one; a bare interpreter has none
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    # fnq's own loggers: the runtime leaves the root at WARNING, which would drop the worker's
    # INFO lines (a batch's summary, a call's requeue).
    logging.getLogger("chalicelib").setLevel(logging.INFO)
    return True
