"""A worker under `fn start` ends, with the functions it runs, the moment `fn start` is gone.

`fn start` holds the embedded AWS. Once it is killed, nothing a running function does can be
recorded any more, and the next `fn start` runs the calls again (fnq/local/recovery.py): letting
the old functions finish (as a worker that is asked to stop does, for a grace period) would only
repeat their side effects. So the worker checks for its parent often, and when it is gone kills
the functions it runs (each leads a process group of its own) and exits at once.
"""

from __future__ import annotations

import logging
import os
import sys

from fnq.local.supervisor import kill_adopted

log = logging.getLogger(__name__)

# How often the worker looks for its parent: a function killed within this after fn start's
# death has at most this long to do what the next start will do again.
PARENT_CHECK_SECONDS = 0.1


def parent_is_gone(parent_pid: int | None) -> bool:
    return parent_pid is not None and os.getppid() != parent_pid


def abandon(parent_pid: int) -> None:
    """Kill this process's children (the functions it runs, with their groups) and exit now."""
    log.warning(
        "fn start (pid %d) is gone: stopping at once; it recovers the calls when it starts", parent_pid
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    try:
        kill_adopted(lambda pid: True)
    finally:
        sys.stderr.flush()
        os._exit(1)
