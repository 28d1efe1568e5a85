"""The default format: a process per call, stdin in, stdout out, stderr to the log."""

from __future__ import annotations

import json
from pathlib import Path

from chalicelib.execute.executor import Executor
from chalicelib.models import CallStatus, RouteType
from tests.execute.support import invocation, python_function


def test_the_body_goes_to_stdin_and_stdout_is_the_output(tmp_path: Path, executor: Executor) -> None:
    function = python_function(
        tmp_path / "f",
        """
        import sys
        sys.stderr.write("reading\\n")
        sys.stdout.write(sys.stdin.read().upper())
        """,
    )

    execution = executor.execute(function, invocation(body=b"shout"))

    assert (execution.status, execution.output, execution.log) == (CallStatus.SUCCESS, b"SHOUT", b"reading\n")


def test_a_non_zero_exit_is_an_error_with_its_code(tmp_path: Path, executor: Executor) -> None:
    function = python_function(tmp_path / "f", "import sys\nsys.exit(3)\n")

    execution = executor.execute(function, invocation())

    assert (execution.status, execution.error) == (CallStatus.ERROR, "container exit code 3")
    assert execution.stats.exit_code == 3


def test_an_async_call_logs_stdout_and_stderr_interleaved_and_keeps_stdout_as_its_result(
    tmp_path: Path, executor: Executor
) -> None:
    # Two pipes: the log follows the order the worker reads them, exact for writes a moment apart.
    function = python_function(
        tmp_path / "f",
        """
        import os, time
        os.write(1, b"out 1\\n")
        time.sleep(0.1)
        os.write(2, b"err 2\\n")
        time.sleep(0.1)
        os.write(1, b"out 3\\n")
        """,
    )

    execution = executor.execute(function, invocation(type=RouteType.ASYNC))

    assert (execution.output, execution.log) == (b"out 1\nout 3\n", b"out 1\nerr 2\nout 3\n")


def test_output_that_is_not_utf8_is_kept_as_bytes(tmp_path: Path, executor: Executor) -> None:
    function = python_function(
        tmp_path / "f",
        """
        import os
        os.write(1, b"\\xff\\xfe\\x00raw")
        os.write(2, b"\\xc3\\x28 log")
        """,
    )

    execution = executor.execute(function, invocation())

    assert execution.status is CallStatus.SUCCESS
    assert (execution.output, execution.log) == (b"\xff\xfe\x00raw", b"\xc3\x28 log")


def test_a_large_body_reaches_a_function_that_reads_it(tmp_path: Path, executor: Executor) -> None:
    function = python_function(tmp_path / "f", "import sys\nprint(len(sys.stdin.buffer.read()))\n")

    execution = executor.execute(function, invocation(body=b"x" * (5 << 20)))

    assert execution.output == b"5242880\n"


def test_a_function_that_ignores_its_body_still_succeeds(tmp_path: Path, executor: Executor) -> None:
    function = python_function(tmp_path / "f", "print('ignored')\n")

    execution = executor.execute(function, invocation(body=b"x" * (5 << 20)))

    assert (execution.status, execution.output) == (CallStatus.SUCCESS, b"ignored\n")


def test_headers_arrive_as_fn_header_variables(tmp_path: Path, executor: Executor) -> None:
    function = python_function(
        tmp_path / "f",
        """
        import json, os
        print(json.dumps({k: v for k, v in os.environ.items() if k.startswith("FN_HEADER_")}))
        """,
    )
    headers = {"content-type": ["text/plain"], "X-Trace": ["a", "b"]}

    execution = executor.execute(function, invocation(headers=headers))

    expected = {"FN_HEADER_Content-Type": "text/plain", "FN_HEADER_X-Trace": "a, b"}
    assert json.loads(execution.output) == expected


def test_a_missing_program_fails_the_call_without_raising(tmp_path: Path, executor: Executor) -> None:
    function = tmp_path / "f"
    function.mkdir()
    (function / "func.yaml").write_text("name: f\nruntime: go\nentrypoint: ./func\n")

    execution = executor.execute(function, invocation())

    assert execution.status is CallStatus.ERROR
    assert execution.error.startswith("function failed to start:")


def test_a_directory_without_func_yaml_fails_the_call_without_raising(
    tmp_path: Path, executor: Executor
) -> None:
    execution = executor.execute(tmp_path, invocation())

    assert execution.status is CallStatus.ERROR
    assert "no func.yaml" in execution.error


def test_a_func_yaml_changed_between_calls_is_read_again_even_at_the_same_size(
    tmp_path: Path, executor: Executor
) -> None:
    # The parsed func.yaml is kept per version of the file (command.py): an in-place rewrite of the
    # same size, moments later, is another version.
    function = python_function(tmp_path / "f", "print('a')\n")
    (function / "b.py").write_text("print('b')\n")
    func_yaml = function / "func.yaml"
    first = executor.execute(function, invocation())
    with func_yaml.open("r+") as file:
        text = file.read()
        file.seek(0)
        file.write(text.replace("python3 func.py", "python3 b.py   "))

    second = executor.execute(function, invocation())

    assert (first.output, second.output) == (b"a\n", b"b\n")
