"""One process of a function: started in its own session, watched, measured and killed with its tree.

The function's process leads a new session and process group, so killing the group takes every
child it forked with it. A child may still leave the group (`setsid`) or lose its parent (a double
fork); tree.py follows those too, and the whole tree is killed when the call ends.

In a process that guard.py made a subreaper, every child is started and waited for through its
Reaper (see reaper.py); elsewhere the process is waited for directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from chalicelib.execute.reaper import Reaper
from chalicelib.execute.tree import PROC, ProcessTree


@dataclass(frozen=True)
class ExitStatus:
    """How the process ended.

    Not its rusage: `ru_maxrss` survives exec, and with vfork it carries the *worker's* peak RSS
    into the child, so memory figures come from sampling /proc instead (see pump.py).
    """

    code: int  # the exit code, or 128 + signal number as a container runtime reports it


def exit_code(raw: int) -> int:
    return 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.waitstatus_to_exitcode(raw)


class Child:
    """A started function process with non-blocking pipes and, where the kernel has it, a pidfd."""

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        merge_stderr: bool,
        reaper: Reaper | None = None,
    ) -> None:
        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
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

        self._reaper = reaper
        # Read before the process exists: every process of the call gets a pid handed out after it.
        cursor = PROC.last_pid()
        self._proc = reaper.spawn(start) if reaper is not None else start()
        self.pid = self._proc.pid
        self.tree = ProcessTree(self.pid, cursor, reaper.is_orphan if reaper is not None else None)
        assert self._proc.stdin and self._proc.stdout
        self.stdin_fd: int | None = self._proc.stdin.fileno()
        self.stdout_fd = self._proc.stdout.fileno()
        self.stderr_fd = self._proc.stderr.fileno() if self._proc.stderr else None
        for fd in (self.stdin_fd, self.stdout_fd, self.stderr_fd):
            if fd is not None:
                os.set_blocking(fd, False)
        self.pidfd: int | None
        try:
            # Readable when the process exits: the pump wakes at once instead of polling. (A Reaper
            # may have reaped a process that ended at once; its pid is not handed out again before
            # some 32,000 others, so this cannot open another process.)
            self.pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        self.status: ExitStatus | None = None

    @property
    def exited(self) -> bool:
        return self.status is not None

    def has_ended(self) -> bool:
        """Peek (without reaping) whether the process has exited; for kernels without pidfd."""
        if self.status is not None:
            return True
        if self._reaper is not None:
            return self._reaper.exited(self.pid)
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def finish(self) -> ExitStatus:
        """Kill what is left of the tree, then reap the process. Idempotent.

        The kill comes first: without a Reaper, the dead process keeps its pid (and group id) until
        it is reaped here. With one it may be reaped already; the tree signals only processes whose
        start time it saw (and a group only while a process of it still exists).
        """
        if self.status is not None:
            return self.status
        self.kill()
        raw: int | None
        try:
            if self._reaper is not None:
                raw = self._reaper.wait(self.pid)
                self._reaper.forget(self.pid)
            else:
                raw = os.waitpid(self.pid, 0)[1]
        except ChildProcessError:
            raw = None
        self.status = ExitStatus(code=128 + signal.SIGKILL if raw is None else exit_code(raw))
        # Tell Popen the process is reaped, so it never waits on the pid again.
        self._proc.returncode = self.status.code
        return self.status

    def tree_rss_kb(self) -> int:
        """Resident memory of the process and its tree, in KiB (an upper bound of `tree_pss_kb`)."""
        self.tree.refresh()
        return self.tree.rss_kb()

    def tree_pss_kb(self) -> int:
        """Proportional memory of the process and its tree: pages shared between them count once."""
        return self.tree.pss_kb()

    def peak_rss_kb(self) -> int:
        """The process's own high-water mark (VmHWM), 0 once it is gone."""
        return PROC.status_kb(self.pid, b"VmHWM") or 0

    def kill(self) -> None:
        """SIGKILL the process and its whole tree. Does not reap; a no-op once reaped."""
        if self.status is not None:
            return
        self.tree.kill()

    def kill_others(self) -> bool:
        """SIGKILL every process of the tree but the main one; answers whether there was any
        (zombies included)."""
        if self.status is not None or not self.tree.others():
            return False
        self.tree.kill(spare_leader=True)
        return True

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
