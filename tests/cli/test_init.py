from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.peer import RunFn, write


class RecordingWriter:
    """Stands in for fnq.build.boilerplate.write_boilerplate; writes a minimal func.yaml."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(
        self, runtime: str, name: str, directory: Path, fmt: str = "json", type_: str | None = None
    ) -> None:
        self.calls.append((runtime, name, directory, fmt, type_))
        write(directory / "func.yaml", f"name: {name}\nversion: 0.0.1\nruntime: {runtime}\n")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_with_a_name_creates_the_directory_and_prints_fns_messages(fn: RunFn, in_tmp: Path) -> None:
    writer = RecordingWriter()

    result = fn("init", "--runtime", "python", "--type", "async", "asyncfn", boilerplate_writer=writer)

    assert result.exit_code == 0
    assert result.stdout == (
        "Creating function at: /asyncfn\n"
        "Runtime: python\n"
        "Function boilerplate generated.\n"
        "func.yaml created.\n"
    )
    assert writer.calls == [("python", "asyncfn", in_tmp / "asyncfn", "json", "async")]


def test_init_without_a_name_uses_the_current_directory_lower_cased(
    fn: RunFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "MyFunc").mkdir()
    monkeypatch.chdir(tmp_path / "MyFunc")
    writer = RecordingWriter()

    result = fn("init", "--runtime", "go", "--format", "default", boilerplate_writer=writer)

    assert result.stdout == "Runtime: go\nFunction boilerplate generated.\nfunc.yaml created.\n"
    assert writer.calls == [("go", "myfunc", tmp_path / "MyFunc", "default", None)]


def test_init_refuses_to_overwrite_a_function(fn: RunFn, in_tmp: Path) -> None:
    write(in_tmp / "hello" / "func.yaml", "name: hello\n")
    writer = RecordingWriter()

    result = fn("init", "--runtime", "node", "hello", boilerplate_writer=writer)

    assert (result.exit_code, result.stderr) == (1, "ERROR: Function file already exists, aborting\n")
    assert writer.calls == []


def test_init_needs_a_known_runtime(fn: RunFn, in_tmp: Path) -> None:
    result = fn("init", "--runtime", "cobol", "x", boilerplate_writer=RecordingWriter())

    assert result.exit_code == 1
    assert result.stderr.startswith("ERROR: Invalid value for '--runtime'")


def test_init_writes_a_real_python_function(fn: RunFn, in_tmp: Path) -> None:
    from chalicelib.execute.funcfile import load_func_file

    result = fn("init", "--runtime", "python", "hello")

    assert result.exit_code == 0, result.stderr
    func = load_func_file(in_tmp / "hello")
    assert (func.name, func.runtime, func.format) == ("hello", "python", "json")
