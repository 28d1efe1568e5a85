"""Keep one child process running: restart it when it dies, stop it (and only it) on request.

`fn start` runs the worker this way so a crashed or killed worker does not take the API or the
embedded AWS (and its state) down with it, and comes back by itself.

What the dead child was running dies with it, as a Lambda sandbox's processes do: the worker runs
each function in a session of its own (so a timeout can kill its whole group), so a SIGKILLed
worker would leave its functions running as orphans, finishing (and repeating the side effects
of) attempts that are already lost. On Linux the supervising process becomes a child subreaper
(prctl PR_SET_CHILD_SUBREAPER): the orphans are re-parented to it, and it kills and reaps them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from chalicelib.execute.process import spawned_here

# Longer than the worker's long poll (event_source.WAIT_SECONDS): a killed worker's receives are
# still open at the endpoint until their wait ends, and a message arriving meanwhile is handed to
# the dead connection (then invisible for the visibility timeout). Restarting after that, every
# call accepted once the new worker is up goes to the new worker.
RESTART_DELAY_SECONDS = 1.5
MAX_RESTART_DELAY_SECONDS = 10.0
# A child that lived this long was healthy: its next restart is immediate again.
HEALTHY_AFTER_SECONDS = 10.0


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (Linux); answer whether that worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def adopted_children(keep: set[int]) -> list[tuple[int, int]]:
    """(pid, process group) of this process's children not in `keep`: orphans it adopted."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in keep:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == me:  # fields: state, ppid, pgrp, ...
            found.append((int(entry.name), int(fields[2])))
    return found


def kill_adopted(keep: set[int]) -> int:
    """SIGKILL (with their process groups) and reap the orphans this process adopted."""
    orphans = adopted_children(keep)
    for pid, group in orphans:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            # A function leads its own group (its session); never signal a group we are in.
            if group == pid and group != os.getpgrp():
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
    for pid, _ in orphans:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return len(orphans)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Supervisor:
    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        say: Callable[[str], None],
        name: str = "worker",
        stop_timeout: float = 15.0,
        adopt_orphans: bool = False,
    ) -> None:
        """`adopt_orphans`: become a subreaper and kill whatever the dead child left running. Only
        for a process whose every other child is a descendant of this one (fn start): any child
        of the process that this supervisor did not spawn counts as an orphan."""
        self._argv = list(argv)
        self._env = dict(env)
        self._say = say
        self._name = name
        self._stop_timeout = stop_timeout
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._monitor: threading.Thread | None = None
        self._children: set[int] = set()  # every child this supervisor spawned
        self._adopts = adopt_orphans and become_subreaper()

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None

    def start(self) -> int:
        with self._lock:
            process = self._spawn()
        self._monitor = threading.Thread(target=self._watch, name=f"{self._name}-supervisor", daemon=True)
        self._monitor.start()
        return process.pid

    def stop(self) -> int | None:
        """SIGTERM the child, wait for it (SIGKILL after the timeout); answer its exit code."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(self._stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            returncode = process.wait()
        if self._monitor is not None:
            self._monitor.join(5.0)
        self._kill_orphans()
        return returncode

    def _spawn(self) -> subprocess.Popen[bytes]:
        # A session of its own: a Ctrl-C in the terminal reaches only fn start, which then stops
        # the child deliberately, so a dying child is never mistaken for one to restart.
        self._process = subprocess.Popen(self._argv, env=self._env, start_new_session=True)
        self._children.add(self._process.pid)
        return self._process

    def _kill_orphans(self) -> None:
        if not self._adopts:
            return
        # This process's own function processes (sync calls served by the API beside the
        # supervisor) are its children too, but not orphans.
        killed = kill_adopted(self._children | spawned_here())
        if killed:
            self._say(f"{self._name}: killed {killed} process(es) it left running")

    def _watch(self) -> None:
        delay = RESTART_DELAY_SECONDS
        while True:
            with self._lock:
                process = self._process
            assert process is not None
            started = time.monotonic()
            returncode = process.wait()
            if self._stopping.is_set():
                return
            self._kill_orphans()
            delay = RESTART_DELAY_SECONDS if time.monotonic() - started > HEALTHY_AFTER_SECONDS else delay
            self._say(
                f"{self._name} (pid {process.pid}) {describe_exit(returncode)}; restarting in {delay:.1f} s"
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                restarted = self._spawn()
            self._say(f"{self._name} restarted: pid {restarted.pid}")
            # A child that keeps dying at once is restarted ever more slowly, not in a hot loop.
            delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS)


def child_environment(base: Mapping[str, str], code_root: str) -> dict[str, str]:
    """`base`, with `code_root` first on PYTHONPATH so the child runs the code its parent runs."""
    env = dict(base)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = code_root if not path else os.pathsep.join([code_root, path])
    return env
