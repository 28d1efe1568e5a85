"""The supervisor kills what a dead worker left running, never the functions its own process runs."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import os, signal, subprocess, sys, time
from pathlib import Path
from chalicelib.execute.process import Child
from fnq.local.supervisor import become_subreaper, kill_adopted
from chalicelib.execute.process import spawned_here

assert become_subreaper()
# A function this process runs itself (as the API does for a sync call under fn start).
own = Child([sys.executable, "-c", "import time; time.sleep(30)"], Path("."), {}, merge_stderr=True)
# A dead worker's function: started by a child that exits at once, so it is re-parented to us.
subprocess.run([sys.executable, "-c",
    "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'],"
    " start_new_session=True)"], check=True)
time.sleep(0.3)
killed = kill_adopted(set(spawned_here()))
alive = os.waitpid(own.pid, os.WNOHANG) == (0, 0)
print(killed, alive)
own.finish()
"""


def test_only_the_dead_workers_orphans_are_killed_not_this_process_own_functions() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.split() == ["1", "True"], result.stderr
