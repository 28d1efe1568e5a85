"""The saved state follows every write to fnq's table and bucket, and restores through the APIs.

An embedded endpoint (moto's server application behind the capture middleware) is driven over
HTTP with boto3, as the API and the worker drive it; what the journal holds is then compared with
what the endpoint answers, and restored into a second, fresh endpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.settings import DEFAULT_REGION
from fnq.local.capture import Recorder
from fnq.local.endpoint import EmbeddedEndpoint
from fnq.local.journal import Journal, Saved, StoredObject, item_key
from fnq.local.moto_patches import make_moto_dynamodb_atomic
from fnq.local.provision import provision
from fnq.local.resources import FAKE_KEY
from fnq.local.restore import key_schema, prune_expired, restore_items


@dataclass
class Aws:
    endpoint: EmbeddedEndpoint
    table: str
    bucket: str
    region: str

    def client(self, service: str) -> Any:
        session = boto3.session.Session(
            region_name=self.region, aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY
        )
        return session.client(service, endpoint_url=self.endpoint.url)  # type: ignore[call-overload]

    def record_into(
        self, journal: Journal | None, pending: dict[str, StoredObject] | None = None
    ) -> Recorder:
        in_process = self.endpoint.in_process(FAKE_KEY, self.region)
        names = key_schema(in_process, self.table)
        recorder = Recorder(in_process, self.table, self.bucket, names, journal, pending)
        self.endpoint.capture.recorder = recorder
        return recorder


def embedded(region: str = DEFAULT_REGION) -> Aws:
    """An endpoint with fnq's resources in `region`. moto's backends are shared by every endpoint
    in a process: a second endpoint starts empty only in another region."""
    make_moto_dynamodb_atomic()
    endpoint = EmbeddedEndpoint()
    endpoint.start()
    env = provision(endpoint.url, region, 30)
    return Aws(endpoint, env["FNQ_TABLE"], env["FNQ_BUCKET"], region)


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    started = embedded()
    yield started
    started.endpoint.stop()


@pytest.fixture
def journal(aws: Aws, tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "state")
    opened.open(Saved())
    aws.record_into(opened)
    yield opened
    aws.endpoint.capture.recorder = None
    opened.close()


def k(pk: str, sk: str = "#CALL") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def saved_of(journal: Journal) -> Saved:
    journal.close()
    return Journal(journal.directory).load()


def table_items(aws: Aws, prefix: str) -> dict[str, dict[str, Any]]:
    """The endpoint's items whose pk starts with `prefix`, by key, in the wire format's types."""
    found = aws.client("dynamodb").scan(TableName=aws.table)["Items"]
    return {item_key(k(i["pk"]["S"], i["sk"]["S"])): i for i in found if i["pk"]["S"].startswith(prefix)}


def wire(items: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """boto3 gives binary values as bytes; the journal keeps DynamoDB's JSON (base64)."""
    import base64

    def value(v: dict[str, Any]) -> dict[str, Any]:
        if "B" in v:
            return {"B": base64.b64encode(v["B"]).decode()}
        return v

    return {key: {name: value(v) for name, v in item.items()} for key, item in items.items()}


def test_every_kind_of_table_write_is_recorded_as_the_item_now_is(aws: Aws, journal: Journal) -> None:
    db = aws.client("dynamodb")
    t = aws.table
    db.put_item(TableName=t, Item={**k("W#1"), "status": {"S": "queued"}, "body": {"B": b"\x00\xff"}})
    db.update_item(
        TableName=t,
        Key=k("W#1"),
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "running"}},
        ReturnValues="ALL_NEW",
    )
    db.put_item(TableName=t, Item={**k("W#2"), "n": {"N": "1"}})
    db.update_item(  # no ReturnValues: read back
        TableName=t,
        Key=k("W#2"),
        UpdateExpression="SET n = n + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    db.put_item(TableName=t, Item=k("W#3"))
    db.delete_item(TableName=t, Key=k("W#3"))
    db.batch_write_item(
        RequestItems={
            t: [{"PutRequest": {"Item": {**k("W#4"), "a": {"S": "x"}}}}, {"DeleteRequest": {"Key": k("W#2")}}]
        }
    )
    db.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": t, "Item": k("W#5")}},
            {
                "Update": {
                    "TableName": t,
                    "Key": k("W#4"),
                    "UpdateExpression": "SET b = :b",
                    "ExpressionAttributeValues": {":b": {"S": "y"}},
                }
            },
        ]
    )
    refused = db.exceptions.ConditionalCheckFailedException
    with pytest.raises(refused):
        db.put_item(
            TableName=t, Item={**k("W#5"), "c": {"S": "z"}}, ConditionExpression="attribute_not_exists(pk)"
        )

    assert saved_of(journal).items == wire(table_items(aws, "W#"))


def test_every_kind_of_object_write_is_recorded_with_its_type_and_metadata(
    aws: Aws, journal: Journal
) -> None:
    s3 = aws.client("s3")
    b = aws.bucket
    s3.put_object(Bucket=b, Key="o/log", Body=b"v1", ContentType="text/plain", Metadata={"exit-code": "0"})
    s3.put_object(Bucket=b, Key="o/log", Body=b"v2", ContentType="text/plain", Metadata={"exit-code": "1"})
    s3.put_object(Bucket=b, Key="o/caf\u00e9 x+y", Body=b"\x00\x01")
    s3.put_object(Bucket=b, Key="o/gone", Body=b"1")
    s3.delete_object(Bucket=b, Key="o/gone")
    s3.put_object(Bucket=b, Key="o/many-1", Body=b"1")
    s3.put_object(Bucket=b, Key="o/many-2", Body=b"2")
    s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "o/many-1"}, {"Key": "o/many-2"}]})

    saved = saved_of(journal)

    assert sorted(saved.objects) == ["o/caf\u00e9 x+y", "o/log"]
    log = saved.objects["o/log"]
    assert (journal.body(log), log.content_type, log.metadata) == (b"v2", "text/plain", {"exit-code": "1"})
    assert journal.body(saved.objects["o/caf\u00e9 x+y"]) == b"\x00\x01"


def test_the_recorder_knows_which_calls_are_queued_or_running(aws: Aws, journal: Journal) -> None:
    db = aws.client("dynamodb")
    recorder = aws.endpoint.capture.recorder
    assert recorder is not None
    for n, status in enumerate(["queued", "running", "success"]):
        db.put_item(TableName=aws.table, Item={**k(f"CALL#open{n}"), "status": {"S": status}})

    assert {i: s for i, s in recorder.open_calls().items() if i.startswith("open")} == {
        "open0": "queued",
        "open1": "running",
    }


def test_a_saved_state_restores_into_a_fresh_endpoint_minus_what_has_expired(
    aws: Aws, journal: Journal, tmp_path: Path
) -> None:
    db, s3 = aws.client("dynamodb"), aws.client("s3")
    in_two_years = str(int(time.time()) + 2 * 365 * 86400)
    db.put_item(TableName=aws.table, Item={**k("R#live"), "expires_at": {"N": in_two_years}})
    db.put_item(
        TableName=aws.table, Item={**k("R#expired"), "expires_at": {"N": str(int(time.time()) - 3600)}}
    )
    s3.put_object(Bucket=aws.bucket, Key="bundles/sha256/r.zip", Body=b"zip", ContentType="application/zip")
    s3.put_object(Bucket=aws.bucket, Key="logs/app/r", Body=b"log", Metadata={"status": "success"})
    saved = saved_of(journal)
    fresh = embedded("eu-west-1")
    try:
        in_process = fresh.endpoint.in_process(FAKE_KEY, fresh.region)
        # Expired: the TTL attribute of the table, and (a year on) the bucket's lifecycle for logs/.
        a_year_on = time.time() + 365 * 86400
        assert prune_expired(saved, in_process, fresh.table, fresh.bucket, time.time()) == 1
        assert prune_expired(saved, in_process, fresh.table, fresh.bucket, a_year_on) == 1
        restored = restore_items(saved, in_process, fresh.table)
        recorder = fresh.record_into(journal, pending=saved.objects)
        assert recorder.bring_back_all(threading.Event()) == 1

        assert restored.items == len(saved.items)
        assert item_key(k("R#live")) in table_items(fresh, "R#")
        assert item_key(k("R#expired")) not in table_items(fresh, "R#")
        keys = [o["Key"] for o in fresh.client("s3").list_objects_v2(Bucket=fresh.bucket)["Contents"]]
        assert "bundles/sha256/r.zip" in keys and "logs/app/r" not in keys
        body = fresh.client("s3").get_object(Bucket=fresh.bucket, Key="bundles/sha256/r.zip")
        assert (body["Body"].read(), body["ContentType"]) == (b"zip", "application/zip")
    finally:
        fresh.endpoint.capture.recorder = None
        fresh.endpoint.stop()


def test_a_saved_object_not_yet_back_is_put_back_by_the_first_request_that_touches_it(
    aws: Aws, journal: Journal
) -> None:
    # GIVEN saved objects, all still pending (the bucket in the endpoint no longer holds them)
    s3 = aws.client("s3")
    b = aws.bucket
    for name in ("read", "listed-1", "listed-2", "overwritten", "deleted"):
        s3.put_object(Bucket=b, Key=f"p/{name}", Body=name.encode(), Metadata={"name": name})
    saved = saved_of(journal)
    s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": key} for key in saved.objects]})
    reopened = Journal(journal.directory)
    reopened.open(saved)
    recorder = aws.record_into(reopened, pending=saved.objects)
    try:
        # WHEN clients read, list, overwrite and delete them
        read = s3.get_object(Bucket=b, Key="p/read")
        listed = s3.list_objects_v2(Bucket=b, Prefix="p/listed-")["Contents"]
        s3.put_object(Bucket=b, Key="p/overwritten", Body=b"new")
        s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "p/deleted"}]})

        # THEN each saw the saved object; the background pass changes nothing they did
        assert (read["Body"].read(), read["Metadata"]) == (b"read", {"name": "read"})
        assert [o["Key"] for o in listed] == ["p/listed-1", "p/listed-2"]
        assert recorder.pending == 0
        assert recorder.bring_back_all(threading.Event()) == 0
        assert s3.get_object(Bucket=b, Key="p/overwritten")["Body"].read() == b"new"
        assert "p/deleted" not in [o["Key"] for o in s3.list_objects_v2(Bucket=b, Prefix="p/")["Contents"]]
    finally:
        aws.endpoint.capture.recorder = None
        reopened.close()
    assert sorted(Journal(journal.directory).load().objects) == [
        "p/listed-1",
        "p/listed-2",
        "p/overwritten",
        "p/read",
    ]
