"""`make demo` runs the tutorial with the real `fn` CLI."""

from __future__ import annotations

import subprocess

import pytest

from tests.local.support import PYTHON, REPO, process_env

pytestmark = pytest.mark.e2e


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
