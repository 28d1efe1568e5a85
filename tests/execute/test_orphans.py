"""No process outlives its call, in a process made a subreaper as the API and the worker are.

Each test runs the executor in a fresh interpreter that guards itself (guard.py): the pytest
process must not become a subreaper whose Reaper takes the statuses of the tests' own children.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

# A function that double-forks a daemon (new session, stdio to /dev/null, as daemons do), leaves
# five children unwaited for (zombies until it exits) and answers the daemon's pid at once.
DAEMONIZE = """
import os, sys, time
r, w = os.pipe()
first = os.fork()
if first == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.write(w, str(os.getpid()).encode())
        time.sleep(60)
    os._exit(0)
os.close(w)
daemon = os.read(r, 32).decode()
for _ in range(5):
    if os.fork() == 0:
        os._exit(0)
print(daemon, flush=True)
"""

SCRIPT = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from chalicelib.execute.executor import Executor
from chalicelib.execute.guard import guard_this_process
from chalicelib.execute.tree import PROC, is_alive
from chalicelib.models import RouteFormat
from tests.execute.support import hot_python_function, invocation, python_function

reaper = guard_this_process()
executor = Executor(reaper=reaper)
root = Path(sys.argv[1])
code = open(sys.argv[2]).read()
cold = python_function(root / "cold", code)
hot = hot_python_function(root / "hot", '''
def handle(request):
    import subprocess
    out = subprocess.run([sys.executable, "-S", "-c", request["body"]], capture_output=True, text=True)
    return answer(f"{os.getpid()} {out.stdout.strip()}")
''')


def zombies():
    # Children of this process (the orphans it adopted) that died and were not reaped yet.
    me = str(PROC.root / str(__import__("os").getpid()))
    found = 0
    for pid in PROC.pids():
        stat = PROC.stat(pid)
        if stat is not None and stat.ppid == __import__("os").getpid() and stat.state == "Z":
            found += 1
    return found


def zombies_after_a_moment():
    give_up = time.monotonic() + 2
    while zombies() and time.monotonic() < give_up:
        time.sleep(0.01)
    return zombies()


result = {"cold_daemons_alive": 0, "hot_daemons_alive": 0}
for _ in range(10):
    daemon = int(executor.execute(cold, invocation(timeout=10)).output)
    result["cold_daemons_alive"] += is_alive(daemon)
hot_pids = []
for _ in range(3):
    answer = executor.execute(hot, invocation(body=code.encode(), format=RouteFormat.JSON))
    pid, daemon = answer.output.split()
    hot_pids.append(int(pid))
    result["hot_daemons_alive"] += is_alive(int(daemon))
result["hot_processes"] = len(set(hot_pids))
# Calls side by side: a function process that shows in /proc before its spawn is registered
# must not be taken for an orphan by another call's tree.
quick = python_function(root / "quick", "print('ok')")
with ThreadPoolExecutor(max_workers=8) as threads:
    side_by_side = list(threads.map(lambda _: executor.execute(quick, invocation()).status.value, range(40)))
result["side_by_side_failures"] = sum(status != "success" for status in side_by_side)
result["zombies"] = zombies_after_a_moment()
result["orphans_reaped"] = reaper.orphans_reaped
executor.close()
print(json.dumps(result))
"""


def run_guarded(tmp_path: Any) -> dict[str, int]:
    (tmp_path / "daemonize.py").write_text(DAEMONIZE)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path), str(tmp_path / "daemonize.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_daemons_die_with_their_call_and_no_zombie_is_left(tmp_path: Any) -> None:
    # GIVEN an executor in a subreaper, and functions that double-fork a daemon and leave zombies
    # WHEN 10 default calls and 3 hot calls have run
    result = run_guarded(tmp_path)

    # THEN every daemon was dead when its call returned
    assert result["cold_daemons_alive"] == 0 and result["hot_daemons_alive"] == 0
    # and a hot process that left processes behind was retired each time
    assert result["hot_processes"] == 3
    # and calls side by side do not kill each other's processes
    assert result["side_by_side_failures"] == 0
    # and the orphans' zombies were reaped (10 calls x 5 unwaited children and a daemon, and more)
    assert result["zombies"] == 0 and result["orphans_reaped"] >= 60
