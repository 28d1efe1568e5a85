"""Code bundles: zips of a function directory, addressed by the SHA-256 of their bytes. Pure.

A bundle is checked before it is stored, so the worker never extracts anything that could write
outside its directory: absolute names, `..` components, links, special files, duplicate names and
archives that unpack past MAX_UNPACKED_BYTES are refused. At upload every entry is also read
through (its CRC and size must match its header) and the func.yaml is parsed, so a bundle that
could never run is a 400 at `fn deploy`, not an error at every call.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from chalicelib.errors import InvalidInputError, PayloadTooLargeError

DIGEST_PREFIX = "sha256:"
MAX_BUNDLE_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 250 * 1024 * 1024
MAX_ENTRIES = 20_000
HEX = "0123456789abcdef"
SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".venv"})


def digest_of(data: bytes) -> str:
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def is_digest(value: str) -> bool:
    hexpart = value.removeprefix(DIGEST_PREFIX)
    return value.startswith(DIGEST_PREFIX) and len(hexpart) == 64 and all(c in HEX for c in hexpart)


def validate_bundle(
    data: bytes, max_unpacked_bytes: int = MAX_UNPACKED_BYTES, max_entries: int = MAX_ENTRIES
) -> None:
    """The upload check: the layout is safe, every entry reads back whole, the func.yaml is valid.

    Raises InvalidInputError naming the first bad entry or field, PayloadTooLargeError for size.
    """
    # Imported here, by the one upload check that needs it: chalicelib.execute stays off the cold
    # start of `import app` (tests/test_cold_start.py).
    from chalicelib.execute.funcfile import FUNC_FILES, MAX_FUNC_FILE_BYTES, parse_func_file

    check_layout(data, max_unpacked_bytes, max_entries)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                _read_through(archive, info)
        names = {info.filename: info for info in archive.infolist()}
        found = next((names[name] for name in FUNC_FILES if name in names), None)
        if found is None:
            raise InvalidInputError(f"Invalid bundle: no {FUNC_FILES[0]} at its top level")
        with archive.open(found) as func_file:  # read no more than the parser would accept
            parse_func_file(func_file.read(MAX_FUNC_FILE_BYTES + 1), found.filename)


def _read_through(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Decompress one entry, checking its CRC and that it holds exactly the size its header says."""
    size = 0
    try:
        with archive.open(info) as src:
            while chunk := src.read(1 << 20):
                size += len(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise InvalidInputError(f"Invalid bundle: entry {info.filename!r} is corrupt ({exc})") from exc
    if size != info.file_size:
        raise InvalidInputError(
            f"Invalid bundle: entry {info.filename!r} holds {size} bytes, its header says {info.file_size}"
        )


def check_layout(
    data: bytes, max_unpacked_bytes: int = MAX_UNPACKED_BYTES, max_entries: int = MAX_ENTRIES
) -> None:
    """Raise InvalidInputError naming the first unsafe entry, or PayloadTooLargeError for size."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise PayloadTooLargeError(f"Bundle too large: {len(data)} bytes, max {MAX_BUNDLE_BYTES}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise InvalidInputError("Invalid bundle: not a zip file") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > max_entries:
            raise InvalidInputError(f"Invalid bundle: {len(infos)} entries, max {max_entries}")
        files: set[PurePosixPath] = set()
        dirs: set[PurePosixPath] = set()
        total = 0
        for info in infos:
            path = _check_entry(info, archive)
            target = dirs if info.is_dir() else files
            if path in files or path in dirs:
                raise InvalidInputError(f"Invalid bundle: duplicate entry {info.filename!r}")
            target.add(path)
            total += info.file_size
    # A file may not also be a directory on another entry's path ("a" and "a/b").
    for path in files:
        if any(parent in files for parent in path.parents):
            raise InvalidInputError(f"Invalid bundle: {path.as_posix()!r} is inside a file")
    if total > max_unpacked_bytes:
        raise PayloadTooLargeError(f"Bundle too large: unpacks to {total} bytes, max {max_unpacked_bytes}")


def _check_entry(info: zipfile.ZipInfo, archive: zipfile.ZipFile) -> PurePosixPath:
    name = info.filename
    if not name.strip("/") or "\0" in name:
        raise InvalidInputError(f"Invalid bundle: bad entry name {name!r}")
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise InvalidInputError(f"Invalid bundle: absolute path {name!r}")
    path = PurePosixPath(name)
    if ".." in path.parts or "\\" in name:
        raise InvalidInputError(f"Invalid bundle: path escapes the bundle {name!r}")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        target = archive.read(info).decode("utf-8", "replace")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise InvalidInputError(
                f"Invalid bundle: symlink {name!r} points outside the bundle ({target!r})"
            )
        raise InvalidInputError(f"Invalid bundle: symlink {name!r} (bundles may not contain links)")
    if mode and stat.S_IFMT(mode) not in {0, stat.S_IFREG, stat.S_IFDIR}:
        raise InvalidInputError(f"Invalid bundle: {name!r} is not a regular file or directory")
    return path


def extract_bundle(data: bytes, target: Path) -> None:
    """Extract a validated bundle into `target` (a new, empty directory), keeping executable bits.

    Sizes are counted as bytes are written, not trusted from the zip headers (and zipfile checks
    each entry's CRC as it is read).
    """
    check_layout(data)
    written = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            dest = target / info.filename
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL|O_NOFOLLOW: never write through anything that is already there.
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with archive.open(info) as src, os.fdopen(fd, "wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > MAX_UNPACKED_BYTES:
                        raise PayloadTooLargeError(
                            f"Bundle too large: unpacks to more than {MAX_UNPACKED_BYTES}"
                        )
                    out.write(chunk)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                # Permission bits only: set-uid/gid and sticky bits never come from a bundle.
                dest.chmod(mode | 0o600)


def make_bundle(directory: Path) -> bytes:
    """Zip a function directory deterministically (sorted names, fixed times): same files, same digest."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = path.relative_to(directory).as_posix()
            if _skipped(rel):
                continue
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (path.stat().st_mode & 0o777 | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in SKIPPED_DIRS for p in parts) or rel.endswith(".pyc") or "node_modules/.cache/" in rel
