"""The tutorial of DESIGN.md §1 through the installed `fn` command against `fn start`, per runtime.

Every runtime in both formats: `json` (hot, what `fn init` writes) and `default` (one process a call).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.support import (
    HELLO_ADA,
    HELLO_WORLD,
    TIME,
    Tutorial,
    assert_success_block,
    require_toolchain,
)
from tests.local.support import FnStart

pytestmark = pytest.mark.e2e

RUNTIMES = ["python", "node", "go"]
FORMATS = ["json", "default"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_async_function_answers_a_call_id_then_succeeds_and_logs_hello_world(
    runtime: str, fmt: str, stack: FnStart, tmp_path: Path
) -> None:
    require_toolchain(runtime)
    tutorial = Tutorial(stack.url, tmp_path, app=f"async-{runtime}-{fmt}")
    function = tutorial.init(runtime, "asyncfn", fmt=None if fmt == "json" else fmt)
    tutorial.make_async(function)
    tutorial.deploy(function)

    call_id = tutorial.call_async("/asyncfn")

    assert_success_block(tutorial.calls_get(call_id, wait=True), call_id, tutorial.app, "/asyncfn")
    assert tutorial.logs_get(call_id) == HELLO_WORLD
    # The result is the body alone (fnq): the same greeting, whatever the runtime logged beside it.
    result = tutorial.fn("calls", "result", tutorial.app, call_id).stdout
    assert json.loads(result) == {"message": "Hello World"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_async_call_with_a_piped_name_logs_hello_to_that_name(
    runtime: str, fmt: str, stack: FnStart, tmp_path: Path
) -> None:
    require_toolchain(runtime)
    tutorial = Tutorial(stack.url, tmp_path, app=f"asyncname-{runtime}-{fmt}")
    function = tutorial.init(runtime, "greeter", fmt=fmt)
    tutorial.make_async(function)
    tutorial.deploy(function)

    call_id = tutorial.call_async("/greeter", body=b'{"name":"Ada"}')

    assert_success_block(tutorial.calls_get(call_id, wait=True), call_id, tutorial.app, "/greeter")
    assert tutorial.logs_get(call_id) == HELLO_ADA


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_sync_function_answers_its_output_and_greets_a_piped_name(
    runtime: str, fmt: str, stack: FnStart, tmp_path: Path
) -> None:
    require_toolchain(runtime)
    tutorial = Tutorial(stack.url, tmp_path, app=f"sync-{runtime}-{fmt}")
    function = tutorial.init(runtime, "syncfn", fmt=fmt)
    tutorial.deploy(function)

    output, first = tutorial.call_sync("/syncfn")
    greeting, second = tutorial.call_sync("/syncfn", body=b'{"name":"Ada"}')

    assert (output, greeting) == (HELLO_WORLD, HELLO_ADA)
    assert_success_block(tutorial.calls_get(first), first, tutorial.app, "/syncfn")
    assert_success_block(tutorial.calls_get(second), second, tutorial.app, "/syncfn")


def test_a_failing_async_function_ends_in_error_with_the_reason_and_its_stderr_as_the_log(
    stack: FnStart, tmp_path: Path
) -> None:
    tutorial = Tutorial(stack.url, tmp_path, app="async-failing")
    function = tutorial.init("python", "boom", fmt="default")
    (function / "func.py").write_text('import sys\nprint("about to fail", file=sys.stderr)\nsys.exit(3)\n')
    tutorial.make_async(function)
    tutorial.deploy(function)

    call_id = tutorial.call_async("/boom")

    assert re.fullmatch(
        rf"ID: {call_id}\nApp: async-failing\nRoute: /boom\n"
        rf"Created At: {TIME}\nStarted At: {TIME}\nCompleted At: {TIME}\nStatus: error\n\n"
        r"Error reason: container exit code 3\n\n",
        tutorial.calls_get(call_id, wait=True),
    )
    assert tutorial.logs_get(call_id) == "about to fail\n"
