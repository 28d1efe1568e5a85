"""A stand-in for app.py with the entry points the real one has, used while it is absent.

The packaging tests package the real app.py whenever the tree has one; this keeps them
meaningful before it lands. It declares the same Chalice app name and handler names.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice

from chalicelib.settings import CALLS_QUEUE_NAME

app = Chalice(app_name="fnq")


@app.route("/v1/apps")
def list_apps() -> dict[str, Any]:
    return {"apps": []}


@app.on_sqs_message(queue=CALLS_QUEUE_NAME, batch_size=10)
def handle_calls(event: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}


@app.on_sqs_message(queue=f"{CALLS_QUEUE_NAME}-dlq", batch_size=10)
def handle_dead_calls(event: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}
