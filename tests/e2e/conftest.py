"""One `fn start` per test module: the stack is slow to start and cheap to share (apps are unique)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.support import fn_start
from tests.local.support import FnStart


@pytest.fixture(scope="module")
def stack() -> Iterator[FnStart]:
    with fn_start() as started:
        yield started
