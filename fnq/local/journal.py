"""The local stack's state on disk: a snapshot, and a journal of every change since it.

Layout, in `<data dir>/state/`::

    snapshot-00000007.jsonl   the state when journal 7 was opened: a header line, then one entry
                              per live item and object
    journal-00000007.jsonl    one entry per change since then, appended as each write is answered
    objects/ab/abcdef….bin    object bodies, named by their SHA-256 (identical logs are kept once)

An entry is one JSON line: `{"kind": "item", "key": …, "value": <DynamoDB item> | null}` or
`{"kind": "object", "key": …, "value": {"sha256", "size", "content_type", "metadata"} | null}`
(null: deleted). Items are kept in DynamoDB's own JSON wire format, so the files read the same
whatever moto version wrote them, and replaying is "last entry per key wins".

Durability: an entry is written (one `write`, no buffering in this process) before the endpoint's
answer leaves, so killing the process loses nothing the endpoint had answered; the kernel holds it.
The files are fsynced every second, so a machine crash loses at most about a second more.

Compaction: when the journal holds more than twice as many entries as there are live keys (and at
least COMPACT_AFTER), the next generation starts: a new journal takes the appends at once, and a
thread writes the live entries as the new snapshot, then deletes the older files. Loading reads the
newest snapshot and every journal of its generation or later, so a crash anywhere in between loses
nothing. Unreferenced object files are deleted when the state is opened (never while it is written).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1
ITEM = "item"
OBJECT = "object"
COMPACT_AFTER = 5000
FSYNC_SECONDS = 1.0
_FILE = re.compile(r"^(snapshot|journal)-(\d{8})\.jsonl$")


class StateError(RuntimeError):
    """The saved state cannot be read (damaged, or written by a newer fnq)."""


@dataclass(frozen=True)
class StoredObject:
    """What is kept of an S3 object: its body's digest and the headers fnq reads back."""

    sha256: str
    size: int
    content_type: str
    metadata: dict[str, str]
    # When it was written (epoch seconds): the bucket's lifecycle rules expire it from then on.
    saved_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "content_type": self.content_type,
            "metadata": self.metadata,
            "saved_at": self.saved_at,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> StoredObject:
        return cls(
            sha256=str(value["sha256"]),
            size=int(value["size"]),
            content_type=str(value.get("content_type", "")),
            metadata={str(k): str(v) for k, v in (value.get("metadata") or {}).items()},
            saved_at=float(value.get("saved_at", 0.0)),
        )


@dataclass
class Saved:
    """The state as loaded: item key → DynamoDB item, object key → StoredObject."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, StoredObject] = field(default_factory=dict)

    def apply(self, entry: Mapping[str, Any]) -> None:
        kind, key, value = entry["kind"], str(entry["key"]), entry.get("value")
        if kind == ITEM:
            if value is None:
                self.items.pop(key, None)
            else:
                self.items[key] = dict(value)
        elif kind == OBJECT:
            if value is None:
                self.objects.pop(key, None)
            else:
                self.objects[key] = StoredObject.from_json(value)
        else:
            raise StateError(f"unknown entry kind {kind!r}")

    def entries(self) -> Iterator[dict[str, Any]]:
        for key, item in self.items.items():
            yield item_entry(key, item)
        for key, stored in self.objects.items():
            yield object_entry(key, stored)


def item_key(key_attributes: Mapping[str, Any]) -> str:
    """An item's identity in the files: its key attributes (wire format) as canonical JSON."""
    return json.dumps(key_attributes, sort_keys=True, separators=(",", ":"))


def item_entry(key: str, item: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"kind": ITEM, "key": key, "value": None if item is None else dict(item)}


def object_entry(key: str, stored: StoredObject | None) -> dict[str, Any]:
    return {"kind": OBJECT, "key": key, "value": None if stored is None else stored.to_json()}


def _line(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"


class Journal:
    """The files of one data directory's state. Not thread-safe to open; `record` is."""

    def __init__(self, directory: Path, compact_after: int = COMPACT_AFTER) -> None:
        self.directory = directory
        self._objects = directory / "objects"
        self._compact_after = compact_after
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._generation = 0
        # The last entry's line per (kind, key): what the next snapshot writes.
        self._live: dict[tuple[str, str], str] = {}
        self._since_snapshot = 0
        self._unsynced = False
        self._compacting: threading.Thread | None = None
        self._closed = threading.Event()
        self._syncer: threading.Thread | None = None

    # ------------------------------------------------------------------ reading
    def load(self) -> Saved:
        """The saved state (empty when there is none): the newest snapshot, then its journals."""
        saved = Saved()
        snapshots, journals = self._generations()
        base = max(snapshots, default=0)
        if base:
            self._read(self._path("snapshot", base), saved, header=True)
        for generation in sorted(g for g in journals if g >= base):
            self._read(self._path("journal", generation), saved, header=False)
        self._generation = max([base, *journals], default=0)
        return saved

    def body(self, stored: StoredObject) -> bytes | None:
        """An object's body, or None if its file is missing or does not match its digest."""
        try:
            data = self._object_path(stored.sha256).read_bytes()
        except FileNotFoundError:
            return None
        return data if hashlib.sha256(data).hexdigest() == stored.sha256 else None

    def _read(self, path: Path, saved: Saved, header: bool) -> None:
        with path.open("r", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    entry = json.loads(line)
                except ValueError:
                    if not line.endswith("\n"):
                        # The last write was cut short (a full disk, a machine crash): that entry
                        # was never answered, so it is not part of the state.
                        log.warning("%s: ignoring an incomplete last line", path.name)
                        return
                    raise StateError(f"{path} is damaged at line {number}") from None
                if header and number == 1:
                    if entry.get("format") != FORMAT:
                        raise StateError(
                            f"{path} has format {entry.get('format')!r}; this fnq reads format {FORMAT}"
                        )
                    continue
                saved.apply(entry)

    def _generations(self) -> tuple[list[int], list[int]]:
        snapshots: list[int] = []
        journals: list[int] = []
        if self.directory.is_dir():
            for path in self.directory.iterdir():
                if match := _FILE.match(path.name):
                    (snapshots if match[1] == "snapshot" else journals).append(int(match[2]))
        return snapshots, journals

    # ------------------------------------------------------------------ writing
    def open(self, saved: Saved) -> None:
        """Start recording on top of `saved`: written as a fresh snapshot, older files removed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._live = {(e["kind"], e["key"]): _line(e) for e in saved.entries()}
        generation = self._generation + 1
        self._write_snapshot(generation, self._live.values())
        self._generation = generation
        self._fd = self._open_journal(generation)
        self._remove_before(generation)
        self._collect_garbage({stored.sha256 for stored in saved.objects.values()})
        self._syncer = threading.Thread(target=self._sync_every_second, name="state-fsync", daemon=True)
        self._syncer.start()

    def store_body(self, data: bytes) -> str:
        """Keep an object body (once per content); answer its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        path = self._object_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f"{path.name}.{threading.get_ident()}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        return digest

    def record(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Append entries (one write). Returns once the kernel has them."""
        lines = [(entry["kind"], entry["key"], entry["value"] is None, _line(entry)) for entry in entries]
        if not lines:
            return
        data = "".join(line for *_, line in lines).encode()
        with self._lock:
            if self._fd is None:
                raise StateError("the state is not open for writing")
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            for kind, key, deleted, line in lines:
                if deleted:
                    self._live.pop((kind, key), None)
                else:
                    self._live[(kind, key)] = line
            self._since_snapshot += len(lines)
            self._unsynced = True
            if self._needs_compaction():
                self._start_compaction()

    def close(self) -> None:
        """Finish a running compaction, fsync and close. Recording after this is an error."""
        self._closed.set()
        compacting = self._compacting
        if compacting is not None:
            compacting.join()
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.fsync(fd)
            os.close(fd)
        if self._syncer is not None:
            self._syncer.join(FSYNC_SECONDS * 2)

    @property
    def generation(self) -> int:
        return self._generation

    def _needs_compaction(self) -> bool:
        busy = self._compacting is not None and self._compacting.is_alive()
        return not busy and self._since_snapshot > max(self._compact_after, 2 * len(self._live))

    def _start_compaction(self) -> None:
        """Called under the lock: switch appends to a new journal, snapshot in a thread."""
        assert self._fd is not None
        generation = self._generation + 1
        old_fd, self._fd = self._fd, self._open_journal(generation)
        self._generation = generation
        self._since_snapshot = 0
        lines = list(self._live.values())

        def compact() -> None:
            os.fsync(old_fd)
            os.close(old_fd)
            started = time.monotonic()
            self._write_snapshot(generation, lines)
            self._remove_before(generation)
            log.info("state compacted: %d entries in %.2f s", len(lines), time.monotonic() - started)

        self._compacting = threading.Thread(target=compact, name="state-compaction", daemon=True)
        self._compacting.start()

    def _write_snapshot(self, generation: int, lines: Iterable[str]) -> None:
        path = self._path("snapshot", generation)
        temporary = path.with_suffix(".tmp")
        header = {"format": FORMAT, "generation": generation, "saved_at": time.time()}
        with temporary.open("w", encoding="utf-8") as out:
            out.write(_line(header))
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)

    def _open_journal(self, generation: int) -> int:
        return os.open(self._path("journal", generation), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _remove_before(self, generation: int) -> None:
        snapshots, journals = self._generations()
        for kind, found in (("snapshot", snapshots), ("journal", journals)):
            for old in found:
                if old < generation:
                    with contextlib.suppress(FileNotFoundError):
                        self._path(kind, old).unlink()

    def _collect_garbage(self, referenced: set[str]) -> None:
        if not self._objects.is_dir():
            return
        for path in self._objects.glob("*/*"):
            if path.name.removesuffix(".bin") not in referenced:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _sync_every_second(self) -> None:
        while not self._closed.wait(FSYNC_SECONDS):
            with self._lock:
                if not self._unsynced or self._fd is None:
                    continue
                self._unsynced = False
                fd = os.dup(self._fd)  # fsync outside the lock, on a descriptor nobody closes
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _path(self, kind: str, generation: int) -> Path:
        return self.directory / f"{kind}-{generation:08d}.jsonl"

    def _object_path(self, digest: str) -> Path:
        return self._objects / digest[:2] / f"{digest}.bin"
