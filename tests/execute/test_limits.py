"""Timeouts, memory and output caps: a function can fail its call, never the worker."""

from __future__ import annotations

from pathlib import Path

from chalicelib.execute.capped import TRUNCATION_LINE
from chalicelib.execute.executor import Executor
from chalicelib.models import CallStatus, RouteFormat
from tests.execute.support import (
    hot_python_function,
    invocation,
    python_function,
    reset_peak_rss,
    rss_kb,
    running,
)
from tests.support import until

MIB = 1024 * 1024
FORK_A_SLEEPER = """
import os, sys, time
child = os.fork()
if child == 0:
    if {leave_group}:
        os.setsid()
    time.sleep(60)
    os._exit(0)
sys.stderr.write(f"child {{child}}\\n")
sys.stderr.flush()
time.sleep(60)
"""


def test_a_timeout_kills_the_function_and_the_child_it_forked(tmp_path: Path, executor: Executor) -> None:
    function = python_function(tmp_path / "f", FORK_A_SLEEPER.format(leave_group=False))

    execution = executor.execute(function, invocation(timeout=1))
    child = int(execution.log.split()[1])

    assert (execution.status, execution.error) == (CallStatus.TIMEOUT, "Timed out")
    assert not running(child)


def test_a_timeout_kills_a_child_that_left_the_process_group(tmp_path: Path, executor: Executor) -> None:
    function = python_function(tmp_path / "f", FORK_A_SLEEPER.format(leave_group=True))

    execution = executor.execute(function, invocation(timeout=1))
    child = int(execution.log.split()[1])

    assert execution.status is CallStatus.TIMEOUT
    assert not running(child)


def test_children_do_not_outlive_a_function_that_exits(tmp_path: Path, executor: Executor) -> None:
    function = python_function(
        tmp_path / "f",
        """
        import os, sys, time
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        print(child)
        """,
    )

    execution = executor.execute(function, invocation(timeout=5))

    assert execution.status is CallStatus.SUCCESS
    # The function ended before any look saw its child, so the child is killed through the group
    # and not waited for one by one: it is gone a moment later (SIGKILL is delivered, not awaited).
    assert until(lambda: not running(int(execution.output)), seconds=1.0)


ALLOCATE_PAST_LIMIT = """
import time
hog = []
for _ in range(40):
    hog.append(b"x" * (16 * 1024 * 1024))
    time.sleep(0.01)
time.sleep(30)
"""


def test_allocating_past_memory_ends_the_call_with_a_memory_error(tmp_path: Path, executor: Executor) -> None:
    function = python_function(tmp_path / "f", ALLOCATE_PAST_LIMIT)

    execution = executor.execute(function, invocation(memory=64, timeout=10))

    assert execution.status is CallStatus.ERROR
    assert "memory" in execution.error
    assert execution.stats.max_rss_kb is not None and execution.stats.max_rss_kb > 64 * 1024


def test_one_big_allocation_past_memory_is_caught_too(tmp_path: Path, executor: Executor) -> None:
    function = python_function(tmp_path / "f", "import time\nhog = b'x' * (512 << 20)\ntime.sleep(30)\n")

    execution = executor.execute(function, invocation(memory=64, timeout=10))

    assert (execution.status, execution.error.split(":")[0]) == (CallStatus.ERROR, "out of memory")


FORK_SHARING = """
import os, sys, time
hog = b"x" * ({mib} << 20)
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        {child}
        time.sleep(1.0)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print(len(hog))
"""


def test_forked_children_sharing_their_parents_memory_are_not_counted_once_each(
    tmp_path: Path, executor: Executor
) -> None:
    # GIVEN a function holding 48 MB that forks 4 children: their RSS summed is over 240 MB, but
    # the pages are the parent's, shared copy-on-write, and their PSS is about 60 MB in all
    function = python_function(tmp_path / "f", FORK_SHARING.format(mib=48, child="pass"))

    # WHEN it runs with 128 MB
    execution = executor.execute(function, invocation(memory=128, timeout=20))

    # THEN it is not killed for memory it does not use
    assert execution.status is CallStatus.SUCCESS, execution.error
    assert execution.stats.max_rss_kb is not None and execution.stats.max_rss_kb < 128 * 1024


def test_forked_children_each_using_their_own_memory_are_counted_together(
    tmp_path: Path, executor: Executor
) -> None:
    own = "mine = bytearray(40 << 20)\n        mine[::4096] = b'y' * len(mine[::4096])"
    function = python_function(tmp_path / "f", FORK_SHARING.format(mib=1, child=own))

    execution = executor.execute(function, invocation(memory=128, timeout=20))

    assert (execution.status, execution.error.split(":")[0]) == (CallStatus.ERROR, "out of memory")


def test_a_hot_function_past_memory_fails_its_call_and_is_replaced(
    tmp_path: Path, executor: Executor
) -> None:
    function = hot_python_function(
        tmp_path / "f",
        """
        def handle(request):
            if request["body"] == "hog":
                hog = b"x" * (512 << 20)
                import time
                time.sleep(30)
            return answer(str(os.getpid()))
        """,
    )
    hot = {"format": RouteFormat.JSON, "memory": 64, "timeout": 10}
    first = executor.execute(function, invocation(**hot))

    hogged = executor.execute(function, invocation(body=b"hog", **hot))
    after = executor.execute(function, invocation(**hot))

    assert hogged.status is CallStatus.ERROR and "memory" in hogged.error
    assert not running(int(first.output))
    assert after.status is CallStatus.SUCCESS and after.output != first.output


PRINT_200_MB = """
import sys
chunk = b"y" * (1024 * 1024)
for _ in range(200):
    sys.stderr.buffer.write(chunk)
print(200 * len(chunk))
"""


def test_a_200_mb_log_is_capped_with_fn_truncation_line_and_worker_memory_stays_flat(
    tmp_path: Path, executor: Executor
) -> None:
    function = python_function(tmp_path / "f", PRINT_200_MB)
    reset_peak_rss()
    before = rss_kb("VmRSS")

    execution = executor.execute(function, invocation(timeout=30))

    growth_kb = rss_kb("VmHWM") - before
    truncation = TRUNCATION_LINE.format(limit=MIB).encode()
    assert (execution.status, execution.output) == (CallStatus.SUCCESS, b"209715200\n")
    assert execution.log == b"y" * MIB + truncation
    assert truncation == b"\n-----max log size 1048576 bytes exceeded, truncating log-----\n"
    assert growth_kb < 32 * 1024


def test_a_response_over_the_output_cap_fails_and_stops_the_function_early(
    tmp_path: Path, executor: Executor
) -> None:
    function = python_function(
        tmp_path / "f",
        """
        import sys
        while True:
            sys.stdout.buffer.write(b"z" * 65536)
        """,
    )

    execution = Executor(max_output_bytes=MIB).execute(function, invocation(timeout=30))

    assert (execution.status, execution.error) == (CallStatus.ERROR, "function response too large")
    assert execution.output == b""


def test_a_hot_response_over_the_output_cap_fails_the_call(tmp_path: Path) -> None:
    function = hot_python_function(
        tmp_path / "f",
        """
        def handle(request):
            return answer("b" * (2 * 1024 * 1024))
        """,
    )
    executor = Executor(max_output_bytes=MIB)
    try:
        execution = executor.execute(function, invocation(format=RouteFormat.JSON))
    finally:
        executor.close()

    assert (execution.status, execution.error) == (CallStatus.ERROR, "function response too large")


def test_a_child_that_escaped_and_outlived_the_function_is_killed_with_it(
    tmp_path: Path, executor: Executor
) -> None:
    # GIVEN a function whose child leaves the process group and keeps the output pipe open,
    # and which runs long enough to be sampled before it exits
    function = python_function(
        tmp_path / "f",
        """
        import os, sys, time
        child = os.fork()
        if child == 0:
            os.setsid()
            time.sleep(60)
            os._exit(0)
        print(child, flush=True)
        time.sleep(0.3)
        """,
    )

    # WHEN it exits
    execution = executor.execute(function, invocation(timeout=10))

    # THEN the call ends as the function did, and the orphan is gone too
    assert execution.status is CallStatus.SUCCESS
    assert not running(int(execution.output))
