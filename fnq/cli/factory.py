"""The CLI's composition root: every command asks this factory for its collaborators.

Tests build a factory with a test server's URL, a fake clock and fake builders; nothing is
patched. The heavy collaborators (the function builder, the boilerplate writer) are imported
only when a command needs them, so `fn calls get` never pays for them.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import stat
import sys
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import click

from fnq.cli.client import DEFAULT_API_URL, Endpoint, FnClient

if TYPE_CHECKING:
    from chalicelib.execute.funcfile import FuncFile

ENV_API_URL = "FN_API_URL"
ENV_TOKEN = "FN_TOKEN"


class Builder(Protocol):
    """`fnq.build.function.build_function`: build the function in `src` into `dest`."""

    def __call__(self, src: Path, dest: Path) -> FuncFile: ...


class BoilerplateWriter(Protocol):
    """`fnq.build.boilerplate.write_boilerplate`: write a new function's files and func.yaml."""

    def __call__(
        self, runtime: str, name: str, directory: Path, fmt: str = "json", type_: str | None = None
    ) -> Any: ...


def _is_character_device(stream: Any) -> bool:
    """True for a terminal or a device such as /dev/null: Fn sends GET with no body then."""
    try:
        return stat.S_ISCHR(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        # No file descriptor (an in-memory stream in tests): data was handed to us, like a pipe.
        return False


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@functools.cache
def client_version() -> str:
    try:
        return importlib.metadata.version("fnq")
    except importlib.metadata.PackageNotFoundError:
        # Running from a source checkout (PYTHONPATH=.): the version is in pyproject.toml.
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


@dataclass
class CliFactory:
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    builder: Builder | None = None
    boilerplate_writer: BoilerplateWriter | None = None
    stdin_is_character_device: Callable[[], bool] = field(default=lambda: _is_character_device(sys.stdin))
    stderr_is_tty: Callable[[], bool] = field(default=lambda: _is_tty(sys.stderr))
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    # The time of day (a token's expiry); `clock` above only measures intervals.
    wall_clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def endpoint(self) -> Endpoint:
        return Endpoint.parse(self.environ.get(ENV_API_URL) or DEFAULT_API_URL)

    def create_client(self) -> FnClient:
        return FnClient(
            self.endpoint(), token=self.environ.get(ENV_TOKEN, ""), user_agent=f"fnq-cli/{client_version()}"
        )

    def create_builder(self) -> Builder:
        # Imported here: building pulls in PyYAML and zipfile, which `fn calls get` need not load.
        from fnq.build.function import build_function

        return self.builder or build_function

    def create_boilerplate_writer(self) -> BoilerplateWriter:
        from fnq.build.boilerplate import write_boilerplate

        return self.boilerplate_writer or write_boilerplate


pass_factory = click.make_pass_decorator(CliFactory)
