"""`fn start`: embedded AWS (moto server) + the API (Chalice's local server) + a supervised worker.

One foreground process holds the moto server and the API, both in-process threads: the state of
the embedded AWS lives exactly as long as `fn start`. The worker is a child process
(`python -m fnq.cli worker`) restarted whenever it dies; it reaches the moto server
over HTTP like any other client.

Order matters: the process first makes itself unreadable to functions and the subreaper of their
orphans (chalicelib/execute/guard.py), since it runs sync calls' functions; then the API port is
bound (a busy port fails before anything starts), then the endpoint is started and provisioned,
then the process environment points at it, and only then does the API serve, so
`wiring.components()` is built against the embedded endpoint on the first request.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import chalicelib
from chalicelib import wiring
from chalicelib.execute.guard import guard_this_process
from chalicelib.settings import (
    DEFAULT_REGION,
    ENV_API_TOKEN,
    ENV_BUCKET,
    ENV_CACHE_DIR,
    ENV_CALLS_QUEUE_URL,
    ENV_DEAD_LETTER_QUEUE_URL,
    ENV_ENDPOINT_URL,
    ENV_REGION,
    ENV_TABLE,
)
from fnq.local.api_server import FnRequestHandler
from fnq.local.moto_patches import make_moto_dynamodb_atomic, make_moto_server_fast
from fnq.local.provision import LOCAL_VISIBILITY_TIMEOUT_SECONDS, provision
from fnq.local.resources import FAKE_KEY
from fnq.local.supervisor import Supervisor, child_environment

LOOPBACK = "127.0.0.1"
LISTEN_BACKLOG = 128  # as werkzeug's (the moto server's)
# The directory holding the `chalicelib` package (and app.py) this process runs.
CODE_ROOT = str(Path(chalicelib.__file__).resolve().parent.parent)


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


def embedded_environment(endpoint_url: str, resources: dict[str, str], cache_dir: str) -> dict[str, str]:
    """What the API and the worker need to reach the embedded AWS, and nothing real."""
    return {
        ENV_ENDPOINT_URL: endpoint_url,
        "AWS_ACCESS_KEY_ID": FAKE_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_KEY,
        ENV_REGION: DEFAULT_REGION,
        "AWS_REGION": DEFAULT_REGION,
        ENV_CACHE_DIR: cache_dir,
        **resources,
    }


# Real credentials and profiles would be sent to (or break clients of) the embedded endpoint.
_UNSET = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def bind_api(host: str, port: int) -> Any:
    """Chalice's local server for app.py, bound (not yet serving). Raises PortInUseError."""
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
    server.server.RequestHandlerClass = functools.partial(FnRequestHandler, app_object=app, config=config)
    # socketserver listens with a backlog of 5: a burst of clients connecting at once overflowed
    # it (SYN cookies, then "connection reset by peer" under bench/load.py's 16 clients).
    server.server.socket.listen(LISTEN_BACKLOG)
    return server


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUseError(str(exc)) from exc


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
    try:
        api = bind_api(options.host, options.port)
    except PortInUseError as exc:
        return refuse(options.port, "--port", exc)
    except OSError as exc:  # e.g. a privileged port, or an address this host does not have
        print(f"ERROR: cannot listen on {options.host}:{options.port} ({exc})", file=sys.stderr, flush=True)
        return 1
    try:
        if options.aws_port:
            check_port_free(LOOPBACK, options.aws_port)
    except PortInUseError as exc:
        api.server.server_close()
        return refuse(options.aws_port, "--aws-port", exc)
    from moto.server import ThreadedMotoServer

    own_cache = not os.environ.get(ENV_CACHE_DIR)
    cache_dir = tempfile.mkdtemp(prefix="fnq-start-cache-") if own_cache else os.environ[ENV_CACHE_DIR]
    # The moto server runs in this process: its DynamoDB must apply a conditional write atomically,
    # or two worker threads can both claim one call, and its SQS requests must not slow down as the
    # queue deepens (see moto_patches; both raise if the installed moto is not the one they know).
    make_moto_dynamodb_atomic()
    make_moto_server_fast()
    moto = ThreadedMotoServer(ip_address=LOOPBACK, port=options.aws_port, verbose=False)
    moto.start()
    supervisor: Supervisor | None = None
    serving = False
    with stop_on_signals(stop):
        try:
            endpoint = f"http://{LOOPBACK}:{moto.get_host_and_port()[1]}"
            env = embedded_environment(
                endpoint, provision(endpoint, DEFAULT_REGION, options.visibility_timeout), cache_dir
            )
            for name in _UNSET:
                os.environ.pop(name, None)
            os.environ.update(env)
            wiring.install(None)  # built afresh, from this environment, on the first request
            threading.Thread(target=api.server.serve_forever, name="api", daemon=True).start()
            serving = True
            supervisor = Supervisor(
                [
                    *(sys.executable, "-m", "fnq.cli", "worker"),
                    *("--pollers", str(options.pollers), "--parent-pid", str(os.getpid())),
                ],
                worker_environment(os.environ),
                say,
                reaper=reaper,
            )
            worker_pid = supervisor.start()
            api_url = f"http://{'localhost' if options.host == LOOPBACK else options.host}:{options.port}"
            say(banner(api_url, endpoint, env, worker_pid, options.visibility_timeout))
            while not stop.wait(0.5):  # a timed wait: signal handlers run promptly in between
                pass
            say("Stopping: worker, API, embedded AWS (its state is discarded)")
        finally:
            shutdown(supervisor, api.server, serving, moto, say)
            if own_cache:
                shutil.rmtree(cache_dir, ignore_errors=True)
    say("Stopped")
    return 0


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's: this process's, less the API token (the worker serves no request), and with
    this checkout first on PYTHONPATH."""
    return {k: v for k, v in child_environment(environ, CODE_ROOT).items() if k != ENV_API_TOKEN}


def refuse(port: int, option: str, exc: Exception) -> int:
    print(
        f"ERROR: port {port} is in use ({exc}); stop what listens there or choose another with {option}",
        file=sys.stderr,
        flush=True,
    )
    return 1


def shutdown(
    supervisor: Supervisor | None, server: Any, serving: bool, moto: Any, say: Callable[[str], None]
) -> None:
    # The worker first (it talks to the endpoint), then the API, then the endpoint itself.
    if supervisor is not None:
        returncode = supervisor.stop()
        say(f"worker stopped (exit status {returncode})")
    if serving:
        server.shutdown()  # only once serve_forever runs: before that it would wait forever
    server.server_close()
    moto.stop()


def banner(api_url: str, endpoint: str, env: dict[str, str], worker_pid: int, visibility_timeout: int) -> str:
    rows = [
        ("API", f"{api_url}  (fn CLI: FN_API_URL={api_url})"),
        ("dashboard", f"{api_url}/ui"),
        ("AWS endpoint", f"{endpoint}  (moto; credentials {FAKE_KEY}/{FAKE_KEY}, region {DEFAULT_REGION})"),
        ("table", env[ENV_TABLE]),
        ("bucket", env[ENV_BUCKET]),
        ("calls queue", f"{env[ENV_CALLS_QUEUE_URL]}  (visibility timeout {visibility_timeout} s)"),
        ("dead letters", env[ENV_DEAD_LETTER_QUEUE_URL]),
        ("worker", f"pid {worker_pid} (supervised: restarted if it dies)"),
    ]
    lines = ["fnq local stack", *(f"  {name:<13}{value}" for name, value in rows)]
    lines.append(f"Ready on {api_url}. Press Ctrl-C to stop.")
    return "\n".join(lines)
