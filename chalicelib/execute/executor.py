"""The worker's FunctionExecutor: one entry point, dispatching on the route's format."""

from __future__ import annotations

from pathlib import Path

from chalicelib.execute import workspace
from chalicelib.execute.capacity import ProcessLimits, Slots
from chalicelib.execute.cold import DEFAULT_MAX_LOG_BYTES, DEFAULT_MAX_OUTPUT_BYTES, ColdExecutor
from chalicelib.execute.guard import current_reaper
from chalicelib.execute.hot import HotExecutor, HotProcess
from chalicelib.execute.pool import HotPool
from chalicelib.execute.reaper import Reaper
from chalicelib.models import RouteFormat
from chalicelib.ports import Execution, Invocation
from chalicelib.settings import Settings

NO_LIMITS = ProcessLimits()


class Executor:
    """`default` → a process per call; `json` → hot processes kept in this worker for idle_timeout.

    Build one per worker process and share it between threads; `close()` stops the hot processes.
    `limits` caps the function processes of both formats together (capacity.py). `reaper`: this
    process's, when guard.py made it a subreaper (every child must then be started through it).
    """

    def __init__(
        self,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        limits: ProcessLimits = NO_LIMITS,
        reaper: Reaper | None = None,
    ) -> None:
        self.slots = Slots(limits)
        self.pool: HotPool[HotProcess] = HotPool(self.slots)
        self._cold = ColdExecutor(self.pool, limits, max_log_bytes, max_output_bytes, reaper)
        self._hot = HotExecutor(self.pool, limits, max_log_bytes, max_output_bytes, reaper)

    @classmethod
    def from_settings(cls, settings: Settings) -> Executor:
        """The platform's executor: its caps from the settings, and this process's Reaper if
        guard.py made it a subreaper."""
        limits = ProcessLimits.from_settings(settings)
        return cls(settings.max_log_bytes, limits=limits, reaper=current_reaper())

    def execute(self, code_dir: Path, invocation: Invocation) -> Execution:
        if invocation.format is RouteFormat.JSON:
            return self._hot.execute(code_dir, invocation)
        return self._cold.execute(code_dir, invocation)

    def close(self) -> None:
        self.pool.close()
        workspace.settle()  # the workspaces of the calls and hot processes are gone when this returns
