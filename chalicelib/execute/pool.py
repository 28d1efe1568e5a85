"""Idle hot processes, kept per key for their idle timeout, within the process caps. Thread-safe.

A process is either serving exactly one call (held by the thread that acquired it) or idle in
here; never both, so one process never sees two calls at once. Concurrent calls for the same
function get separate processes, as many as the caps allow (capacity.py); past them a call waits
for one of its key to come back, or for a slot. A daemon thread stops processes whose idle time
is up; `acquire` checks the expiry too, because a Lambda environment is frozen between invocations
and its threads do not run then.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from chalicelib.execute.capacity import Blocked, ProcessLimits, Slot, Slots


class Poolable(Protocol):
    def usable(self) -> bool:
        """Alive and in a clean state to take a new call."""
        raise NotImplementedError

    def stop(self) -> None:
        """Kill the process and release its resources (its slot too); idempotent."""
        raise NotImplementedError


P = TypeVar("P", bound=Poolable)


@dataclass
class _Idle(Generic[P]):
    process: P
    function: str
    idle_since: float
    expires_at: float


class HotPool(Generic[P]):
    def __init__(self, slots: Slots | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = slots or Slots(ProcessLimits())
        self._clock = clock
        self._idle: dict[Hashable, list[_Idle[P]]] = {}
        self._changed = self.slots.changed
        # The reaper waits on a condition of its own (same lock) and is woken only when an idle
        # process is due before the time it sleeps until: waking it at every release cost each hot
        # call a thread switch.
        self._reaper_wake = threading.Condition(self.slots.lock)
        self._reaper_due: float | None = None  # when the reaper wakes by itself; None: never
        self._reaper: threading.Thread | None = None
        self._closed = False

    def acquire(self, key: Hashable, function: str, start: Callable[[Slot], P], wait_seconds: float) -> P:
        """An idle process for `key` (the most recently used, so the others can idle out), or a new
        one started by `start` with its slot. Raises CapacityError after `wait_seconds` past a cap."""
        give_up = time.monotonic() + wait_seconds
        while True:
            got = self._wait(key, function, give_up)
            if isinstance(got, Slot):
                try:
                    return start(got)
                except BaseException:
                    got.release()
                    raise
            if got.expires_at > self._clock() and got.process.usable():
                return got.process
            got.process.stop()

    def slot_for(self, function: str, wait_seconds: float) -> Slot:
        """A slot for a process that is not pooled (a `default` call's); CapacityError as `acquire`."""
        got = self._wait(None, function, time.monotonic() + wait_seconds)
        assert isinstance(got, Slot)
        return got

    def _wait(self, key: Hashable | None, function: str, give_up: float) -> Slot | _Idle[P]:
        while True:
            with self._changed:
                while True:
                    entries = self._idle.get(key) if key is not None else None
                    if entries:
                        entry = entries.pop()
                        if not entries:
                            del self._idle[key]
                        return entry
                    blocked = self.slots.blocked(function)
                    if blocked is None:
                        return self.slots.take(function)
                    victim = self._oldest_idle(function if blocked is Blocked.FUNCTION else None)
                    if victim is not None:
                        break
                    remaining = give_up - time.monotonic()
                    if remaining <= 0:
                        raise self.slots.refused(blocked)
                    self._changed.wait(remaining)
            # Stopping an idle process of another key frees its slot (and wakes the waiters).
            victim.process.stop()

    def _oldest_idle(self, function: str | None) -> _Idle[P] | None:
        """Take out the idle process unused the longest (of `function`, or of any)."""
        candidates = [
            (entry.idle_since, key, entry)
            for key, entries in self._idle.items()
            for entry in entries
            if function is None or entry.function == function
        ]
        if not candidates:
            return None
        _, key, entry = min(candidates, key=lambda c: c[0])
        self._idle[key].remove(entry)
        if not self._idle[key]:
            del self._idle[key]
        return entry

    def release(self, key: Hashable, function: str, process: P, idle_timeout: float) -> None:
        """Give the process back after its call; it is stopped instead if it cannot serve again."""
        if idle_timeout <= 0 or not process.usable():
            process.stop()
            return
        with self._changed:
            closed = self._closed
            if not closed:
                now = self._clock()
                expires_at = now + idle_timeout
                self._idle.setdefault(key, []).append(_Idle(process, function, now, expires_at))
                if self._reaper is None:
                    self._reaper = threading.Thread(target=self._reap, name="fnq-hot-reaper", daemon=True)
                    self._reaper.start()
                elif self._reaper_due is None or expires_at < self._reaper_due:
                    self._reaper_wake.notify()
                self._changed.notify_all()  # the calls waiting for a process or a slot, if any
        if closed:
            process.stop()

    def idle_count(self) -> int:
        with self._changed:
            return sum(len(entries) for entries in self._idle.values())

    def close(self) -> None:
        """Stop every idle process (busy ones are stopped when released)."""
        with self._changed:
            self._closed = True
            victims = [e.process for entries in self._idle.values() for e in entries]
            self._idle.clear()
            self._changed.notify_all()
            self._reaper_wake.notify()
        for process in victims:
            process.stop()

    def _reap(self) -> None:
        while True:
            with self._changed:
                if self._closed:
                    return
                now = self._clock()
                expired = [e for entries in self._idle.values() for e in entries if e.expires_at <= now]
                for key in list(self._idle):
                    self._idle[key] = [e for e in self._idle[key] if e.expires_at > now]
                    if not self._idle[key]:
                        del self._idle[key]
                if not expired:
                    self._reaper_due = min(
                        (e.expires_at for es in self._idle.values() for e in es), default=None
                    )
                    self._reaper_wake.wait(
                        None if self._reaper_due is None else max(0.0, self._reaper_due - now)
                    )
                    self._reaper_due = -math.inf  # awake: it looks at every idle process before it sleeps
            # Killing a tree takes a few reads of /proc: done outside the lock so calls are not held up.
            for entry in expired:
                entry.process.stop()
