"""Structured logs on Lambda: one JSON object a line, with the call id of the call being handled."""

from __future__ import annotations

import json
import logging
import threading

from chalicelib.jsonlog import JsonFormatter, call_context


def formatted(message: str, *args: object) -> dict[str, object]:
    record = logging.LogRecord("chalicelib.batch", logging.INFO, __file__, 1, message, args, None)
    line: dict[str, object] = json.loads(JsonFormatter().format(record))
    return line


def test_a_line_written_while_a_call_is_handled_carries_its_id_and_no_other_does() -> None:
    with call_context("01J00000000000000000000000"):
        inside = formatted("call %s attempt %d: %s", "01J00000000000000000000000", 1, "ack")
    outside = formatted("batch of %d", 3)

    assert inside["call_id"] == "01J00000000000000000000000"
    assert inside["message"] == "call 01J00000000000000000000000 attempt 1: ack"
    assert (inside["level"], inside["logger"]) == ("INFO", "chalicelib.batch")
    assert "call_id" not in outside


def test_each_thread_carries_the_call_id_of_its_own_call() -> None:
    seen: dict[str, object] = {}

    def handle(call_id: str) -> None:
        with call_context(call_id):
            seen[call_id] = formatted("running")["call_id"]

    threads = [threading.Thread(target=handle, args=(f"call-{i}",)) for i in range(4)]
    with call_context("the dispatcher's"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert seen == {f"call-{i}": f"call-{i}" for i in range(4)}


def test_a_message_that_is_a_json_object_gives_its_fields_to_the_line() -> None:
    line = formatted(json.dumps({"event": "sweeper.pass", "requeued": 2}))

    assert (line["event"], line["requeued"]) == ("sweeper.pass", 2)
    assert "message" not in line
    assert formatted("{not json")["message"] == "{not json"
