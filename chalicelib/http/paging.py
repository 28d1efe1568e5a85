"""Fn's paging parameters: `per_page`, opaque cursors, and the calls listing's filters.

Apps and routes page by name and path, sent as URL-safe base64; calls page by the call store's
own cursor (an id, as Fn's cursor for calls is, or an id per shard), passed through as it is. Ids
begin with their creation time, so Fn's `from_time`/`to_time` (exclusive epoch seconds) become id
bounds of the store's query.
"""

from __future__ import annotations

import base64

from chalicelib.errors import InvalidInputError
from chalicelib.ids import lowest_id_at
from chalicelib.inputs import MAX_PATH_BYTES, utf8_len
from chalicelib.models import CallStatus
from chalicelib.ports import CallQuery
from chalicelib.rules import clean_route_path

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100


def page_size(raw: str | None) -> int:
    """Fn's pageParams: default 30, at most 100, anything unparsable or <= 0 means the default."""
    try:
        value = int(raw or 0)
    except ValueError:
        return DEFAULT_PER_PAGE
    return DEFAULT_PER_PAGE if value <= 0 else min(value, MAX_PER_PAGE)


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(value: str | None) -> str | None:
    """A name or path; one longer than any can be is refused (it would become a DynamoDB key)."""
    if not value:
        return None
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError("Invalid cursor") from exc
    if utf8_len(decoded) > MAX_PATH_BYTES:
        raise InvalidInputError("Invalid cursor")
    return decoded


def next_cursor(page: list[str], limit: int) -> str:
    """The cursor after the last key of a full page; "" when the page was the last one."""
    if len(page) < limit or not page:
        return ""
    return encode_cursor(page[-1])


def call_query(
    app_name: str,
    path: str | None = None,
    cursor: str | None = None,
    per_page: str | None = None,
    from_time: str | None = None,
    to_time: str | None = None,
    status: str | None = None,
) -> CallQuery:
    min_id = lowest_id_at(_epoch(from_time, "from_time") * 1000 + 1) if from_time else None
    before = lowest_id_at(_epoch(to_time, "to_time") * 1000) if to_time else None
    try:
        wanted = CallStatus(status) if status else None
    except ValueError as exc:
        raise InvalidInputError(f"Invalid status: {status}") from exc
    return CallQuery(
        app_name=app_name,
        path=clean_route_path(path) if path else None,
        status=wanted,
        cursor=cursor or None,
        before_id=before,
        min_id=min_id,
        limit=page_size(per_page),
    )


def _epoch(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not an epoch time") from exc
