"""The worker's FunctionExecutor: one entry point, dispatching on the route's format."""

from __future__ import annotations

from pathlib import Path

from chalicelib.execute.cold import DEFAULT_MAX_LOG_BYTES, DEFAULT_MAX_OUTPUT_BYTES, ColdExecutor
from chalicelib.execute.hot import HotExecutor, HotProcess
from chalicelib.execute.pool import HotPool
from chalicelib.models import RouteFormat
from chalicelib.ports import Execution, Invocation


class Executor:
    """`default` → a process per call; `json` → hot processes kept in this worker for idle_timeout.

    Build one per worker process and share it between threads; `close()` stops the hot processes.
    """

    def __init__(
        self,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    ) -> None:
        self.pool: HotPool[HotProcess] = HotPool()
        self._cold = ColdExecutor(max_log_bytes, max_output_bytes)
        self._hot = HotExecutor(self.pool, max_log_bytes, max_output_bytes)

    def execute(self, code_dir: Path, invocation: Invocation) -> Execution:
        if invocation.format is RouteFormat.JSON:
            return self._hot.execute(code_dir, invocation)
        return self._cold.execute(code_dir, invocation)

    def close(self) -> None:
        self.pool.close()
