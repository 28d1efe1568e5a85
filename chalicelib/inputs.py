"""What any input may hold, so that every record fnq accepts can be stored and read back. Pure.

Fn 0.3.391 had few limits; DynamoDB, Lambda and HTTP have many. An input that broke one of them
used to be accepted and fail later: a 500 for every reader of the record, a dropped connection at
every call of a route. The numbers are here, each with where it comes from. rules.py applies them
to apps and routes (beside Fn's own annotation rules), invoke.py to calls, http/bodies.py to
request bodies (the local server asks it before it reads one), runner.py to error texts and to
the headers a function answers with.

How the parts add up to one DynamoDB item (at most 400 KB of names and values, UTF-8):

    app    config 64 KiB + annotations 100 x (128 B + 512 B)                         < 130 KiB
    route  path 1,000 B + image 1 KiB + config 64 KiB + headers 16 KiB + annotations  < 150 KiB
    call   app and route config 128 KiB + request headers 32 KiB + URL 16 KiB
           + body up to 64 KiB inline (larger ones go to S3) + error texts 2 KiB each < 260 KiB

The stores check each item's size before writing all the same (aws/dynamodb/table.py).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from chalicelib.errors import InvalidInputError, PayloadTooLargeError

KIB = 1024
MIB = 1024 * KIB

# A management request (apps, routes) is a small JSON object: nothing it may hold comes near this,
# and it is refused before it is parsed (a 60 MiB body, or 3 million array elements, cost the API
# 25 s and 300 MB when they were parsed first).
MAX_JSON_BODY_BYTES = 1 * MIB
# DynamoDB nests documents at most 32 levels; Fn's clients send 4. Any request body is held to it.
MAX_JSON_DEPTH = 32
# All keys and values of one app's (or one route's) config: a call snapshots both.
MAX_CONFIG_BYTES = 64 * KIB
# The headers a route adds to every response, names and values.
MAX_ROUTE_HEADERS_BYTES = 16 * KIB
# A route path is part of a DynamoDB sort key (1,024 bytes) and of an index partition key.
MAX_PATH_BYTES = 1000
MAX_IMAGE_BYTES = 1024
# What a call records of its request (API Gateway itself passes at most 10 KB of request line
# and headers; the local server more).
MAX_REQUEST_HEADER_BYTES = 32 * KIB
MAX_URL_BYTES = 16 * KIB
# An error text is stored in the call and again in its attempt entry.
MAX_ERROR_BYTES = 2 * KIB
# Fn's annotation rules (api/models/annotations.go).
MAX_ANNOTATION_KEY_BYTES = 128
MAX_ANNOTATION_VALUE_BYTES = 512
MAX_ANNOTATIONS = 100
MAX_HEADER_NAME_BYTES = 256

# RFC 9110: a field name is a token; a field value is visible ASCII or obs-text (latin-1), SP, HTAB.
# Patterns as text: re compiles each at its first use and caches it, so the cold start compiles
# none (bench row 6); a Lambda that never checks a header never compiles them at all.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_FIELD_VALUE = r"[\t\x20-\x7e\x80-\xff]*"
_CONTROL = r"[\x00-\x08\x0a-\x1f\x7f]"
_SURROGATE = "[\ud800-\udfff]"
HEADER_NAME_RULE = (
    f"header names are HTTP tokens: ASCII letters, digits and !#$%&'*+-.^_`|~, "
    f"at most {MAX_HEADER_NAME_BYTES} bytes"
)
# Headers the server itself writes: framing (a second Content-Length splits the response),
# the connection's own, and Fn's call id. Neither a route nor a function may set them.
SERVER_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "te",
        "trailer",
        "fn_call_id",
    }
)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def size_text(size: int) -> str:
    return f"{size:,}"


def content_too_large(size: int, limit: int) -> PayloadTooLargeError:
    """Fn's 413 message, saying by how much."""
    return PayloadTooLargeError(
        f"Request content too large ({size_text(size)} bytes; at most {size_text(limit)} for this resource)"
    )


# ------------------------------------------------------------------------------------------ JSON
def parse_json(raw: bytes) -> Any:
    """A request body's JSON, held to what can be stored: no NaN or Infinity (not JSON), no number
    a double cannot hold exactly, at most MAX_JSON_DEPTH levels, and UTF-8 text only."""
    try:
        value = json.loads(raw or b"null", parse_constant=_not_a_number, parse_float=_exact_float)
    except RecursionError as exc:
        raise InvalidInputError(_too_deep()) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError("Invalid JSON") from exc
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Depth and text of a parsed JSON value, without recursion (a hostile value is deep)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidInputError(_too_deep())
            if isinstance(item, dict):
                for key, inner in item.items():
                    _check_text(key)
                    pending.append((inner, depth + 1))
            else:
                pending.extend((inner, depth + 1) for inner in item)


def compact_json(value: Any) -> str:
    """Fn keeps annotation values as compacted JSON: their size is measured in this form."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _too_deep() -> str:
    return f"Invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels"


def _check_text(text: str) -> None:
    surrogate = None if text.isascii() else re.search(_SURROGATE, text)
    if surrogate is not None:
        escaped = f"\\u{ord(surrogate.group()):04x}"
        raise InvalidInputError(
            f"Invalid JSON: a string holds a lone surrogate ({escaped}), which is not UTF-8 text"
        )


def _not_a_number(literal: str) -> Any:
    raise InvalidInputError(f"Invalid JSON: {literal} is not a JSON number")


def _exact_float(literal: str) -> float:
    # Annotations are answered as they were sent; a number is kept only when a double (what every
    # JSON reader here holds) carries its exact value: 1.5 yes; 1e400, 1e-400 or 0.1000000000000000001 no.
    value = float(literal)
    if not math.isfinite(value) or Decimal(repr(value)) != Decimal(literal):
        shown = literal if len(literal) <= 40 else literal[:37] + "..."
        raise InvalidInputError(
            f"Invalid JSON: the number {shown} cannot be stored exactly; send it as a string"
        )
    return value


# ---------------------------------------------------------------------------------------- HTTP
def is_header_name(name: str) -> bool:
    return bool(re.fullmatch(_TOKEN, name)) and len(name) <= MAX_HEADER_NAME_BYTES


def header_value_problem(value: str) -> str | None:
    """Why HTTP cannot carry `value` as a header field value, or None when it can."""
    if re.fullmatch(_FIELD_VALUE, value):
        return None
    if re.search(_CONTROL, value):
        return "a value holds CR, LF or another control character"
    return "a value holds a character outside latin-1 (ISO-8859-1)"


def sendable_headers(
    headers: Mapping[str, Sequence[str]], max_bytes: int = MAX_ROUTE_HEADERS_BYTES
) -> tuple[dict[str, list[str]], list[str]]:
    """The headers HTTP can carry and the server does not set itself, up to `max_bytes` of names
    and values (clients refuse a header line over 64 KiB; API Gateway, headers over 10 KB), and
    the names of the rest."""
    kept: dict[str, list[str]] = {}
    dropped: list[str] = []
    room = max_bytes
    for name, values in headers.items():
        size = utf8_len(name) + sum(utf8_len(v) for v in values)
        if (
            not is_header_name(name)
            or name.lower() in SERVER_HEADERS
            or any(header_value_problem(v) for v in values)
            or size > room
        ):
            dropped.append(name)
        else:
            kept[name] = list(values)
            room -= size
    return kept, dropped


def headers_bytes(headers: Mapping[str, Sequence[str]]) -> int:
    return sum(utf8_len(name) + sum(utf8_len(v) for v in values) for name, values in headers.items())


# --------------------------------------------------------------------------------------- texts
def truncated(text: str, max_bytes: int = MAX_ERROR_BYTES, what: str = "error text") -> str:
    """`text` cut to at most `max_bytes` of UTF-8, with a marker saying how long it was."""
    size = utf8_len(text)
    if size <= max_bytes:
        return text
    marker = f" -----{what} truncated: {size_text(size)} bytes in all-----"
    head = text.encode("utf-8", "surrogatepass")[: max_bytes - utf8_len(marker)]
    return head.decode("utf-8", "ignore") + marker
