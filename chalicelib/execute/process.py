"""One process of a function: started in its own session, watched, measured and killed with its tree.

The function's process leads a new session and process group, so killing the group takes every
child it forked with it. A child may still leave the group (`setsid`); while it is a descendant
we find it through its parent chain in /proc and kill it too. (This kernel has no
`/proc/<pid>/task/<tid>/children`, so the tree is read from every process's `stat`.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
KILL_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class ExitStatus:
    """How the process ended.

    Not its rusage: `ru_maxrss` survives exec, and with vfork it carries the *worker's* peak RSS
    into the child, so memory figures come from sampling /proc instead (see pump.py).
    """

    code: int  # the exit code, or 128 + signal number as a container runtime reports it


# Function processes this process started and has not reaped yet. `fn start` serves sync calls
# in the same process that supervises the worker and adopts its orphans; it must tell its own
# functions (children it spawned) from a dead worker's (children it adopted).
_LIVE: set[int] = set()
_LIVE_LOCK = threading.Lock()


def spawned_here() -> frozenset[int]:
    """Pids of the function processes this process started and has not reaped."""
    with _LIVE_LOCK:
        return frozenset(_LIVE)


class Child:
    """A started function process with non-blocking pipes and, where the kernel has it, a pidfd."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], merge_stderr: bool) -> None:
        self._proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
            bufsize=0,
        )
        self.pid = self._proc.pid
        with _LIVE_LOCK:
            _LIVE.add(self.pid)
        assert self._proc.stdin and self._proc.stdout
        self.stdin_fd: int | None = self._proc.stdin.fileno()
        self.stdout_fd = self._proc.stdout.fileno()
        self.stderr_fd = self._proc.stderr.fileno() if self._proc.stderr else None
        for fd in (self.stdin_fd, self.stdout_fd, self.stderr_fd):
            if fd is not None:
                os.set_blocking(fd, False)
        self.pidfd: int | None
        try:
            # Readable when the process exits: the pump wakes at once instead of polling.
            self.pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        self.status: ExitStatus | None = None
        self._seen: dict[int, int] = {}  # pid → start time of every process seen in the tree

    @property
    def exited(self) -> bool:
        return self.status is not None

    def has_ended(self) -> bool:
        """Peek (without reaping) whether the process has exited; for kernels without pidfd."""
        if self.status is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def finish(self) -> ExitStatus:
        """Kill what is left of the tree, then reap the process. Idempotent.

        The kill comes first: until it is reaped, the dead process keeps its pid (and group id),
        so the signals cannot reach an unrelated process that was given a reused pid.
        """
        if self.status is not None:
            return self.status
        self.kill()
        try:
            _, raw = os.waitpid(self.pid, 0)
        except ChildProcessError:
            self.status = ExitStatus(code=128 + signal.SIGKILL)
        else:
            code = 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.waitstatus_to_exitcode(raw)
            self.status = ExitStatus(code=code)
        # Tell Popen the process is reaped, so it never waits on the pid again.
        self._proc.returncode = self.status.code
        with _LIVE_LOCK:
            _LIVE.discard(self.pid)
        return self.status

    def tree_rss_kb(self) -> int:
        """Resident memory of the process, its group and its descendants, in KiB."""
        return sum(member.rss_kb for member in self._scan())

    def _scan(self) -> list[_Member]:
        members = _tree(self.pid)
        # Remembered so that a child which left the group and then lost its parent (orphans are
        # re-parented to init, out of our tree) is still killed with the function.
        self._seen.update((m.pid, m.started) for m in members)
        return members

    def peak_rss_kb(self) -> int:
        """The process's own high-water mark (VmHWM), 0 once it is gone."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def kill(self) -> None:
        """SIGKILL the process, its group and its descendants. Does not reap; a no-op once reaped."""
        if self.status is not None:
            return
        members = {m.pid for m in self._scan()}
        # A remembered pid is signalled only if it is still the same process (same start time).
        members |= {pid for pid, started in self._seen.items() if _start_time(pid) == started}
        _signal_group(self.pid)
        for pid in members:
            _signal(pid)
        # SIGKILL is delivered asynchronously: wait (briefly) until the tree is really dead, so a
        # finished call leaves nothing running.
        give_up = time.monotonic() + KILL_WAIT_SECONDS
        while any(is_alive(pid) for pid in members if pid != self.pid) and time.monotonic() < give_up:
            time.sleep(0.001)

    def close_stdin(self) -> None:
        if self.stdin_fd is not None and self._proc.stdin is not None:
            self._proc.stdin.close()
            self.stdin_fd = None

    def close(self) -> None:
        """Kill, reap and release every descriptor."""
        self.finish()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        self.stdin_fd = None
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def is_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped by its parent) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in {"Z", "X"}


@dataclass(frozen=True)
class _Member:
    pid: int
    rss_kb: int
    started: int  # start time in clock ticks since boot: with the pid, identifies the process


def _start_time(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _tree(leader: int) -> list[_Member]:
    """The leader, every process in its group and every descendant."""
    parents: dict[int, int] = {}
    stats: dict[int, _Member] = {}
    members: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields start after the last ")".
        fields = text.rsplit(")", 1)[1].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        stats[pid] = _Member(pid, rss_kb=int(fields[21]) * PAGE_KB, started=int(fields[19]))
        if pid == leader or int(fields[2]) == leader:
            members.add(pid)
    changed = True
    while changed:
        found = {pid for pid, parent in parents.items() if parent in members and pid not in members}
        members |= found
        changed = bool(found)
    return [stats[pid] for pid in members if pid in stats]


def _signal_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _signal(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
