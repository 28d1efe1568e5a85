"""The supervisor kills what a dead worker left running, never the functions its own process runs."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import subprocess, sys, time
from pathlib import Path
from chalicelib.execute.guard import guard_this_process
from chalicelib.execute.process import Child
from chalicelib.execute.tree import is_alive
from fnq.local.supervisor import kill_adopted

reaper = guard_this_process()
assert reaper is not None
# A function this process runs itself (as the API does for a sync call under fn start).
sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
own = Child(sleeper, Path("."), {}, merge_stderr=True, reaper=reaper)
# A dead worker's function: started by a child that exits at once, so it is re-parented to us.
worker = reaper.spawn(lambda: subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'],"
    " start_new_session=True).pid)"], stdout=subprocess.PIPE, text=True))
orphan = int(worker.stdout.readline())
reaper.wait(worker.pid)
time.sleep(0.3)
killed = kill_adopted(reaper.is_orphan)
time.sleep(0.3)
print(killed, is_alive(own.pid), is_alive(orphan))
own.finish()
"""


def test_only_the_dead_workers_orphans_are_killed_not_this_process_own_functions() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.split() == ["1", "True", "False"], result.stderr
