"""`fn start` and `fn worker`: the local stack and the worker, as click commands.

Thin on purpose: the work is in fnq.local, imported only when a command runs, and fnq.cli.main
registers both lazily, so listing `fn --help` never loads moto or Chalice.
"""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="API port.")
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
def start(port: int, host: str, aws_port: int, pollers: int, visibility_timeout: int) -> None:
    """Run fnq locally: embedded AWS, the API on http://localhost:PORT and a supervised worker.

    Runs in the foreground until Ctrl-C (or SIGTERM); the embedded AWS state lives as long as it.
    """
    from fnq.local.logging_config import configure_logging
    from fnq.local.stack import StartOptions, run

    configure_logging("api")
    options = StartOptions(
        port=port, host=host, aws_port=aws_port, pollers=pollers, visibility_timeout=visibility_timeout
    )
    sys.exit(run(options))


@click.command()
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
