"""`fn start`'s embedded AWS in a process of its own: moto's server, its patches, the saved state.

moto answers every AWS request of the stack (the API's, the worker's) and takes most of the CPU
they cost; in fn start's own process it shared one GIL with the API, so the API slowed down with
the emulation's load (a burst of sync calls made `/version` wait) and a second core sat idle. Here
it has a process, and a GIL, of its own.

What moves with it: moto_patches (they patch moto where it runs), the endpoint (endpoint.py) and
the saved state that must sit in front of it (persistence.SavedState: the capture middleware
journals every write before its answer leaves this process, so a `kill -9` of fn start still loses
nothing answered). fn start reaches the endpoint over HTTP like any client, and talks to this
process over one small channel: JSON lines on the child's stdin (commands) and on its original
stdout (answers, in order, and lines to say). Its stdout is then pointed at stderr, so nothing
moto prints can be mistaken for an answer.

    fn start → child                     child → fn start
    (the child starts on its own)        {"ready": url} | {"error": "state"|"port"|"failed", ...}
    {"op": "attach", table, bucket}      {"attached": {...}, "after_crash": bool}
    {"op": "open_calls"}                 {"open_calls": {call id: status}}
    {"op": "bring_back"}                 {} (later, maybe: {"say": "The 120 saved objects ..."})
    {"op": "close"}                      {"closed": true, "open_calls": {...}}, then it exits

The process holds what every app's calls, bodies and logs hold, so functions must not read it
(PR_SET_DUMPABLE 0, as fn start and the worker: chalicelib/execute/guard.py), and it must never
outlive fn start: the kernel kills it when fn start ends (PR_SET_PDEATHSIG), and it exits at once
when its command pipe closes. It also keeps the data directory's lock (an inherited descriptor of
fn start's), so a next fn start cannot read the journal while this one may still write it.

If it dies, fn start does not restart it: a new moto would start empty and the stack would need a
restore while the API and worker run against it. fn start stops instead, saying so; the state is
kept up to the last answered write, and the next fn start recovers the calls as after a crash.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from chalicelib.execute.reaper import Reaper
from fnq.local.datadir import DataDir
from fnq.local.journal import StateError
from fnq.local.persistence import Attached
from fnq.local.resources import FAKE_KEY
from fnq.local.supervisor import Supervisor, describe_exit

if TYPE_CHECKING:
    from fnq.local.endpoint import EmbeddedEndpoint
    from fnq.local.persistence import SavedState

log = logging.getLogger(__name__)

NAME = "embedded AWS"
# How long a stop waits for the journal to be closed, then for the process to end.
CLOSE_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0


class EndpointError(RuntimeError):
    """The embedded AWS's process failed a command, or is gone."""


class EndpointProcess:
    """fn start's handle on the embedded AWS's process: started at once, `ready()` to wait for it."""

    def __init__(
        self,
        port: int,
        data: DataDir | None,
        keep: bool,
        env: Mapping[str, str],
        say: Callable[[str], None],
        reaper: Reaper | None,
        on_death: Callable[[str], None],
        region: str,
    ) -> None:
        """Start it: `port` 0 for any free one; `on_death(message)` if it ends unasked once ready."""
        argv = [sys.executable, "-m", "fnq.local.endpoint_process", "--aws-port", str(port)]
        argv += ["--parent-pid", str(os.getpid()), "--region", region]
        if data is not None:
            argv += ["--data-dir", str(data.root)] + (["--keep"] if keep else [])
        self._say = say
        self._on_death = on_death
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self.url = ""
        self.journal_closed = False
        self._stopping = False  # asked to stop: its exit is no death
        self._closing = False
        self._last_open_calls: dict[str, str] = {}
        self._supervisor = Supervisor(
            argv,
            env,
            say,
            name=NAME,
            stop_timeout=STOP_TIMEOUT_SECONDS,
            reaper=reaper,
            on_exit=self._exited,
            popen={
                "stdin": subprocess.PIPE,
                "stdout": subprocess.PIPE,
                "pass_fds": () if data is None or data.lock_fd is None else (data.lock_fd,),
            },
        )
        self.pid = self._supervisor.start()
        process = self._supervisor.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        self._commands: IO[bytes] = process.stdin
        threading.Thread(target=self._read, args=(process.stdout,), name="aws-channel", daemon=True).start()

    @property
    def alive(self) -> bool:
        """Serving, and not stopped or dead."""
        return bool(self.url) and not self._closing

    def ready(self) -> str:
        """Wait until it serves; its URL. StateError (unreadable state), OSError (port), EndpointError."""
        reply = self._replies.get()
        if reply is None:
            raise EndpointError(f"the {NAME} (pid {self.pid}) ended as it started; its output is above")
        if reply.get("error") == "state":
            raise StateError(reply["message"])
        if reply.get("error") == "port":
            raise OSError(int(reply["errno"] or 0), reply["message"])
        if "error" in reply:
            raise EndpointError(reply["message"])
        self.url = str(reply["ready"])
        return self.url

    def attach(self, table: str, bucket: str) -> tuple[Attached, bool]:
        """Restore the saved state into the endpoint, follow every write; (what, after a crash?)."""
        reply = self._request({"op": "attach", "table": table, "bucket": bucket})
        return Attached.from_json(reply["attached"]), bool(reply["after_crash"])

    def bring_back_objects(self) -> None:
        self._request({"op": "bring_back"})

    def open_calls(self) -> dict[str, str]:
        """Call id → status of the open calls; once it has stopped, as it last saw them."""
        if self._closing:
            return dict(self._last_open_calls)
        calls = self._request({"op": "open_calls"})["open_calls"]
        return {str(k): str(v) for k, v in calls.items()}

    def stop(self) -> None:
        """Close the journal (if it got that far), then end the process; idempotent."""
        self._stopping = True
        if self.url and not self._closing:
            try:
                reply = self._request({"op": "close"}, CLOSE_TIMEOUT_SECONDS)
                self._last_open_calls = {str(k): str(v) for k, v in reply["open_calls"].items()}
                self.journal_closed = True
            except EndpointError as exc:
                log.warning("the %s did not close its state: %s", NAME, exc)
        self._closing = True
        self._supervisor.stop()

    def _request(self, command: Mapping[str, Any], timeout: float | None = None) -> dict[str, Any]:
        with self._lock:
            try:
                self._commands.write(json.dumps(command).encode() + b"\n")
                self._commands.flush()
                reply = self._replies.get(timeout=timeout)
            except (OSError, ValueError, queue.Empty) as exc:
                raise EndpointError(
                    f"the {NAME} (pid {self.pid}) did not answer {command['op']}: {exc}"
                ) from exc
        if reply is None:
            raise EndpointError(f"the {NAME} (pid {self.pid}) is gone")
        if "error" in reply:
            raise EndpointError(f"the {NAME} failed {command['op']}: {reply['message']}")
        return reply

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            message = json.loads(line)
            if "say" in message:
                self._say(str(message["say"]))
            else:
                self._replies.put(message)
        self._replies.put(None)  # it has ended: whoever waits for an answer learns it

    def _exited(self, returncode: int) -> None:
        if self.url and not self._closing and not self._stopping:
            self._closing = True
            self._on_death(f"the {NAME} (pid {self.pid}) {describe_exit(returncode)}")


# ------------------------------------------------------------------------- the process itself
class Channel:
    """The answers and lines to say, one JSON object a line, from any thread."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: Mapping[str, Any]) -> None:
        with self._lock:
            self._stream.write(json.dumps(message) + "\n")
            self._stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fnq.local.endpoint_process")
    parser.add_argument("--aws-port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    from chalicelib.execute.guard import make_unreadable
    from fnq.local.lifeline import die_with_parent
    from fnq.local.logging_config import configure_logging

    make_unreadable()
    die_with_parent(args.parent_pid)
    # The channel is the stdout fn start reads; print() and moto's chatter go to stderr from here.
    channel = Channel(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)
    configure_logging("aws")
    try:
        served = start(args.aws_port, DataDir(args.data_dir) if args.data_dir else None, args.keep)
    except StateError as exc:
        channel.send({"error": "state", "message": str(exc)})
        return 1
    except OSError as exc:
        channel.send({"error": "port", "errno": exc.errno, "message": str(exc)})
        return 1
    except Exception as exc:
        log.exception("the embedded AWS could not start")
        channel.send({"error": "failed", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    endpoint, saved = served
    channel.send({"ready": endpoint.url})
    for line in sys.stdin.buffer:
        command = json.loads(line)
        try:
            reply = obey(command, endpoint, saved, args.region, channel)
        except Exception as exc:
            log.exception("the embedded AWS failed %s", command.get("op"))
            reply = {"error": "failed", "message": f"{type(exc).__name__}: {exc}"}
        channel.send(reply)
        if command.get("op") == "close":
            os._exit(0)  # the journal is closed and the server stopped: nothing is left to finish
    # fn start is gone without a word (killed): this is a kill -9 for the endpoint too, which the
    # journal is made for. The next fn start recovers.
    os._exit(1)


def start(port: int, data: DataDir | None, keep: bool) -> tuple[EmbeddedEndpoint, SavedState]:
    """moto patched, the saved state read, the endpoint serving. StateError, OSError."""
    from fnq.local.endpoint import EmbeddedEndpoint
    from fnq.local.moto_patches import (
        make_moto_dynamodb_atomic,
        make_moto_dynamodb_strict,
        make_moto_server_fast,
    )
    from fnq.local.persistence import SavedState

    # Its DynamoDB must apply a conditional write atomically, or two worker threads can both
    # claim one call, must refuse what DynamoDB refuses, and its SQS requests must not slow down
    # as the queue deepens (see moto_patches; each raises if the installed moto is not the one
    # they know).
    make_moto_dynamodb_atomic()
    make_moto_dynamodb_strict()
    make_moto_server_fast()
    saved = SavedState.load(data, keep)
    endpoint = EmbeddedEndpoint(port)
    endpoint.start()
    return endpoint, saved


def obey(
    command: Mapping[str, Any], endpoint: EmbeddedEndpoint, saved: SavedState, region: str, channel: Channel
) -> dict[str, Any]:
    op = command.get("op")
    if op == "attach":
        attached = saved.attach(endpoint, str(command["table"]), str(command["bucket"]), FAKE_KEY, region)
        return {"attached": attached.to_json(), "after_crash": saved.after_crash}
    if op == "open_calls":
        return {"open_calls": saved.open_calls()}
    if op == "bring_back":
        saved.bring_back_objects(lambda line: channel.send({"say": line}))
        return {}
    if op == "close":
        endpoint.stop()  # the API and the worker are stopped: no request is in flight
        saved.close()
        return {"closed": True, "open_calls": saved.open_calls()}
    raise ValueError(f"unknown command {op!r}")


if __name__ == "__main__":
    sys.exit(main())
