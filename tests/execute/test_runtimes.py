"""Every runtime in every format, from `fn init`'s boilerplate, through real processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.execute.executor import Executor
from chalicelib.models import CallStatus, RouteFormat
from tests.execute.support import invocation

RUNTIMES = ["python", "node", "go"]
FORMATS = ["default", "json"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_boilerplate_greets_the_world_without_input(
    runtime: str, fmt: str, boilerplate: Callable[[str, str], Path], executor: Executor
) -> None:
    execution = executor.execute(boilerplate(runtime, fmt), invocation(format=RouteFormat(fmt)))

    assert execution.status is CallStatus.SUCCESS, execution.error
    assert json.loads(execution.output) == {"message": "Hello World"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_boilerplate_greets_the_name_it_is_given(
    runtime: str, fmt: str, boilerplate: Callable[[str, str], Path], executor: Executor
) -> None:
    call = invocation(format=RouteFormat(fmt), body=b'{"name": "Johnny"}')

    execution = executor.execute(boilerplate(runtime, fmt), call)

    assert execution.status is CallStatus.SUCCESS, execution.error
    assert json.loads(execution.output) == {"message": "Hello Johnny"}
    assert execution.stats.duration_ms >= 0


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_json_boilerplate_answers_with_its_content_type(
    runtime: str, boilerplate: Callable[[str, str], Path], executor: Executor
) -> None:
    execution = executor.execute(boilerplate(runtime, "json"), invocation(format=RouteFormat.JSON))

    assert execution.content_type == "application/json"
    assert execution.status_code == 200


def test_default_format_reports_exit_code_and_peak_memory(
    boilerplate: Callable[[str, str], Path], executor: Executor
) -> None:
    execution = executor.execute(boilerplate("node", "default"), invocation())

    assert execution.stats.exit_code == 0
    assert execution.stats.max_rss_kb is not None and execution.stats.max_rss_kb > 1000


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_boilerplate_answers_the_same_compact_json_the_tutorial_shows(
    runtime: str, fmt: str, boilerplate: Callable[[str, str], Path], executor: Executor
) -> None:
    execution = executor.execute(boilerplate(runtime, fmt), invocation(format=RouteFormat(fmt)))

    assert execution.output == b'{"message":"Hello World"}'
