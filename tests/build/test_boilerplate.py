"""`fn init`'s boilerplate: Fn's func.yaml shape, and refusals that name what is supported."""

from __future__ import annotations

from pathlib import Path

import pytest

from fnq.build.boilerplate import write_boilerplate
from chalicelib.errors import InvalidInputError


def test_func_yaml_has_fn_keys_in_fn_order(tmp_path: Path) -> None:
    write_boilerplate("python", "hello", tmp_path, "json", "async")

    assert (tmp_path / "func.yaml").read_text().splitlines() == [
        "name: hello",
        "version: 0.0.1",
        "runtime: python",
        "entrypoint: python3 func.py",
        "type: async",
        "format: json",
    ]


def test_type_is_left_out_when_not_given(tmp_path: Path) -> None:
    write_boilerplate("go", "hello", tmp_path)

    assert (tmp_path / "func.yaml").read_text() == (
        "name: hello\nversion: 0.0.1\nruntime: go\nentrypoint: ./func\nformat: json\n"
    )


@pytest.mark.parametrize(
    ("runtime", "files"),
    [
        ("python", ["func.py", "func.yaml", "requirements.txt", "test.json"]),
        ("node", ["func.js", "func.yaml", "package.json", "test.json"]),
        ("go", ["func.go", "func.yaml", "go.mod", "test.json"]),
    ],
)
def test_each_runtime_writes_its_files(runtime: str, files: list[str], tmp_path: Path) -> None:
    write_boilerplate(runtime, "hello", tmp_path / "f", "default")

    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == files


def test_the_go_module_has_nothing_to_download(tmp_path: Path) -> None:
    write_boilerplate("go", "hello", tmp_path)

    assert "require" not in (tmp_path / "go.mod").read_text()


def test_an_unknown_runtime_is_refused_naming_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as refused:
        write_boilerplate("cobol", "hello", tmp_path)

    assert refused.value.message == "Unknown runtime 'cobol'; supported runtimes: python, node, go"
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="supported formats: default, json"):
        write_boilerplate("python", "hello", tmp_path, "http")


def test_an_existing_function_is_not_overwritten(tmp_path: Path) -> None:
    write_boilerplate("python", "hello", tmp_path)

    with pytest.raises(InvalidInputError, match=r"func\.yaml already exists"):
        write_boilerplate("node", "hello", tmp_path)
