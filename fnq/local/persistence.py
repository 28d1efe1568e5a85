"""What `fn start` keeps between runs: the steps `stack.py` calls, in order.

The state lives in the embedded AWS's process (endpoint_process.py), beside the endpoint whose
writes it follows: `SavedState` there; `LocalState` in fn start asks it over that process's
channel.

1. `LocalState.open` (before anything starts): claims the data directory, so a busy directory
   fails at once; the endpoint's process then reads the saved state (journal.py) as it starts
   (`SavedState.load`), and an unreadable one stops the start before the API serves;
2. `attach` (the endpoint is provisioned, nothing serves yet): drops what AWS would have expired,
   restores the items through the endpoint's APIs (restore.py), starts a new snapshot generation
   and puts the recorder in front of the endpoint (capture.py): from then on every write to the
   table or bucket is on disk before its answer leaves, and the saved objects come back when first
   asked for, or from `bring_back_objects`'s thread, newest first;
3. `recover` (the API and worker are not running yet): settles the calls the last run left open
   and sends the queued ones again (recovery.py);
4. `settle_at_stop` (the worker has been stopped): the calls it was running are put back to run
   at the next start (persistent) or recorded as stopped (ephemeral);
5. the endpoint's process stops: the journal is fsynced and closed (`SavedState.close`); then
   `LocalState.close` marks the stop clean (only if it was, journal included) and releases the
   directory.

An ephemeral stack (`--ephemeral`) keeps nothing: steps 2-5 only follow the open calls, so that a
stop can still say what it did with them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.aws.clients import AwsClients
from chalicelib.ids import utcnow
from chalicelib.ports import CallQueue, CallStore, LogStore
from chalicelib.settings import Settings
from chalicelib.wiring import build_stores
from fnq.local.capture import Recorder
from fnq.local.datadir import DataDir
from fnq.local.endpoint import EmbeddedEndpoint
from fnq.local.journal import Journal, Saved
from fnq.local.recovery import CRASHED, STOPPED, Settled, send_again, settle
from fnq.local.restore import Restored, key_schema, prune_expired, restore_items

if TYPE_CHECKING:
    from fnq.local.endpoint_process import EndpointProcess


@dataclass(frozen=True)
class Attached:
    restored: Restored | None  # the items; None: nothing was saved (a first start, or ephemeral)
    objects: int  # saved objects coming back in the background
    expired: int

    def to_json(self) -> dict[str, Any]:
        restored = self.restored
        return {
            "restored": None if restored is None else {"items": restored.items, "seconds": restored.seconds},
            "objects": self.objects,
            "expired": self.expired,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Attached:
        restored = value["restored"]
        return cls(
            None if restored is None else Restored(int(restored["items"]), float(restored["seconds"])),
            int(value["objects"]),
            int(value["expired"]),
        )


@dataclass(frozen=True)
class Recovered:
    settled: Settled
    unsent: list[str]
    after_crash: bool


class SavedState:
    """The journal and the recorder: in the embedded AWS's process, beside the endpoint they follow
    (endpoint_process.py), so a write is on disk before its answer leaves that process."""

    def __init__(self, data: DataDir | None, keep: bool) -> None:
        self.data = data
        self.keep = keep and data is not None
        self._journal: Journal | None = None
        self._saved = Saved()
        self._recorder: Recorder | None = None
        self.after_crash = False
        self._closing = threading.Event()
        self._bringing_back: threading.Thread | None = None

    @classmethod
    def load(cls, data: DataDir | None, keep: bool) -> SavedState:
        """Read the saved state (the directory is fn start's, claimed already). StateError."""
        state = cls(data, keep)
        if state.keep and data is not None:
            state._journal = Journal(data.state)
            state._saved = state._journal.load()
            state.after_crash = bool(state._saved.items) and not data.clean_stop.exists()
        return state

    def attach(
        self, endpoint: EmbeddedEndpoint, table: str, bucket: str, access_key: str, region: str
    ) -> Attached:
        in_process = endpoint.in_process(access_key, region)
        restored: Restored | None = None
        expired = 0
        if self._journal is not None:
            expired = prune_expired(self._saved, in_process, table, bucket, time.time())
            if self._saved.items or self._saved.objects:
                restored = restore_items(self._saved, in_process, table)
            self._journal.open(self._saved)
            if self.data is not None:
                self.data.clean_stop.unlink(missing_ok=True)
        recorder = Recorder(
            in_process, table, bucket, key_schema(in_process, table), self._journal, self._saved.objects
        )
        recorder.follow_calls(_keys_and_items(self._saved))
        objects = len(self._saved.objects)
        self._saved = Saved()  # on disk and in the endpoint (or pending in the recorder) now
        self._recorder = recorder
        endpoint.capture.recorder = recorder
        return Attached(restored, objects, expired)

    def bring_back_objects(self, say: Callable[[str], None]) -> None:
        """Put the saved objects back in the background, newest first (see capture.py)."""
        recorder = self._recorder
        if recorder is None or not recorder.pending:
            return

        def run() -> None:
            started = time.monotonic()
            count = recorder.bring_back_all(self._closing)
            seconds = time.monotonic() - started
            if not self._closing.is_set() and seconds >= 1:
                say(f"The {count} saved objects (bundles, logs) are all back ({seconds:.1f} s)")

        self._bringing_back = threading.Thread(target=run, name="restore-objects", daemon=True)
        self._bringing_back.start()

    def open_calls(self) -> dict[str, str]:
        return self._recorder.open_calls() if self._recorder is not None else {}

    def close(self) -> None:
        """Fsync and close the journal (the endpoint takes no more requests)."""
        self._closing.set()
        if self._bringing_back is not None:
            self._bringing_back.join()  # it stops after the object it is putting back
        if self._journal is not None:
            self._journal.close()


class LocalState:
    """fn start's side: the data directory, and the calls the saved state holds open, asked of the
    embedded AWS's process over its channel."""

    def __init__(self, data: DataDir | None, keep: bool) -> None:
        """`data` None: no directory at all (an ephemeral stack in the foreground)."""
        self.data = data
        self.keep = keep and data is not None
        self._endpoint: EndpointProcess | None = None
        self._after_crash = False
        self._built: tuple[CallStore, LogStore, CallQueue] | None = None

    @classmethod
    def open(cls, data: DataDir | None, keep: bool) -> LocalState:
        """Claim the directory. DataDirBusyError. (The embedded AWS's process reads the state.)"""
        if data is not None:
            data.claim()
        return cls(data, keep)

    @property
    def state_dir(self) -> Path | None:
        return self.data.state if self.keep and self.data is not None else None

    def attach(self, endpoint: EndpointProcess, table: str, bucket: str) -> Attached:
        """Restore the saved state into the endpoint and follow every write from now on."""
        attached, self._after_crash = endpoint.attach(table, bucket)
        self._endpoint = endpoint
        return attached

    def bring_back_objects(self) -> None:
        if self._endpoint is not None:
            self._endpoint.bring_back_objects()

    def recover(self, settings: Settings) -> Recovered:
        """Settle what the last run left open; send the queued calls again."""
        store, blobs, queue = self._adapters(settings)
        reason = CRASHED if self._after_crash else STOPPED
        settled = settle(store, blobs, self.open_calls(), reason, utcnow())
        unsent = send_again(queue, settled.queued)
        return Recovered(settled, unsent, self._after_crash)

    def settle_at_stop(self, settings: Settings) -> Settled:
        """The worker is gone: settle the calls that were running (kept: to run again)."""
        running = {i: s for i, s in self.open_calls().items() if s == "running"}
        if not running:
            return Settled()
        store, blobs, _ = self._adapters(settings)
        return settle(store, blobs, running, STOPPED, utcnow(), run_again=self.keep)

    def _adapters(self, settings: Settings) -> tuple[CallStore, LogStore, CallQueue]:
        # Built once, at start: building boto3 clients takes a few tenths of a second, which a
        # stop should not spend.
        if self._built is None:
            self._built = _adapters(settings)
        return self._built

    def open_calls(self) -> dict[str, str]:
        """Call id → status of the open calls (once the endpoint has stopped: as it last saw them)."""
        return self._endpoint.open_calls() if self._endpoint is not None else {}

    def close(self, clean: bool) -> None:
        """Mark a clean stop (only if the endpoint closed the journal itself), release the directory."""
        try:
            closed = self._endpoint is not None and self._endpoint.journal_closed
            if clean and closed and self.keep and self.data is not None:
                self.data.clean_stop.write_text("")
        finally:
            if self.data is not None:
                self.data.release()


def _keys_and_items(saved: Saved) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    # An item holds its own key attributes.
    return [(item, item) for item in saved.items.values()]


def _adapters(settings: Settings) -> tuple[CallStore, LogStore, CallQueue]:
    """fnq's own call store, logs and queue, built as the API builds them (chalicelib/wiring.py)."""
    clients = AwsClients(settings.region, settings.endpoint_url, settings.aws_max_attempts)
    _ = (clients.dynamodb, clients.s3, clients.sqs)  # built now (lazily they would be at a stop)
    stores = build_stores(settings, clients)
    return stores.calls, stores.blobs, stores.queue
