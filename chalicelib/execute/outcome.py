"""Executions for the failures every format shares, worded once."""

from __future__ import annotations

import time

from chalicelib.errors import FnqError
from chalicelib.models import CallStatus, RunStats
from chalicelib.ports import Execution


def memory_error(memory_mb: int) -> str:
    return f"out of memory: the function used more than its {memory_mb} MB"


def failed_to_start(exc: Exception, started: float) -> Execution:
    """The function could not be started (no func.yaml, missing binary or interpreter)."""
    reason = exc.message if isinstance(exc, FnqError) else (getattr(exc, "strerror", None) or str(exc))
    stats = RunStats(duration_ms=int((time.monotonic() - started) * 1000))
    return Execution(CallStatus.ERROR, b"", b"", stats, error=f"function failed to start: {reason}")
