"""func.yaml: Fn's function file, both the 2018 form and `schema_version: 20180708`. Pure.

The file is untrusted input: it arrives inside an uploaded bundle. It is parsed strictly, so a
wrong type is refused where it can be named (at upload, or by `fn deploy`) rather than surfacing
as a platform fault at call time: every field has a type and a range, YAML aliases are refused
(a few lines of aliases can expand to millions of nodes), and the file has a size limit.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.errors import InvalidInputError

FUNC_FILES = ("func.yaml", "func.yml")
MAX_FUNC_FILE_BYTES = 64 * 1024
# Upper bounds for the numbers a func.yaml may hold. The route's own rules (rules.py) apply the
# tighter, type-dependent limits when `fn deploy` turns these into a route; here the file must
# only be something a route could be made from.
MAX_MEMORY_MB = 8192
MAX_TIMEOUT_SECONDS = 3600
TYPES = ("", "sync", "async")
FORMATS = ("", "default", "json")


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
    with path.open("rb") as file:
        data = file.read(MAX_FUNC_FILE_BYTES + 1)
    return parse_func_file(data, path.name, default_name=directory.name)


def parse_func_file(data: bytes, source: str = "func.yaml", default_name: str = "") -> FuncFile:
    """Parse and check a func.yaml; InvalidInputError names the file, the field and what to change."""
    if len(data) > MAX_FUNC_FILE_BYTES:
        raise InvalidInputError(f"{source}: larger than {MAX_FUNC_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{source}: not UTF-8 text") from exc
    raw = _load_yaml(text, source) or {}
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{source}: expected a mapping of fields, got {type(raw).__name__}")
    fields = _Fields(raw, source)
    entrypoint = fields.text("entrypoint")
    cmd = fields.text("cmd")
    for name, value in (("entrypoint", entrypoint), ("cmd", cmd)):
        _check_command(value, name, source)
    return FuncFile(
        name=(fields.text("name") or default_name).lower(),
        version=fields.text("version") or "0.0.1",
        runtime=fields.text("runtime"),
        entrypoint=entrypoint,
        cmd=cmd,
        type=fields.choice("type", TYPES),
        format=fields.choice("format", FORMATS),
        memory=fields.whole("memory", MAX_MEMORY_MB),
        timeout=fields.whole("timeout", MAX_TIMEOUT_SECONDS),
        idle_timeout=fields.whole("idle_timeout", MAX_TIMEOUT_SECONDS),
        path=fields.text("path"),
        config=fields.string_map("config"),
        headers=fields.header_map("headers"),
        raw=raw,
    )


def _load_yaml(text: str, source: str) -> Any:
    # Imported here: only deploys and cold starts of a function read a func.yaml, and PyYAML is a
    # noticeable share of the API's import time.
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        """SafeLoader that refuses aliases: `*a` repeated through nested lists is a YAML bomb."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.get_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"aliases (*{event.anchor}) are not allowed", event.start_mark
                )
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=NoAliasLoader)
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{source}: invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInputError(f"{source}: nested too deeply") from exc


def _check_command(value: str, name: str, source: str) -> None:
    if not value:
        return
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise InvalidInputError(f"{source}: {name} {value!r} cannot be parsed: {exc}") from exc
    if not argv:
        raise InvalidInputError(f"{source}: {name} is blank")


class _Fields:
    """Typed access to the fields of one func.yaml, each failure worded for its author."""

    def __init__(self, raw: Mapping[Any, Any], source: str) -> None:
        self._raw = raw
        self._source = source

    def _fail(self, name: str, wanted: str) -> InvalidInputError:
        return InvalidInputError(f"{self._source}: {name} must be {wanted}, not {self._raw[name]!r}"[:500])

    def text(self, name: str) -> str:
        value = self._raw.get(name)
        if value is None:
            return ""
        if not _is_scalar(value):
            raise self._fail(name, "a string")
        return _scalar_text(value)

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise self._fail(name, " or ".join(repr(a) for a in allowed if a))
        return value

    def whole(self, name: str, maximum: int) -> int:
        value = self._raw.get(name)
        if value is None:
            return 0
        number = _whole_number(value)
        if number is None or not 0 <= number <= maximum:
            raise self._fail(name, f"a whole number from 0 to {maximum}")
        return number

    def string_map(self, name: str) -> dict[str, str]:
        return self._map(name, "a mapping of names to strings", _scalar_text)

    def header_map(self, name: str) -> dict[str, list[str]]:
        def values(value: Any) -> list[str]:
            items = value if isinstance(value, list) else [value]
            if not all(_is_scalar(item) for item in items):
                raise TypeError(name)
            return [_scalar_text(item) for item in items]

        return self._map(name, "a mapping of header names to strings or lists of strings", values)

    def _map(self, name: str, wanted: str, convert: Callable[[Any], Any]) -> dict[str, Any]:
        value = self._raw.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._fail(name, wanted)
        result = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key or not (_is_scalar(item) or isinstance(item, list)):
                raise self._fail(name, wanted + " (names non-empty)")
            try:
                result[key] = convert(item)
            except TypeError as exc:
                raise self._fail(name, wanted) from exc
        return result


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _scalar_text(value: Any) -> str:
    if not _is_scalar(value):
        raise TypeError(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _whole_number(value: Any) -> int | None:
    """An int, or a float with no fraction (`timeout: 30.0`); never a bool, NaN or infinity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None
