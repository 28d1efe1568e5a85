"""Deploy-time builds: dependencies and binaries land in the staged directory, or a clear error."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from fnq.build.boilerplate import write_boilerplate
from chalicelib.errors import InvalidInputError
from fnq.build.function import build_function, python_requirements
from chalicelib.execute.executor import Executor
from chalicelib.models import CallStatus
from tests.execute.support import invocation, python_function


def local_wheel(directory: Path) -> Path:
    """A minimal wheel of a module `greeting`, so pip installs offline."""
    files = {
        "greeting.py": b"def hello():\n    return 'hello from a dependency'\n",
        "greeting-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: greeting\nVersion: 1.0\n",
        "greeting-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in files.items()
    )
    record += "greeting-1.0.dist-info/RECORD,,\n"
    wheel = directory / "greeting-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("greeting-1.0.dist-info/RECORD", record)
    return wheel


def test_python_requirements_are_installed_into_the_bundle(tmp_path: Path, executor: Executor) -> None:
    source = python_function(tmp_path / "src", "import greeting\nprint(greeting.hello())\n")
    wheel = local_wheel(tmp_path)
    (source / "requirements.txt").write_text(f"{wheel}\n")

    build_function(source, tmp_path / "bundle")
    execution = executor.execute(tmp_path / "bundle", invocation())

    assert (tmp_path / "bundle" / ".python_packages" / "greeting.py").is_file()
    assert execution.output == b"hello from a dependency\n", execution.log


def test_only_fn_fdk_or_nothing_needs_no_install(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# deps\nfdk\n\nFDK  # the Fn kit\n")

    assert python_requirements(tmp_path / "requirements.txt") == []
    assert python_requirements(tmp_path / "missing.txt") == []


def test_other_requirements_are_kept(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("fdk\nrequests>=2  # http\nfdk-extra\n")

    assert python_requirements(tmp_path / "requirements.txt") == ["requests>=2", "fdk-extra"]


def test_a_failed_pip_install_is_reported_with_its_output(tmp_path: Path) -> None:
    source = python_function(tmp_path / "src", "print(1)\n")
    (source / "requirements.txt").write_text(f"{tmp_path / 'no-such-1.0-py3-none-any.whl'}\n")

    with pytest.raises(InvalidInputError, match="pip install failed"):
        build_function(source, tmp_path / "bundle")


def test_go_is_compiled_into_a_static_binary(tmp_path: Path) -> None:
    write_boilerplate("go", "hello", tmp_path / "src", "default")

    func = build_function(tmp_path / "src", tmp_path / "bundle")

    binary = (tmp_path / "bundle" / "func").read_bytes()
    assert func.runtime == "go"
    assert binary.startswith(b"\x7fELF")
    assert b"/lib64/ld-linux" not in binary  # no dynamic loader: CGO_ENABLED=0


def test_go_missing_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_boilerplate("go", "hello", tmp_path / "src", "default")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    with pytest.raises(InvalidInputError) as refused:
        build_function(tmp_path / "src", tmp_path / "bundle")

    assert "go is not installed" in refused.value.message
    assert "apt-get install golang-go" in refused.value.message
    assert "https://go.dev/dl" in refused.value.message


def test_a_go_compile_error_is_reported(tmp_path: Path) -> None:
    write_boilerplate("go", "hello", tmp_path / "src", "default")
    (tmp_path / "src" / "func.go").write_text("package main\nfunc main() { undefined() }\n")

    with pytest.raises(InvalidInputError, match="go build failed"):
        build_function(tmp_path / "src", tmp_path / "bundle")


def test_node_without_dependencies_needs_no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_boilerplate("node", "hello", tmp_path / "src", "default")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    build_function(tmp_path / "src", tmp_path / "bundle")

    assert not (tmp_path / "bundle" / "node_modules").exists()


def test_local_leftovers_are_not_staged(tmp_path: Path) -> None:
    source = python_function(tmp_path / "src", "print(1)\n")
    (source / "__pycache__").mkdir()
    (source / "node_modules").mkdir()
    (source / ".git").mkdir()

    build_function(source, tmp_path / "bundle")

    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == ["func.py", "func.yaml"]


def test_a_built_function_runs(tmp_path: Path, executor: Executor) -> None:
    write_boilerplate("python", "hello", tmp_path / "src", "default")

    build_function(tmp_path / "src", tmp_path / "bundle")

    assert executor.execute(tmp_path / "bundle", invocation()).status is CallStatus.SUCCESS


def test_go_builds_without_a_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_boilerplate("go", "hello", tmp_path / "src", "json")
    for name in ("HOME", "GOCACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)

    build_function(tmp_path / "src", tmp_path / "bundle")

    assert (tmp_path / "bundle" / "func").is_file()
