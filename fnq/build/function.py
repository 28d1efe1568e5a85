"""Deploy-time build: a function directory → a directory ready to zip into a bundle.

Dependencies are installed and Go is compiled here, on the developer's machine, because the
worker must only extract and run: it has no compilers and should not reach package registries.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from chalicelib.errors import InvalidInputError
from chalicelib.execute.command import PYTHON_PACKAGES
from chalicelib.execute.funcfile import FuncFile, load_func_file

# Never copied from the source: rebuilt here, or not part of a function.
IGNORED = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".venv", "node_modules", PYTHON_PACKAGES)
GO_INSTALL_HINT = "install it with `apt-get install golang-go` or from https://go.dev/dl"
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def build_function(src: Path, dest: Path) -> FuncFile:
    """Stage a deployable copy of `src` into `dest` and return its func.yaml.

    Raises InvalidInputError when func.yaml is missing or a build step fails (its output is in
    the message) or its tool is not installed.
    """
    func = load_func_file(src)
    shutil.copytree(src, dest, symlinks=True, ignore=IGNORED, dirs_exist_ok=True)
    if func.runtime in {"python", "python3"}:
        _install_python_requirements(dest)
    elif func.runtime == "go":
        _build_go(dest)
    elif func.runtime == "node":
        _install_node_dependencies(dest)
    return func


def python_requirements(requirements: Path) -> list[str]:
    """The requirement lines that need installing: Fn's `fdk` is not needed to run here."""
    if not requirements.is_file():
        return []
    wanted = []
    for line in requirements.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        match = _REQUIREMENT_NAME.match(text)
        if text and not (match and match.group(1).lower() == "fdk" and match.end() == len(text)):
            wanted.append(text)
    return wanted


def _install_python_requirements(dest: Path) -> None:
    if not python_requirements(dest / "requirements.txt"):
        return
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
            str(dest / PYTHON_PACKAGES),
            "-r",
            "requirements.txt",
        ],
        dest,
        "pip install",
    )


def _build_go(dest: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise InvalidInputError(f"go is not installed: {GO_INSTALL_HINT}")
    env = dict(os.environ, CGO_ENABLED="0", GOOS="linux", GOTOOLCHAIN="local")
    if not any(env.get(name) for name in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        # go refuses to build without a cache directory (CI may run with no HOME).
        env["GOCACHE"] = str(Path(tempfile.gettempdir()) / "fnq-go-build")
        env.setdefault("GOPATH", str(Path(tempfile.gettempdir()) / "fnq-go-path"))
    _run([go, "build", "-o", "func", "."], dest, "go build", env)


def _install_node_dependencies(dest: Path) -> None:
    package = dest / "package.json"
    if not package.is_file():
        return
    try:
        dependencies = json.loads(package.read_text()).get("dependencies") or {}
    except (ValueError, AttributeError) as exc:
        raise InvalidInputError(f"package.json: invalid JSON: {exc}") from exc
    if not dependencies:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise InvalidInputError("npm is not installed: install Node.js (e.g. `apt-get install nodejs npm`)")
    _run([npm, "install", "--omit=dev", "--no-audit", "--no-fund"], dest, "npm install")


def _run(argv: list[str], cwd: Path, step: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-4000:]
        raise InvalidInputError(f"{step} failed (exit {result.returncode}):\n{detail}")
