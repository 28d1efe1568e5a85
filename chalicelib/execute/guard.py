"""The platform's own process, made safe to run functions from: once, before it runs the first one.

On Lambda a function runs as the same uid as the handler that starts it, and that handler's
environment holds the role's credentials (and, in the API, the API token). Two prctl(2) settings
close what that uid would otherwise reach:

- PR_SET_DUMPABLE 0: the kernel then refuses a same-uid process access to this one's
  /proc/<pid>/environ, mem, maps, fd/ and ptrace. The setting is reset by exec, so the functions
  this process starts are dumpable again: that is fine, they are the functions.
- PR_SET_CHILD_SUBREAPER 1: an orphan of a function (a double fork, a `setsid` daemon) is
  re-parented to this process instead of init, so it stays within reach (see tree.py) and, once
  dead, is reaped here (see reaper.py) instead of staying a zombie.

Both are process-wide by nature, so they are done once per process, and the Reaper is kept here for
whoever starts children in it. Elsewhere than Linux nothing is done and the reason is logged.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading

from chalicelib.execute.reaper import Reaper

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1

_lock = threading.Lock()
_guarded = False
_reaper: Reaper | None = None


def guard_this_process() -> Reaper | None:
    """Make this process unreadable to functions and the subreaper of their orphans; idempotent.

    Answers the process's Reaper, or None where this is not possible (not Linux, prctl refused).
    """
    global _guarded, _reaper
    with _lock:
        if _guarded:
            return _reaper
        _guarded = True
        if not sys.platform.startswith("linux"):
            log.warning("not Linux: functions can read this process's memory and leave orphans behind")
            return None
        make_unreadable()
        if prctl(PR_SET_CHILD_SUBREAPER, 1):
            _reaper = Reaper()
        else:
            log.warning("prctl(PR_SET_CHILD_SUBREAPER) failed: orphans of functions escape to init")
        return _reaper


def current_reaper() -> Reaper | None:
    """The Reaper of this process if `guard_this_process` installed one."""
    with _lock:
        return _reaper


def make_unreadable() -> None:
    """PR_SET_DUMPABLE 0 alone: for a process that runs no function but holds what functions must
    not read (fn start's embedded AWS: every app's calls, bodies and logs)."""
    if not sys.platform.startswith("linux"):
        log.warning("not Linux: functions can read this process's memory")
    elif not prctl(PR_SET_DUMPABLE, 0):
        log.warning("prctl(PR_SET_DUMPABLE, 0) failed: functions can read this process's environment")


def is_dumpable() -> bool:
    return _prctl_get(PR_GET_DUMPABLE) != 0


def prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _prctl_get(option: int) -> int:
    try:
        return int(ctypes.CDLL(None, use_errno=True).prctl(option, 0, 0, 0, 0))
    except (OSError, AttributeError):
        return -1
