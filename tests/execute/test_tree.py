"""Following a call's processes through /proc without reading all of it (on a /proc made by hand)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from chalicelib.execute.tree import PROC, RANGE_LIMIT, Proc, ProcessTree, Stat

ME = os.getpid()
LEADER = 100


class FakeProc:
    """A /proc of our own making: processes, threads, children files, the last pid."""

    def __init__(self, root: Path, last_pid: int | None) -> None:
        self.root = root
        self.add(ME, ppid=1, pgid=ME)
        self.last(last_pid)

    def last(self, pid: int | None) -> None:
        kernel = self.root / "sys" / "kernel"
        kernel.mkdir(parents=True, exist_ok=True)
        if pid is not None:
            (kernel / "ns_last_pid").write_text(f"{pid}\n")

    def add(
        self,
        pid: int,
        ppid: int,
        pgid: int,
        tgid: int | None = None,
        rss_pages: int = 0,
        pss_kb: int | None = None,
    ) -> None:
        directory = self.root / str(pid)
        directory.mkdir(parents=True)
        zeros = "0 " * 16
        (directory / "stat").write_text(f"{pid} (some (name)) S {ppid} {pgid} {zeros}{1000 + pid} 0 0\n")
        (directory / "status").write_text(
            f"Name:\tx\nTgid:\t{tgid or pid}\nPid:\t{pid}\nPPid:\t{ppid}\nNSpgid:\t{pgid}\n"
        )
        (directory / "statm").write_text(f"0 {rss_pages} 0 0 0 0 0\n")
        if pss_kb is not None:
            (directory / "smaps_rollup").write_text(f"00-ff ---p [rollup]\nRss: 1 kB\nPss:  {pss_kb} kB\n")

    def children(self, pid: int, *children: int) -> None:
        task = self.root / str(pid) / "task" / str(pid)
        task.mkdir(parents=True, exist_ok=True)
        (task / "children").write_text(" ".join(map(str, children)) + " ")

    def proc(self) -> Proc:
        return Proc(self.root)


def tree(fake: FakeProc, cursor: int | None) -> ProcessTree:
    return ProcessTree(LEADER, cursor, is_orphan=lambda pid: pid not in {LEADER, 106}, proc=fake.proc())


def family(fake: FakeProc) -> None:
    fake.add(LEADER, ppid=ME, pgid=LEADER)
    fake.add(101, ppid=LEADER, pgid=LEADER)  # a child
    fake.add(102, ppid=ME, pgid=LEADER, tgid=LEADER)  # a thread of the leader: not a process
    fake.add(103, ppid=101, pgid=103)  # a grandchild that left the group (setsid)
    fake.add(104, ppid=1, pgid=50)  # somebody else's
    fake.add(105, ppid=ME, pgid=105)  # an orphan re-parented to this process (a double fork)
    fake.add(106, ppid=ME, pgid=106)  # this process's own other child
    fake.add(107, ppid=1, pgid=LEADER)  # still in the leader's group, adopted by init


def test_new_pids_join_by_parent_by_group_or_as_orphans_and_thread_ids_are_skipped(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path, last_pid=107)
    family(fake)
    followed = tree(fake, cursor=99)

    followed.refresh()

    assert set(followed.members()) == {LEADER, 101, 103, 105, 107}


def test_a_pid_handed_out_before_its_process_shows_is_looked_at_again(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path, last_pid=101)
    fake.add(LEADER, ppid=ME, pgid=LEADER)
    followed = tree(fake, cursor=99)
    followed.refresh()  # 101 is handed out but not in /proc yet

    fake.add(101, ppid=LEADER, pgid=LEADER)
    followed.refresh()

    assert set(followed.members()) == {LEADER, 101}


def test_with_too_many_new_pids_every_process_is_read_once(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path, last_pid=99 + RANGE_LIMIT + 1)
    family(fake)
    shutil.rmtree(tmp_path / "102")  # a listing of /proc shows no thread ids
    followed = tree(fake, cursor=99)

    followed.refresh()

    assert set(followed.members()) == {LEADER, 101, 103, 105, 107}


def test_children_files_are_walked_from_the_leader_where_the_kernel_has_them(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path, last_pid=None)
    family(fake)
    fake.children(ME, LEADER, 105, 106)
    fake.children(LEADER, 101)
    fake.children(101, 103)
    followed = tree(fake, cursor=None)

    followed.refresh()

    # 107 is in the group but a child of init: children files do not show it (the group is killed).
    assert set(followed.members()) == {LEADER, 101, 103, 105}


def test_orphans_are_looked_for_in_the_children_file_of_this_process_main_thread_only(tmp_path: Path) -> None:
    # The kernel gives an orphan to the subreaper's first live thread, its main thread; another
    # thread's file lists only what that thread started (here 106), and is not read at each look.
    fake = FakeProc(tmp_path, last_pid=None)
    family(fake)
    fake.children(ME, LEADER, 105)
    other_thread = tmp_path / str(ME) / "task" / str(ME + 1)
    other_thread.mkdir(parents=True)
    (other_thread / "children").write_text("106 ")
    followed = ProcessTree(LEADER, None, is_orphan=lambda pid: pid != LEADER, proc=fake.proc())

    followed.refresh()

    assert set(followed.members()) == {LEADER, 105}


def test_memory_is_pss_where_readable_and_rss_where_not(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path, last_pid=101)
    fake.add(LEADER, ppid=ME, pgid=LEADER, rss_pages=1000, pss_kb=300)
    fake.add(101, ppid=LEADER, pgid=LEADER, rss_pages=10)  # made itself unreadable: no smaps_rollup
    followed = tree(fake, cursor=99)
    followed.refresh()
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024

    assert followed.rss_kb() == 1010 * page_kb
    assert followed.pss_kb() == 300 + 10 * page_kb


class ReadsRecorded(Proc):
    """A Proc that notes whose files it read (by pid) and whether it listed every process."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.read: set[int] = set()
        self.listed_everything = False

    def stat(self, pid: int) -> Stat | None:
        self.read.add(pid)
        return super().stat(pid)

    def identity(self, pid: int) -> tuple[int, int, int] | None:
        self.read.add(pid)
        return super().identity(pid)

    def children(self, pid: int) -> list[int]:
        self.read.add(pid)
        return super().children(pid)

    def adopted(self, pid: int) -> list[int]:
        self.read.add(pid)
        return super().adopted(pid)

    def rss_kb(self, pid: int) -> int | None:
        self.read.add(pid)
        return super().rss_kb(pid)

    def pss_kb(self, pid: int) -> int | None:
        self.read.add(pid)
        return super().pss_kb(pid)

    def pids(self) -> list[int]:
        self.listed_everything = True
        return super().pids()


def test_following_a_tree_and_sampling_its_memory_reads_no_process_outside_it(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path, last_pid=None)
    family(fake)  # 104 (somebody else's), 106 (another call's) and 107 (init's) are outside
    for pid in (120, 121, 122):  # and a busy host
        fake.add(pid, ppid=1, pgid=pid, rss_pages=100)
    fake.children(ME, LEADER, 105)
    fake.children(LEADER, 101)
    fake.children(101, 103)
    proc = ReadsRecorded(tmp_path)
    followed = ProcessTree(LEADER, None, is_orphan=lambda pid: pid not in {LEADER, 106}, proc=proc)

    for _ in range(3):  # looks and memory samples, as the pump takes them during a call
        followed.refresh()
        followed.pss_kb()
        followed.rss_kb()

    assert set(followed.members()) == {LEADER, 101, 103, 105}
    # This process's own children file is where its adopted orphans are listed; nothing else read.
    assert proc.read <= {LEADER, 101, 103, 105, ME}, sorted(proc.read)
    assert not proc.listed_everything


def test_a_status_field_is_read_in_kib_and_is_none_when_absent_or_gone(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "status").write_text(
        "Name:\tx\nVmPeak:\t  9999 kB\nVmHWM:\t   10848 kB\nVmRSS:\t 1 kB\n"
    )
    proc = Proc(tmp_path)

    assert proc.status_kb(7, b"VmHWM") == 10848
    assert proc.status_kb(7, b"HWM") is None  # a whole field name, not the end of another
    assert proc.status_kb(7, b"VmSwap") is None
    assert proc.status_kb(8, b"VmHWM") is None
    assert (PROC.status_kb(os.getpid(), b"VmHWM") or 0) > 0  # the real file has it
