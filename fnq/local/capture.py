"""Follow every write to fnq's table and bucket as it passes through the embedded endpoint.

`CaptureMiddleware` wraps the endpoint's WSGI application (the moto server `fn start` runs). Each
request that changes fnq's table or bucket is handed on, and before its answer leaves, the
`Recorder` notes what the item or object now is: in the journal (persistent state) and in the set
of calls still queued or running (what a stop or a restart must see to). So a `kill -9` of
`fn start` loses nothing the endpoint had answered, and nothing here depends on moto's internals:

* DynamoDB: the item as the request wrote it (PutItem, the puts of BatchWriteItem and
  TransactWriteItems), or as the answer returned it (UpdateItem with ReturnValues=ALL_NEW, which
  is how fnq's store writes every status change); any other write is read back with a consistent
  GetItem. Deletes are recorded as deletes. PartiQL writes are not followed (fnq sends none).
* S3: after any write to an object (PUT, POST, DELETE, and each key of a DeleteObjects), the
  object is read back with GetObject: body, Content-Type and `x-amz-meta-*` metadata, or its absence.

It also finishes a restore lazily. Saved objects not yet back in the endpoint ("pending") are put
back by the first request that touches them (a read, a write, a DeleteObjects naming them, or a
listing of their prefix), before that request reaches the endpoint; a thread puts back the rest,
newest first (`bring_back_all`). So a start waits for the table's items only, and no client ever
sees a saved object missing, or has a write of its own overwritten by an old copy.

Writes to one item (one object) are recorded in the order the endpoint applied them: a lock held
across applying and recording. fnq's table writes already take one lock inside moto (moto_patches),
so holding one lock around all of them costs no concurrency the endpoint had.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from fnq.local.inprocess import DYNAMODB_TARGET, InProcessEndpoint, WsgiApp, call_app
from fnq.local.journal import Journal, StoredObject, item_entry, item_key, object_entry
from fnq.local.recovery import OPEN_STATUSES, call_status
from fnq.local.restore import put_back

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
# PartiQL names its table inside a statement, and may or may not write: not followed (fnq sends
# none); one that names fnq's table gets a warning, once.
PARTIQL = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})
META_PREFIX = "x-amz-meta-"
OBJECT_LOCKS = 64


class Recorder:
    """What fn start keeps of fnq's table and bucket while it runs.

    `journal` None (an ephemeral stack): only the open calls are followed, and only in the table.
    """

    def __init__(
        self,
        endpoint: InProcessEndpoint,
        table: str,
        bucket: str,
        key_names: Sequence[str],
        journal: Journal | None,
        pending: Mapping[str, StoredObject] | None = None,
    ) -> None:
        """`pending`: saved objects still to be put back into the bucket (see the module docstring)."""
        self.endpoint = endpoint
        self.table = table
        self.bucket = bucket
        self.journal = journal
        self._key_names = tuple(key_names)
        self.table_lock = threading.Lock()
        self._object_locks = [threading.Lock() for _ in range(OBJECT_LOCKS)]
        self._calls_lock = threading.Lock()
        self._open_calls: dict[str, str] = {}
        self._warned_partiql = False
        self._pending = dict(pending or {})
        self._pending_lock = threading.Lock()

    @property
    def keeps_objects(self) -> bool:
        return self.journal is not None

    def object_lock(self, key: str) -> threading.Lock:
        return self._object_locks[hash(key) % OBJECT_LOCKS]

    def open_calls(self) -> dict[str, str]:
        """Call id → status, for every call that is queued or running now."""
        with self._calls_lock:
            return dict(self._open_calls)

    def follow_calls(self, items: Iterable[tuple[Mapping[str, Any], Mapping[str, Any] | None]]) -> None:
        """Take note of (key, item) pairs that are already in place (a restored state)."""
        for key, item in items:
            self._note_call(key, item)

    # ---------------------------------------------------------------- DynamoDB
    def table_written(self, operation: str, request: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
        """Record what a successful write `operation` did to the table (called under table_lock)."""
        written: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        read_back: list[dict[str, Any]] = []
        if operation == "PutItem":
            written.append((self._key_of(request["Item"]), request["Item"]))
        elif operation == "DeleteItem":
            written.append((dict(request["Key"]), None))
        elif operation == "UpdateItem":
            if request.get("ReturnValues") == "ALL_NEW" and "Attributes" in answer:
                written.append((dict(request["Key"]), answer["Attributes"]))
            else:
                read_back.append(dict(request["Key"]))
        elif operation == "BatchWriteItem":
            unprocessed = answer.get("UnprocessedItems", {}).get(self.table, [])
            for write in request["RequestItems"].get(self.table, []):
                if write in unprocessed:
                    continue
                if "PutRequest" in write:
                    item = write["PutRequest"]["Item"]
                    written.append((self._key_of(item), item))
                elif "DeleteRequest" in write:
                    written.append((dict(write["DeleteRequest"]["Key"]), None))
        elif operation == "TransactWriteItems":
            for action in request.get("TransactItems", []):
                if (put := action.get("Put")) and put.get("TableName") == self.table:
                    written.append((self._key_of(put["Item"]), put["Item"]))
                elif (delete := action.get("Delete")) and delete.get("TableName") == self.table:
                    written.append((dict(delete["Key"]), None))
                elif (update := action.get("Update")) and update.get("TableName") == self.table:
                    read_back.append(dict(update["Key"]))
        for key in read_back:
            found = self.endpoint.dynamodb(
                "GetItem", {"TableName": self.table, "Key": key, "ConsistentRead": True}
            )
            written.append((key, found.get("Item")))
        self._items_written(written)

    def _items_written(self, written: Sequence[tuple[Mapping[str, Any], Mapping[str, Any] | None]]) -> None:
        if self.journal is not None:
            self.journal.record(item_entry(item_key(key), item) for key, item in written)
        for key, item in written:
            self._note_call(key, item)

    def _note_call(self, key: Mapping[str, Any], item: Mapping[str, Any] | None) -> None:
        found = call_status(key, item)
        if found is None:
            return
        call_id, status = found
        with self._calls_lock:
            if status in OPEN_STATUSES:
                self._open_calls[call_id] = status
            else:
                self._open_calls.pop(call_id, None)

    def partiql_seen(self) -> None:
        if not self._warned_partiql:
            self._warned_partiql = True
            log.warning(
                "a PartiQL statement names %s: its writes are not kept in the saved state", self.table
            )

    def _key_of(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._key_names}

    # ---------------------------------------------------------------------- S3
    @property
    def pending(self) -> int:
        with self._pending_lock:
            return len(self._pending)

    def bring_back(self, key: str) -> None:
        """Put the saved object `key` back if it is still pending (called under its object lock)."""
        with self._pending_lock:
            stored = self._pending.pop(key, None)
        if stored is None:
            return
        assert self.journal is not None
        if not put_back(self.journal, self.endpoint, self.bucket, key, stored):
            self.journal.record([object_entry(key, None)])  # lost: forget it

    def bring_back_prefix(self, prefix: str) -> None:
        """Put back every pending object whose key starts with `prefix` (before a listing of it)."""
        with self._pending_lock:
            keys = [key for key in self._pending if key.startswith(prefix)]
        for key in keys:
            with self.object_lock(key):
                self.bring_back(key)

    def bring_back_all(self, stop: threading.Event) -> int:
        """Put back every pending object, newest first, until done or `stop`; answer how many."""
        with self._pending_lock:
            keys = sorted(self._pending, key=lambda k: self._pending[k].saved_at, reverse=True)
        done = 0
        for key in keys:
            if stop.is_set():
                break
            with self.object_lock(key):
                self.bring_back(key)
            done += 1
        return done

    def object_written(self, key: str) -> None:
        """Read the object back and record it, or its absence (called under its object lock)."""
        assert self.journal is not None
        reply = self.endpoint.get_object(self.bucket, key)
        stored: StoredObject | None = None
        if reply.status == 200:
            headers = {name.lower(): value for name, value in reply.headers.items()}
            stored = StoredObject(
                sha256=self.journal.store_body(reply.body),
                size=len(reply.body),
                content_type=headers.get("content-type", ""),
                metadata={n[len(META_PREFIX) :]: v for n, v in headers.items() if n.startswith(META_PREFIX)},
                saved_at=time.time(),
            )
        self.journal.record([object_entry(key, stored)])


class CaptureMiddleware:
    """WSGI middleware in front of the endpoint; inert until a recorder is attached."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.recorder: Recorder | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        recorder = self.recorder
        if recorder is None:
            return self.app(environ, start_response)
        if recorder.keeps_objects and _service(environ) == "s3":
            return self._s3(recorder, environ, start_response)
        if environ.get("REQUEST_METHOD") in SAFE_METHODS:
            return self.app(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target[len(DYNAMODB_TARGET) :] if target.startswith(DYNAMODB_TARGET) else ""
        if operation in DYNAMODB_WRITES:
            return self._dynamodb(recorder, operation, environ, start_response)
        if operation in PARTIQL and recorder.table.encode() in _take_body(environ):
            recorder.partiql_seen()
        return self.app(environ, start_response)

    def _dynamodb(
        self, recorder: Recorder, operation: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        body = _take_body(environ)
        try:
            request = json.loads(body)
        except ValueError:
            return self.app(environ, start_response)  # the endpoint answers the malformed request
        if recorder.table not in _tables(request):
            return self.app(environ, start_response)
        with recorder.table_lock:
            status, headers, answer = self._forward(environ)
            if _succeeded(status):
                _record_safely(lambda: recorder.table_written(operation, request, json.loads(answer)))
        start_response(status, headers)
        return [answer]

    def _s3(
        self, recorder: Recorder, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        found = _key_in(environ, recorder.bucket)
        if found is None:
            return self.app(environ, start_response)
        key, query = found
        reading = environ.get("REQUEST_METHOD") in SAFE_METHODS
        if key:
            with recorder.object_lock(key):
                recorder.bring_back(key)
                if reading:
                    return self.app(environ, start_response)
                status, headers, answer = self._forward(environ)
                if _succeeded(status):
                    _record_safely(lambda: recorder.object_written(key))
        elif environ.get("REQUEST_METHOD") == "POST" and "delete" in parse_qs(query, keep_blank_values=True):
            # DeleteObjects: each key it names is read back (deleted, or failed and still there).
            keys = _deleted_keys(_take_body(environ))
            for deleted in keys:
                with recorder.object_lock(deleted):
                    recorder.bring_back(deleted)
            status, headers, answer = self._forward(environ)
            if _succeeded(status):
                for deleted in keys:
                    with recorder.object_lock(deleted):
                        _record_safely(lambda deleted=deleted: recorder.object_written(deleted))  # type: ignore[misc]
        else:
            if reading and _is_listing(query):
                recorder.bring_back_prefix(parse_qs(query).get("prefix", [""])[0])
            return self.app(environ, start_response)
        start_response(status, headers)
        return [answer]

    def _forward(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        return call_app(self.app, environ)


def _succeeded(status: str) -> bool:
    return status[:1] == "2"


def _record_safely(record: Callable[[], None]) -> None:
    # The endpoint has applied the write: answering an error now would make the client retry a
    # write that happened. The state on disk misses it; say so loudly.
    try:
        record()
    except Exception:
        log.exception("a write to the embedded AWS could not be saved to the data directory")


def _take_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so the endpoint reads it too."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        body: bytes = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


def _tables(request: Mapping[str, Any]) -> set[str]:
    names = {str(request.get("TableName", ""))}
    names.update(request.get("RequestItems", {}) or {})
    for action in request.get("TransactItems", []) or []:
        for write in action.values():
            if isinstance(write, Mapping):
                names.add(str(write.get("TableName", "")))
    return names


def _service(environ: Mapping[str, Any]) -> str:
    """The service a SigV4 request is signed for (its credential scope), lower case."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    try:
        scope = authorization.split(",")[0].split()[1]
        return scope.split("/")[3].lower()
    except IndexError:
        return ""


def _key_in(environ: Mapping[str, Any], bucket: str) -> tuple[str, str] | None:
    """(key, query) of an S3 request to `bucket` (path-style or virtual-hosted), the key decoded;
    None for a request to any other bucket. An empty key is a request to the bucket itself."""
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", ""))
    parts = urlsplit(raw)
    query = parts.query or str(environ.get("QUERY_STRING", ""))
    path = parts.path.lstrip("/")
    first, _, rest = path.partition("/")
    if unquote(first) == bucket:
        return unquote(rest), query
    if str(environ.get("HTTP_HOST", "")).startswith(f"{bucket}."):
        return unquote(path), query
    return None


# Parameters of ListObjects(V2) and ListObjectVersions; a bucket GET with none of them and no
# subresource (`?lifecycle`, `?location`, ...) is a plain ListObjects.
_LISTING = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "marker",
        "continuation-token",
        "start-after",
        "max-keys",
        "versions",
    }
)


def _is_listing(query: str) -> bool:
    names = set(parse_qs(query, keep_blank_values=True))
    return not names or bool(names & _LISTING)


def _deleted_keys(body: bytes) -> list[str]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return []
    return [element.text or "" for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Key"]
