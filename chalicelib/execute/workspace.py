"""A function's writable space: a private temporary directory, its TMPDIR and HOME, removed after.

The code directory is read-only (cache.py) and shared by every call of the bundle, so it is no place
to write. A `default` call gets a directory of its own, removed once every process of the call is
dead; a hot process gets one for its life (its calls share it, as they share its memory).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "fnq-call-"


class Workspace:
    def __init__(self) -> None:
        # mkdtemp: mode 0700, in the platform's own temporary directory (/tmp on Lambda).
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX))

    def env(self) -> dict[str, str]:
        return {"TMPDIR": str(self.path), "HOME": str(self.path)}

    def remove(self) -> None:
        remove_tree(self.path)


def remove_tree(path: Path) -> None:
    """shutil.rmtree, also through what was made read-only (the code cache, what a function left)."""

    retried: set[str] = set()

    def retry(_: object, failed: str, __: object) -> None:
        if failed in retried:
            return  # made writable already and still failing (a mount point...): leave it
        retried.add(failed)
        try:
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
        except OSError:
            return  # not ours to change: leave it
        with contextlib.suppress(OSError):
            if os.path.isdir(failed) and not os.path.islink(failed):
                shutil.rmtree(failed, onerror=retry)
            else:
                os.unlink(failed)

    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path, onerror=retry)
