"""A missing toolchain skips only its own tests on a user's machine, and fails them in CI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.support import require_toolchain
from tests.local.support import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture
def bare_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A PATH with neither go nor node on it."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


@pytest.mark.parametrize(("runtime", "program"), [("go", "go"), ("node", "node")])
def test_a_missing_toolchain_skips_its_test_with_the_reason_on_a_users_machine(
    runtime: str, program: str, bare_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match=f"{program} is not installed: {runtime} functions"):
        require_toolchain(runtime)


@pytest.mark.parametrize("runtime", ["go", "node"])
def test_in_ci_a_missing_toolchain_fails_its_test_instead_of_skipping(
    runtime: str, bare_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="CI is set: a missing toolchain fails the run"):
        require_toolchain(runtime)


def test_python_functions_need_no_toolchain_but_python(
    bare_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")

    require_toolchain("python")


def apt_get_calls_of_ci_toolchains(machine: Path, installed: list[str]) -> list[str]:
    """Run .ci/toolchains with only `installed` (and bash) on PATH; answer what apt-get was asked."""
    bash = shutil.which("bash")
    assert bash is not None
    bin_dir = machine / "bin"
    bin_dir.mkdir()
    record = machine / "apt-get.log"
    stubs = {program: "#!/bin/sh\n" for program in installed}
    stubs["apt-get"] = f'#!{bash}\necho "$*" >> {record}\n'
    for program, text in stubs.items():
        (bin_dir / program).write_text(text)
        (bin_dir / program).chmod(0o755)
    done = subprocess.run(
        [bash, str(REPO / ".ci" / "toolchains")],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return record.read_text().splitlines() if record.exists() else []


BROWSER = ["chromium", "chromedriver"]  # the dashboard's browser tests (tests/ui)


def test_ci_installs_go_and_node_from_debian_when_both_are_missing(tmp_path: Path) -> None:
    assert apt_get_calls_of_ci_toolchains(tmp_path, installed=BROWSER) == [
        "update -qq",
        "install -y -qq golang-go nodejs",
    ]


def test_ci_installs_only_the_missing_toolchain(tmp_path: Path) -> None:
    assert apt_get_calls_of_ci_toolchains(tmp_path, installed=["go", *BROWSER]) == [
        "update -qq",
        "install -y -qq nodejs",
    ]


@pytest.mark.parametrize(
    ("installed", "packages"),
    [([], "chromium chromium-driver"), (["chromium"], "chromium-driver"), (["chromedriver"], "chromium")],
)
def test_ci_installs_debians_chromium_and_its_driver_when_missing(
    tmp_path: Path, installed: list[str], packages: str
) -> None:
    assert apt_get_calls_of_ci_toolchains(tmp_path, installed=["go", "node", *installed]) == [
        "update -qq",
        f"install -y -qq {packages}",
    ]


def test_ci_installs_everything_in_one_apt_get_on_a_bare_machine(tmp_path: Path) -> None:
    assert apt_get_calls_of_ci_toolchains(tmp_path, installed=[]) == [
        "update -qq",
        "install -y -qq golang-go nodejs chromium chromium-driver",
    ]


def test_ci_installs_nothing_on_a_machine_that_has_everything(tmp_path: Path) -> None:
    assert apt_get_calls_of_ci_toolchains(tmp_path, installed=["go", "node", *BROWSER]) == []
