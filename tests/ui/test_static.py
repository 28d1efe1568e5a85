"""The dashboard's files as the API serves them (Chalice's local gateway, as `chalice local` runs it).

The browser tests show the page working; these pin down what is sent: types, security headers,
which paths are the dashboard's and which stay Fn's, and that the page's code never parses data
as HTML.
"""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

import pytest

from chalicelib import ui, wiring
from tests.conftest import Stack

PAGES = {"/ui": "text/html; charset=utf-8", **{f"/ui/{name}": kind for name, kind in ui.ASSETS.items()}}


@pytest.fixture
def guarded(stack: Stack) -> Stack:
    """The API with FNQ_API_TOKEN set."""
    wiring.install(wiring.build(replace(stack.settings, api_token="s3cret")))
    return stack


@pytest.mark.parametrize(("path", "content_type"), PAGES.items())
def test_each_file_is_served_with_its_type_and_the_security_headers(
    stack: Stack, path: str, content_type: str
) -> None:
    response = stack.request("GET", path)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(d.strip().split(" ", 1) for d in response.headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert policy[directive] == "'self'"
    assert (policy["base-uri"], policy["form-action"], policy["frame-ancestors"]) == ("'none'",) * 3
    name = path.removeprefix("/ui").lstrip("/") or ui.PAGE
    assert response.body == (ui.STATIC / name).read_bytes()


def test_the_static_directory_holds_exactly_the_files_served(stack: Stack) -> None:
    assert {p.name for p in ui.STATIC.iterdir()} == {ui.PAGE, *ui.ASSETS}


def test_the_dashboard_needs_no_token_while_the_api_still_does(guarded: Stack) -> None:
    assert guarded.request("GET", "/ui").status_code == 200
    assert guarded.request("GET", "/ui/app.js").status_code == 200
    assert guarded.json("GET", "/ui/missing.js")[0] == 404
    assert guarded.json("GET", "/v1/apps")[0] == 401
    assert guarded.json("GET", "/v1/apps", headers={"authorization": "Bearer s3cret"})[0] == 200


def test_unknown_files_and_other_methods_get_fns_404(stack: Stack) -> None:
    unknown = [
        ("GET", "/ui/index.html"),
        ("GET", "/ui/..%2Fapp.py"),
        ("POST", "/ui"),
        ("DELETE", "/ui/app.js"),
    ]
    for method, path in unknown:
        status, body = stack.json(method, path)
        assert (status, body["error"]["message"]) == (404, f"Path not found: {path}"), (method, path)


def test_fns_paths_beside_the_dashboard_are_unchanged(stack: Stack) -> None:
    # An app may be called "ui": its API and its functions keep their paths.
    stack.deploy("ui", "hello", type="sync")
    assert stack.json("GET", "/v1/apps/ui")[0] == 200
    assert stack.request("POST", "/r/ui/hello").body == b'{"message": "Hello World"}\n'
    # Paths that only look like the dashboard's are Fn's catch-all's, as before.
    for path in ("/uix", "/ui/app.js/more", "/v1/ui"):
        status, body = stack.json("GET", path)
        assert (status, body["error"]["message"]) == (404, f"Path not found: {path}"), path
    assert stack.json("GET", "/")[1] == {"goto": "https://github.com/fnproject/fn", "hello": "world!"}


def test_ui_with_a_trailing_slash_is_sent_to_ui_relatively_so_a_stage_prefix_stays(stack: Stack) -> None:
    response = stack.request("GET", "/ui/")

    assert response.status_code == 301
    # From /ui/ (or /api/ui/ behind API Gateway), ../ui is /ui (or /api/ui).
    assert response.headers["Location"] == "../ui"


class References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in values.items() if k in ("src", "href") and v]
        if tag == "script" and "src" not in values:
            self.inline_scripts += 1


def test_the_page_refers_to_its_files_relatively_and_runs_no_inline_script() -> None:
    page = References()
    page.feed((ui.STATIC / ui.PAGE).read_text())

    files = {url for url in page.urls if not url.startswith("#")}
    assert files == {f"ui/{name}" for name in ui.ASSETS}  # relative: /ui → /ui/…, /api/ui → /api/ui/…
    assert page.inline_scripts == 0


SINKS = ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser", "eval(", "Function("]


@pytest.mark.parametrize("sink", SINKS)
def test_the_script_never_turns_a_string_into_markup_or_code(sink: str) -> None:
    code = (ui.STATIC / "app.js").read_text()
    assert sink not in code
