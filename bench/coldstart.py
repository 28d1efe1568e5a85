"""Row 6: the Lambda cold start's import, `import app`, against a bare Chalice app that imports only
botocore, each in fresh interpreters; `-X importtime` says where the time goes; and the same import
from the packaged Lambda zip, which Lambda cannot write bytecode next to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.report import REPO, TIMES, Line, interleaved, median, ms, ratio
from bench.sizes import Sizes

# The wall time of the import alone, from inside the fresh interpreter (its own start-up excluded).
TIMED_IMPORT = (
    "import time\nbegan = time.perf_counter()\nimport {module}\nprint(time.perf_counter() - began)\n"
)

BARE_CHALICE = "from chalice import Chalice\n\napp = Chalice(app_name='bare')\n"
# A Chalice app whose AWS clients come from botocore: what the lean cold start aims at.
BARE_BOTOCORE = "import botocore.session\nfrom chalice import Chalice\n\napp = Chalice(app_name='bare')\n"

# Top-level packages (standard library included) named in the breakdown; the others are summed.
SHOWN = 10
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    # Nothing from the bench's own environment reaches the timed import (no AWS_*, no FNQ_*).
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {**{k: v for k, v in os.environ.items() if k in keep}, **(extra or {})}


def _python(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """This interpreter, fresh, in `cwd`; a failure raises with its stderr."""
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)} in {cwd} failed: {done.stderr[-2000:]}")
    return done


def _import_seconds(module: str, cwd: Path, env: dict[str, str]) -> float:
    done = _python(["-c", TIMED_IMPORT.format(module=module)], cwd, env)
    return float(done.stdout.strip().splitlines()[-1])


@dataclass
class Breakdown:
    """One `-X importtime` run of `import <module>`: its subtree's total, and who spent it."""

    total_us: int
    self_us: dict[str, int]  # by top-level package (self times: they add up to the total)
    cumulative_us: dict[str, int]  # a module's first import, everything it pulled in included


def _breakdown(module: str, cwd: Path, env: dict[str, str]) -> Breakdown:
    done = _python(["-X", "importtime", "-c", f"import {module}"], cwd, env)
    # Children are printed before their parent; the subtree of `import app` is every line after
    # the previous top-level line, up to and including its own.
    entries: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        own, cumulative, indent, name = int(match[1]), int(match[2]), len(match[3]), match[4]
        if indent == 0 and name != module:
            entries = []
            continue
        entries.append((own, cumulative, name))
        if indent == 0:
            break
    self_us: dict[str, int] = defaultdict(int)
    cumulative_us: dict[str, int] = {}
    for own, cumulative, name in entries:
        top = name.split(".")[0]
        self_us[_group(top, module)] += own
        cumulative_us.setdefault(name, cumulative)
    total = entries[-1][1] if entries else 0
    return Breakdown(total, dict(self_us), cumulative_us)


def _group(top: str, module: str) -> str:
    return "our modules" if top in {module, "chalicelib"} else top


def _median_breakdown(runs: list[Breakdown]) -> tuple[float, dict[str, float], dict[str, float]]:
    groups = {g for run in runs for g in run.self_us}
    names = {n for run in runs for n in run.cumulative_us}
    total = median([r.total_us / 1e6 for r in runs])
    by_group = {g: median([r.self_us.get(g, 0) / 1e6 for r in runs]) for g in groups}
    cumulative = {n: median([r.cumulative_us.get(n, 0) / 1e6 for r in runs]) for n in names}
    return total, by_group, cumulative


def _describe(total: float, by_group: dict[str, float], cumulative: dict[str, float]) -> str:
    ranked = sorted(by_group.items(), key=lambda kv: -kv[1])
    parts = [f"{name} {ms(value)}" for name, value in ranked[:SHOWN]]
    if ranked[SHOWN:]:
        parts.append(f"{len(ranked) - SHOWN} others {ms(sum(v for _, v in ranked[SHOWN:]))}")
    pulled = [
        f"{name} {ms(cumulative[name])}"
        for name in ("boto3", "s3transfer", "ulid", "importlib.metadata", "yaml")
        if cumulative.get(name)
    ]
    return (
        f"importtime total {ms(total)}; own time by package: {', '.join(parts)}; "
        f"first import incl. what it pulled in: {', '.join(pulled) or 'none of them'}"
    )


def _extract(archive: Path, target: Path) -> int:
    """Unzip keeping the entries' times, as `unzip` does (bytecode is checked against them);
    answer how many .pyc files the zip holds."""
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(target)
        for info in zipped.infolist():
            stamp = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(target / info.filename, (stamp, stamp))
        return sum(1 for name in zipped.namelist() if name.endswith(".pyc"))


def _from_zip(sizes: Sizes, workdir: Path) -> Line:
    from fnq.packaging import package  # build tooling: imported only when this row runs

    out = package("dev", workdir / "package")
    code = workdir / "lambda"
    compiled = _extract(out / "deployment.zip", code)
    bare = workdir / "lambda-bare"
    bare.mkdir()
    (bare / "bare_botocore.py").write_text(BARE_BOTOCORE)
    # Lambda's /var/task is read-only: no bytecode can be written beside the zip's sources. The
    # zip's chalice runtime is the one imported; boto3 and botocore come from this interpreter's
    # site-packages, compiled, as Lambda's runtime provides them.
    env = _environment({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": f"{code}"})
    imported = _python(["-c", "import app, chalice; print(app.__file__, chalice.__file__)"], code, env)
    where = imported.stdout.split()
    if not all(path.startswith(str(code)) for path in where):
        raise RuntimeError(f"the zip's modules were not the ones imported: {where}")
    samples = max(3, sizes.samples // 2)  # an import from source costs a few times one from bytecode
    app_times, bare_times = interleaved(
        samples,
        lambda: _import_seconds("app", code, env),
        lambda: _import_seconds("bare_botocore", bare, {**env, "PYTHONPATH": f"{code}"}),
    )
    app_s, bare_s = median(app_times), median(bare_times)
    total, by_group, _ = _median_breakdown([_breakdown("app", code, env) for _ in range(3)])
    ours = by_group.get("our modules", 0.0)
    return Line(
        "6b",
        "same, from the packaged Lambda zip (read-only: no bytecode written)",
        f"{ms(app_s)} vs {ms(bare_s)} Chalice + botocore: {ratio(app_s, bare_s)}",
        f"the zip holds {compiled} .pyc files; our modules' own import time {ms(ours)} "
        f"(importtime total {ms(total)}); zip's chalice runtime + this interpreter's compiled botocore "
        f"for the bare app; medians of {samples}",
        "bytecode in the zip",
    )


def measure(sizes: Sizes, workdir: Path, only: frozenset[str] = frozenset()) -> list[Line]:
    bare = workdir / "bare"
    bare.mkdir()
    (bare / "bare_chalice.py").write_text(BARE_CHALICE)
    (bare / "bare_botocore.py").write_text(BARE_BOTOCORE)
    env = _environment()
    # Untimed first round: bytecode written where it can be, files in the page cache.
    for module, cwd in (("app", REPO), ("bare_chalice", bare), ("bare_botocore", bare)):
        _import_seconds(module, cwd, env)
    app_times, chalice_times, botocore_times = interleaved(
        sizes.samples,
        lambda: _import_seconds("app", REPO, env),
        lambda: _import_seconds("bare_chalice", bare, env),
        lambda: _import_seconds("bare_botocore", bare, env),
    )
    app_s, chalice_s, botocore_s = median(app_times), median(chalice_times), median(botocore_times)
    breakdown = _median_breakdown([_breakdown("app", REPO, env) for _ in range(3)])
    lines = [
        Line(
            "6",
            "`import app` (Lambda cold start) vs a Chalice app that imports only botocore",
            f"{ms(app_s)} vs {ms(botocore_s)} Chalice + `import botocore.session`: "
            f"{ratio(app_s, botocore_s)}; "
            f"vs {ms(chalice_s)} bare Chalice: {ratio(app_s, chalice_s)}",
            f"wall time of the import in fresh interpreters, from bytecode, medians of {sizes.samples} "
            f"interleaved; {_describe(*breakdown)} (medians of 3)",
            f"≤ 1.3{TIMES} Chalice + botocore",
        )
    ]
    try:
        lines.append(_from_zip(sizes, workdir))
    except Exception as exc:  # the zip needs chalice's packager; its absence leaves row 6 standing
        lines.append(Line("6b", "same, from the packaged Lambda zip", f"not measured: {exc}"))
    return lines
