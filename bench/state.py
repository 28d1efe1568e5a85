"""What keeping `fn start`'s state costs: recording, snapshotting, loading and restoring N calls.

    python -m bench.state                 # 10,000 calls, the first 500 written write by write
    python -m bench.state --calls 1000 --sample 200

One real call is made first with fnq's own store and blobs (insert, claim, log, finish) against an
embedded endpoint, so the items and the log have fnq's exact shape and size. N copies of it (new
ids) go through the capture middleware into a journal: the first `--sample` the way the worker
writes a call (PutItem queued, UpdateItem claim, PutObject log with its outcome metadata,
UpdateItem finish), timing what the recorder spends on them; the rest as their final item and
log (moto's own work for four writes a call is 30-80 ms, and is not what is measured). Then it
times loading the journal, writing the state as one snapshot (what a start or a compaction does),
and restoring it into a fresh endpoint: the items (before `fn start` is ready) and the objects
(after, in the background). Prints the figures; exits 1 if the restored endpoint does not hold
every call and log.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chalicelib.aws.clients import AwsClients
from chalicelib.ids import new_call_id, utcnow
from chalicelib.models import Call, CallRequest, CallStatus, FunctionSpec, RouteFormat, RouteType, RunStats
from chalicelib.settings import Settings
from chalicelib.wiring import build_stores
from fnq.local.capture import Recorder
from fnq.local.endpoint import EmbeddedEndpoint
from fnq.local.inprocess import InProcessEndpoint
from fnq.local.journal import Journal
from fnq.local.moto_patches import make_moto_dynamodb_atomic, make_moto_server_fast
from fnq.local.provision import provision
from fnq.local.resources import FAKE_KEY
from fnq.local.restore import key_schema, restore_items

# moto's backends are shared by every endpoint in a process: the saved and the restored state
# each get a region of their own, one no test uses either (the bench also runs under pytest).
SAVED_REGION = "ca-central-1"
RESTORED_REGION = "ap-northeast-1"
# What the finish writes; the rest of the item is the insert's.
FINISHED = ("completed_at", "stats", "attempts", "error", "status")
LOG = b'{"message":"Hello World"}\n' + b"a log line of a typical function\n" * 8


def sample_call(
    endpoint: EmbeddedEndpoint, env: dict[str, str], region: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """One call through fnq's own adapters: its final item (wire format) and its log's metadata."""
    clients = AwsClients(region, endpoint.url)
    settings = replace(
        Settings(), table=env["FNQ_TABLE"], bucket=env["FNQ_BUCKET"], cache_dir=Path(tempfile.mkdtemp())
    )
    stores = build_stores(settings, clients)
    store, blobs = stores.calls, stores.blobs
    now = utcnow()
    call = Call(
        id=new_call_id(now),
        app_name="myapp",
        path="/asyncfn",
        type=RouteType.ASYNC,
        status=CallStatus.QUEUED,
        created_at=now,
        function=FunctionSpec(
            bundle="sha256:" + "0" * 64,
            format=RouteFormat.JSON,
            timeout=30,
            idle_timeout=30,
            memory=128,
            config={"GREETING": "Hello"},
        ),
        request=CallRequest(
            method="POST",
            url="http://localhost:8080/r/myapp/asyncfn",
            headers={"Content-Type": ["text/plain"], "User-Agent": ["Go-http-client/1.1"]},
            content_type="text/plain",
            body=b'{"name":"World"}',
            body_size=16,
        ),
        lease_seconds=90,
    )
    store.insert_call(call)
    claimed = store.claim(call.id, now)
    metadata = {"attempt": "1", "status": "success", "error": "", "duration-ms": "41", "exit-code": "0"}
    blobs.put_log("myapp", call.id, LOG, metadata)
    store.finish(
        call.id,
        1,
        CallStatus.SUCCESS,
        now + timedelta(seconds=1),
        "",
        RunStats(41, 0, 9000),
        claimed.attempt_started_at,
    )
    item = clients.dynamodb.get_item(
        TableName=env["FNQ_TABLE"], Key={"pk": {"S": f"CALL#{call.id}"}, "sk": {"S": "#CALL"}}
    )
    head = clients.s3.head_object(Bucket=env["FNQ_BUCKET"], Key=f"logs/myapp/{call.id}")
    return _wire(item["Item"]), dict(head["Metadata"])


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    """boto3's item (bytes for B) in DynamoDB's JSON wire format (base64 for B)."""

    def value(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: (base64.b64encode(x).decode() if k == "B" else value(x)) for k, x in v.items()}
        if isinstance(v, list):
            return [value(x) for x in v]
        return v

    return {k: value(v) for k, v in item.items()}


def write_calls(
    target: InProcessEndpoint,
    table: str,
    bucket: str,
    template: dict[str, Any],
    metadata: dict[str, str],
    count: int,
    write_by_write: bool = True,
) -> float:
    """`count` calls written as fnq's call store and blobs write them (or, not `write_by_write`,
    as their final item and log: the state, quickly); answers the seconds taken."""
    old_id = template["id"]["S"]
    text = json.dumps(template)
    names = {"#s": "status", "#e": "error"}
    started = time.perf_counter()
    for _ in range(count):
        call_id = new_call_id(utcnow())
        final = json.loads(text.replace(old_id, call_id))
        if not write_by_write:
            target.dynamodb("PutItem", {"TableName": table, "Item": final})
            target.put_object(bucket, f"logs/myapp/{call_id}", LOG, "text/plain; charset=utf-8", metadata)
            continue
        key = {"pk": final["pk"], "sk": final["sk"]}
        queued = {k: v for k, v in final.items() if k not in FINISHED}
        queued["status"] = {"S": "queued"}
        target.dynamodb("PutItem", {"TableName": table, "Item": queued})  # insert_call
        target.dynamodb(  # claim
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET #s = :s, attempt = :one, started_at = :t, attempt_started_at = :t",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {
                    ":s": {"S": "running"},
                    ":one": {"N": "1"},
                    ":t": final["started_at"],
                },
                "ReturnValues": "ALL_NEW",
            },
        )
        target.put_object(
            bucket, f"logs/myapp/{call_id}", LOG, "text/plain; charset=utf-8", metadata
        )  # put_log
        target.dynamodb(  # finish
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET #s = :s, completed_at = :c, #e = :e, stats = :st, attempts = :a",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {
                    ":s": final["status"],
                    ":c": final["completed_at"],
                    ":e": final.get("error", {"S": ""}),
                    ":st": final["stats"],
                    ":a": final["attempts"],
                },
                "ReturnValues": "ALL_NEW",
            },
        )
    return time.perf_counter() - started


def size_of(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1e6


class TimedRecorder(Recorder):
    """The recorder, adding up the time it spends: what saving costs the writes it follows."""

    seconds = 0.0

    def table_written(self, operation: str, request: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
        started = time.perf_counter()
        super().table_written(operation, request, answer)
        self.seconds += time.perf_counter() - started

    def object_written(self, key: str) -> None:
        started = time.perf_counter()
        super().object_written(key)
        self.seconds += time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.state", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000, help="calls in the saved state")
    parser.add_argument(
        "--sample", type=int, default=500, help="of which written write by write, as the worker does"
    )
    args = parser.parse_args(argv)
    n, sample = args.calls, min(args.sample, args.calls)
    make_moto_dynamodb_atomic()
    make_moto_server_fast()
    # fnq's adapters read credentials from the environment: the embedded endpoint's fake ones.
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update({"AWS_ACCESS_KEY_ID": FAKE_KEY, "AWS_SECRET_ACCESS_KEY": FAKE_KEY})
    work = Path(tempfile.mkdtemp(prefix="fnq-bench-state-"))
    endpoints: list[EmbeddedEndpoint] = []

    def embedded(region: str) -> tuple[EmbeddedEndpoint, dict[str, str]]:
        # moto's backends are shared within a process: each endpoint gets a region of its own.
        endpoint = EmbeddedEndpoint()
        endpoint.start()
        endpoints.append(endpoint)
        return endpoint, provision(endpoint.url, region, 120)

    try:
        endpoint, env = embedded(SAVED_REGION)
        table, bucket = env["FNQ_TABLE"], env["FNQ_BUCKET"]
        template, metadata = sample_call(endpoint, env, SAVED_REGION)
        print(
            f"an fnq call: a {len(json.dumps(template))}-byte item (DynamoDB JSON) and a {len(LOG)}-byte log"
        )

        journal = Journal(work / "state")
        journal.open(journal.load())
        in_process = endpoint.in_process(FAKE_KEY, SAVED_REGION)
        recorder = TimedRecorder(in_process, table, bucket, key_schema(in_process, table), journal)
        endpoint.capture.recorder = recorder
        through = InProcessEndpoint(endpoint.capture, FAKE_KEY, SAVED_REGION)
        written = write_calls(through, table, bucket, template, metadata, sample)
        per_call, saving = written / sample * 1000, recorder.seconds / sample * 1000
        print(
            f"{sample} calls written as the worker writes them (PutItem, UpdateItem, PutObject, UpdateItem),"
            f" through the capture: {per_call:.1f} ms a call, of which saving {saving:.2f} ms"
        )
        write_calls(through, table, bucket, template, metadata, n - sample, write_by_write=False)
        journal.close()
        print(f"{n} calls on disk: {size_of(work / 'state'):.1f} MB")

        started = time.perf_counter()
        loaded = Journal(work / "state")
        saved = loaded.load()
        seconds = time.perf_counter() - started
        print(f"load: {seconds:.2f} s ({len(saved.items)} items, {len(saved.objects)} objects)")
        started = time.perf_counter()
        loaded.open(saved)  # the whole state as one snapshot file, as every start and compaction writes it
        print(f"snapshot: {time.perf_counter() - started:.2f} s")
        loaded.close()

        fresh, fresh_env = embedded(RESTORED_REGION)
        target = fresh.in_process(FAKE_KEY, RESTORED_REGION)
        table, bucket = fresh_env["FNQ_TABLE"], fresh_env["FNQ_BUCKET"]
        items = restore_items(saved, target, table)
        print(f"restore, before fn start is ready: {items.seconds:.1f} s ({items.items} items)")
        reopened = Journal(work / "state")
        reopened.open(reopened.load())
        names = key_schema(target, table)
        fresh.capture.recorder = Recorder(target, table, bucket, names, reopened, saved.objects)
        started = time.perf_counter()
        back = fresh.capture.recorder.bring_back_all(threading.Event())
        seconds = time.perf_counter() - started
        print(f"restore, in the background once ready: {seconds:.1f} s ({back} objects, newest first)")
        reopened.close()
        counted = sum(page["Count"] for page in _pages(target, table))
        listed = _count_objects(target, bucket)
        ok = counted == len(saved.items) and listed == len(saved.objects) and len(saved.items) >= n
        print(f"restored endpoint holds {counted} items, {listed} objects: {'OK' if ok else 'MISSING SOME'}")
        return 0 if ok else 1
    finally:
        for started_endpoint in endpoints:
            started_endpoint.stop()
        shutil.rmtree(work, ignore_errors=True)


def _pages(target: InProcessEndpoint, table: str) -> list[dict[str, Any]]:
    pages = []
    request: dict[str, Any] = {"TableName": table, "Select": "COUNT"}
    while True:
        page = target.dynamodb("Scan", request)
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _count_objects(target: InProcessEndpoint, bucket: str) -> int:
    count, token = 0, ""
    while True:
        query = "list-type=2" + (f"&continuation-token={token}" if token else "")
        reply = target.request("GET", f"/{bucket}", {"Authorization": target.s3_authorization}, query=query)
        count += reply.body.count(b"<Key>")
        found = re.search(rb"<NextContinuationToken>([^<]+)</NextContinuationToken>", reply.body)
        if not found:
            return count
        token = quote(found[1].decode(), safe="")


if __name__ == "__main__":
    sys.exit(main())
