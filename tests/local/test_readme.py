"""README.md's tutorial, run as it is written: taken from the README and pasted into a fresh bash.

Fresh: no venv on the PATH, HOME in a temporary directory (so the data directory, ~/.fnq/data,
is too), the current directory a stand-in for the clone whose `.venv` is this test run's. The
only change is the port: FN_API_URL names a free one, which `fn start` listens on.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fnq.local.datadir import DataDir
from tests.e2e.support import ULID, require_fn_command
from tests.local.support import REPO, free_port

pytestmark = pytest.mark.e2e

HEADING = "## The tutorial"


def tutorial(readme: str) -> str:
    """The first ```sh block after the tutorial's heading."""
    section = readme.split(f"\n{HEADING}\n", 1)[1]
    block = re.search(r"^```sh\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert block, "no ```sh block in the README's tutorial"
    return block[1]


def test_the_readme_tutorial_pasted_into_a_fresh_shell_succeeds(tmp_path: Path) -> None:
    require_fn_command()
    clone, home = tmp_path / "clone", tmp_path / "home"
    clone.mkdir()
    home.mkdir()
    # The clone's virtual environment, as `make test` made it: the one running these tests.
    (clone / ".venv").symlink_to(Path(sys.executable).parent.parent)
    script = tmp_path / "tutorial.sh"
    script.write_text("set -e\n" + tutorial((REPO / "README.md").read_text()))
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(tmp_path),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "FN_API_URL": f"http://localhost:{free_port()}",
    }
    data = DataDir(home / ".fnq" / "data")
    try:
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", str(script)],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        running = data.running_pid()
        if running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running, signal.SIGKILL)
    transcript = done.stdout + done.stderr
    assert done.returncode == 0, transcript
    assert "fn start is running in the background" in done.stdout
    assert re.search(rf"^{ULID}$", done.stdout, re.MULTILINE), transcript  # echo $CALL_ID
    assert "\nStatus: success\n" in done.stdout
    assert '{"message":"Hello World"}Stopped fn start' in done.stdout  # the log has no newline
    assert data.running_pid() is None
