"""fnq's Chalice entry point: a table of contents, nothing more.

Chalice copies this file alone into the Lambda package (with chalicelib/), so every piece of
logic lives in chalicelib; nothing here touches AWS at import time.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate  # type: ignore[attr-defined]

from chalicelib import http, jsonlog, ui, wiring
from chalicelib.settings import CALLS_BATCH_SIZE, CALLS_QUEUE_NAME, DEAD_LETTER_QUEUE_NAME

jsonlog.configure_lambda_logging()  # on Lambda only: JSON lines carrying the call id
app = Chalice(app_name="fnq")
# Function bodies and outputs can be anything; these are passed through as bytes.
app.api.binary_types = [*app.api.binary_types, "application/zip"]
http.bind(lambda: wiring.components().use_cases)
app.register_blueprint(http.bp)
app.register_blueprint(ui.bp)  # the dashboard at /ui (chalicelib/ui)


@app.on_sqs_message(queue=CALLS_QUEUE_NAME, batch_size=CALLS_BATCH_SIZE)
def handle_calls(event: Any) -> dict[str, Any]:
    # The Lambda context bounds the batch: no call starts that the invocation cannot finish.
    return wiring.components().calls_handler.handle_batch(event.to_dict(), event.context)


@app.on_sqs_message(queue=DEAD_LETTER_QUEUE_NAME, batch_size=10)
def handle_dead_calls(event: Any) -> dict[str, Any]:
    return wiring.components().dead_letters.handle_batch(event.to_dict())


# Recovers the open calls no message will bring back (chalicelib/sweeper.py); `fn worker` runs
# the same pass on its own timer.
@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event: Any) -> dict[str, int]:
    return wiring.components().sweeper.sweep().counts()
