"""What keeping `fn start`'s state costs: recording, snapshotting, loading and restoring N calls.

    python -m bench.state                 # 10,000 calls
    python -m bench.state --calls 1000

One real call is made first with fnq's own store and blobs (insert, claim, log, finish) against an
embedded endpoint, so the items and the log have fnq's exact shape and size. N copies of it (new
ids) are then written the way the worker writes a call: PutItem (queued), UpdateItem (claim),
PutObject (the log, with its outcome metadata), UpdateItem (finish), each handed in-process to
the endpoint application, once with nothing recorded and once through the capture middleware
into a journal. Then it times loading that journal, writing it as one snapshot (what a compaction
or a start does), and restoring it into a fresh endpoint. Prints the figures; exits 1 if the
restored endpoint does not hold every call and log.
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
import time
from collections.abc import Sequence
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
from fnq.local.journal import Journal, Saved
from fnq.local.moto_patches import make_moto_dynamodb_atomic, make_moto_server_fast
from fnq.local.provision import provision
from fnq.local.resources import FAKE_KEY
from fnq.local.restore import key_schema, restore

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
) -> float:
    """`count` calls as the worker writes them; answers the seconds taken."""
    old_id = template["id"]["S"]
    text = json.dumps(template)
    started = time.perf_counter()
    for _ in range(count):
        call_id = new_call_id(utcnow())
        final = json.loads(text.replace(old_id, call_id))
        key = {"pk": final["pk"], "sk": final["sk"]}
        queued = {k: v for k, v in final.items() if k not in ("completed_at", "stats", "attempts", "error")}
        queued["status"] = {"S": "queued"}
        target.dynamodb("PutItem", {"TableName": table, "Item": queued})
        target.dynamodb(
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET #s = :s",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": {"S": "running"}},
                "ReturnValues": "ALL_NEW",
            },
        )
        target.put_object(bucket, f"logs/myapp/{call_id}", LOG, "text/plain; charset=utf-8", metadata)
        rest = {k: v for k, v in final.items() if k not in key}
        names = {f"#a{i}": name for i, name in enumerate(rest)}
        values = {f":v{i}": value for i, value in enumerate(rest.values())}
        target.dynamodb(
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(rest))),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ReturnValues": "ALL_NEW",
            },
        )
    return time.perf_counter() - started


def size_of(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.state", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    args = parser.parse_args(argv)
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
        n = args.calls
        plain, plain_env = embedded("us-east-1")
        template, metadata = sample_call(plain, plain_env, "us-east-1")
        print(f"{n} calls, each: PutItem, UpdateItem, PutObject (log, {len(LOG)} bytes), UpdateItem")
        print(f"  an fnq call item: {len(json.dumps(template))} bytes of DynamoDB JSON")
        bare = InProcessEndpoint(plain.app, FAKE_KEY, "us-east-1")
        without = write_calls(bare, plain_env["FNQ_TABLE"], plain_env["FNQ_BUCKET"], template, metadata, n)
        print(f"  written, nothing saved:          {without:6.1f} s  ({without / n * 1000:.2f} ms a call)")

        saving, env = embedded("us-west-2")
        journal = Journal(work / "state")
        journal.open(journal.load())
        in_process = saving.in_process(FAKE_KEY, "us-west-2")
        saving.capture.recorder = Recorder(
            in_process, env["FNQ_TABLE"], env["FNQ_BUCKET"], key_schema(in_process, env["FNQ_TABLE"]), journal
        )
        through = InProcessEndpoint(saving.capture, FAKE_KEY, "us-west-2")
        with_saving = write_calls(through, env["FNQ_TABLE"], env["FNQ_BUCKET"], template, metadata, n)
        journal.close()
        extra = (with_saving - without) / n * 1000
        per_call = with_saving / n * 1000
        print(
            f"  written, every write saved:      {with_saving:6.1f} s  ({per_call:.2f} ms a call, "
            f"{extra:+.2f} ms for saving)"
        )
        print(f"  on disk: {size_of(work / 'state'):.1f} MB")

        started = time.perf_counter()
        loaded = Journal(work / "state")
        saved = loaded.load()
        load_seconds = time.perf_counter() - started
        entries = f"{len(saved.items)} items, {len(saved.objects)} objects"
        print(f"load the journal ({entries}): {load_seconds:6.2f} s")

        started = time.perf_counter()
        loaded.open(saved)  # writes the whole state as one snapshot, as a start or a compaction does
        snapshot_seconds = time.perf_counter() - started
        loaded.close()
        print(f"snapshot of the whole state (one file):            {snapshot_seconds:6.2f} s")

        fresh, fresh_env = embedded("eu-west-1")
        target = fresh.in_process(FAKE_KEY, "eu-west-1")
        items_only = Saved(items=saved.items)
        objects_only = Saved(objects=saved.objects)
        table, bucket = fresh_env["FNQ_TABLE"], fresh_env["FNQ_BUCKET"]
        items = restore(items_only, loaded, target, table, bucket)
        objects = restore(objects_only, loaded, target, table, bucket)
        print(
            f"restore into a fresh endpoint: items {items.seconds:.1f} s, objects {objects.seconds:.1f} s, "
            f"total {items.seconds + objects.seconds:.1f} s"
        )
        counted = sum(page["Count"] for page in _pages(target, table))
        listed = _count_objects(target, bucket)
        ok = counted == len(saved.items) and listed == len(saved.objects) and len(saved.items) >= n
        print(
            f"restored endpoint holds {counted} items and {listed} objects: {'OK' if ok else 'MISSING SOME'}"
        )
        return 0 if ok else 1
    finally:
        for endpoint in endpoints:
            endpoint.stop()
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
