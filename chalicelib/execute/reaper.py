"""The one place that waits for this process's children, in a process that adopts orphans.

A child subreaper (see guard.py) inherits every orphan of the functions it runs: processes it never
started and whose pids it does not know. Dead ones stay zombies until it waits for them, and only
`waitpid(-1)` finds them. But a `waitpid(-1)` anywhere in the process steals the exit status of the
children somebody else is waiting for (a function's main process, the worker under `fn start`).

So, in such a process, one thread waits for *every* child, and whoever starts a child registers it
here (`spawn`) and gets its status from here (`wait`); everything else it reaps is an adopted orphan
and is discarded. Every child of the process must then be started through `spawn`: a child started
with a plain `subprocess.Popen` would have its status taken by this thread (Popen then reports 0).
Processes that did not make themselves subreapers (the tests, `fn deploy`) have no Reaper and
wait for their children directly.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

# With no child at all, a new child can only come from `spawn`, which wakes the thread; this is
# only a backstop.
IDLE_SECONDS = 1.0


class HasPid(Protocol):
    @property
    def pid(self) -> int:
        raise NotImplementedError


C = TypeVar("C", bound=HasPid)


class Reaper:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._owned: set[int] = set()  # children started through spawn() whose status is not yet taken
        self._statuses: dict[int, int] = {}  # pid → raw wait status, until its owner takes it
        # A child can end before spawn() has registered its pid: what is reaped while a spawn is
        # under way is kept here until that spawn claims it.
        self._unclaimed: dict[int, int] = {}
        self._spawning: set[int] = set()  # the spawns under way (by number)
        self._generation = 0  # bumped by every spawn: numbers them, and wakes the idle thread
        self.orphans_reaped = 0
        self._thread = threading.Thread(target=self._run, name="fnq-reaper", daemon=True)
        self._thread.start()

    def spawn(self, start: Callable[[], C]) -> C:
        """Start a child with `start()` (a Popen, usually) and keep its exit status for `wait`."""
        with self._changed:
            self._generation += 1
            spawn = self._generation
            self._spawning.add(spawn)
            self._changed.notify_all()
        try:
            child = start()
        except BaseException:
            self._spawn_over(spawn, None)
            raise
        self._spawn_over(spawn, child.pid)
        return child

    def _spawn_over(self, spawn: int, pid: int | None) -> None:
        with self._changed:
            self._spawning.discard(spawn)
            if pid is not None:
                self._owned.add(pid)
                if pid in self._unclaimed:
                    self._statuses[pid] = self._unclaimed.pop(pid)
            if not self._spawning:
                self.orphans_reaped += len(self._unclaimed)
                self._unclaimed.clear()
            self._changed.notify_all()

    def is_orphan(self, pid: int) -> bool:
        """Whether this process's child `pid` is an orphan it adopted rather than one it started.

        A child shows in /proc a moment before `spawn` learns its pid: the spawns under way now are
        waited for (one of them may be `pid`; one started later cannot be, `pid` exists already).
        """
        with self._changed:
            under_way = set(self._spawning)
            self._changed.wait_for(lambda: not under_way & self._spawning)
            return pid not in self._owned

    def exited(self, pid: int) -> bool:
        with self._changed:
            return pid in self._statuses

    def wait(self, pid: int, timeout: float | None = None) -> int | None:
        """The raw wait status of the child `pid` once it has ended (None after `timeout`). Any
        number of threads may wait for it, until it is forgotten."""
        give_up = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while pid not in self._statuses:
                if pid not in self._owned:
                    raise ChildProcessError(f"pid {pid} was not started through this reaper, or forgotten")
                remaining = None if give_up is None else give_up - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._changed.wait(remaining)
            return self._statuses[pid]

    def forget(self, pid: int) -> None:
        """The owner is done with the child `pid` (ended, its status read): its pid may now be
        handed to another process, whose status is none of the owner's business."""
        with self._changed:
            self._owned.discard(pid)
            self._statuses.pop(pid, None)

    def _idle(self, generation: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._generation != generation, IDLE_SECONDS)

    def _run(self) -> None:
        while True:
            with self._changed:
                generation = self._generation
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                # No child at all: sleep until spawn() starts one.
                self._idle(generation)
                continue
            with self._changed:
                if pid in self._owned:
                    self._statuses[pid] = status
                    self._changed.notify_all()
                elif self._spawning:
                    self._unclaimed[pid] = status
                else:
                    self.orphans_reaped += 1
