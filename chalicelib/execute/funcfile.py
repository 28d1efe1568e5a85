"""func.yaml: Fn's function file, both the 2018 form and `schema_version: 20180708`. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chalicelib.errors import InvalidInputError

FUNC_FILES = ("func.yaml", "func.yml")


@dataclass(frozen=True)
class FuncFile:
    name: str
    version: str = "0.0.1"
    runtime: str = ""
    entrypoint: str = ""
    cmd: str = ""
    type: str = ""
    format: str = ""
    memory: int = 0
    timeout: int = 0
    idle_timeout: int = 0
    path: str = ""
    config: dict[str, str] = field(default_factory=dict)
    headers: dict[str, list[str]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def find_func_file(directory: Path) -> Path | None:
    for name in FUNC_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def load_func_file(directory: Path) -> FuncFile:
    path = find_func_file(directory)
    if path is None:
        raise InvalidInputError(f"no func.yaml in {directory}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path.name}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{path.name}: expected a mapping")
    headers = {
        str(k): [str(x) for x in (v if isinstance(v, list) else [v])]
        for k, v in (raw.get("headers") or {}).items()
    }
    return FuncFile(
        name=str(raw.get("name") or directory.name).lower(),
        version=str(raw.get("version") or "0.0.1"),
        runtime=str(raw.get("runtime") or ""),
        entrypoint=str(raw.get("entrypoint") or ""),
        cmd=str(raw.get("cmd") or ""),
        type=str(raw.get("type") or ""),
        format=str(raw.get("format") or ""),
        memory=int(raw.get("memory") or 0),
        timeout=int(raw.get("timeout") or 0),
        idle_timeout=int(raw.get("idle_timeout") or 0),
        path=str(raw.get("path") or ""),
        config={str(k): str(v) for k, v in (raw.get("config") or {}).items()},
        headers=headers,
        raw=raw,
    )
