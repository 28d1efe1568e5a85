from __future__ import annotations

import pytest

from fnq.cli.output import format_time, go_json, tab_table


@pytest.mark.parametrize(
    ("given", "printed"),
    [
        ("2018-05-30T12:00:00Z", "2018-05-30T12:00:00.000Z"),
        ("2018-05-30T12:00:00.123456789Z", "2018-05-30T12:00:00.123Z"),
        ("2018-05-30T12:00:00.999999Z", "2018-05-30T12:00:00.999Z"),
        ("2018-05-30T14:00:00.5+02:00", "2018-05-30T14:00:00.500+02:00"),
        ("2018-05-30T12:00:00+00:00", "2018-05-30T12:00:00.000Z"),
        ("0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000Z"),  # Fn's "not set": Go's zero time
        ("", "0001-01-01T00:00:00.000Z"),
        (None, "0001-01-01T00:00:00.000Z"),
        ("not a time", "not a time"),
        ("2018-02-30T12:00:00Z", "2018-02-30T12:00:00Z"),  # no such day: not RFC 3339 either
    ],
)
def test_times_print_in_gos_millisecond_form(given: str | None, printed: str) -> None:
    assert format_time(given) == printed


def test_a_table_pads_columns_with_tabs_like_gos_tabwriter() -> None:
    rows = [["path", "image", "endpoint"], ["/a", "i", "e"], ["/exactly8", "x" * 15, "e"]]

    # Column 1 is 9 wide + 1 padding -> 16; column 2 is 15 + 1 -> 16.
    assert tab_table(rows) == "path\t\timage\t\tendpoint\n/a\t\ti\t\te\n/exactly8\t" + "x" * 15 + "\te\n"


def test_json_is_indented_with_tabs_and_html_safe_like_go() -> None:
    assert go_json({"b": [1], "a": "<&>"}) == '{\n\t"a": "\\u003c\\u0026\\u003e",\n\t"b": [\n\t\t1\n\t]\n}\n'
