"""Package the app for AWS, offline: `python -m fnq.packaging --stage dev --out out`.

Runs `chalice package --merge-template` on a staged copy of the project, so that:

- the Lambda zip holds the app's runtime dependencies, vendored from the installed environment
  (Chalice would otherwise `pip download` a requirements.txt from PyPI), and never boto3, which
  the Lambda runtime provides (it would take the zip from ~20 KB to ~17 MB);
- the zip holds app.py and chalicelib/ whole: workstation code (the CLI, the local stack, this
  module) lives in the fnq package beside it, so there is nothing to strip back out;
- infra/resources.yaml, functions.yaml and alarms.yaml become one merge template;
- chalicelib/ and the vendored libraries carry their bytecode (compile_bytecode), which Lambda
  cannot write beside them in its read-only /var/task.

Build tooling, never imported by the Lambda code; it does not import boto3.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import json
import os
import py_compile
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
MERGE_SOURCES = ("resources.yaml", "functions.yaml", "alarms.yaml")

# What the Lambda code imports beyond the standard library, boto3 and chalice (Chalice adds its
# own runtime module to the zip). Keep in step with the imports of app.py's import graph.
# python-ulid imports typing_extensions on Python 3.11 (for `typing.override`, new in 3.12).
RUNTIME_DISTRIBUTIONS = ("python-ulid", "typing_extensions", "PyYAML")
# Native extensions are never vendored: they are built for the packaging machine, not for Lambda's
# platform (Amazon Linux, its glibc, the stage's architecture). The runtime dependencies work
# without them: PyYAML falls back to its pure-Python parser when `yaml._yaml` is absent (func.yaml
# files are small). tests/infra runs the packaged app from the zip to prove it.
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib")
# Top-level packages that only re-export a native module left out above.
NATIVE_ONLY = {"PyYAML": ("_yaml",)}


def load_merge_template(infra: Path = INFRA) -> dict[str, Any]:
    """The infra templates as one: resources.yaml's sections plus functions.yaml's and alarms.yaml's.

    A key defined in both (a resource, an output) is an error; a scalar such as Description is
    taken from the later file.
    """
    merged: dict[str, Any] = {}
    for name in MERGE_SOURCES:
        template = yaml.safe_load((infra / name).read_text())
        for section, body in template.items():
            if isinstance(body, dict):
                target = merged.setdefault(section, {})
                clashes = sorted(set(target) & set(body))
                if clashes:
                    raise ValueError(f"{name} redefines {section}: {', '.join(clashes)}")
                target.update(body)
            else:
                merged[section] = body
    return merged


def stage_project(build_dir: Path, repo: Path = REPO) -> Path:
    """Lay out what Chalice packages in `build_dir`; return the merge template's path."""
    if build_dir.exists():
        shutil.rmtree(build_dir)
    (build_dir / ".chalice").mkdir(parents=True)
    shutil.copy2(repo / "app.py", build_dir / "app.py")
    for name in ("config.json", "policy.json"):
        shutil.copy2(repo / ".chalice" / name, build_dir / ".chalice" / name)
    shutil.copytree(
        repo / "chalicelib",
        build_dir / "chalicelib",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    for distribution in RUNTIME_DISTRIBUTIONS:
        _vendor(distribution, build_dir / "vendor")
    compile_bytecode(build_dir / "chalicelib", "chalicelib")
    compile_bytecode(build_dir / "vendor", "")
    merge_template = build_dir / "merge-template.json"
    merge_template.write_text(json.dumps(load_merge_template(repo / "infra"), indent=2))
    return merge_template


def package(
    stage: str,
    out_dir: Path,
    chalice: Path | None = None,
    repo: Path = REPO,
) -> Path:
    """Stage, then `chalice package`; return the directory holding sam.json and deployment.zip."""
    out_dir = out_dir.resolve()
    build_dir = out_dir / f"build-{stage}"
    package_dir = out_dir / stage
    merge_template = stage_project(build_dir, repo)
    if package_dir.exists():
        shutil.rmtree(package_dir)
    # Chalice needs a region to name things but no credentials, and no network without a
    # requirements.txt (none is staged).
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    command = [
        str((chalice or Path(sys.executable).parent / "chalice").absolute()),
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(merge_template),
        str(package_dir),
    ]
    subprocess.run(command, cwd=build_dir, env=env, check=True)
    return package_dir


def compile_bytecode(directory: Path, zip_dir: str) -> None:
    """Compile every module under `directory` into its __pycache__, for this interpreter's Python.

    Chalice makes the Lambda runtime this interpreter's version (python3.11 here), so the
    bytecode's tag (cpython-311) is the one Lambda looks for. Lambda cannot write bytecode in
    /var/task, so without it our modules would be compiled at every cold start.

    Unchecked-hash bytecode is used as it is, without looking at the source. Timestamp bytecode
    would never be used: it must match the source's mtime, and Chalice writes every zip entry with
    the time 1980-01-01 (for reproducible zips), which Lambda's extracted files then carry.
    Checked-hash bytecode would read and hash every source at each cold start. Unchecked is safe
    because the zip is built from one staged copy: a source never changes without its bytecode.
    `zip_dir` is the directory's path in the zip, recorded as the modules' file names so the
    bytecode does not depend on where it was built.
    """
    compiled = compileall.compile_dir(
        directory,
        ddir=zip_dir,
        quiet=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not compiled:
        raise RuntimeError(f"could not compile the modules in {directory}")


def _vendor(distribution: str, vendor_dir: Path) -> None:
    """Copy an installed distribution's pure-Python files and metadata (not its scripts, not its
    native extensions: NATIVE_SUFFIXES)."""
    dist = importlib.metadata.distribution(distribution)
    for file in dist.files or ():
        parts = file.parts
        if parts[0] == ".." or "__pycache__" in parts or file.name.endswith(NATIVE_SUFFIXES):
            continue
        if parts[0] in NATIVE_ONLY.get(distribution, ()):
            continue
        target = vendor_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(str(file.locate())), target)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stage", default="dev", help="a stage of .chalice/config.json")
    parser.add_argument("--out", type=Path, default=REPO / "out", help="output directory")
    parser.add_argument("--chalice", type=Path, default=None, help="the chalice executable")
    args = parser.parse_args(argv)
    package_dir = package(args.stage, args.out, args.chalice)
    print(f"packaged stage {args.stage}: {package_dir / 'sam.json'} and {package_dir / 'deployment.zip'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
