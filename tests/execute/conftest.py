from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fnq.build.boilerplate import write_boilerplate
from fnq.build.function import build_function


@pytest.fixture(scope="session")
def boilerplate(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """A built boilerplate function per (runtime, format), built once per session (go compiles)."""
    built: dict[tuple[str, str], Path] = {}

    def get(runtime: str, fmt: str) -> Path:
        if (runtime, fmt) not in built:
            root = tmp_path_factory.mktemp(f"{runtime}-{fmt}")
            write_boilerplate(runtime, "hello", root / "src", fmt)
            build_function(root / "src", root / "bundle")
            built[runtime, fmt] = root / "bundle"
        return built[runtime, fmt]

    return get
