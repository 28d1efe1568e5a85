"""The bundle cache: each digest loads once, and what runs is what the zip holds, however the
files were changed after extraction."""

from __future__ import annotations

import io
import multiprocessing
import os
import stat
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chalicelib.bundles import digest_of, make_bundle
from chalicelib.errors import InvalidInputError
from chalicelib.execute.cache import BundleCache

FILES = 200


def many_files_bundle(tmp_path: Path) -> bytes:
    source = tmp_path / "src"
    source.mkdir()
    (source / "func.yaml").write_text("name: f\n")
    (source / "lib").mkdir()
    (source / "lib" / "helper.py").write_text("VALUE = 1\n")
    for i in range(FILES):
        (source / f"file{i:03}.txt").write_text(str(i) * 1000)
    return make_bundle(source)


def count_files(directory: Path) -> int:
    return sum(1 for _ in directory.iterdir())


def test_threads_asking_at_once_load_the_bundle_once_and_all_see_it_whole(tmp_path: Path) -> None:
    data = many_files_bundle(tmp_path)
    cache = BundleCache(tmp_path / "cache")
    loads = []
    start = threading.Barrier(8)

    def load() -> bytes:
        loads.append(1)
        return data

    def use(_: int) -> int:
        start.wait()
        return count_files(cache.path_for(digest_of(data), load))

    with ThreadPoolExecutor(max_workers=8) as threads:
        seen = list(threads.map(use, range(8)))

    assert seen == [FILES + 2] * 8
    assert len(loads) == 1
    assert len(list(cache.directory.iterdir())) == 1


def test_extracted_code_is_read_only_and_keeps_its_executable_bits(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "func").write_text("#!/bin/sh\n")
    (source / "func").chmod(0o755)
    (source / "data.txt").write_text("x")
    data = make_bundle(source)

    path = BundleCache(tmp_path / "cache").path_for(digest_of(data), lambda: data)

    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [path, *path.iterdir()]}
    assert modes == {path.name: 0o555, "func": 0o555, "data.txt": 0o444}


def rewrite(path: Path) -> None:
    (path / "lib").chmod(0o755)
    (path / "lib" / "helper.py").chmod(0o644)
    (path / "lib" / "helper.py").write_text("VALUE = 666\n")


def rewrite_same_size_and_times(path: Path) -> None:
    target = path / "lib" / "helper.py"
    before = target.stat()
    target.chmod(0o644)
    target.write_text("VALUE = 9\n")
    target.chmod(stat.S_IMODE(before.st_mode))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))


def add_a_module(path: Path) -> None:
    path.chmod(0o755)
    (path / "json.py").write_text("raise SystemExit('pwned')\n")


def remove_a_file(path: Path) -> None:
    (path / "lib").chmod(0o755)
    (path / "lib" / "helper.py").unlink()


def replace_by_a_symlink(path: Path) -> None:
    (path / "lib").chmod(0o755)
    (path / "lib" / "helper.py").unlink()
    (path / "lib" / "helper.py").symlink_to("/etc/hostname")


def swap_for_a_copy(path: Path) -> None:
    # The same names, sizes and modes, but other inodes (the old ones renamed away).
    (path / "lib").chmod(0o755)
    helper = path / "lib" / "helper.py"
    helper.rename(path / "lib" / "old")
    helper.write_text("VALUE = 2\n")
    helper.chmod(0o444)
    (path / "lib" / "old").unlink()
    (path / "lib").chmod(0o555)


def make_writable(path: Path) -> None:
    path.chmod(0o777)


@pytest.mark.parametrize(
    "change",
    [
        rewrite,
        rewrite_same_size_and_times,
        add_a_module,
        remove_a_file,
        replace_by_a_symlink,
        swap_for_a_copy,
        make_writable,
    ],
)
def test_any_change_after_extraction_is_found_and_the_bundle_extracted_again(
    tmp_path: Path, change: Callable[[Path], None]
) -> None:
    data = many_files_bundle(tmp_path)
    cache = BundleCache(tmp_path / "cache")
    first = cache.path_for(digest_of(data), lambda: data)

    change(first)
    again = cache.path_for(digest_of(data), lambda: data)

    assert again != first and not first.exists()
    assert (again / "lib" / "helper.py").read_text() == "VALUE = 1\n"
    assert not (again / "json.py").exists()
    assert cache.extractions == 2
    assert cache.path_for(digest_of(data), lambda: data) == again  # and it stays put


def test_an_untouched_bundle_is_not_extracted_again(tmp_path: Path) -> None:
    data = many_files_bundle(tmp_path)
    cache = BundleCache(tmp_path / "cache")

    paths = {cache.path_for(digest_of(data), lambda: data) for _ in range(20)}

    assert len(paths) == 1 and cache.extractions == 1


def _extract_and_report(root: str, data: bytes, results: multiprocessing.Queue, stay: bool) -> None:  # type: ignore[type-arg]
    cache = BundleCache(Path(root))
    results.put(str(cache.path_for(digest_of(data), lambda: data)))
    if stay:
        threading.Event().wait(60)


def test_each_process_has_its_own_copy_and_those_of_dead_processes_are_removed(tmp_path: Path) -> None:
    data = many_files_bundle(tmp_path)
    root = tmp_path / "cache"
    # spawn, not fork: this test process has threads (hot-pool reapers) that fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[str] = context.Queue()
    gone = context.Process(target=_extract_and_report, args=(str(root), data, results, False))
    alive = context.Process(target=_extract_and_report, args=(str(root), data, results, True))
    gone.start()
    gone_path = Path(results.get(timeout=30))
    gone.join(30)
    alive.start()
    try:
        alive_path = Path(results.get(timeout=30))

        mine = BundleCache(root).path_for(digest_of(data), lambda: data)

        assert len({mine, alive_path, gone_path}) == 3
        assert not gone_path.exists()
        assert count_files(alive_path) == FILES + 2
    finally:
        alive.kill()
        alive.join(10)


def test_bytes_that_do_not_match_the_digest_are_refused(tmp_path: Path) -> None:
    data = many_files_bundle(tmp_path)
    cache = BundleCache(tmp_path / "cache")

    with pytest.raises(InvalidInputError, match="does not match its digest"):
        cache.path_for(digest_of(b"other"), lambda: data)

    assert list(cache.directory.iterdir()) == []


def test_a_malicious_bundle_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape", b"x")
    cache = BundleCache(tmp_path / "cache")

    with pytest.raises(InvalidInputError, match="path escapes"):
        cache.path_for(digest_of(buffer.getvalue()), buffer.getvalue)

    assert list(cache.directory.iterdir()) == []
    assert not (tmp_path / "escape").exists()
