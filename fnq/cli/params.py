"""Parsing what users type: KEY=VALUE pairs, RFC 3339 times. (Route paths: rules.absolute_route_path.)"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from fnq.cli.errors import CliError


def parse_pairs(pairs: Iterable[str], what: str = "config") -> dict[str, str]:
    """`--config K=V` (repeatable). Fn silently dropped a pair without `=`; we refuse it."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"invalid {what} {pair!r}: expected KEY=VALUE")
        result[key] = value
    return result


def parse_headers(pairs: Iterable[str]) -> dict[str, list[str]]:
    """`--headers X-A=1;2` → {"X-A": ["1", "2"]}, as Fn's `routes create` reads it."""
    return {key: value.split(";") for key, value in parse_pairs(pairs, "header").items()}


def unix_seconds(value: str) -> str:
    """`--from-time 2018-05-30T12:00:00Z` → `1527681600`: Fn sends calls-list bounds as epoch seconds."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CliError(f'parsing time "{value}": expected RFC 3339, e.g. 2018-05-30T12:00:00Z') from exc
    if moment.tzinfo is None or "T" not in value.upper():
        raise CliError(
            f'parsing time "{value}": expected RFC 3339 with a T and a zone, e.g. 2018-05-30T12:00:00Z'
        )
    return str(int(moment.timestamp()))
