"""The worker's local cache of extracted bundles: code that the code it runs cannot change.

A function runs as the worker's uid, so it can write (or chmod, add, remove, rename) anything the
worker can, the cache included: a bundle directory it rewrote would run its code in another
function's next call. So what runs is checked, not trusted:

- each bundle is extracted from its zip, after the bytes were checked against the digest, and made
  read-only (an honest function writing into its code directory fails at once; its TMPDIR is the
  place to write, see workspace.py);
- what was extracted is recorded: every entry's path, inode, type and mode, size and ctime (the
  kernel sets ctime on every change, including chmod and rename, and nobody can set it back);
- before every use the directory is compared with that record; any difference (a file rewritten,
  added, removed or replaced, a mode changed) and the bundle is extracted again from its zip into
  a new directory (so hot processes started from the old one are never reused), and the old one
  is deleted.

The cache is private to its process (`root/bundles-XXXX/`): a directory another process extracted
would be one this process never recorded. Each instance holds an flock on `root/bundles-XXXX.lock`
while its process lives; a new cache removes the directories of processes that are gone. Inside
one process a lock per digest avoids downloading twice.

What this does not stop: a change made while a call is already running from the directory (a
concurrent call of another function rewriting a file the first has yet to import). Such a change
is found before the next call.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chalicelib.bundles import DIGEST_PREFIX, digest_of, extract_bundle, is_digest
from chalicelib.errors import InvalidInputError
from chalicelib.execute.workspace import remove_tree

log = logging.getLogger(__name__)

INSTANCE_PREFIX = "bundles-"
# Never written, never executable by anyone, whatever the zip said.
READ_ONLY = ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) & 0o7777

Record = dict[str, tuple[int, int, int, int]]  # relative path → (inode, mode, size, ctime_ns)


def record_of(directory: Path) -> Record:
    """Every entry under `directory` (itself as ""), without following links. Raises OSError."""
    found: Record = {}

    def note(rel: str, st: os.stat_result) -> None:
        found[rel] = (st.st_ino, st.st_mode, st.st_size, st.st_ctime_ns)

    def walk(path: str, prefix: str) -> None:
        with os.scandir(path) as entries:
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                note(prefix + entry.name, st)
                if stat.S_ISDIR(st.st_mode):
                    walk(entry.path, prefix + entry.name + "/")

    note("", os.lstat(directory))
    walk(str(directory), "")
    return found


def make_read_only(directory: Path) -> None:
    for path, dirs, files in os.walk(directory, topdown=False):
        for name in files:
            target = os.path.join(path, name)
            os.chmod(target, os.lstat(target).st_mode & READ_ONLY)
        for name in dirs:
            os.chmod(os.path.join(path, name), 0o555)
    os.chmod(directory, 0o555)


@dataclass(frozen=True)
class _Extracted:
    path: Path
    record: Record

    def intact(self) -> bool:
        try:
            return record_of(self.path) == self.record
        except OSError:
            return False  # removed, or made unreadable


class BundleCache:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(root)
        self._dir = Path(tempfile.mkdtemp(prefix=INSTANCE_PREFIX, dir=root))
        # Held (never closed) while this process lives: how other processes know the directory is used.
        self._lock_fd = os.open(_lock_path(self._dir), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._extracted: dict[str, _Extracted] = {}
        self.extractions = 0  # how many times a bundle was extracted (again, after a change)

    @property
    def directory(self) -> Path:
        return self._dir

    def path_for(self, digest: str, load: Callable[[], bytes]) -> Path:
        """The directory holding the bundle `digest`, as extracted; `load()` fetches its bytes when
        it is not here yet or was changed.

        Raises InvalidInputError if the digest is malformed, the loaded bytes do not match it, or
        the bundle is unsafe (see bundles.validate_bundle).
        """
        if not is_digest(digest):
            raise InvalidInputError(f"Invalid bundle digest {digest!r}")
        known = self._extracted.get(digest)
        if known is not None and known.intact():
            return known.path
        with self._lock_for(digest):
            known = self._extracted.get(digest)
            if known is not None:
                if known.intact():
                    return known.path
                log.warning("bundle %s changed on disk after it was extracted: extracting it again", digest)
                del self._extracted[digest]
                remove_tree(known.path)
            data = load()
            if digest_of(data) != digest:
                raise InvalidInputError(f"Bundle content does not match its digest {digest}")
            self._dir.mkdir(exist_ok=True)  # in case something removed it
            target = Path(tempfile.mkdtemp(prefix=digest.removeprefix(DIGEST_PREFIX) + ".", dir=self._dir))
            try:
                extract_bundle(data, target)
                make_read_only(target)
                extracted = _Extracted(target, record_of(target))
            except BaseException:
                remove_tree(target)
                raise
            self._extracted[digest] = extracted
            self.extractions += 1
            return target

    def _lock_for(self, digest: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(digest, threading.Lock())


def _lock_path(instance: Path) -> Path:
    return instance.with_name(instance.name + ".lock")


def _remove_abandoned(root: Path) -> None:
    """Remove the caches of processes that are gone: their lock is free."""
    for entry in root.glob(INSTANCE_PREFIX + "*"):
        if entry.suffix == ".lock" or not entry.is_dir():
            continue
        lock = _lock_path(entry)
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its process is alive
        remove_tree(entry)
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)
