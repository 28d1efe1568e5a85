"""Call ids (ULIDs) and Fn's timestamp format.

Call ids are 26-character Crockford base32 ULIDs, like Fn's: the first 10 characters are the
creation time in milliseconds, so ids sort by time and a time bound is an id bound. That lets
`from_time`/`to_time` become key conditions on the calls index instead of filters.

A ULID is 48 bits of epoch milliseconds then 80 random bits, in 26 Crockford base32 digits.
python-ulid makes them. Its import costs about 30 ms (it reads its own version through
importlib.metadata), so it is imported when the first id is made, not with the app: a Lambda
container pays it once, on its first invoke, and a worker never (it makes no ids). The bounds of
a key condition (`lowest_id_at`, `id_before`) are arithmetic on the ids' text, done here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# As text: re compiles it at the first check (and caches it), not at the cold start (bench row 6).
_CALL_ID = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"


def new_call_id(now: datetime) -> str:
    """A new ULID for a call created at `now` (its millisecond, then 80 random bits)."""
    from ulid import ULID  # here, not at the top: kept off the cold start's import path

    return str(ULID.from_datetime(now))


def is_call_id(value: str) -> bool:
    return bool(re.match(_CALL_ID, value))


def lowest_id_at(epoch_ms: int) -> str:
    """The smallest id that a call created at `epoch_ms` can have (random part all zero)."""
    return _base32(max(0, min(epoch_ms, (1 << 48) - 1)) << 80)


def _base32(value: int) -> str:
    """A 128-bit value as 26 Crockford base32 digits (the first carries only 3 bits)."""
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def id_before(value: str) -> str:
    """The greatest 26-character id strictly below `value` ("" if there is none).

    DynamoDB's BETWEEN is inclusive; this turns an exclusive upper bound into an inclusive one.
    """
    digits = [CROCKFORD.index(c) for c in value]
    i = len(digits) - 1
    while i >= 0 and digits[i] == 0:
        digits[i] = 31
        i -= 1
    if i < 0:
        return ""
    digits[i] -= 1
    return "".join(CROCKFORD[d] for d in digits)


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as Fn marshals strfmt.DateTime: 2018-03-20T18:11:17.123Z."""
    value = value.astimezone(UTC)
    # Go pads the year to four digits (its zero time is 0001-01-01); strftime's %Y does not here.
    # Fields, not strftime: half the cost, and every hot call's request carries a deadline.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
        f"{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )
