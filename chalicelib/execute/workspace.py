"""A function's writable space: a private temporary directory, its TMPDIR and HOME, removed after.

The code directory is read-only (cache.py) and shared by every call of the bundle, so it is no place
to write. A `default` call gets a directory of its own, removed once every process of the call is
dead; a hot process gets one for its life (its calls share it, as they share its memory).

The removal happens on a thread of its own, after every process that could use the directory is
dead: removing even an empty directory costs 2-4 ms on some disks (ext4 on this machine's virtual
disk), a tenth of a cold call, and no caller needs to wait for it. The directory's name is never
handed out again, so no later call sees it; `settle()` waits until every removal asked for is done
(Executor.close, the tests).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import shutil
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "fnq-call-"


class Workspace:
    def __init__(self) -> None:
        # mkdtemp: mode 0700, in the platform's own temporary directory (/tmp on Lambda).
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX))

    def env(self) -> dict[str, str]:
        return {"TMPDIR": str(self.path), "HOME": str(self.path)}

    def remove(self) -> None:
        """Once every process of the call (or of the hot process) is dead: removed soon after."""
        _REMOVER.remove(self.path)


def settle() -> None:
    """Wait until every workspace whose removal was asked for is gone."""
    _REMOVER.settle()


class _Remover:
    def __init__(self) -> None:
        self._pending: queue.Queue[Path] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def remove(self, path: Path) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fnq-workspaces", daemon=True)
                self._thread.start()
                atexit.register(self.settle)  # a process that ends leaves no workspace behind
        self._pending.put(path)

    def settle(self) -> None:
        self._pending.join()

    def _run(self) -> None:
        while True:
            path = self._pending.get()
            try:
                remove_tree(path)
            except Exception:  # the thread must outlive one failure, or settle() would never return
                log.exception("could not remove the workspace %s", path)
            finally:
                self._pending.task_done()


_REMOVER = _Remover()


def remove_tree(path: Path) -> None:
    """shutil.rmtree, also through what was made read-only (the code cache, what a function left).

    Only what lies inside the tree is made writable, never the directory that holds it: that is
    the platform's own (/tmp, the cache's root). It once was: rmtree reports a path that is already
    gone to its error handler instead of raising, and the handler made the path's parent 0700; with
    a workspace removed twice that was /tmp, which then let no other user through.
    """
    root = os.path.abspath(path)
    retried: set[str] = set()

    def retry(_: object, failed: str, excinfo: tuple[type[BaseException], BaseException, object]) -> None:
        failed = os.path.abspath(failed)
        if isinstance(excinfo[1], FileNotFoundError) or failed in retried:
            return  # gone already; or made writable already and still failing (a mount point...)
        retried.add(failed)
        try:
            if failed != root:
                os.chmod(os.path.dirname(failed), 0o700)  # inside the tree: `failed` is below root
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
        except OSError:
            return  # not ours to change: leave it
        with contextlib.suppress(OSError):
            if os.path.isdir(failed) and not os.path.islink(failed):
                shutil.rmtree(failed, onerror=retry)
            else:
                os.unlink(failed)

    shutil.rmtree(root, onerror=retry)
