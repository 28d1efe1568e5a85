"""`fn start`: embedded AWS (moto server) + the API (Chalice's local server) + a supervised worker.

This process serves the API (threads). The embedded AWS is a child process of its own
(endpoint_process.py: moto, its patches and the saved state), so the API, the emulation and the
worker each have a GIL and the stack uses every core; if it dies, fn start stops (the state is kept
up to its last answered write). The worker is a child process (`python -m fnq.cli worker`)
restarted whenever it dies. Both reach the endpoint over HTTP like any other client. The state of
the embedded AWS is kept in a data directory and comes back at the next start (persistence.py),
unless `--ephemeral`.

Order matters when starting: the process first makes itself unreadable to functions and the
subreaper of their orphans (chalicelib/execute/guard.py), since it runs sync calls' functions; the
data directory is claimed (a second `fn start` on it fails before binding anything), the
endpoint's process is started (it reads the saved state and binds its port meanwhile), then the API
port is bound (a busy port fails before anything serves), then the endpoint, once ready, is
provisioned, the saved state restored into it, the process
environment pointed at it, the calls the last run left open settled and sent again, and only then
does the API serve and the worker start, so `wiring.components()` is built against the embedded
endpoint on the first request and no worker sees a half-restored table.

And when stopping: the API stops taking requests while the worker is stopped at once (its
functions die with it), then the calls it was running are settled, then the functions the API
process runs for sync calls are killed, then the endpoint's process closes the state and ends.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from chalicelib import wiring
from chalicelib.execute.guard import guard_this_process
from chalicelib.execute.reaper import Reaper
from chalicelib.runner import record_sync_calls_in_flight
from chalicelib.settings import (
    DEFAULT_REGION,
    ENV_API_TOKEN,
    ENV_BUCKET,
    ENV_CACHE_DIR,
    ENV_CALLBACK_ALLOW_PRIVATE,
    ENV_CALLS_QUEUE_URL,
    ENV_DEAD_LETTER_QUEUE_URL,
    ENV_ENDPOINT_URL,
    ENV_REGION,
    ENV_TABLE,
    Settings,
)
from fnq.local import CODE_ROOT
from fnq.local.api_server import Admission, FnRequestHandler
from fnq.local.datadir import DataDir, DataDirBusyError
from fnq.local.endpoint import LOOPBACK
from fnq.local.endpoint_process import EndpointError, EndpointProcess
from fnq.local.journal import StateError
from fnq.local.persistence import Attached, LocalState, Recovered
from fnq.local.provision import LOCAL_VISIBILITY_TIMEOUT_SECONDS, provision
from fnq.local.recovery import Settled, plural
from fnq.local.resources import FAKE_KEY
from fnq.local.stage import deployed_api_limits
from fnq.local.supervisor import Supervisor, adopted_children, child_environment

LISTEN_BACKLOG = 128  # as werkzeug's (the moto server's)


class PortInUseError(RuntimeError):
    pass


@dataclass(frozen=True)
class StartOptions:
    port: int = 8080
    host: str = LOOPBACK
    aws_port: int = 0
    pollers: int = 8
    # The calls queue's visibility timeout: how soon a message a dead worker held comes back.
    visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT_SECONDS
    # The data directory (state, pid file, log); None: none at all (ephemeral, in the foreground).
    data_dir: Path | None = None
    # False (--ephemeral): the state is not kept; the directory, if any, holds only the pid and log.
    keep_state: bool = True
    # Running as the background process of `fn start -d` (its output goes to the log file).
    detached: bool = False


def embedded_environment(endpoint_url: str, resources: dict[str, str], cache_dir: str) -> dict[str, str]:
    """What the API and the worker need to reach the embedded AWS, and nothing real."""
    return {
        ENV_ENDPOINT_URL: endpoint_url,
        "AWS_ACCESS_KEY_ID": FAKE_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_KEY,
        ENV_REGION: DEFAULT_REGION,
        "AWS_REGION": DEFAULT_REGION,
        ENV_CACHE_DIR: cache_dir,
        # Completion callbacks may go to loopback and private addresses here (the developer's own
        # receivers), unless the environment says otherwise (docs/CALLBACKS.md).
        ENV_CALLBACK_ALLOW_PRIVATE: os.environ.get(ENV_CALLBACK_ALLOW_PRIVATE, "1"),
        **resources,
    }


# Real credentials and profiles would be sent to (or break clients of) the embedded endpoint.
_UNSET = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def bind_api(host: str, port: int, request_seconds: float | None = None) -> Any:
    """Chalice's local server for app.py, bound (not yet serving). Raises PortInUseError.

    `request_seconds`: the deployed API's time limit (stage.py); None, none."""
    from chalice.config import Config  # type: ignore[attr-defined]
    from chalice.local import create_local_server

    from app import app

    config = Config.create(chalice_stage="dev", app_name=app.app_name, chalice_app=app, project_dir=CODE_ROOT)
    try:
        server = create_local_server(app, config, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(str(exc)) from exc
        raise
    # Chalice's handler, hardened: unknown methods, bad Content-Length, unsendable headers.
    server.server.RequestHandlerClass = functools.partial(
        FnRequestHandler,
        app_object=app,
        config=config,
        request_seconds=request_seconds,
        # One for the server: every connection's handler takes its turns from it.
        admission=Admission.from_env(os.environ) if request_seconds else None,
        # The settings the server starts with, read once rather than at every request.
        max_request_bytes=Settings.from_env().max_request_bytes,
    )
    # socketserver listens with a backlog of 5: a burst of clients connecting at once overflowed
    # it (SYN cookies, then "connection reset by peer" under bench/load.py's 16 clients).
    server.server.socket.listen(LISTEN_BACKLOG)
    return server


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; the caller stops us through `stop`
        return
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(options: StartOptions, out: TextIO | None = None, stop: threading.Event | None = None) -> int:
    """Run the stack in the foreground until SIGINT/SIGTERM (or `stop`); answer the exit code."""
    stream = out or sys.stdout

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    stop = stop or threading.Event()
    reaper = guard_this_process()
    with stop_on_signals(stop):
        data = DataDir(options.data_dir) if options.data_dir is not None else None
        try:
            state = LocalState.open(data, options.keep_state)
        except DataDirBusyError as exc:
            return error(str(exc))
        stack = Stack(options, state, say, reaper, stop)
        clean = False
        try:
            failed = stack.start()
            if failed is not None:
                return failed
            while not stop.wait(0.5):  # a timed wait: signal handlers run promptly in between
                pass
            say("Stopping: the worker, the API, the embedded AWS")
            stack.stop()
            clean = True
        finally:
            if not clean:
                stack.stop()
            state.close(clean)
            stack.remove_cache()
    say(stack.farewell())
    say("Stopped")
    return 1 if stack.failed else 0


class Stack:
    """The parts of a running `fn start`, started and stopped in order (see the module docstring)."""

    def __init__(
        self,
        options: StartOptions,
        state: LocalState,
        say: Callable[[str], None],
        reaper: Reaper | None,
        stopping: threading.Event | None = None,
    ) -> None:
        """`stopping`: set when a part the stack cannot run without dies (the embedded AWS)."""
        self.options = options
        self.stopping = stopping or threading.Event()
        self.failed = False
        self.reaper = reaper
        self.state = state
        self.say = say
        self.api: Any = None
        self.endpoint: EndpointProcess | None = None
        self.supervisor: Supervisor | None = None
        self.serving = False
        self.stopped: Settled | None = None
        self.own_cache = not os.environ.get(ENV_CACHE_DIR)
        self.cache_dir = (
            tempfile.mkdtemp(prefix="fnq-start-cache-") if self.own_cache else os.environ[ENV_CACHE_DIR]
        )

    def start(self) -> int | None:
        """Start everything; answer an exit status if it could not."""
        options = self.options
        # The deployed API's limits, as the default stage sets them: its sync cap and time limit.
        api_limits = deployed_api_limits(os.environ)
        # Started first: it loads moto and the saved state while this process binds the API.
        self.endpoint = EndpointProcess(
            options.aws_port,
            self.state.data,
            self.state.keep,
            worker_environment(os.environ),
            self.say,
            self.reaper,
            self._endpoint_died,
            DEFAULT_REGION,
        )
        try:
            self.api = bind_api(options.host, options.port, api_limits.request_seconds)
        except PortInUseError as exc:
            return refuse(options.port, "--port", exc)
        except OSError as exc:  # e.g. a privileged port, or an address this host does not have
            return error(f"cannot listen on {options.host}:{options.port} ({exc})")
        try:
            endpoint_url = self.endpoint.ready()
        except StateError as exc:
            return error(f"cannot read the saved state: {exc} (start with --ephemeral, or move it away)")
        except OSError as exc:
            return refuse(options.aws_port, "--aws-port", exc)
        except EndpointError as exc:
            return error(str(exc))
        env = embedded_environment(
            endpoint_url,
            provision(endpoint_url, DEFAULT_REGION, options.visibility_timeout),
            self.cache_dir,
        )
        attached = self.state.attach(self.endpoint, env[ENV_TABLE], env[ENV_BUCKET])
        for name in _UNSET:
            os.environ.pop(name, None)
        os.environ.update(env)
        os.environ.update(api_limits.environment())
        wiring.install(None)  # built afresh, from this environment, on the first request
        recovered = self.state.recover(Settings.from_env())
        for line in restore_report(self.state, attached, recovered):
            self.say(line)
        self.state.bring_back_objects()
        # Polled every 0.1 s (socketserver's default: 0.5 s), so that a stop is quick.
        serve = self.api.server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.1}, name="api", daemon=True).start()
        self.serving = True
        self.supervisor = Supervisor(
            [
                *(sys.executable, "-m", "fnq.cli", "worker"),
                *("--pollers", str(options.pollers), "--parent-pid", str(os.getpid())),
            ],
            worker_environment(os.environ),
            self.say,
            # Stopped at once, not drained: what it was running is settled below and runs again
            # (or is recorded as stopped), so a stop takes a moment however long the calls are.
            stop_timeout=0.0,
            reaper=self.reaper,
        )
        worker_pid = self.supervisor.start()
        host = "localhost" if options.host == LOOPBACK else options.host
        self.say(banner(f"http://{host}:{options.port}", self.endpoint, env, worker_pid, options, self.state))
        return None

    def stop(self) -> None:
        """Stop in an order that leaves every call settled; idempotent."""
        # No new requests: the API stops serving (requests in flight go on, on their threads) ...
        closing = threading.Thread(target=self._stop_serving, name="api-stop", daemon=True)
        closing.start()
        # ... while the worker is stopped at once, and with it every function it was running.
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
        if self.endpoint is not None and self.stopped is None:
            self.stopped = Settled()
            if self.endpoint.alive:  # (a dead one: the next start recovers them, as after a crash)
                # A sync call in its first heartbeat has no record yet (it would be written once,
                # at its end): give it one now, so that it is settled as stopped like the others.
                record_sync_calls_in_flight()
                self.stopped = self.state.settle_at_stop(Settings.from_env())
            # Sync calls this process was running have just been settled as stopped; their
            # functions die now, and the runner's own outcome for them is discarded.
            kill_function_processes(spare=self.endpoint.pid)
        closing.join()
        if self.api is not None:
            self.api.server.server_close()
            self.api = None
        if self.endpoint is not None:
            self.endpoint.stop()
            self.endpoint = None

    def _endpoint_died(self, what: str) -> None:
        kept = "kept up to its last answered write" if self.state.state_dir is not None else "not kept"
        self.say(f"ERROR: {what}; fn start stops (the state is {kept}). Start it again with fn start")
        self.failed = True
        self.stopping.set()

    def _stop_serving(self) -> None:
        if self.serving:
            self.serving = False
            self.api.server.shutdown()  # only once serve_forever runs: before that it would wait forever

    def remove_cache(self) -> None:
        if self.own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def farewell(self) -> str:
        """What the stop did with the calls, and with the state, in plain words."""
        return stop_report(self.state, self.stopped or Settled(), self.state.open_calls())


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's (and the embedded AWS's): this process's, less the API token (neither serves
    the API), and with this checkout first on PYTHONPATH."""
    return {k: v for k, v in child_environment(environ, CODE_ROOT).items() if k != ENV_API_TOKEN}


def error(message: str) -> int:
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    return 1


def refuse(port: int, option: str, exc: Exception) -> int:
    return error(f"port {port} is in use ({exc}); stop what listens there or choose another with {option}")


def kill_function_processes(spare: int) -> None:
    """SIGKILL what this process still runs (sync calls' functions) with their process groups,
    except the child `spare` (the embedded AWS: it still has the state to close).

    Not reaped here: the Reaper (or the threads that started them) waits for them, and the
    threads see them killed.
    """
    for pid, group in adopted_children(lambda pid: pid != spare):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group == pid and group != os.getpgrp():
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)


def banner(
    api_url: str,
    endpoint: EndpointProcess,
    env: dict[str, str],
    worker_pid: int,
    options: StartOptions,
    state: LocalState,
) -> str:
    moto = f"moto, pid {endpoint.pid}; credentials {FAKE_KEY}/{FAKE_KEY}, region {DEFAULT_REGION}"
    rows = [
        ("API", f"{api_url}  (fn CLI: FN_API_URL={api_url})"),
        ("dashboard", f"{api_url}/ui"),
        ("AWS endpoint", f"{endpoint.url}  ({moto})"),
        ("table", env[ENV_TABLE]),
        ("bucket", env[ENV_BUCKET]),
        ("calls queue", f"{env[ENV_CALLS_QUEUE_URL]}  (visibility timeout {options.visibility_timeout} s)"),
        ("dead letters", env[ENV_DEAD_LETTER_QUEUE_URL]),
        ("worker", f"pid {worker_pid} (supervised: restarted if it dies)"),
        ("data", data_description(state)),
        ("log", log_description(options, state)),
    ]
    lines = ["fnq local stack", *(f"  {name:<13}{value}" for name, value in rows)]
    stop_hint = "Stop it with: fn stop" if options.detached else "Press Ctrl-C to stop."
    lines.append(f"Ready on {api_url}. {stop_hint}")
    return "\n".join(lines)


def data_description(state: LocalState) -> str:
    if state.state_dir is not None:
        return f"{state.state_dir}  (apps, routes, bundles, calls and logs are kept across restarts)"
    return "not kept (--ephemeral): everything is discarded when fn start stops"


def log_description(options: StartOptions, state: LocalState) -> str:
    if options.detached and state.data is not None:
        return str(state.data.log_file)
    return "this terminal (fn start -d writes it to fn-start.log in the data directory)"


def restore_report(state: LocalState, attached: Attached, recovered: Recovered) -> list[str]:
    lines = []
    restored = attached.restored
    if restored is not None:
        lines.append(
            f"Restored {plural(restored.items, 'item')} (apps, routes, calls) from {state.state_dir} "
            f"in {restored.seconds:.1f} s; {plural(attached.objects, 'object')} (bundles, logs) follow "
            "in the background, each at once when asked for"
        )
        if attached.expired:
            lines.append(f"  {plural(attached.expired, 'record')} past their retention were not restored")
    settled = recovered.settled
    if settled.requeued:
        why = "was killed or crashed" if recovered.after_crash else "was stopped"
        lines.append(
            f"  {plural(len(settled.requeued), 'call')} left running when the last fn start {why} "
            "will run again"
        )
    if settled.finished:
        lines.append(
            f"  {plural(len(settled.finished), 'call')} left running were finished (see fn calls get)"
        )
    queued = len(settled.queued) - len(recovered.unsent)
    if queued:
        lines.append(f"  {plural(queued, 'queued call')} sent to the worker again")
    if recovered.unsent:
        lines.append(f"  {plural(len(recovered.unsent), 'call')} could not be queued again; they stay queued")
    return lines


def stop_report(state: LocalState, stopped: Settled, still_open: dict[str, str]) -> str:
    lines = []
    if stopped.requeued:
        lines.append(
            f"  {plural(len(stopped.requeued), 'call')} in flight will run again after the next fn start"
        )
    if stopped.finished:
        lines.append(
            f"  {plural(len(stopped.finished), 'call')} in flight recorded as stopped (status error)"
        )
    queued = sum(1 for status in still_open.values() if status == "queued") - len(stopped.requeued)
    if queued > 0 and state.state_dir is not None:
        lines.append(f"  {plural(queued, 'queued call')} will run after the next fn start")
    if state.state_dir is not None:
        lines.append(f"  state saved in {state.state_dir}")
    else:
        lines.append("  state discarded (--ephemeral)")
    return "\n".join(lines)
