"""The json format: one process serves many calls, and a misbehaving one is replaced."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chalicelib.execute.executor import Executor
from chalicelib.models import CallStatus, RouteFormat, RouteType
from tests.execute.support import hot_python_function, invocation, running

HOT = {"format": RouteFormat.JSON}

PID_OR_MISBEHAVE = """
def handle(request):
    body = request["body"]
    if body == "crash":
        os._exit(3)
    if body == "garbage":
        sys.stdout.write("this is not json\\n")
        sys.stdout.flush()
        return answer("unreachable")
    if body == "twice":
        sys.stdout.write(json.dumps(answer("one")) + "\\n")
    if body in {"sleep", "hang"}:
        import time
        time.sleep(0.5 if body == "sleep" else 60)
    return answer(str(os.getpid()))
"""


def call(executor: Executor, function: Path, body: bytes = b"", **changes: object) -> tuple[CallStatus, str]:
    execution = executor.execute(function, invocation(body=body, **HOT, **changes))
    return execution.status, execution.error or execution.output.decode()


def test_one_hot_process_serves_a_hundred_sequential_calls(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(tmp_path / "f", PID_OR_MISBEHAVE)

    answers = [call(executor, function) for _ in range(100)]

    assert {status for status, _ in answers} == {CallStatus.SUCCESS}
    assert len({pid for _, pid in answers}) == 1


def test_a_crash_fails_only_its_own_call_and_the_process_is_replaced(
    tmp_path: Path, executor: Executor
) -> None:
    function = hot_python_function(tmp_path / "f", PID_OR_MISBEHAVE)
    _, first_pid = call(executor, function)

    crashed = call(executor, function, b"crash")
    after = call(executor, function)

    assert crashed == (CallStatus.ERROR, "container exit code 3")
    assert after[0] is CallStatus.SUCCESS
    assert after[1] != first_pid
    assert not running(int(first_pid))


def test_an_answer_that_is_not_json_fails_the_call_and_replaces_the_process(
    tmp_path: Path, executor: Executor
) -> None:
    function = hot_python_function(tmp_path / "f", PID_OR_MISBEHAVE)
    _, first_pid = call(executor, function)

    status, error = call(executor, function, b"garbage")
    after = call(executor, function)

    assert status is CallStatus.ERROR
    assert error.startswith("invalid json response from function")
    assert after[0] is CallStatus.SUCCESS and after[1] != first_pid


def test_output_beyond_the_one_answer_fails_the_call_and_replaces_the_process(
    tmp_path: Path, executor: Executor
) -> None:
    function = hot_python_function(tmp_path / "f", PID_OR_MISBEHAVE)
    _, first_pid = call(executor, function)

    status, error = call(executor, function, b"twice")
    after = call(executor, function)

    assert (status, error) == (CallStatus.ERROR, "excess data in function response")
    assert after[0] is CallStatus.SUCCESS and after[1] != first_pid


def test_an_idle_process_exits_after_its_idle_timeout(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(tmp_path / "f", PID_OR_MISBEHAVE)
    _, pid = call(executor, function, idle_timeout=1)
    assert running(int(pid))

    give_up = time.monotonic() + 10
    while running(int(pid)) and time.monotonic() < give_up:
        time.sleep(0.1)

    assert not running(int(pid))
    assert executor.pool.idle_count() == 0


def test_a_timed_out_process_is_killed_and_replaced(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(tmp_path / "f", PID_OR_MISBEHAVE)
    _, first_pid = call(executor, function)

    timed_out = call(executor, function, b"hang", timeout=1)
    after = call(executor, function)

    assert timed_out == (CallStatus.TIMEOUT, "Timed out")
    assert not running(int(first_pid))
    assert after[0] is CallStatus.SUCCESS and after[1] != first_pid


def test_concurrent_calls_never_share_a_process(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(tmp_path / "f", PID_OR_MISBEHAVE)

    with ThreadPoolExecutor(max_workers=4) as threads:
        answers = list(threads.map(lambda _: call(executor, function, b"sleep"), range(4)))

    assert {status for status, _ in answers} == {CallStatus.SUCCESS}
    assert len({pid for _, pid in answers}) == 4
    assert executor.pool.idle_count() == 4


def test_different_config_gets_a_different_process(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(tmp_path / "f", PID_OR_MISBEHAVE)

    _, one = call(executor, function, config={"GREETING": "hi"})
    _, other = call(executor, function, config={"GREETING": "hello"})

    assert one != other


def test_the_request_carries_the_call_and_its_headers(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(
        tmp_path / "f",
        """
        def handle(request):
            return answer(json.dumps(request))
        """,
    )
    headers = {"Content-Type": ["application/json"], "x-trace": ["a", "b"]}

    execution = executor.execute(function, invocation(body=b'{"a": 1}', headers=headers, **HOT))
    request = json.loads(execution.output)

    assert request["call_id"] == "01JEXAMPLE0000000000000000"
    assert request["body"] == '{"a": 1}'
    assert request["content_type"] == "application/json"
    assert request["deadline"].endswith("Z")
    assert request["protocol"] == {
        "type": "http",
        "method": "POST",
        "request_url": "http://localhost:8080/r/myapp/hello",
        "headers": {"Content-Type": ["application/json"], "X-Trace": ["a", "b"]},
    }


def test_the_answer_sets_status_headers_and_content_type(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(
        tmp_path / "f",
        """
        def handle(request):
            sys.stderr.write("handled\\n")
            sys.stderr.flush()
            return {"body": "<p>hi</p>", "content_type": "text/html",
                    "protocol": {"status_code": 201, "headers": {"X-Id": ["7"]}}}
        """,
    )

    execution = executor.execute(function, invocation(**HOT))

    assert execution.status is CallStatus.SUCCESS
    assert (execution.output, execution.content_type) == (b"<p>hi</p>", "text/html")
    assert (execution.status_code, execution.headers) == (201, {"X-Id": ["7"]})
    assert execution.log == b"handled\n"


def test_an_async_call_logs_its_stderr_then_the_answer_body(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(
        tmp_path / "f",
        """
        import sys
        def handle(request):
            print("working", file=sys.stderr, flush=True)
            return {"body": "done", "content_type": "text/plain"}
        """,
    )

    execution = executor.execute(function, invocation(type=RouteType.ASYNC, **HOT))

    assert execution.status is CallStatus.SUCCESS
    assert execution.output == b"done"
    assert execution.log == b"working\ndone"


def test_a_hot_function_that_cannot_start_fails_the_call_without_raising(
    tmp_path: Path, executor: Executor
) -> None:
    (tmp_path / "func.yaml").write_text("name: f\nruntime: go\nformat: json\n")

    status, error = call(executor, tmp_path)

    assert status is CallStatus.ERROR
    assert error.startswith("function failed to start:")


BETWEEN_CALLS = """
def handle(request):
    body = request["body"]
    if body in {"stdout", "stderr"}:
        # Written after the answer, between calls; the marker file says it is in the pipe.
        import threading
        import time

        def later():
            time.sleep(0.1)
            stream = sys.stdout if body == "stdout" else sys.stderr
            stream.write("stray\\n")
            stream.flush()
            open(os.path.join(os.environ["HOME"], "written"), "w").close()

        threading.Thread(target=later).start()
    if body.startswith("big"):
        return answer(str(len(body)))
    sys.stderr.write("call " + body + "\\n")
    return answer(os.environ["HOME"] + " " + str(os.getpid()))
"""


def wait_for(path: Path) -> None:
    give_up = time.monotonic() + 10
    while not path.exists() and time.monotonic() < give_up:
        time.sleep(0.02)
    assert path.exists()


def test_a_process_killed_while_idle_is_replaced_before_the_next_call(
    tmp_path: Path, executor: Executor
) -> None:
    function = hot_python_function(tmp_path / "f", BETWEEN_CALLS)
    _, first = call(executor, function)
    pid = int(first.split()[1])
    os.kill(pid, signal.SIGKILL)
    give_up = time.monotonic() + 10
    while running(pid) and time.monotonic() < give_up:
        time.sleep(0.02)

    status, answer = call(executor, function)

    assert status is CallStatus.SUCCESS
    assert int(answer.split()[1]) != pid


def test_stdout_written_between_calls_retires_the_process(tmp_path: Path, executor: Executor) -> None:
    function = hot_python_function(tmp_path / "f", BETWEEN_CALLS)
    _, first = call(executor, function, b"stdout")
    home, pid = first.split()
    wait_for(Path(home) / "written")

    status, answer = call(executor, function)

    assert status is CallStatus.SUCCESS
    assert answer.split()[1] != pid
    assert not running(int(pid))


def test_stderr_written_between_calls_is_dropped_and_the_process_kept(
    tmp_path: Path, executor: Executor
) -> None:
    function = hot_python_function(tmp_path / "f", BETWEEN_CALLS)
    _, first = call(executor, function, b"stderr")
    home, pid = first.split()
    wait_for(Path(home) / "written")

    execution = executor.execute(function, invocation(body=b"next", **HOT))

    assert execution.status is CallStatus.SUCCESS
    assert execution.output.decode().split()[1] == pid
    assert execution.log == b"call next\n"


def test_a_request_bigger_than_the_pipe_reaches_the_function_whole(
    tmp_path: Path, executor: Executor
) -> None:
    function = hot_python_function(tmp_path / "f", BETWEEN_CALLS)
    body = b"big" + b"x" * (1 << 20)  # a pipe holds 64 KiB: the rest is written as the function reads

    first = call(executor, function, body)
    second = call(executor, function, body)

    assert first == second == (CallStatus.SUCCESS, str(len(body)))


def test_an_idle_process_with_a_short_idle_timeout_goes_while_a_long_one_stays(
    tmp_path: Path, executor: Executor
) -> None:
    # The reaper sleeps until the first idle process is due; one due sooner must wake it.
    function = hot_python_function(tmp_path / "f", BETWEEN_CALLS)
    _, long = call(executor, function, idle_timeout=3600, config={"KEEP": "long"})
    _, short = call(executor, function, idle_timeout=1, config={"KEEP": "short"})
    long_pid, short_pid = int(long.split()[1]), int(short.split()[1])

    give_up = time.monotonic() + 10
    while running(short_pid) and time.monotonic() < give_up:
        time.sleep(0.05)

    assert not running(short_pid)
    assert running(long_pid)
    assert executor.pool.idle_count() == 1


def test_a_path_that_comes_to_name_another_directory_gets_another_process(
    tmp_path: Path, executor: Executor
) -> None:
    one = hot_python_function(tmp_path / "one", BETWEEN_CALLS)
    other = hot_python_function(tmp_path / "other", BETWEEN_CALLS)
    link = tmp_path / "current"
    link.symlink_to(one)
    _, before = call(executor, link)
    again = call(executor, link)
    link.unlink()
    link.symlink_to(other)

    _, after = call(executor, link)

    assert again[1].split()[1] == before.split()[1]
    assert after.split()[1] != before.split()[1]
