"""A burst of sync calls against a capped hot function: the cap holds and the API keeps answering.

    python -m bench.guests                      # its own `fn start`, FNQ_MAX_PROCESSES_PER_FUNCTION=4
    python -m bench.guests --calls 200 --cap 4 --sleep-ms 50
    python -m bench.guests --api-url http://localhost:8080   # a running stack, with its own caps

It deploys a json-format (hot) python function that sleeps `--sleep-ms` per call, sends `--calls`
sync calls at once (one thread each), and meanwhile counts the function's processes (every 5 ms,
by their command line) and times `GET /version` (every 50 ms, from a process of its own). It
prints the statuses, the most processes seen, and /version's latencies. Exit status 1 if the cap
was exceeded, a call got anything but 200 or 503 with Retry-After, or /version failed once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import REPO, local_stack, percentile
from bench.report import Line
from bench.sizes import Sizes
from chalicelib.bundles import digest_of, make_bundle

HTTP_TIMEOUT_SECONDS = 120.0
SCRIPT = "capped_guest.py"
# One JSON request line in, one response line out, per call (fn-api.md §3.1).
FUNCTION = """\
import json, sys, time
for line in iter(sys.stdin.readline, ""):
    if line.strip():
        request = json.loads(line)
        time.sleep(float(request["body"] or 0))
        sys.stdout.write(json.dumps({"body": "ok", "content_type": "text/plain"}) + "\\n")
        sys.stdout.flush()
"""


def request(
    url: str, method: str = "GET", body: bytes | None = None, token: str | None = None, content_type: str = ""
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_SECONDS) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def deploy(api_url: str, app: str, route: str, workdir: Path, token: str | None = None) -> None:
    """The hot function that sleeps for as many seconds as its body says."""
    directory = workdir / "capped"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "func.yaml").write_text(
        f"name: {route}\nversion: 0.0.1\nruntime: python\nentrypoint: python3 {SCRIPT}\nformat: json\n"
    )
    (directory / SCRIPT).write_text(FUNCTION)
    data = make_bundle(directory)
    digest = digest_of(data)
    status, _, reply = request(
        f"{api_url}/v1/bundles/sha256/{digest[7:]}", "PUT", data, token, "application/zip"
    )
    if status != 200:
        raise RuntimeError(f"bundle upload answered {status}: {reply[:200]!r}")
    spec = {"image": f"{route}:0.0.1", "bundle": digest, "type": "sync", "format": "json", "timeout": 20}
    body = json.dumps({"route": spec}).encode()
    url = f"{api_url}/v1/apps/{app}/routes/{route}"
    status, _, reply = request(url, "PUT", body, token, "application/json")
    if status != 200:
        raise RuntimeError(f"route PUT answered {status}: {reply[:200]!r}")


def count_processes(marker: str) -> int:
    """Processes whose command line holds `marker` (the function's script name)."""
    needle = marker.encode()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                count += needle in (entry / "cmdline").read_bytes()
    return count


class Sampler:
    """The most processes seen (a thread), and /version's latencies (a process of its own: in this
    one its timing would include waiting for the GIL behind the burst's 200 client threads),
    until stopped."""

    def __init__(self, api_url: str, marker: str) -> None:
        self.api_url = api_url
        self.marker = marker
        self.most_processes = 0
        self.version_ms: list[float] = []
        self.version_failures: list[str] = []
        self._stop = threading.Event()
        self._counter = threading.Thread(target=self._count)
        self._pinger: subprocess.Popen[str] | None = None

    def _count(self) -> None:
        while not self._stop.wait(0.005):
            self.most_processes = max(self.most_processes, count_processes(self.marker))

    def __enter__(self) -> Sampler:
        self._pinger = subprocess.Popen(
            [sys.executable, "-m", "bench.guests", "--ping", self.api_url],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self._counter.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._counter.join()
        assert self._pinger is not None
        self._pinger.terminate()
        out = self._pinger.communicate()[0]
        for line in out.splitlines():
            kind, value = line.split(" ", 1)
            if kind == "ms":
                self.version_ms.append(float(value))
            else:
                self.version_failures.append(value)


def ping(api_url: str) -> None:
    """Time GET /version every 50 ms until killed: `ms 12.3`, or `fail <why>`, a line each."""
    while True:
        time.sleep(0.05)
        began = time.monotonic()
        try:
            status, _, _ = request(f"{api_url}/version")
        except OSError as exc:
            print(f"fail {exc!r}", flush=True)
            continue
        print(f"ms {(time.monotonic() - began) * 1000:.1f}", flush=True)
        if status != 200:
            print(f"fail status {status}", flush=True)


@dataclass
class Burst:
    calls: int
    cap: int
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    refusals_without_retry_after: int = 0
    most_processes: int = 0
    version_ms: list[float] = field(default_factory=list)
    version_failures: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        found = []
        if self.cap and self.most_processes > self.cap:
            found.append(f"{self.most_processes} processes seen, over the cap of {self.cap}")
        if set(self.statuses) - {200, 503}:
            found.append(f"statuses {dict(self.statuses)}")
        if self.refusals_without_retry_after:
            found.append(f"{self.refusals_without_retry_after} 503 without Retry-After")
        if self.version_failures or not self.version_ms:
            found.append(f"/version failed: {self.version_failures[:3]}")
        return found

    def render(self) -> str:
        ms = self.version_ms
        return "\n".join(
            [
                f"sync calls          {self.calls} at once, in {self.seconds:.1f} s",
                f"statuses            {dict(sorted(self.statuses.items()))}",
                f"most processes seen {self.most_processes} (cap {self.cap or 'none'})",
                f"/version answers    {len(ms)}; ms p50 {percentile(ms, 0.5):.0f}, "
                f"p95 {percentile(ms, 0.95):.0f}, max {max(ms, default=0):.0f}",
                "RESULT              "
                + ("OK" if not self.violations else "FAILED: " + "; ".join(self.violations)),
            ]
        )


def run_burst(
    api_url: str,
    workdir: Path,
    calls: int,
    cap: int,
    sleep_ms: int = 50,
    token: str | None = None,
    app: str = "guests",
    route: str = "capped",
) -> Burst:
    deploy(api_url, app, route, workdir, token)
    burst = Burst(calls, cap)
    start = threading.Barrier(calls)

    def call(_: int) -> tuple[int, bool]:
        start.wait()
        status, headers, _body = request(
            f"{api_url}/r/{app}/{route}", "POST", str(sleep_ms / 1000).encode(), token, "text/plain"
        )
        return status, "Retry-After" in headers

    with Sampler(api_url, SCRIPT) as sampler:
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=calls) as threads:
            answers = list(threads.map(call, range(calls)))
        burst.seconds = time.monotonic() - began
    burst.statuses = Counter(status for status, _ in answers)
    burst.refusals_without_retry_after = sum(status == 503 and not retry for status, retry in answers)
    burst.most_processes = sampler.most_processes
    burst.version_ms = sampler.version_ms
    burst.version_failures = sampler.version_failures
    return burst


def capped_stack_burst(workdir: Path, calls: int, cap: int, sleep_ms: int, code: Path = REPO) -> Burst:
    """`fn start` (of checkout `code`) with `cap` processes a function, and a burst against it."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {"FNQ_MAX_PROCESSES_PER_FUNCTION": str(cap), "FNQ_PROCESS_WAIT_SECONDS": "60"}
    with local_stack(workdir, env=env, code=code) as target:
        return run_burst(target.api_url, workdir, calls, cap, sleep_ms)


ROUNDS = 3  # bursts a side, in turn: the worst moment is what the row is about, so it gets chances


def measure(sizes: Sizes, workdir: Path, only: frozenset[str] = frozenset()) -> list[Line]:
    """The "burst" row: /version's latency while 200 sync calls hit a hot function capped at 4,
    a fresh fn start a burst, ROUNDS bursts a side (with --before: that checkout's, in turn)."""
    calls, cap, sleep_ms = 200, 4, 50
    sides = {"before": Path(sizes.before), "after": REPO} if sizes.before else {"after": REPO}
    bursts: dict[str, list[Burst]] = {side: [] for side in sides}
    for round_ in range(ROUNDS):
        for side, code in sides.items():
            bursts[side].append(capped_stack_burst(workdir / f"{side}-{round_}", calls, cap, sleep_ms, code))

    def worst(side: str) -> float:
        return max((max(b.version_ms, default=0) for b in bursts[side]), default=0)

    def latencies(side: str) -> str:
        ms = [m for b in bursts[side] for m in b.version_ms]
        maxima = ", ".join(f"{max(b.version_ms, default=0):.0f}" for b in bursts[side])
        return (
            f"{side}: {len(ms)} answers, p50 {percentile(ms, 0.5):.0f} ms, "
            f"p95 {percentile(ms, 0.95):.0f} ms, max by burst {maxima} ms"
        )

    measured = f"max {worst('after'):.0f} ms" + (
        f" vs {worst('before'):.0f} ms before" if sizes.before else ""
    )
    verdicts = [
        f"{side} FAILED: " + "; ".join(b.violations) for side in sides for b in bursts[side] if b.violations
    ]
    last = bursts["after"][-1]
    detail = "; ".join(latencies(side) for side in sides) + (
        f"; {ROUNDS} bursts a side, each on a fresh fn start, served in "
        + ", ".join(f"{b.seconds:.1f}" for b in bursts["after"])
        + f" s (after), statuses {dict(sorted(last.statuses.items()))}, most processes {last.most_processes} "
        f"(cap {cap}); "
        + ("; ".join(verdicts) if verdicts else "cap held, every call 200 or 503 + Retry-After")
    )
    return [
        Line(
            "#10",
            f"`/version` under {calls} sync calls at once on a hot function capped at {cap} "
            f"({sleep_ms} ms a call)",
            measured,
            detail,
            "< 1 s throughout (issue #10)",
        )
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.guests", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--cap", type=int, default=4, help="FNQ_MAX_PROCESSES_PER_FUNCTION for fn start")
    parser.add_argument("--sleep-ms", type=int, default=50)
    parser.add_argument("--api-url", help="a running fnq API (default: start fn start on a free port)")
    parser.add_argument("--ping", metavar="API_URL", help=argparse.SUPPRESS)  # Sampler's probe
    args = parser.parse_args(argv)
    if args.ping:
        ping(args.ping)
    with tempfile.TemporaryDirectory(prefix="fnq-bench-guests-") as tmp:
        workdir = Path(tmp)
        if args.api_url:
            burst = run_burst(args.api_url, workdir, args.calls, args.cap, args.sleep_ms)
        else:
            burst = capped_stack_burst(workdir, args.calls, args.cap, args.sleep_ms)
    print(burst.render())
    return 1 if burst.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
