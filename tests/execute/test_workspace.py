"""Removing a tree (a call's workspace, a cache entry) leaves the directory that holds it as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chalicelib.execute.workspace import remove_tree


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def holder(tmp_path: Path) -> Path:
    """A directory others may pass through, as /tmp is (1777) and the code cache's root."""
    directory = tmp_path / "holder"
    directory.mkdir()
    directory.chmod(0o1777)
    return directory


def test_a_tree_made_read_only_is_removed_and_its_holder_keeps_its_mode(holder: Path) -> None:
    tree = holder / "fnq-call-x"
    (tree / "lib" / "deep").mkdir(parents=True)
    (tree / "lib" / "deep" / "file").write_text("x")
    (tree / "lib" / "deep").chmod(0o555)
    (tree / "lib").chmod(0o555)
    tree.chmod(0o555)

    remove_tree(tree)

    assert not tree.exists()
    assert mode(holder) == 0o1777


def test_removing_a_tree_that_is_already_gone_changes_nothing(holder: Path) -> None:
    # A workspace removed twice: rmtree hands "not found" to its error handler instead of raising.
    remove_tree(holder / "fnq-call-gone")

    assert mode(holder) == 0o1777


def test_a_tree_whose_own_removal_fails_leaves_its_holder_alone(
    holder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = holder / "fnq-call-busy"
    tree.mkdir()
    real_rmdir = os.rmdir

    def refuse_the_tree(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if os.fspath(path) == str(tree) and not kwargs.get("dir_fd"):
            raise OSError(16, "Device or resource busy", str(tree))  # a mount point, say
        real_rmdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rmdir", refuse_the_tree)

    remove_tree(tree)

    assert tree.exists()
    assert mode(holder) == 0o1777
