"""How Fn 0.4.x prints things, reproduced byte for byte: call blocks, times, JSON, tables."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib import ids

# Go's zero time: what Fn prints for a time that is not set (a call not started yet).
ZERO_TIME = ids.format_time(datetime(1, 1, 1, tzinfo=UTC))

_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<clock>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)


def format_time(value: object) -> str:
    """Go's `strfmt.DateTime.String()`: RFC 3339 with exactly three fractional digits.

    Fractions are truncated, not rounded (Go's Format truncates), a zero offset prints as `Z`
    and a missing time prints as Go's zero time. A value that is not RFC 3339 is printed as it
    came: Fn's CLI refused the whole answer there, which helps nobody reading a call.
    """
    if not value:
        return ZERO_TIME
    text = str(value)
    match = _RFC3339.match(text)
    if match is None:
        return text
    try:  # the wall clock as written; a date that does not exist is not RFC 3339 either
        clock = datetime.fromisoformat(f"{match['date']}T{match['clock']}.{(match['frac'] or '0')[:6]:0<6}")
    except ValueError:
        return text
    # ids.format_time prints in UTC; Go prints a time in its own zone: the wall clock, then the zone.
    printed = ids.format_time(clock.replace(tzinfo=UTC))
    zone = match["zone"].upper()
    return printed if zone in {"Z", "+00:00", "-00:00"} else printed[:-1] + zone


def call_block(call: Mapping[str, Any], app: str = "") -> str:
    """Fn's `printCalls` entry: seven lines and a blank one, plus the error reason when set.

    `app` stands in when the server sends `app_id` instead of `app_name` (Fn after #641).
    """
    block = (
        f"ID: {call.get('id', '')}\n"
        f"App: {call.get('app_name') or app}\n"
        f"Route: {call.get('path', '')}\n"
        f"Created At: {format_time(call.get('created_at'))}\n"
        f"Started At: {format_time(call.get('started_at'))}\n"
        f"Completed At: {format_time(call.get('completed_at'))}\n"
        f"Status: {call.get('status', '')}\n\n"
    )
    if call.get("error"):
        block += f"Error reason: {call['error']}\n\n"
    return block


def callback_lines(call: Mapping[str, Any]) -> str:
    """fnq's completion callback of a call, after Fn's block: its URL and one line an attempt
    (nothing for a call without a callback, so Fn's output is unchanged there)."""
    if not call.get("callback_url"):
        return ""
    lines = [f"Callback URL: {call['callback_url']}"]
    for attempt in call.get("callbacks") or []:
        status = attempt.get("status_code")
        detail = attempt.get("error") or (f"HTTP {status}" if status else "")
        lines.append(
            f"Callback attempt {attempt.get('number')}: {format_time(attempt.get('at'))} "
            f"{attempt.get('outcome', '')}{f' ({detail})' if detail else ''}"
        )
    return "\n".join(lines) + "\n\n"


def go_json(value: Any) -> str:
    """Go's `json.Encoder` with `SetIndent("", "\\t")`: sorted keys (Fn's models are generated with
    fields in alphabetical order), HTML-safe escapes, and a trailing newline."""
    text = json.dumps(value, indent="\t", sort_keys=True, ensure_ascii=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escape)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text + "\n"


def tab_table(rows: Sequence[Sequence[str]], tabwidth: int = 8, padding: int = 1) -> str:
    """Go's `tabwriter.NewWriter(w, 0, 8, 1, '\\t', 0)`, as Fn's `routes list` uses it.

    Every cell but the last of a row ends with a tab, so it belongs to a column; a column is as
    wide as its widest cell plus the padding, rounded up to whole tabs, and each cell is padded
    with as many tabs as it takes to reach that width. The last cell is printed as it is.
    """
    columns = max((len(row) for row in rows), default=0) - 1
    widths = []
    for col in range(columns):
        width = max(len(row[col]) for row in rows if len(row) > col + 1) + padding
        widths.append(-(-width // tabwidth) * tabwidth)
    lines = []
    for row in rows:
        cells = []
        for col, cell in enumerate(row[:-1]):
            cells.append(cell + "\t" * -(-(widths[col] - len(cell)) // tabwidth))
        cells.append(row[-1] if row else "")
        lines.append("".join(cells) + "\n")
    return "".join(lines)


def lookup(value: Any, dotted: str) -> Any:
    """`apps inspect APP config.DB_URL`: follow a dotted path, as Fn did with jsonq."""
    for key in dotted.split("."):
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise KeyError(dotted)
    return value
