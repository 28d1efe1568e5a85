"""`fn start`, `fn stop` and `fn worker`: the local stack and the worker, as click commands.

Thin on purpose: the work is in fnq.local, imported only when a command runs, and fnq.cli.main
registers all three lazily, so listing `fn --help` never loads moto or Chalice.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import click

DEFAULT_PORT = 8080
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# Shared by `fn start` and `fn stop`: both find the stack through its data directory.
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="FNQ_DATA_DIR",
    show_envvar=True,
    help="Where the state, the pid file and the background log live. [default: ~/.fnq/data]",
)


@click.command(
    short_help="run fnq on this machine: embedded AWS, the API and a worker (-d: in the background)"
)
@click.option(
    "--port",
    default=None,
    type=click.IntRange(1, 65535),
    help="API port. [default: the port of FN_API_URL when it names this machine over http, else 8080]",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API listens on.")
@click.option(
    "--aws-port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Port of the embedded AWS endpoint (moto server) on 127.0.0.1; default: any free port.",
)
@click.option(
    "--pollers", default=8, show_default=True, type=click.IntRange(1, 16), help="Worker poller threads."
)
@click.option(
    "--visibility-timeout",
    default=120,
    show_default=True,
    envvar="FNQ_LOCAL_VISIBILITY_SECONDS",
    show_envvar=True,
    type=click.IntRange(1, 43200),
    help="Seconds before a message a dead worker held returns to the calls queue. Below the "
    "longest route timeout, a running call's message comes back while it runs (harmless, but it "
    "re-checks the call); a dead worker's call is taken over once its heartbeat lease "
    "(FNQ_LEASE_SECONDS) has expired and its message is back.",
)
@data_dir_option
@click.option(
    "--ephemeral",
    is_flag=True,
    help="Keep nothing: start empty, discard everything when stopped.",
)
@click.option(
    "-d",
    "--detach",
    is_flag=True,
    help="Run in the background: return once ready; output in fn-start.log in the data directory.",
)
@click.option("--background", is_flag=True, hidden=True, help="Set by -d on the process it starts.")
def start(
    port: int | None,
    host: str,
    aws_port: int,
    pollers: int,
    visibility_timeout: int,
    data_dir: Path | None,
    ephemeral: bool,
    detach: bool,
    background: bool,
) -> None:
    """Run fnq locally: embedded AWS, the API on http://localhost:PORT and a supervised worker.

    Apps, routes, bundles, calls and logs are kept in the data directory and come back at the next
    start (--ephemeral: kept nowhere). In the foreground until Ctrl-C (or SIGTERM, or `fn stop`);
    with -d, in the background until `fn stop`.
    """
    from fnq.local.datadir import DataDir, DataDirBusyError, default_data_dir

    port = port or local_port(os.environ.get("FN_API_URL", "")) or DEFAULT_PORT
    directory = data_dir if data_dir is not None else default_data_dir()
    running = None if ephemeral and not (detach or background) else DataDir(directory).running_pid()
    if running is not None and not background:
        # Said before loading moto and Chalice (seconds); the stack's own lock settles any race.
        _error(str(DataDirBusyError(DataDir(directory).root, running)))
        sys.exit(1)
    if detach:
        from fnq.local.detach import start_in_background

        options = [
            *("--port", str(port), "--host", host, "--aws-port", str(aws_port), "--pollers", str(pollers)),
            *("--visibility-timeout", str(visibility_timeout), "--data-dir", str(directory), "--background"),
            *(["--ephemeral"] if ephemeral else []),
        ]
        sys.exit(start_in_background(options, DataDir(directory), _say, _error))

    from fnq.local.logging_config import configure_logging
    from fnq.local.stack import StartOptions, run

    configure_logging("api")
    options_ = StartOptions(
        port=port,
        host=host,
        aws_port=aws_port,
        pollers=pollers,
        visibility_timeout=visibility_timeout,
        # An ephemeral stack in the foreground needs no directory (no state, no pid, no log file).
        data_dir=None if ephemeral and not background else directory,
        keep_state=not ephemeral,
        detached=background,
    )
    exit_now(run(options_))


@click.command(short_help="stop the fn start using the data directory (one started with fn start -d)")
@data_dir_option
def stop(data_dir: Path | None) -> None:
    """Stop the `fn start` that uses the data directory, as Ctrl-C would stop it in the foreground:
    the calls in flight run again after the next start. Waits until it has stopped."""
    from fnq.local.datadir import DataDir, default_data_dir
    from fnq.local.detach import stop_background

    sys.exit(stop_background(DataDir(data_dir if data_dir is not None else default_data_dir()), _say, _error))


@click.command(short_help="run the calls-queue worker alone (beside chalice local; fn start runs its own)")
@click.option(
    "--pollers", default=2, show_default=True, type=click.IntRange(1, 16), help="Calls-queue poller threads."
)
@click.option("--parent-pid", type=int, default=None, hidden=True, help="Exit when this process is gone.")
def worker(pollers: int, parent_pid: int | None) -> None:
    """Run the worker: poll the calls queue (and the DLQ) and run calls, as Lambda's event source would.

    Reads AWS_ENDPOINT_URL (moto server, LocalStack; unset for AWS), the region and credentials, and
    FNQ_CALLS_QUEUE_URL, FNQ_DEAD_LETTER_QUEUE_URL, FNQ_TABLE, FNQ_BUCKET from the environment.
    """
    from fnq.local.logging_config import configure_logging
    from fnq.local.worker import run_worker

    configure_logging("worker[%(process)d]")
    sys.exit(run_worker(pollers=pollers, parent_pid=parent_pid))


def local_port(api_url: str) -> int | None:
    """The port of FN_API_URL when it points at this machine over plain http: `fn start` then
    listens where the `fn` commands will call (http://localhost:9000 → 9000)."""
    parts = urlsplit(api_url if "://" in api_url else f"http://{api_url}")
    if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS:
        return None
    try:
        return parts.port or 80
    except ValueError:
        return None


def exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's teardown: with moto and boto3 loaded, collecting and
    unloading their modules took about 3 s after the stack had stopped (measured), which a Ctrl-C
    should not wait for. Everything is closed by then; the streams are flushed here."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _say(line: str) -> None:
    click.echo(line)


def _error(message: str) -> None:
    click.echo(f"ERROR: {message}", err=True)
