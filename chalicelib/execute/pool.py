"""Idle hot processes, kept per key for their idle timeout. Thread-safe.

A process is either serving exactly one call (held by the thread that acquired it) or idle in
here; never both, so one process never sees two calls at once. Concurrent calls for the same
function get separate processes. A daemon thread stops processes whose idle time is up; `acquire`
checks the expiry too, because a Lambda environment is frozen between invocations and its threads
do not run then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Poolable(Protocol):
    def usable(self) -> bool:
        """Alive and in a clean state to take a new call."""
        raise NotImplementedError

    def stop(self) -> None:
        """Kill the process and release its resources; idempotent."""
        raise NotImplementedError


P = TypeVar("P", bound=Poolable)


@dataclass
class _Idle(Generic[P]):
    process: P
    expires_at: float


class HotPool(Generic[P]):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._idle: dict[Hashable, list[_Idle[P]]] = {}
        self._changed = threading.Condition()
        self._reaper: threading.Thread | None = None
        self._closed = False

    def acquire(self, key: Hashable, start: Callable[[], P]) -> P:
        """An idle process for `key` (the most recently used, so the others can idle out), or a new one."""
        while True:
            with self._changed:
                entries = self._idle.get(key)
                entry = entries.pop() if entries else None
            if entry is None:
                return start()
            if entry.expires_at > self._clock() and entry.process.usable():
                return entry.process
            entry.process.stop()

    def release(self, key: Hashable, process: P, idle_timeout: float) -> None:
        """Give the process back after its call; it is stopped instead if it cannot serve again."""
        if idle_timeout <= 0 or not process.usable():
            process.stop()
            return
        with self._changed:
            if self._closed:
                process.stop()
                return
            self._idle.setdefault(key, []).append(_Idle(process, self._clock() + idle_timeout))
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._reap, name="fnq-hot-reaper", daemon=True)
                self._reaper.start()
            self._changed.notify()

    def idle_count(self) -> int:
        with self._changed:
            return sum(len(entries) for entries in self._idle.values())

    def close(self) -> None:
        """Stop every idle process (busy ones are stopped when released)."""
        with self._changed:
            self._closed = True
            victims = [e.process for entries in self._idle.values() for e in entries]
            self._idle.clear()
            self._changed.notify()
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
                    soonest = min((e.expires_at for es in self._idle.values() for e in es), default=None)
                    self._changed.wait(None if soonest is None else max(0.0, soonest - now))
            # Killing takes a /proc scan: done outside the lock so calls are not held up.
            for entry in expired:
                entry.process.stop()
