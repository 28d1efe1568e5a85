"""The helpers that reproduce a Go function, held to Go's own answers.

Every expected value here was printed by Go 1.19 (`path.Clean` + the `/` prefix of Fn's
`cleanRoutePath`, `textproto.CanonicalMIMEHeaderKey`, `time.Time.Format` with strfmt's
`2006-01-02T15:04:05.000Z07:00`). The server and the `fn` CLI share these helpers, so what the API
stores and what the CLI prints cannot drift apart again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.execute.environment import canonical_header, header_env
from chalicelib.ids import format_time
from chalicelib.rules import absolute_route_path


@pytest.mark.parametrize(
    ("given", "go"),
    [
        ("", "/."),  # the CLI's own copy answered "/"
        (".", "/."),
        ("/", "/"),
        ("//", "/"),
        ("//a", "/a"),  # POSIX normpath keeps two leading slashes; Go does not
        ("///a//b/", "/a/b"),
        ("a/../..", "/.."),
        ("/a/../..", "/"),
        ("a/./b/../c", "/a/c"),
        ("..//a", "/../a"),
    ],
)
def test_route_paths_are_cleaned_as_fns_clean_route_path(given: str, go: str) -> None:
    assert absolute_route_path(given) == go


@pytest.mark.parametrize(
    ("given", "go"),
    [
        ("content-type", "Content-Type"),
        ("x-api-key", "X-Api-Key"),
        ("FOO_BAR", "Foo_bar"),
        ("a--b", "A--B"),
        ("-a", "-A"),
        ("", ""),
        # Not HTTP tokens: Go leaves them as they came, where Python's case mapping changed them.
        ("foo bar", "foo bar"),
        ("straße", "straße"),
        ("ß", "ß"),
        ("x-ÿ", "x-ÿ"),
        ("ÀB", "ÀB"),
        ("x-\u212a", "x-\u212a"),  # the Kelvin sign: a letter to Python, not a token to Go
    ],
)
def test_header_names_are_canonical_as_go_makes_them(given: str, go: str) -> None:
    assert canonical_header(given) == go


def test_a_header_go_would_not_canonicalise_reaches_the_function_as_sent() -> None:
    env = header_env({"content-type": ["text/plain"], "x-ÿ": ["1"]})

    assert env == {"FN_HEADER_Content-Type": "text/plain", "FN_HEADER_x-ÿ": "1"}


@pytest.mark.parametrize(
    ("given", "go"),
    [
        (
            datetime(1, 1, 1, tzinfo=UTC),
            "0001-01-01T00:00:00.000Z",
        ),  # Go's zero time; strftime gave "1-01-01"
        (datetime(999, 1, 2, 3, 4, 5, 999999, tzinfo=UTC), "0999-01-02T03:04:05.999Z"),
        (datetime(2018, 3, 20, 18, 11, 17, 123999, tzinfo=UTC), "2018-03-20T18:11:17.123Z"),
    ],
)
def test_times_are_formatted_as_fn_marshals_them(given: datetime, go: str) -> None:
    assert format_time(given) == go
