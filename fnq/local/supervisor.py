"""Keep one child process running: restart it when it dies, stop it (and only it) on request.

`fn start` runs the worker this way so a crashed or killed worker does not take the API or the
embedded AWS (and its state) down with it, and comes back by itself. It runs the embedded AWS's
process (endpoint_process.py) this way too, but with `on_exit` instead of restarts: a new moto
would start empty, so its death is reported and fn start stops.

What the dead child was running dies with it, as a Lambda sandbox's processes do: the worker runs
each function in a session of its own (so a timeout can kill its whole group), so a SIGKILLed
worker would leave its functions running as orphans, finishing (and repeating the side effects
of) attempts that are already lost. `fn start` is a child subreaper (chalicelib/execute/guard.py):
the orphans are re-parented to it, and when handed the process's Reaper the supervisor starts and
waits for its child through it and kills those orphans (its Reaper reaps them): every child of this
process that the Reaper did not start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chalicelib.execute.reaper import Reaper

# Longer than the worker's long poll (event_source.WAIT_SECONDS): a killed worker's receives are
# still open at the endpoint until their wait ends, and a message arriving meanwhile is handed to
# the dead connection (then invisible for the visibility timeout). Restarting after that, every
# call accepted once the new worker is up goes to the new worker.
RESTART_DELAY_SECONDS = 1.5
MAX_RESTART_DELAY_SECONDS = 10.0
# A child that lived this long was healthy: its next restart is immediate again.
HEALTHY_AFTER_SECONDS = 10.0


def adopted_children(is_orphan: Callable[[int], bool]) -> list[tuple[int, int]]:
    """(pid, process group) of this process's children that `is_orphan`: orphans it adopted."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == me and is_orphan(int(entry.name)):  # fields: state, ppid, pgrp, ...
            found.append((int(entry.name), int(fields[2])))
    return found


def kill_adopted(is_orphan: Callable[[int], bool]) -> int:
    """SIGKILL (with their process groups) the orphans this process adopted: its children that
    `is_orphan`. The Reaper of this subreaper reaps them."""
    orphans = adopted_children(is_orphan)
    for pid, group in orphans:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            # A function leads its own group (its session); never signal a group we are in.
            if group == pid and group != os.getpgrp():
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
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
        reaper: Reaper | None = None,
        on_exit: Callable[[int], None] | None = None,
        popen: Mapping[str, Any] | None = None,
    ) -> None:
        """`reaper`: this process's, when it is a subreaper (guard.py): the child is started and
        waited for through it, and what a dead child left running is killed.

        `on_exit`: called with the child's return code when it ends unasked, instead of restarting
        it. `popen`: more arguments for subprocess.Popen (pipes, fds to pass)."""
        self._argv = list(argv)
        self._env = dict(env)
        self._say = say
        self._name = name
        self._stop_timeout = stop_timeout
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._monitor: threading.Thread | None = None
        self._reaper = reaper
        self._on_exit = on_exit
        self._popen = dict(popen or {})

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            return self._process

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
        self._signal(process, signal.SIGTERM)
        returncode = self._wait(process, self._stop_timeout)
        if returncode is None:
            self._signal(process, signal.SIGKILL)
            returncode = self._wait(process)
        if self._monitor is not None:
            self._monitor.join(5.0)
        self._kill_orphans()
        with self._lock:
            self._forget()
        return returncode

    def _spawn(self) -> subprocess.Popen[bytes]:
        def start() -> subprocess.Popen[bytes]:
            # A session of its own: a Ctrl-C in the terminal reaches only fn start, which then stops
            # the child deliberately, so a dying child is never mistaken for one to restart.
            return subprocess.Popen(self._argv, env=self._env, start_new_session=True, **self._popen)

        self._forget()
        self._process = self._reaper.spawn(start) if self._reaper is not None else start()
        return self._process

    def _forget(self) -> None:
        """Done with the current child (it ended): the Reaper may drop its status."""
        if self._reaper is not None and self._process is not None:
            self._reaper.forget(self._process.pid)

    def _wait(self, process: subprocess.Popen[bytes], timeout: float | None = None) -> int | None:
        """The child's return code (as Popen's: -N for signal N) once it ends; None after `timeout`.
        With a Reaper, Popen must never wait itself: the Reaper has the status."""
        if self._reaper is None:
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        if process.returncode is None:
            raw = self._reaper.wait(process.pid, timeout)
            if raw is None:
                return None
            process.returncode = os.waitstatus_to_exitcode(raw)
        return process.returncode

    def _signal(self, process: subprocess.Popen[bytes], signum: int) -> None:
        # Not Popen.send_signal: it polls, which would take the status from the Reaper.
        exited = process.returncode is not None or (
            self._reaper.exited(process.pid) if self._reaper is not None else process.poll() is not None
        )
        if not exited:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signum)

    def _kill_orphans(self) -> None:
        if self._reaper is None:
            return
        # The Reaper's own children (the API's functions beside the supervisor, the new worker)
        # are this process's children too, but not orphans.
        killed = kill_adopted(self._reaper.is_orphan)
        if killed:
            self._say(f"{self._name}: killed {killed} process(es) it left running")

    def _watch(self) -> None:
        delay = RESTART_DELAY_SECONDS
        while True:
            with self._lock:
                process = self._process
            assert process is not None
            started = time.monotonic()
            returncode = self._wait(process)
            assert returncode is not None
            if self._stopping.is_set():
                return
            self._kill_orphans()
            if self._on_exit is not None:
                self._on_exit(returncode)
                return
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
