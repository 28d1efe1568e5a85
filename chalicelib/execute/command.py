"""How a function directory is started: the runtimes fnq knows, or the func.yaml's own entrypoint."""

from __future__ import annotations

import os
import shlex
import stat
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from chalicelib.errors import InvalidInputError
from chalicelib.execute.funcfile import FUNC_FILES, load_func_file

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
    """Raises InvalidInputError when func.yaml is missing or names no way to start the function.

    Every call asks, and parsing func.yaml (PyYAML is pure Python) costs about 0.7 ms, a good part
    of a hot call: the file is parsed once per version of it. A version is the file's stat
    signature: any change to it (rewritten, replaced, renamed over, chmod'ed) moves its ctime,
    which nobody can set back, so no answer is ever for a file other than the one parsed.
    """
    signature = _signature(code_dir)
    if signature is None:
        return _parse(code_dir)  # no func.yaml: the parser says so
    cached = _cached(code_dir, signature)
    return Command(list(cached.argv), dict(cached.env))  # the callers' own copy


def _signature(code_dir: Path) -> tuple[str, int, int, int, int, int] | None:
    for name in FUNC_FILES:
        try:
            st = os.stat(os.path.join(code_dir, name))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            return (name, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return None


@lru_cache(maxsize=512)
def _cached(code_dir: Path, signature: tuple[str, int, int, int, int, int]) -> Command:
    # `signature` is the key alone: a changed file is another entry (a failure is not cached).
    return _parse(code_dir)


def _parse(code_dir: Path) -> Command:
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
