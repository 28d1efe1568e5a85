"""The worker's local cache of extracted bundles, one directory per digest.

A bundle is extracted into a private temporary directory beside its final place and renamed into
`root/<hex>` in one step. rename(2) of a directory onto a non-empty directory fails, so the first
writer wins and every reader, in any thread or process, sees either no directory or a complete
one. A loser discards its copy. Inside one process a lock per digest avoids downloading twice.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from chalicelib.bundles import DIGEST_PREFIX, digest_of, extract_bundle, is_digest
from chalicelib.errors import InvalidInputError

# Temporary directories left by a worker that died mid-extraction are removed after this long.
STALE_SECONDS = 3600
TEMP_PREFIX = ".partial-"


class BundleCache:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._remove_stale()

    def path_for(self, digest: str, load: Callable[[], bytes]) -> Path:
        """The directory holding the bundle `digest`; `load()` fetches its bytes when not cached.

        Raises InvalidInputError if the digest is malformed, the loaded bytes do not match it, or
        the bundle is unsafe (see bundles.validate_bundle).
        """
        if not is_digest(digest):
            raise InvalidInputError(f"Invalid bundle digest {digest!r}")
        final = self._root / digest.removeprefix(DIGEST_PREFIX)
        if final.is_dir():
            return final
        with self._lock_for(digest):
            if final.is_dir():
                return final
            data = load()
            if digest_of(data) != digest:
                raise InvalidInputError(f"Bundle content does not match its digest {digest}")
            staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=self._root))
            try:
                extract_bundle(data, staging)
                staging.chmod(0o755)
                os.rename(staging, final)
            except OSError as exc:
                shutil.rmtree(staging, ignore_errors=True)
                # Another process renamed its complete copy first: use that one.
                if exc.errno not in {errno.ENOTEMPTY, errno.EEXIST} or not final.is_dir():
                    raise
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return final

    def _lock_for(self, digest: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(digest, threading.Lock())

    def _remove_stale(self) -> None:
        cutoff = time.time() - STALE_SECONDS
        for entry in self._root.glob(TEMP_PREFIX + "*"):
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
