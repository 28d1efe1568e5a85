"""The processes `fn start` starts end, with what they run, the moment `fn start` is gone.

`fn start` holds the embedded AWS. Once it is killed, nothing a running function does can be
recorded any more, and the next `fn start` runs the calls again (fnq/local/recovery.py): letting
the old functions finish (as a worker that is asked to stop does, for a grace period) would only
repeat their side effects. So the worker checks for its parent often, and when it is gone kills
the functions it runs (each leads a process group of its own) and exits at once.

The embedded AWS (fnq/local/endpoint_process.py) is killed by the kernel when `fn start` ends
(`die_with_parent`): a second one must never write the data directory the next `fn start` reads.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from chalicelib.execute.guard import PR_SET_PDEATHSIG, prctl
from fnq.local.supervisor import kill_adopted

log = logging.getLogger(__name__)

# How often the worker looks for its parent: a function killed within this after fn start's
# death has at most this long to do what the next start will do again.
PARENT_CHECK_SECONDS = 0.1


def parent_is_gone(parent_pid: int | None) -> bool:
    return parent_pid is not None and os.getppid() != parent_pid


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent `parent_pid` ends (Linux; elsewhere the
    caller's own check of its parent is all there is)."""
    if sys.platform.startswith("linux") and not prctl(PR_SET_PDEATHSIG, signal.SIGKILL):
        log.warning("prctl(PR_SET_PDEATHSIG) failed: this process may outlive fn start")
    if parent_is_gone(parent_pid):  # it ended before the setting took
        os._exit(1)


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
