"""The data directory of `fn start`: its saved state, and the files of the running stack.

    ~/.fnq/data/             (default; --data-dir DIR or FNQ_DATA_DIR to choose another)
      state/                 the saved apps, routes, bundles, calls and logs (fnq/local/journal.py)
      fn-start.lock          held (flock) by the fn start using this directory, while it runs
      fn-start.pid           its process id, for `fn stop`
      fn-start.log           its output when started in the background (`fn start -d`)

One `fn start` at a time uses a directory: the lock is taken before anything else and the kernel
releases it when the process ends (and the embedded AWS's process it shares the lock with: see
endpoint_process.py) however it ends, so a `kill -9` never leaves a directory that
looks busy, and a stale pid file is never trusted on its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

ENV_DATA_DIR = "FNQ_DATA_DIR"


def default_data_dir() -> Path:
    return Path.home() / ".fnq" / "data"


def stop_command(root: Path) -> str:
    """How to stop the fn start using `root`: `fn stop`, naming the directory unless default."""
    default = DataDir(default_data_dir()).root
    return "fn stop" if DataDir(root).root == default else f"fn stop --data-dir {DataDir(root).root}"


class DataDirBusyError(RuntimeError):
    """Another fn start uses this data directory."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "a process"
        super().__init__(
            f"another fn start ({who}) is using the data directory {data_dir}; "
            f"stop it with `{stop_command(data_dir)}`, or choose another with --data-dir"
        )
        self.pid = pid


class DataDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root.expanduser()))
        self.state = self.root / "state"
        self.lock_file = self.root / "fn-start.lock"
        self.pid_file = self.root / "fn-start.pid"
        self.log_file = self.root / "fn-start.log"
        # Written when a stop has settled every call and closed the state; removed at start.
        self.clean_stop = self.state / "stopped-cleanly"
        self._lock_fd: int | None = None

    def claim(self) -> None:
        """Take the directory for this process (lock, pid file); raises DataDirBusyError."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusyError(self.root, self._pid_in_file()) from None
        self._lock_fd = fd
        temporary = self.pid_file.with_suffix(".tmp")
        temporary.write_text(f"{os.getpid()}\n")
        os.replace(temporary, self.pid_file)

    @property
    def lock_fd(self) -> int | None:
        """The locked descriptor while claimed: a child given it keeps the directory claimed until
        it too has ended (the embedded AWS's process, which writes the journal)."""
        return self._lock_fd

    def release(self) -> None:
        if self._lock_fd is None:
            return
        if self._pid_in_file() == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.pid_file.unlink()
        os.close(self._lock_fd)  # releases the lock
        self._lock_fd = None

    def running_pid(self) -> int | None:
        """The pid of the fn start using this directory now (0 if it wrote none); None if none does."""
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return self._pid_in_file() or 0
        finally:
            os.close(fd)  # also drops the shared lock, if we got it
        return None

    def _pid_in_file(self) -> int | None:
        try:
            text = self.pid_file.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None
