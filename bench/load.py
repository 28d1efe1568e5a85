"""Load on `fn start`: many async calls from concurrent clients; every call must run exactly once.

    python -m bench.load                      # starts its own `fn start` on a free port, stops it after
    python -m bench.load --calls 200 --clients 8
    python -m bench.load --api-url http://localhost:8080 \\
        --aws-endpoint http://127.0.0.1:41234 --queue-url http://.../fnq-calls   # a running stack

It deploys a tiny async python function that appends its call id (FN_CALL_ID) to a side-effect
file, sends the calls from `--clients` threads (one keep-alive `http.client` connection each,
loopback only), samples the calls queue's depth at the embedded AWS endpoint while it works, waits
until every accepted call is terminal, and prints the figures. Exit status 1 if any call was lost
(not accepted, or never terminal, or never run), run more than once, or answered with a 5xx.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from chalicelib.bundles import digest_of, make_bundle
from chalicelib.settings import DEFAULT_REGION
from fnq.local.resources import FAKE_KEY

REPO = Path(__file__).resolve().parents[1]
TERMINAL = frozenset({"success", "error", "timeout", "cancelled"})
# Appends one line per run. O_APPEND + one small write: lines of concurrent runs never interleave.
FUNCTION = """\
import os, sys
sys.stdin.read()
fd = os.open(os.environ["BENCH_RUNS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, (os.environ["FN_CALL_ID"] + "\\n").encode())
os.close(fd)
"""
HTTP_TIMEOUT_SECONDS = 60.0


# ------------------------------------------------------------------------------------- HTTP
class Api:
    """One keep-alive connection to the fnq API (not thread-safe: one per thread)."""

    def __init__(self, base_url: str) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.hostname not in {"localhost", "127.0.0.1", "::1"}:
            raise SystemExit(f"refusing a non-loopback API URL: {base_url}")
        self._host = parts.hostname or "localhost"
        self._port = parts.port or 80
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type} if body is not None else {}
        for tries_left in (1, 0):
            conn = self._conn or http.client.HTTPConnection(
                self._host, self._port, timeout=HTTP_TIMEOUT_SECONDS
            )
            self._conn = conn
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                # The server closed a kept-alive connection before reading this request: a
                # fresh connection is safe to retry on only for reads.
                conn.close()
                self._conn = None
                if tries_left and method == "GET":
                    continue
                raise
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                self._conn = None
            return response.status, data
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, value: Any = None) -> tuple[int, Any]:
        body = None if value is None else json.dumps(value).encode()
        status, data = self.request(method, path, body)
        return status, json.loads(data) if data else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def deploy(api_url: str, app: str, route: str, runs_file: Path, workdir: Path, timeout: int = 30) -> None:
    """Upload the side-effect function's bundle and PUT an async route running it."""
    directory = workdir / "function"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "func.yaml").write_text(
        f"name: {route}\nversion: 0.0.1\nruntime: python\nentrypoint: python3 func.py\n"
    )
    (directory / "func.py").write_text(FUNCTION)
    spec = {"type": "async", "timeout": timeout, "config": {"BENCH_RUNS_FILE": str(runs_file)}}
    deploy_route(api_url, app, route, directory, spec)


def deploy_route(api_url: str, app: str, route: str, directory: Path, spec: dict[str, Any]) -> None:
    """Upload `directory` as a bundle (only if the server lacks it) and PUT the route on it."""
    data = make_bundle(directory)
    digest = digest_of(data)
    api = Api(api_url)
    try:
        status, reply = api.request("PUT", f"/v1/bundles/sha256/{digest[7:]}", data, "application/zip")
        if status != 200:
            raise RuntimeError(f"bundle upload answered {status}: {reply[:200]!r}")
        route_spec = {"image": f"{route}:0.0.1", "bundle": digest, **spec}
        status, body = api.json("PUT", f"/v1/apps/{app}/routes/{route}", {"route": route_spec})
        if status != 200:
            raise RuntimeError(f"route PUT answered {status}: {body}")
    finally:
        api.close()


def list_calls(api: Api, app: str, status: str | None = None) -> list[dict[str, Any]]:
    """Every call of `app` (with this status), following the cursor 100 at a time."""
    calls: list[dict[str, Any]] = []
    cursor = ""
    while True:
        query = {
            "per_page": "100",
            **({"status": status} if status else {}),
            **({"cursor": cursor} if cursor else {}),
        }
        code, body = api.json("GET", f"/v1/apps/{app}/calls?{urllib.parse.urlencode(query)}")
        if code != 200:
            raise RuntimeError(f"listing calls answered {code}: {body}")
        calls.extend(body["calls"])
        cursor = body.get("next_cursor") or ""
        if not cursor:
            return calls


# ----------------------------------------------------------------------------------- submit
@dataclass(frozen=True)
class Submission:
    index: int
    status: int  # HTTP status; 0 when no answer came (connection error)
    call_id: str
    latency_s: float
    error: str = ""


def submit(api_url: str, app: str, route: str, calls: int, clients: int) -> tuple[list[Submission], float]:
    """POST `calls` async calls from `clients` threads; answer the submissions and the wall time."""
    lock = threading.Lock()
    next_index = iter(range(calls))
    results: list[Submission] = []

    def client() -> None:
        api = Api(api_url)
        mine: list[Submission] = []
        try:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    break
                began = time.perf_counter()
                try:
                    status, data = api.request("POST", f"/r/{app}/{route}", b"{}", "application/json")
                except (OSError, http.client.HTTPException) as exc:
                    mine.append(Submission(index, 0, "", time.perf_counter() - began, repr(exc)))
                    continue
                latency = time.perf_counter() - began
                call_id = ""
                if status == 202:
                    call_id = str(json.loads(data)["call_id"])
                mine.append(
                    Submission(
                        index,
                        status,
                        call_id,
                        latency,
                        "" if status == 202 else data[:200].decode("utf-8", "replace"),
                    )
                )
        finally:
            api.close()
            with lock:
                results.extend(mine)

    threads = [threading.Thread(target=client, name=f"client-{i}", daemon=True) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results, key=lambda s: s.index), time.perf_counter() - began


# ------------------------------------------------------------------------------ queue depth
class DepthMonitor:
    """Samples the calls queue's ApproximateNumberOfMessages (visible) and NotVisible (in flight)."""

    def __init__(self, endpoint: str, queue_url: str, interval: float = 0.5) -> None:
        self._sqs = boto3.session.Session(
            aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY, region_name=DEFAULT_REGION
        ).client("sqs", endpoint_url=endpoint)
        self._queue_url = queue_url
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="depth", daemon=True)
        self.samples: list[tuple[float, int, int]] = []  # (monotonic, visible, in flight)

    def depth(self) -> tuple[int, int]:
        names: Any = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=names)[
            "Attributes"
        ]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                visible, in_flight = self.depth()
                self.samples.append((time.monotonic(), visible, in_flight))
            except Exception as exc:  # a sample lost is not a reason to stop the bench
                print(f"depth sample failed: {exc}", file=sys.stderr)
            self._stop.wait(self._interval)

    def start(self) -> DepthMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def max_visible(self) -> int:
        return max((s[1] for s in self.samples), default=0)

    @property
    def max_in_flight(self) -> int:
        return max((s[2] for s in self.samples), default=0)

    @property
    def last_total(self) -> int | None:
        return self.samples[-1][1] + self.samples[-1][2] if self.samples else None


# ------------------------------------------------------------------------------------ drain
def read_runs(runs_file: Path) -> list[str]:
    try:
        return [line for line in runs_file.read_text().splitlines() if line]
    except FileNotFoundError:
        return []


def wait_until_terminal(
    api_url: str,
    app: str,
    expected: int,
    runs_file: Path,
    monitor: DepthMonitor | None,
    timeout: float,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], bool]:
    """Wait until no call of `app` is queued or running; answer (every call, drained in time).

    Cheap signals first (the side-effect file, the queue's depth), then the API's listing confirms:
    listing thousands of calls loads the very process under test.
    """
    api = Api(api_url)
    deadline = time.monotonic() + timeout
    last_report = 0.0
    quiet_since: float | None = None
    next_listing = 0.0
    try:
        while True:
            now = time.monotonic()
            runs = len(read_runs(runs_file))
            depth = monitor.last_total if monitor is not None else None
            quiet_since = (quiet_since or now) if depth == 0 else None
            if progress and now - last_report >= 5:
                print(
                    f"  ... {runs}/{expected} runs, queue depth {depth if depth is not None else 'n/a'}",
                    flush=True,
                )
                last_report = now
            settled = runs >= expected or (quiet_since is not None and now - quiet_since >= 5)
            if ((settled or monitor is None) and now >= next_listing) or now > deadline:
                next_listing = now + (2 if settled else 5)
                pending = list_calls(api, app, "queued") + list_calls(api, app, "running")
                if not pending or now > deadline:
                    began = time.monotonic()
                    records = list_calls(api, app)
                    if progress:
                        print(
                            f"  listed {len(records)} calls in {time.monotonic() - began:.1f} s", flush=True
                        )
                    return records, not pending
            time.sleep(0.5)
    finally:
        api.close()


# ---------------------------------------------------------------------------------- figures
def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Figures:
    calls: int
    clients: int
    submit_seconds: float
    submissions: list[Submission]
    records: list[dict[str, Any]]
    runs: list[str]
    drained: bool
    drain_seconds: float
    max_visible: int | None = None
    max_in_flight: int | None = None
    violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.violations = self._violations()

    @property
    def accepted(self) -> list[str]:
        return [s.call_id for s in self.submissions if s.status == 202]

    @property
    def server_errors(self) -> int:
        return sum(1 for s in self.submissions if s.status >= 500)

    @property
    def by_status(self) -> Counter[str]:
        ids = set(self.accepted)
        return Counter(str(c["status"]) for c in self.records if c["id"] in ids)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in Counter(self.runs).values() if n > 1)

    def _violations(self) -> list[str]:
        problems = []
        not_accepted = [s for s in self.submissions if s.status != 202]
        if not_accepted:
            sample = not_accepted[0]
            problems.append(
                f"{len(not_accepted)} call(s) not accepted (first: {sample.status} {sample.error})"
            )
        if self.server_errors:
            problems.append(f"{self.server_errors} 5xx answer(s)")
        records = {str(c["id"]): c for c in self.records}
        accepted = self.accepted
        missing = [i for i in accepted if i not in records]
        if missing:
            problems.append(f"{len(missing)} accepted call(s) have no record (first: {missing[0]})")
        stuck = [i for i in accepted if i in records and records[i]["status"] not in TERMINAL]
        if stuck:
            problems.append(
                f"{len(stuck)} call(s) never terminal (first: {stuck[0]} {records[stuck[0]]['status']})"
            )
        ran = Counter(self.runs)
        never_ran = [i for i in accepted if ran[i] == 0]
        if never_ran:
            problems.append(f"{len(never_ran)} call(s) never ran (first: {never_ran[0]})")
        twice = [i for i, n in ran.items() if n > 1]
        if twice:
            problems.append(f"{len(twice)} call(s) ran more than once (first: {twice[0]} x{ran[twice[0]]})")
        strangers = set(ran) - set(accepted)
        if strangers:
            problems.append(f"{len(strangers)} run(s) of calls never accepted")
        failed = [i for i in accepted if i in records and records[i]["status"] != "success"]
        if failed:
            first = records[failed[0]]
            problems.append(
                f"{len(failed)} call(s) did not succeed "
                f"(first: {failed[0]} {first['status']} {first.get('error', '')})"
            )
        return problems

    def end_to_end(self) -> list[float]:
        ids = set(self.accepted)
        return [
            (_time(c["completed_at"]) - _time(c["created_at"])).total_seconds()
            for c in self.records
            if c["id"] in ids and c.get("completed_at")
        ]

    def render(self) -> str:
        latencies = [s.latency_s * 1000 for s in self.submissions if s.status == 202]
        e2e = self.end_to_end()
        p = percentile
        runs = len(self.runs)
        accepted = len(self.accepted)
        depth = (
            "n/a"
            if self.max_visible is None
            else f"{self.max_visible} visible, {self.max_in_flight} in flight"
        )
        lines = [
            f"calls {self.calls} from {self.clients} clients: {accepted} accepted",
            f"submit throughput   {accepted / self.submit_seconds:.1f} calls/s ({self.submit_seconds:.2f} s)",
            f"submit latency ms   p50 {p(latencies, 0.50):.1f}  p95 {p(latencies, 0.95):.1f}  "
            f"p99 {p(latencies, 0.99):.1f}  max {max(latencies, default=0):.1f}",
            f"time to drain       {self.drain_seconds:.2f} s after the last submit"
            + ("" if self.drained else " (DEADLINE: not drained)"),
            f"end to end s        p50 {p(e2e, 0.50):.2f}  p95 {p(e2e, 0.95):.2f}  "
            f"max {max(e2e, default=0):.2f}  (created -> completed)",
            "terminal statuses   "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items())) or "none"),
            f"5xx answers         {self.server_errors}",
            f"function runs       {runs} for {accepted} calls: runs/calls {runs / max(accepted, 1):.3f}, "
            f"duplicates {self.duplicates}",
            f"max queue depth     {depth}",
            "RESULT              "
            + ("OK" if not self.violations else "FAILED: " + "; ".join(self.violations)),
        ]
        return "\n".join(lines)


# ------------------------------------------------------------------------------ the stack
@dataclass(frozen=True)
class Target:
    api_url: str
    aws_endpoint: str | None
    queue_url: str | None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_stack(
    workdir: Path,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 60,
    code: Path = REPO,
) -> Iterator[Target]:
    """`fn start` on a free port, its output in workdir/fn-start.log; stopped (SIGTERM, then the
    process group killed) on exit. `code`: the checkout whose fn start runs (this one, or another
    to compare with, e.g. main's worktree; it must run on this environment's packages)."""
    port = free_port()
    log_path = workdir / "fn-start.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FNQ_"))}
    child_env.update({"PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1", **(env or {})})
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            # --ephemeral: a load run keeps nothing (and never writes to ~/.fnq).
            [sys.executable, "-m", "fnq.local", "--port", str(port), "--ephemeral", *extra_args],
            env=child_env,
            cwd=code,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while "Ready on " not in (text := log_path.read_text(errors="replace")):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"fn start did not become ready:\n{text}")
            time.sleep(0.1)
        endpoint = re.search(r"AWS endpoint (\S+)", text)
        queue = re.search(r"calls queue +(\S+)", text)
        yield Target(
            f"http://localhost:{port}", endpoint[1] if endpoint else None, queue[1] if queue else None
        )
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    began = time.monotonic()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    print(
        f"  fn start stopped in {time.monotonic() - began:.1f} s (exit status {process.returncode})",
        flush=True,
    )


# ------------------------------------------------------------------------------------- run
def run_load(
    target: Target,
    workdir: Path,
    calls: int,
    clients: int,
    app: str = "bench",
    route: str = "touch",
    drain_timeout: float = 900,
    progress: bool = True,
) -> Figures:
    runs_file = workdir / "runs.txt"
    runs_file.unlink(missing_ok=True)
    runs_file.touch()
    deploy(target.api_url, app, route, runs_file, workdir)
    monitor = (
        DepthMonitor(target.aws_endpoint, target.queue_url).start()
        if target.aws_endpoint and target.queue_url
        else None
    )
    try:
        submissions, submit_seconds = submit(target.api_url, app, route, calls, clients)
        submitted = time.monotonic()
        if progress:
            print(
                f"  submitted {calls} in {submit_seconds:.2f} s; waiting for every call to finish", flush=True
            )
        records, drained = wait_until_terminal(
            target.api_url, app, calls, runs_file, monitor, drain_timeout, progress
        )
    finally:
        if monitor is not None:
            monitor.stop()
    accepted = {s.call_id for s in submissions if s.status == 202}
    completed = [_time(c["completed_at"]) for c in records if c["id"] in accepted and c.get("completed_at")]
    # Drain time from the records' own clock: the last completion after the last submission ended.
    wall_end = time.time() - (time.monotonic() - submitted)
    drain = max((t.timestamp() for t in completed), default=wall_end) - wall_end
    return Figures(
        calls=calls,
        clients=clients,
        submit_seconds=submit_seconds,
        submissions=submissions,
        records=records,
        runs=read_runs(runs_file),
        drained=drained,
        drain_seconds=max(0.0, drain),
        max_visible=monitor.max_visible if monitor else None,
        max_in_flight=monitor.max_in_flight if monitor else None,
    )


def measure(
    calls: int,
    clients: int,
    workdir: Path,
    pollers: int | None = None,
    drain_timeout: float = 900,
    progress: bool = True,
    app: str = "bench",
    code: Path = REPO,
) -> Figures:
    """A fresh `fn start` (of checkout `code`) on a free port, loaded with `calls` async calls from
    `clients`, stopped."""
    extra = ["--pollers", str(pollers)] if pollers else []
    with local_stack(workdir, extra, code=code) as target:
        if progress:
            print(
                f"fn start at {target.api_url} (AWS endpoint {target.aws_endpoint}); "
                f"log {workdir}/fn-start.log",
                flush=True,
            )
        return run_load(target, workdir, calls, clients, app, drain_timeout=drain_timeout, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--api-url", help="a running fnq API (default: start fn start on a free port)")
    parser.add_argument("--aws-endpoint", help="its AWS endpoint, to sample the queue depth")
    parser.add_argument("--queue-url", help="its calls queue URL, to sample the queue depth")
    parser.add_argument("--app", default="bench")
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument("--pollers", type=int, help="fn start --pollers (only when starting fn start)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (fn start's log)")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 64 or not 1 <= args.calls <= 100_000:
        parser.error("--clients must be 1..64 and --calls 1..100000")
    workdir = Path(tempfile.mkdtemp(prefix="fnq-bench-"))
    failed = True  # until the figures say otherwise: a crashed run keeps fn start's log
    try:
        if args.api_url:
            target = Target(args.api_url, args.aws_endpoint, args.queue_url)
            figures = run_load(
                target, workdir, args.calls, args.clients, args.app, drain_timeout=args.drain_timeout
            )
        else:
            figures = measure(
                args.calls, args.clients, workdir, args.pollers, args.drain_timeout, app=args.app
            )
        print(figures.render())
        failed = bool(figures.violations)
        return 1 if failed else 0
    finally:
        if args.keep or failed:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
