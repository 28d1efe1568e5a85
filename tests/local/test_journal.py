"""The saved state's files: what is recorded is what loads, through compactions and cut-off writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fnq.local.journal import (
    FORMAT,
    Journal,
    Saved,
    StateError,
    StoredObject,
    item_entry,
    item_key,
    object_entry,
)


def key(n: int) -> str:
    return item_key({"pk": {"S": f"CALL#{n}"}, "sk": {"S": "#CALL"}})


def item(n: int, status: str) -> dict[str, Any]:
    return {"pk": {"S": f"CALL#{n}"}, "sk": {"S": "#CALL"}, "status": {"S": status}}


def stored(journal: Journal, body: bytes) -> StoredObject:
    return StoredObject(journal.store_body(body), len(body), "text/plain", {"status": "success"}, 1.0)


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file())


def test_a_new_directory_loads_empty_and_what_is_recorded_loads_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.load() == Saved()
    journal.open(Saved())
    log = stored(journal, b"hello")
    journal.record([item_entry(key(1), item(1, "queued")), item_entry(key(2), item(2, "queued"))])
    journal.record([item_entry(key(1), item(1, "success")), item_entry(key(2), None)])
    journal.record([object_entry("logs/a/1", log), object_entry("logs/a/2", stored(journal, b"x"))])
    journal.record([object_entry("logs/a/2", None)])
    journal.close()

    again = Journal(tmp_path)
    saved = again.load()

    assert saved.items == {key(1): item(1, "success")}
    assert saved.objects == {"logs/a/1": log}
    assert again.body(log) == b"hello"


def test_opening_compacts_into_a_new_generation_and_drops_unreferenced_bodies(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open(journal.load())
    kept, dropped = stored(journal, b"kept"), stored(journal, b"dropped")
    journal.record([object_entry("k", kept), object_entry("d", dropped), object_entry("d", None)])
    journal.close()

    again = Journal(tmp_path)
    again.open(again.load())
    again.close()

    assert files(tmp_path) == ["journal-00000002.jsonl", "snapshot-00000002.jsonl"]
    assert again.body(kept) == b"kept" and again.body(dropped) is None


def test_a_journal_past_twice_the_live_entries_is_compacted_while_recording(tmp_path: Path) -> None:
    journal = Journal(tmp_path, compact_after=10)
    journal.open(Saved())
    for round_ in range(30):  # 3 live keys rewritten over and over: 90 entries
        journal.record([item_entry(key(n), item(n, f"s{round_}")) for n in range(3)])
    journal.close()

    assert journal.generation >= 2  # compacted at least once (opening made generation 1)
    assert len([f for f in files(tmp_path) if f.startswith("snapshot")]) == 1
    assert Journal(tmp_path).load().items == {key(n): item(n, "s29") for n in range(3)}


def test_a_crash_between_a_new_journal_and_its_snapshot_loses_nothing(tmp_path: Path) -> None:
    # GIVEN generation 1's snapshot and journal, and generation 2's journal without its snapshot
    journal = Journal(tmp_path)
    journal.open(Saved())
    journal.record([item_entry(key(1), item(1, "queued"))])
    journal.close()
    (tmp_path / "journal-00000002.jsonl").write_text(
        json.dumps(item_entry(key(1), item(1, "running"))) + "\n"
    )

    # WHEN it is loaded THEN both journals are replayed, in order
    assert Journal(tmp_path).load().items == {key(1): item(1, "running")}


def test_a_last_line_cut_short_is_ignored_but_a_damaged_line_before_it_is_an_error(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open(Saved())
    journal.record([item_entry(key(1), item(1, "queued"))])
    journal.close()
    path = tmp_path / "journal-00000001.jsonl"
    whole = json.dumps(item_entry(key(1), item(1, "running")))
    path.write_text(path.read_text() + whole[:20])

    assert Journal(tmp_path).load().items == {key(1): item(1, "queued")}

    path.write_text(path.read_text() + "\n" + whole + "\n")
    with pytest.raises(StateError, match="damaged at line 2"):
        Journal(tmp_path).load()


def test_a_snapshot_of_another_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "snapshot-00000001.jsonl").write_text(json.dumps({"format": FORMAT + 1}) + "\n")

    with pytest.raises(StateError, match=f"format {FORMAT + 1}"):
        Journal(tmp_path).load()


def test_a_body_that_no_longer_matches_its_digest_is_not_returned(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open(Saved())
    log = stored(journal, b"hello")
    journal.close()
    next(tmp_path.glob("objects/*/*.bin")).write_bytes(b"hellO")

    assert journal.body(log) is None
