"""`make demo` runs the tutorial with the real `fn` CLI; it needs the CLI's commands in the tree."""

from __future__ import annotations

import importlib.util
import subprocess

import pytest

from tests.local.support import PYTHON, REPO, process_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in ("fnq.cli.main", "fnq.cli.init")),
        reason="the fn CLI (fnq.cli.main, init, deploy) is not in this tree",
    ),
]


def test_the_demo_runs_the_async_tutorial_to_hello_world() -> None:
    done = subprocess.run(
        [PYTHON, "-m", "fnq.local.demo"],
        cwd=REPO,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Status: success" in done.stdout
    assert "$ fn logs get myapp" in done.stdout
