"""The sweeper's timer under `fn worker` (and so `fn start`): the deployed stack runs the same
handler (app.sweep) on a one-minute schedule; locally a thread of the worker calls it."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


def scheduled_event(region: str) -> dict[str, Any]:
    """An EventBridge scheduled event shaped as AWS sends it (Chalice's handler reads every field)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {},
    }


def start_sweeping(stop: threading.Event, interval_seconds: float, region: str) -> threading.Thread | None:
    """Run a sweeper pass every `interval_seconds` until `stop` is set (none when it is 0 or less)."""
    if interval_seconds <= 0:
        return None
    # Imported here, as the worker imports the other handlers: app.py pulls in Chalice.
    from app import sweep

    def loop() -> None:
        while not stop.wait(interval_seconds):
            try:
                sweep(scheduled_event(region), None)
            except Exception:
                # The next pass finds the same calls (still due): log and keep the timer going.
                log.exception("sweeper pass failed")

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread
