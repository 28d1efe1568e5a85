"""`fn init`: a working function of Fn's shape (func.yaml + code) for each supported runtime."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import yaml

from fnq.build.boilerplate import go, node, python
from chalicelib.errors import InvalidInputError
from chalicelib.execute.command import DEFAULT_ENTRYPOINTS
from chalicelib.execute.funcfile import find_func_file

RUNTIMES: Mapping[str, ModuleType] = {"python": python, "node": node, "go": go}
FORMATS = ("default", "json")
TYPES = ("sync", "async")

# Fn's test.json from `fn init` (fn-api.md §4.3): what `fn test` would check.
TEST_JSON = {
    "tests": [
        {"input": {"body": {"name": "Johnny"}}, "output": {"body": {"message": "Hello Johnny"}}},
        {"input": {"body": ""}, "output": {"body": {"message": "Hello World"}}},
    ]
}


def write_boilerplate(
    runtime: str, name: str, directory: Path, fmt: str = "json", type_: str | None = None
) -> None:
    """Write func.yaml and the function's files into `directory` (created if missing).

    Raises InvalidInputError for an unknown runtime, format or type, or if a func.yaml exists.
    """
    module = RUNTIMES.get(runtime)
    if module is None:
        raise InvalidInputError(f"Unknown runtime {runtime!r}; supported runtimes: {', '.join(RUNTIMES)}")
    if fmt not in FORMATS:
        raise InvalidInputError(f"Unknown format {fmt!r}; supported formats: {', '.join(FORMATS)}")
    if type_ is not None and type_ not in TYPES:
        raise InvalidInputError(f"Unknown type {type_!r}; supported types: {', '.join(TYPES)}")
    if find_func_file(directory) is not None:
        raise InvalidInputError(f"func.yaml already exists in {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    # Fn's key order: name, version, runtime, entrypoint, type, format.
    func: dict[str, str] = {
        "name": name,
        "version": "0.0.1",
        "runtime": runtime,
        "entrypoint": DEFAULT_ENTRYPOINTS[runtime],
    }
    if type_ is not None:
        func["type"] = type_
    func["format"] = fmt
    files: dict[str, str] = {**module.COMMON, **module.FILES[fmt]}
    files["func.yaml"] = yaml.safe_dump(func, sort_keys=False)
    files["test.json"] = json.dumps(TEST_JSON, indent=2) + "\n"
    for filename, content in files.items():
        (directory / filename).write_text(content)
