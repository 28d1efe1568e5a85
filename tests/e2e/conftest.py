"""One `fn start` per test module, and in CI no skipped test in this directory."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest
from pluggy import Result

from tests.e2e.support import fn_start, in_ci
from tests.local.support import FnStart


@pytest.fixture(scope="module")
def stack() -> Iterator[FnStart]:
    """The stack is slow to start and cheap to share: each test uses apps of its own."""
    with fn_start() as started:
        yield started


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Result[pytest.TestReport], None]:
    """In CI (`CI` set) a skip here is a failure: the end-to-end proof must run in full there."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every end-to-end test must run: {report.longrepr}"
