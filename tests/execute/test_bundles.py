"""Malicious or broken bundles are refused before anything is written."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from chalicelib.bundles import extract_bundle, make_bundle, validate_bundle
from chalicelib.errors import InvalidInputError, PayloadTooLargeError


def zip_of(*entries: tuple[str, bytes] | zipfile.ZipInfo, content: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry in entries:
            if isinstance(entry, zipfile.ZipInfo):
                archive.writestr(entry, content)
            else:
                archive.writestr(*entry)
    return buffer.getvalue()


def symlink(name: str, target: str) -> bytes:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zip_of(("func.yaml", b"name: f\n"), info, content=target.encode())


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        (zip_of(("../../etc/cron.d/evil", b"x")), "path escapes the bundle '../../etc/cron.d/evil'"),
        (zip_of(("a/../../evil", b"x")), "path escapes the bundle"),
        (zip_of(("/etc/passwd", b"x")), "absolute path '/etc/passwd'"),
        (zip_of(("C:/windows/evil", b"x")), "absolute path"),
        (zip_of(("a\\..\\evil", b"x")), "path escapes the bundle"),
        (symlink("passwd", "/etc/passwd"), "symlink 'passwd' points outside the bundle ('/etc/passwd')"),
        (symlink("sub/up", "../../secret"), "symlink 'sub/up' points outside the bundle"),
        (symlink("inside", "func.yaml"), "symlink 'inside' (bundles may not contain links)"),
        (zip_of(("func.py", b"1"), ("./func.py", b"2")), "duplicate entry './func.py'"),
        (zip_of(("lib", b"file"), ("lib/mod.py", b"x")), "'lib/mod.py' is inside a file"),
        (b"not a zip at all", "not a zip file"),
    ],
)
def test_an_unsafe_bundle_is_refused_with_a_clear_message(
    bundle: bytes, message: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        extract_bundle(bundle, tmp_path / "out")

    assert message in refused.value.message
    assert refused.value.message.startswith("Invalid bundle: ")
    assert not (tmp_path / "out").exists()


def test_a_bundle_that_unpacks_too_big_is_refused() -> None:
    bomb = zip_of(("zeros", b"\0" * 5000))

    with pytest.raises(PayloadTooLargeError, match="unpacks to 5000 bytes, max 1000"):
        validate_bundle(bomb, max_unpacked_bytes=1000)


def test_a_bundle_with_too_many_entries_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="4 entries, max 3"):
        validate_bundle(zip_of(*[(f"f{i}", b"") for i in range(4)]), max_entries=3)


def test_a_function_directory_round_trips_with_its_executable_bit(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "lib").mkdir(parents=True)
    (source / "func.yaml").write_text("name: f\n")
    (source / "lib" / "run.sh").write_text("#!/bin/sh\n")
    (source / "lib" / "run.sh").chmod(0o755)
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "x.pyc").write_bytes(b"")

    extract_bundle(make_bundle(source), tmp_path / "out")

    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")) == [
        "func.yaml",
        "lib",
        "lib/run.sh",
    ]
    assert (tmp_path / "out" / "lib" / "run.sh").stat().st_mode & 0o111


def test_the_same_files_make_the_same_bundle(tmp_path: Path) -> None:
    (tmp_path / "func.yaml").write_text("name: f\n")

    assert make_bundle(tmp_path) == make_bundle(tmp_path)
