"""How a function directory is started: the runtimes fnq knows, or the func.yaml's own entrypoint."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.errors import InvalidInputError
from chalicelib.execute.funcfile import load_func_file

# Fn's `fn init` entrypoints; a func.yaml entrypoint (or cmd) overrides them.
DEFAULT_ENTRYPOINTS = {
    "python": "python3 func.py",
    "python3": "python3 func.py",
    "node": "node func.js",
    "go": "./func",
}
PYTHON_PACKAGES = ".python_packages"


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # what the runtime needs on top of Fn's


def command_for(code_dir: Path) -> Command:
    """Raises InvalidInputError when func.yaml is missing or names no way to start the function."""
    func = load_func_file(code_dir)
    entry = func.entrypoint or func.cmd or DEFAULT_ENTRYPOINTS.get(func.runtime, "")
    if not entry:
        raise InvalidInputError(f"function {func.name}: no entrypoint, and runtime {func.runtime!r} has none")
    argv = shlex.split(entry)
    if not argv:
        raise InvalidInputError(f"function {func.name}: empty entrypoint")
    env: dict[str, str] = {}
    if argv[0] in {"python", "python3"}:
        # This interpreter, not a `python3` found on PATH (a pyenv shim costs ~200 ms). `-S` keeps
        # the worker's own site-packages (boto3, credentials helpers) out of the function; its
        # dependencies come from the bundle, installed there by `build_function`.
        argv = [sys.executable, "-S", *argv[1:]]
        env["PYTHONPATH"] = str(code_dir / PYTHON_PACKAGES)
        # The bundle directory is shared by every call: no __pycache__ written into it.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    elif "/" in argv[0] and not argv[0].startswith("/"):
        argv[0] = str(code_dir / argv[0])
    return Command(argv=argv, env=env)
