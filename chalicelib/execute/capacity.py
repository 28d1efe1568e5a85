"""How many function processes may live at once in this process: in all, and per function.

Without a cap, 200 concurrent sync calls to a hot function started 109 processes (1.5 GB) and the
API itself stopped answering. Every function process, a `default` call's or a hot one (busy or
idle), holds a slot from before it starts until it is reaped. Past a cap a call waits, a bounded
time, for a slot to come free or for an idle hot process it can use; an idle hot process of
another key is stopped to make room. The hot pool shares this module's condition (one lock for
slots and idle processes), so a waiter wakes for either.

The caps count the processes the executor starts, not what those start in turn (a function's own
children live within its memory limit and die with its call).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from chalicelib.errors import CapacityError
from chalicelib.models import RouteType
from chalicelib.ports import Invocation
from chalicelib.settings import Settings


@dataclass(frozen=True)
class ProcessLimits:
    total: int = 0  # function processes in this process at once; 0: no cap
    per_function: int = 0  # of one function (app and path); 0: no cap
    sync_wait_seconds: float = 10.0  # how long a sync call waits past a cap before its 503
    # How long an async call waits before it gives its attempt back (the call is queued again and
    # its message returns); keep it well under the lease grace (FNQ_LEASE_GRACE_SECONDS).
    async_wait_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcessLimits:
        return cls(
            total=settings.max_function_processes,
            per_function=settings.max_processes_per_function,
            sync_wait_seconds=settings.process_wait_seconds,
            async_wait_seconds=settings.async_process_wait_seconds,
        )

    def wait_seconds(self, route_type: RouteType) -> float:
        return self.async_wait_seconds if route_type is RouteType.ASYNC else self.sync_wait_seconds


class Blocked(Enum):
    TOTAL = "total"
    FUNCTION = "function"


class Slots:
    def __init__(self, limits: ProcessLimits) -> None:
        self.limits = limits
        # Shared with the hot pool: held for every change of slots or idle processes.
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._used: dict[str, int] = {}
        self._count = 0
        self.peak = 0  # the most slots ever held at once (for tests and figures)

    def blocked(self, function: str) -> Blocked | None:
        """Which cap stops a new process of `function` now, if any. Call holding `changed`.

        The function's own cap first: only stopping a process of the same function lifts it (and
        that frees a slot of the total too)."""
        if self.limits.per_function and self._used.get(function, 0) >= self.limits.per_function:
            return Blocked.FUNCTION
        if self.limits.total and self._count >= self.limits.total:
            return Blocked.TOTAL
        return None

    def take(self, function: str) -> Slot:
        """A slot for a new process of `function`; call holding `changed`, after `blocked` is None."""
        self._used[function] = self._used.get(function, 0) + 1
        self._count += 1
        self.peak = max(self.peak, self._count)
        return Slot(self, function)

    def in_use(self) -> int:
        with self.changed:
            return self._count

    def refused(self, blocked: Blocked) -> CapacityError:
        if blocked is Blocked.TOTAL:
            return CapacityError(
                f"Too busy: all {self.limits.total} function processes of this server are in use; retry later"
            )
        return CapacityError(
            f"Too busy: {self.limits.per_function} calls of this function are already running; retry later"
        )

    def give_back(self, function: str) -> None:
        with self.changed:
            self._count -= 1
            self._used[function] -= 1
            if not self._used[function]:
                del self._used[function]
            self.changed.notify_all()


class Slot:
    """Held by one function process; given back once, when the process has been reaped."""

    def __init__(self, slots: Slots, function: str) -> None:
        self._slots = slots
        self._function = function
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._slots.give_back(self._function)


class SlotSource(Protocol):
    def slot_for(self, function: str, wait_seconds: float) -> Slot:
        """A slot for one more process of `function`; CapacityError after `wait_seconds` past a cap."""
        raise NotImplementedError


def function_of(invocation: Invocation) -> str:
    """What the per-function cap counts by: the app and the route."""
    return f"{invocation.app_name}{invocation.path}"
