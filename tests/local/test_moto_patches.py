"""The moto patches check the moto they patch: a member gone or reshaped stops them, loudly.

The stand-ins are moto's own modules with one class swapped for a look-alike that lacks what the
patch needs; moto itself is left alone.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.dynamodb.models import DynamoDBBackend
from moto.sqs.models import Message
from packaging.specifiers import SpecifierSet

from fnq.local import moto_patches
from fnq.local.moto_patches import (
    MEMBERS,
    MOTO_PINNED,
    MotoMismatch,
    check_moto,
    make_moto_dynamodb_atomic,
    make_moto_dynamodb_strict,
    make_moto_server_fast,
)

REPO = Path(__file__).resolve().parents[2]
SQS = "moto.sqs.models"
SERVER = "moto.moto_server.werkzeug_app"


def moto_with(module: str, **classes: type) -> moto_patches.Load:
    """moto's modules as they are, except that in `module` the given classes are these instead."""

    def load(name: str) -> Any:
        real = importlib.import_module(name)
        return SimpleNamespace(**{**vars(real), **classes}) if name == module else real

    return load


def mismatch(load: moto_patches.Load) -> str:
    with pytest.raises(MotoMismatch) as raised:
        check_moto(MEMBERS, load)
    return str(raised.value)


def test_the_installed_moto_has_every_member_the_patches_need() -> None:
    check_moto(MEMBERS)  # raises otherwise


def test_a_replaced_method_that_is_gone_is_named_with_the_moto_version_and_the_pin() -> None:
    class SQSBackend:  # moto's, without is_message_valid_based_on_retention_period
        def get_queue(self, queue_name: str) -> Any:
            raise NotImplementedError

    message = mismatch(moto_with(SQS, SQSBackend=SQSBackend))

    assert "moto.sqs.models.SQSBackend.is_message_valid_based_on_retention_period: missing" in message
    assert f"moto {importlib.metadata.version('moto')} " in message
    assert f"moto[server]{MOTO_PINNED}" in message
    assert "get_queue" not in message  # only what is wrong is listed


def test_a_property_that_became_a_method_is_refused() -> None:
    class ChangedMessage(Message):
        def visible(self) -> bool:  # type: ignore[override]
            return True

    assert "Message.visible: expected a property, found function" in mismatch(
        moto_with(SQS, Message=ChangedMessage)
    )


def test_a_method_whose_parameters_changed_is_refused() -> None:
    class DomainDispatcherApplication:
        def get_backend_for_host(self, hostname: str | None) -> Any:
            return None

    message = mismatch(moto_with(SERVER, DomainDispatcherApplication=DomainDispatcherApplication))

    assert "get_backend_for_host: expected parameters ('host',) after self, found ('hostname',)" in message


def test_an_instance_attribute_the_patch_reads_that_is_gone_is_refused() -> None:
    class ChangedMessage(Message):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            del self.visible_at

    assert "moto.sqs.models.Message.visible_at: missing" in mismatch(moto_with(SQS, Message=ChangedMessage))


def test_a_mismatch_replaces_nothing() -> None:
    # GIVEN stand-ins for every class the SQS patch replaces, one lacking a member it needs
    class SQSBackend:
        def get_queue(self, queue_name: str) -> Any:
            raise NotImplementedError

    class StandInMessage(Message):
        pass

    load = moto_with(SQS, SQSBackend=SQSBackend, Message=StandInMessage)

    # WHEN the patch is applied THEN it refuses before touching any of them
    with pytest.raises(MotoMismatch):
        make_moto_server_fast(load)
    assert "visible" not in vars(StandInMessage)


def test_applying_the_patches_again_wraps_nothing_twice() -> None:
    make_moto_dynamodb_atomic()
    make_moto_dynamodb_strict()
    first: Any = DynamoDBBackend.put_item

    make_moto_dynamodb_strict()
    make_moto_dynamodb_atomic()

    assert DynamoDBBackend.put_item is first
    chain = [first]
    while hasattr(chain[-1], "__wrapped__"):
        chain.append(chain[-1].__wrapped__)
    # the lock's wrapper and the strictness's, around moto's own (in the order they came)
    assert len(chain) == 3
    assert [f.__code__.co_name for f in chain].count("locked") == 1
    assert chain[-1].__module__ == "moto.dynamodb.models"


def test_a_dynamodb_write_waits_for_the_lock(aws: None) -> None:
    # GIVEN a table on the patched moto (the `aws` fixture applies the patch)
    db = boto3.client("dynamodb", region_name="us-east-1")
    db.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    written = threading.Event()

    def write() -> None:
        db.put_item(TableName="t", Item={"pk": {"S": "a"}})
        written.set()

    # WHEN another write holds the lock
    with moto_patches._LOCK:
        writer = threading.Thread(target=write)
        writer.start()
        # THEN a write through boto3 does not land until it is released
        assert not written.wait(0.3)
        assert "Item" not in db.get_item(TableName="t", Key={"pk": {"S": "a"}})
    writer.join(10)
    assert written.is_set()


def test_the_pin_in_pyproject_is_the_one_the_patches_name_and_is_installed() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]

    assert f"moto[server]{MOTO_PINNED}" in dependencies
    assert importlib.metadata.version("moto") in SpecifierSet(MOTO_PINNED)
