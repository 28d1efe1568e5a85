"""`fn deploy`: bump the version, build a bundle, upload it, point the route at it.

Fn built a Docker image and pushed it to a registry; fnq runs code bundles (zips addressed by
their SHA-256), so the image step becomes a bundle step and the push becomes an upload to the
server itself (`/v1/bundles/sha256/<hex>`, an fnq extension). The messages stay Fn's.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from chalicelib.errors import FnqError
from chalicelib.rules import absolute_route_path
from fnq.cli.client import FnClient
from fnq.cli.errors import ApiError, CliError
from fnq.cli.factory import Builder, CliFactory, pass_factory

if TYPE_CHECKING:
    from chalicelib.execute.funcfile import FuncFile

INITIAL_VERSION = "0.0.1"
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_VERSION_LINE = re.compile(r"^version[ \t]*:.*$", re.MULTILINE)
_NAME_LINE = re.compile(r"^name[ \t]*:.*$", re.MULTILINE)
# Directories `--all` never looks into for functions.
_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "venv"})
# func.yaml keys copied to the route, in the order Fn's deploy sends them.
_ROUTE_KEYS = ("type", "format", "memory", "timeout", "idle_timeout", "config", "headers")


@click.command("deploy")
@click.option("--app", "app_name", default="", help="app to deploy to (default: `name` in ./app.yaml)")
@click.option(
    "--local",
    is_flag=True,
    help="accepted for Fn compatibility; fnq has no registry, the bundle goes to the server",
)
@click.option("--all", "deploy_all", is_flag=True, help="deploy every function found under this directory")
@click.option("-v", "--verbose", is_flag=True, help="verbose mode")
@pass_factory
def deploy(factory: CliFactory, app_name: str, local: bool, deploy_all: bool, verbose: bool) -> None:
    """deploys a function to the functions server (bumps, builds, uploads and updates the route)"""
    cwd = Path.cwd()
    app = app_name or _app_from_app_yaml(cwd)
    if not app:
        raise CliError("app name must be provided, try `--app APP_NAME`.")
    directories = _function_dirs(cwd) if deploy_all else [cwd] if _func_file(cwd) else []
    if not directories:
        raise CliError("No function file found.")
    deployer = Deployer(factory.create_client(), factory.create_builder(), verbose)
    for directory in directories:
        deployer.deploy(app, directory)


@dataclass
class Deployer:
    client: FnClient
    builder: Builder
    verbose: bool = False

    def deploy(self, app: str, src: Path) -> None:
        from chalicelib.execute.funcfile import load_func_file

        try:
            func = load_func_file(src)
            name = func.name
            path = absolute_route_path(func.path or "/" + name)
            click.echo(f"Deploying {name} to app: {app} at path: {path}")
            version = bump_version(src)
            click.echo(f"Bumped to version {version}")
            image = f"{name}:{version}"
            click.echo(f"Building bundle {image} ...", err=True)
            built, data = self._build(src)
        except FnqError as exc:
            raise CliError(exc.message) from exc
        from chalicelib.bundles import digest_of

        digest = digest_of(data)
        self._upload(digest, data)
        click.echo(f"Updating route {path} using image {image}...")
        body = {"route": route_body(built, path, image, digest)}
        self.client.api("PUT", f"/apps/{app}/routes{path}", json_body=body)

    def _build(self, src: Path) -> tuple[FuncFile, bytes]:
        from chalicelib.bundles import make_bundle

        with tempfile.TemporaryDirectory(prefix="fnq-build-") as tmp:
            dest = Path(tmp) / "bundle"
            dest.mkdir()
            try:
                built = self.builder(src, dest)
            except (OSError, subprocess.SubprocessError) as exc:
                raise CliError(f"build failed: {exc}") from exc
            return built, make_bundle(dest)

    def _upload(self, digest: str, data: bytes) -> None:
        """Upload the bundle unless the server has it already (bundles are content-addressed)."""
        target = "/bundles/" + digest.replace(":", "/", 1)
        try:
            self.client.api("GET", target)
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:
            if self.verbose:
                click.echo(f"Bundle {digest} ({len(data)} bytes) is already on the server", err=True)
            return
        self.client.api("PUT", target, data=data, content_type="application/zip")
        if self.verbose:
            click.echo(f"Uploaded bundle {digest} ({len(data)} bytes)", err=True)


def route_body(func: FuncFile, path: str, image: str, digest: str) -> dict[str, Any]:
    """The route as Fn's deploy sends it: only what func.yaml sets, plus where the code is."""
    route: dict[str, Any] = {"path": path, "image": image, "bundle": digest}
    for key in _ROUTE_KEYS:
        value = getattr(func, key)
        if key in func.raw and value:
            route[key] = value
    return route


def bump_version(directory: Path) -> str:
    """Bump the patch version in func.yaml (Fn's `bumpIt`), editing only the `version:` line.

    Fn rewrote the whole file from its struct, dropping comments and unknown keys; here every
    other line stays as the user wrote it. A func.yaml without a version gets 0.0.1, as in Fn.
    """
    path = _func_file(directory)
    if path is None:
        raise CliError("No function file found.")
    text = path.read_text()
    raw = yaml.safe_load(text) or {}
    current = raw.get("version") if isinstance(raw, dict) else None
    if current is None or current == "":
        new = INITIAL_VERSION
    else:
        match = _SEMVER.match(str(current))
        if match is None:
            raise CliError(f'invalid version "{current}" in {path.name}: expected MAJOR.MINOR.PATCH')
        major, minor, patch = (int(part) for part in match.groups())
        new = f"{major}.{minor}.{patch + 1}"
    line = f"version: {new}"
    if _VERSION_LINE.search(text):
        text = _VERSION_LINE.sub(line, text, count=1)
    elif name := _NAME_LINE.search(text):
        text = text[: name.end()] + "\n" + line + text[name.end() :]
    else:
        text = line + "\n" + text
    path.write_text(text)
    return new


def _func_file(directory: Path) -> Path | None:
    from chalicelib.execute.funcfile import find_func_file

    return find_func_file(directory)


def _function_dirs(root: Path) -> list[Path]:
    """Every directory under `root` (itself included) with a func.yaml, in a stable order."""
    found = []
    for directory in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        parts = directory.relative_to(root).parts
        if any(part.startswith(".") or part in _SKIPPED_DIRS for part in parts):
            continue
        if _func_file(directory):
            found.append(directory)
    return found


def _app_from_app_yaml(directory: Path) -> str:
    for name in ("app.yaml", "app.yml"):
        path = directory / name
        if path.is_file():
            try:
                raw = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise CliError(f"{name}: invalid YAML: {exc}") from exc
            if isinstance(raw, dict) and raw.get("name"):
                return str(raw["name"])
    return ""
