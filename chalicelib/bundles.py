"""Code bundles: zips of a function directory, addressed by the SHA-256 of their bytes. Pure.

A bundle is checked before it is stored, so the worker never extracts anything that could write
outside its directory: absolute names, `..` components and symlinks are refused.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from pathlib import Path, PurePosixPath

from chalicelib.errors import InvalidInputError, PayloadTooLargeError

DIGEST_PREFIX = "sha256:"
MAX_BUNDLE_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 250 * 1024 * 1024


def digest_of(data: bytes) -> str:
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def is_digest(value: str) -> bool:
    hexpart = value.removeprefix(DIGEST_PREFIX)
    return (
        value.startswith(DIGEST_PREFIX)
        and len(hexpart) == 64
        and all(c in "0123456789abcdef" for c in hexpart)
    )


def validate_bundle(data: bytes) -> None:
    """Raise InvalidInputError naming the first entry that is unsafe, or if it is not a zip."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise PayloadTooLargeError(f"Bundle too large: {len(data)} bytes, max {MAX_BUNDLE_BYTES}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise InvalidInputError("Invalid bundle: not a zip file") from exc
    total = 0
    with archive:
        for info in archive.infolist():
            _check_entry(info)
            total += info.file_size
    if total > MAX_UNPACKED_BYTES:
        raise InvalidInputError(f"Invalid bundle: unpacks to {total} bytes, max {MAX_UNPACKED_BYTES}")


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    path = PurePosixPath(name)
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise InvalidInputError(f"Invalid bundle: absolute path {name!r}")
    if ".." in path.parts or "\\" in name:
        raise InvalidInputError(f"Invalid bundle: path escapes the bundle {name!r}")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise InvalidInputError(f"Invalid bundle: symlink {name!r} (bundles may not contain links)")


def extract_bundle(data: bytes, target: Path) -> None:
    """Extract a validated bundle into `target`, keeping the executable bits."""
    validate_bundle(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            dest = target / info.filename
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
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
    return any(p in {"__pycache__", ".git", ".venv", "node_modules/.cache"} for p in parts) or rel.endswith(
        ".pyc"
    )
