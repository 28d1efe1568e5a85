"""The bundle cache: concurrent users see a complete directory or none, and each digest loads once."""

from __future__ import annotations

import io
import multiprocessing
import threading
import zipfile
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

    assert seen == [FILES + 1] * 8
    assert len(loads) == 1
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [digest_of(data).removeprefix("sha256:")]


def _extract_in_another_process(root: str, data: bytes, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    path = BundleCache(Path(root)).path_for(digest_of(data), lambda: data)
    results.put(count_files(path))


def test_processes_racing_for_one_digest_all_see_a_complete_directory(tmp_path: Path) -> None:
    data = many_files_bundle(tmp_path)
    # spawn, not fork: this test process has threads (hot-pool reapers) that fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[int] = context.Queue()
    workers = [
        context.Process(target=_extract_in_another_process, args=(str(tmp_path / "cache"), data, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert sorted(results.get(timeout=5) for _ in workers) == [FILES + 1] * 4
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_bytes_that_do_not_match_the_digest_are_refused(tmp_path: Path) -> None:
    data = many_files_bundle(tmp_path)
    cache = BundleCache(tmp_path / "cache")

    with pytest.raises(InvalidInputError, match="does not match its digest"):
        cache.path_for(digest_of(b"other"), lambda: data)

    assert list((tmp_path / "cache").iterdir()) == []


def test_a_malicious_bundle_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape", b"x")
    cache = BundleCache(tmp_path / "cache")

    with pytest.raises(InvalidInputError, match="path escapes"):
        cache.path_for(digest_of(buffer.getvalue()), buffer.getvalue)

    assert list((tmp_path / "cache").iterdir()) == []
    assert not (tmp_path / "escape").exists()
