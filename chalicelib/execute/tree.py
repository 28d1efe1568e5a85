"""The processes of one function call, followed without reading every process on the host.

A call's processes are its main process and every process descending from it, including those that
left its session (`setsid`) and those whose parent died. Reading every /proc/<pid>/stat on the host
at each sample (what this replaced) cost a whole core with a hundred functions running. The kernel
gives an unprivileged process no cheap list of descendants except `/proc/<pid>/task/<tid>/children`,
and only when built with CONFIG_PROC_CHILDREN (this development machine's 6.18 kernel, built for
Firecracker as Lambda's VMs are, has it; Lambda does not document whether its own kernels do). So
a tree is followed the first way that works:

1. children files, from the main process down (orphans in this process's main thread's file): O(tree);
2. new pids: a process started by the call gets a pid handed out after the call started, so each
   look reads only the pids handed out since the previous look (/proc/sys/kernel/ns_last_pid), in
   order, keeping those whose parent is already in the tree: O(tree + processes started meanwhile);
3. every process on the host: when neither is available, when pids wrapped around, or when more
   than RANGE_LIMIT pids were handed out since the last look (a long-idle hot process).

A process whose parent died is re-parented to the nearest subreaper, this process when guard.py
made it one: such an orphan (a child of this process that it did not start) is taken into the tree
that finds it. It belongs to *some* call of this process, maybe another one running at the same
time; it is killed when the first of them ends, which is never later than its own call's end.
A process in the main process's group is in the tree too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# Above this many new pids since the last look, one scan of every process is cheaper.
RANGE_LIMIT = 4096
# A pid can be handed out a moment before its process shows in /proc: one missing at a look is
# looked at again at the next one (up to this many).
RECHECK_LIMIT = 256
KILL_WAIT_SECONDS = 1.0
# Most /proc files read here fit in one chunk (status is ~1.5 KiB); a long children file takes more.
READ_CHUNK = 16 * 1024


@dataclass(frozen=True)
class Stat:
    ppid: int
    pgid: int
    state: str
    started: int  # start time in clock ticks since boot: with the pid, identifies the process


class Proc:
    """The few /proc reads a tree needs; `root` is /proc but for tests.

    Read with os.open/os.read on string paths: a hot call reads a handful of these files, and
    pathlib's path building and text decoding cost more than the kernel's read (a stat file took
    22 µs through Path.read_text, 11 µs so)."""

    def __init__(self, root: Path = Path("/proc")) -> None:
        self.root = root
        self._root = str(root)

    def _read(self, *parts: str | int) -> bytes | None:
        """One /proc file, whole; None once gone."""
        path = "/".join([self._root, *map(str, parts)])
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            chunks = []
            while chunk := os.read(fd, READ_CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)

    def stat(self, pid: int) -> Stat | None:
        data = self._read(pid, "stat")
        if not data:
            return None
        # The command name may hold spaces and parentheses: the fields start after the last ")".
        fields = data.rsplit(b")", 1)[1].split()
        return Stat(
            ppid=int(fields[1]), pgid=int(fields[2]), state=fields[0].decode(), started=int(fields[19])
        )

    def identity(self, pid: int) -> tuple[int, int, int] | None:
        """(thread group, parent, process group) of `pid`; None once it is gone. A thread's id is
        not a process: its thread group differs from it."""
        data = self._read(pid, "status")
        if data is None:
            return None
        fields = dict(line.split(b":", 1) for line in data.splitlines() if b":" in line)
        try:
            group = fields.get(b"NSpgid", b"").split()
            return int(fields[b"Tgid"]), int(fields[b"PPid"]), int(group[-1]) if group else 0
        except (KeyError, ValueError):
            return None

    def status_kb(self, pid: int, field: bytes) -> int | None:
        """A `kB` field of /proc/<pid>/status (`VmHWM`, ...); None once gone or when absent."""
        data = self._read(pid, "status")
        at = data.find(b"\n" + field + b":") if data else -1
        if data is None or at < 0:
            return None
        try:
            return int(data[at + len(field) + 2 :].split(None, 1)[0])
        except (ValueError, IndexError):
            return None

    def has_children_files(self) -> bool:
        me = os.getpid()
        return os.path.exists(f"{self._root}/{me}/task/{me}/children")

    def children(self, pid: int) -> list[int]:
        found: list[int] = []
        try:
            tasks = os.listdir(f"{self._root}/{pid}/task")
        except OSError:
            return found
        for task in tasks:
            found += [int(p) for p in (self._read(pid, "task", task, "children") or b"").split()]
        return found

    def adopted(self, pid: int) -> list[int]:
        """The children of `pid`'s main thread: where the kernel puts the orphans a subreaper adopts.

        An orphan goes to the first live thread of the subreaper, starting with its main thread
        (find_new_reaper → find_alive_thread in kernel/exit.c), and a Python process's main thread
        lives as long as the process. The other threads' files list only the children they started
        themselves (none of them orphans) and this process has dozens of threads under `fn start`:
        reading only this one file saves a read per thread at every look.
        """
        return [int(p) for p in (self._read(pid, "task", pid, "children") or b"").split()]

    def last_pid(self) -> int | None:
        try:
            return int(self._read("sys", "kernel", "ns_last_pid") or b"")
        except ValueError:
            return None

    def pids(self) -> list[int]:
        return [int(entry.name) for entry in os.scandir(self.root) if entry.name.isdigit()]

    def rss_kb(self, pid: int) -> int | None:
        try:
            return int((self._read(pid, "statm") or b"").split()[1]) * PAGE_KB
        except (IndexError, ValueError):
            return None

    def pss_kb(self, pid: int) -> int | None:
        """Proportional set size: each shared page divided by the processes sharing it."""
        data = self._read(pid, "smaps_rollup")
        if data is None:
            return None  # gone, or a function that made itself non-dumpable
        for line in data.splitlines():
            if line.startswith(b"Pss:"):
                return int(line.split()[1])
        return None


PROC = Proc()


class ProcessTree:
    """The main process `leader` and its descendants, as last looked at (`refresh`)."""

    def __init__(
        self,
        leader: int,
        cursor: int | None,
        is_orphan: Callable[[int], bool] | None = None,
        proc: Proc = PROC,
    ) -> None:
        """`cursor`: `proc.last_pid()` read before the leader was started. `is_orphan`: in a
        subreaper, tells a child of this process that it adopted from one it started."""
        self.leader = leader
        self._proc = proc
        self._cursor = cursor
        self._is_orphan = is_orphan
        self._me = os.getpid()
        self._recheck: list[int] = []
        leader_stat = proc.stat(leader)
        self._members: dict[int, int] = {leader: leader_stat.started} if leader_stat else {}
        self._children_files = proc.has_children_files()

    def members(self) -> dict[int, int]:
        """pid → start time of every process seen in the tree (some may have ended since)."""
        return dict(self._members)

    def refresh(self) -> None:
        """Look for processes that joined the tree since the last look."""
        if self._children_files:
            self._walk_children()
            return
        last = self._proc.last_pid()
        if last is None or self._cursor is None or last < self._cursor or last - self._cursor > RANGE_LIMIT:
            self._scan_everything()
        else:
            self._scan_new(last)
        self._cursor = last

    def _orphan_test(self) -> Callable[[int, int], bool]:
        is_orphan = self._is_orphan
        if is_orphan is None:
            return lambda pid, ppid: False
        return lambda pid, ppid: ppid == self._me and is_orphan(pid)

    def _joins(self, pid: int, parent: int, group: int, orphan: Callable[[int, int], bool]) -> bool:
        return parent in self._members or group == self.leader or orphan(pid, parent)

    def _add(self, pid: int) -> None:
        stat = self._proc.stat(pid)
        if stat is not None:
            self._members[pid] = stat.started

    def _scan_new(self, last: int) -> None:
        orphan = self._orphan_test()
        first = last + 1 if self._cursor is None else self._cursor + 1
        missing: list[int] = []
        # In order: a parent's pid comes before its children's (no wrap-around within a range).
        for pid in [*self._recheck, *range(first, last + 1)]:
            if pid in self._members:
                continue
            found = self._proc.identity(pid)
            if found is None:
                if pid >= first:
                    missing.append(pid)
                continue
            process, parent, group = found
            if process == pid and self._joins(pid, parent, group, orphan):
                self._add(pid)
        self._recheck = missing[-RECHECK_LIMIT:]

    def _scan_everything(self) -> None:
        orphan = self._orphan_test()
        stats = {pid: stat for pid in self._proc.pids() if (stat := self._proc.stat(pid)) is not None}
        found = {
            pid
            for pid, stat in stats.items()
            if pid in self._members or self._joins(pid, stat.ppid, stat.pgid, orphan)
        }
        while True:
            more = {pid for pid, stat in stats.items() if stat.ppid in found and pid not in found}
            if not more:
                break
            found |= more
        for pid in found - self._members.keys():
            self._members[pid] = stats[pid].started
        self._recheck = []

    def _walk_children(self) -> None:
        orphan = self._orphan_test()
        if self._is_orphan is not None:
            for pid in self._proc.adopted(self._me):
                if orphan(pid, self._me) and pid not in self._members:
                    self._add(pid)
        pending = list(self._members)
        while pending:
            for child in self._proc.children(pending.pop()):
                if child not in self._members:
                    self._add(child)
                    pending.append(child)

    def live(self, spare_leader: bool = False) -> dict[int, Stat]:
        """The members still running or not yet reaped (same pid, same start time); the leader
        not looked at if `spare_leader`."""
        alive = {}
        for pid, started in list(self._members.items()):
            if spare_leader and pid == self.leader:
                continue
            stat = self._proc.stat(pid)
            if stat is None or stat.started != started:
                del self._members[pid]  # ended and reaped: forgotten
            else:
                alive[pid] = stat
        return alive

    def others(self) -> list[int]:
        """Members besides the leader that still exist, zombies included."""
        self.refresh()
        return list(self.live(spare_leader=True))  # after every hot call: one read fewer

    def rss_kb(self) -> int:
        return sum(self._proc.rss_kb(pid) or 0 for pid in self._members)

    def pss_kb(self) -> int:
        """PSS where readable, else RSS (a function may make itself unreadable: it then counts more)."""
        total = 0
        for pid in self._members:
            pss = self._proc.pss_kb(pid)
            total += pss if pss is not None else self._proc.rss_kb(pid) or 0
        return total

    def kill(self, spare_leader: bool = False, group: bool = True) -> None:
        """SIGKILL every live member (but the leader if `spare_leader`) and, if `group`, the leader's
        process group; wait (up to KILL_WAIT_SECONDS) until they are dead, catching any they started
        meanwhile. Zombies are left to their parents (this process's Reaper for orphans)."""
        give_up = time.monotonic() + KILL_WAIT_SECONDS
        while True:
            self.refresh()
            live = self.live()
            targets = [
                pid
                for pid, stat in live.items()
                if stat.state not in {"Z", "X"} and not (spare_leader and pid == self.leader)
            ]
            # The group's id stays the leader's pid while any process of the group exists; only
            # then can it not belong to somebody else.
            if group and not spare_leader and any(stat.pgid == self.leader for stat in live.values()):
                _signal_group(self.leader)
            for pid in targets:
                _signal(pid)
            if not targets:
                return
            while any(_running(self._proc, pid, live[pid].started) for pid in targets):
                if time.monotonic() >= give_up:
                    return
                time.sleep(0.001)


def _running(proc: Proc, pid: int, started: int) -> bool:
    stat = proc.stat(pid)
    return stat is not None and stat.started == started and stat.state not in {"Z", "X"}


def is_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped by its parent) counts as gone."""
    stat = PROC.stat(pid)
    return stat is not None and stat.state not in {"Z", "X"}


def _signal_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _signal(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
