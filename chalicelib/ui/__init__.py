"""The dashboard: static HTML, CSS and JavaScript that the API itself serves at `/ui`.

The files are the package's own (`static/`), so the dashboard works offline and ships in the
Lambda zip with the rest of chalicelib. The page refers to its files and to the API with
relative URLs, so behind API Gateway the stage prefix (`/api/ui` → `/api/v1/apps`) is kept.

No token is needed for these files: they are the same for everyone and hold no data. The data
comes from the v1 API, whose requests the page makes with the token the user types (kept in the
tab's sessionStorage), exactly as `fn` sends FN_TOKEN. Unlike the API's catch-all, an unknown
path under /ui answers 404 without asking for the token: there is nothing to protect.

`/ui` and `/ui/{asset}` are literal-prefixed routes, so API Gateway and Chalice's local matcher
both prefer them to the API's catch-all `/{p0}` and `/{p0}/{p1}`; no Fn path starts with /ui.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chalice import Blueprint, Response  # type: ignore[attr-defined]

from chalicelib.http.blueprint import METHODS
from chalicelib.http.responses import error_response

STATIC = Path(__file__).resolve().parent / "static"
PAGE = "index.html"
# Every file the page loads, with its content type; nothing else under /ui is served.
ASSETS: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# The page may load only its own files and talk only to its own origin; inline scripts and
# styles, plugins, forms posting elsewhere and framing are all refused. A function's log that
# somehow reached the DOM as HTML could still not run anything.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files: revalidate every time, so a new deployment's page is never mixed with old code.
    "Cache-Control": "no-cache",
}

bp = Blueprint(__name__)


@cache
def read_static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def static_response(name: str, content_type: str) -> Response:
    return Response(
        body=read_static(name), status_code=200, headers={"Content-Type": content_type, **SECURITY_HEADERS}
    )


def not_found() -> Response:
    # Fn's own answer for a path it does not know, as the API's catch-all gives.
    path = bp.current_request.context.get("path", "")
    return error_response(404, f"Path not found: {path}", SECURITY_HEADERS)


@bp.route("/ui", methods=METHODS, content_types=["*/*"], name="ui_page")
def page() -> Response:
    if bp.current_request.method != "GET":
        return not_found()
    if bp.current_request.context.get("path", "").endswith("/"):
        # `/ui/` reaches this route too (API Gateway and Chalice drop the trailing slash when
        # matching), but there the page's relative URLs would resolve under /ui/: send the
        # browser to `/ui` itself, relative again to keep any stage prefix.
        location = {"Location": "../ui", "Content-Type": "text/plain; charset=utf-8"}
        return Response(body="", status_code=301, headers={**location, **SECURITY_HEADERS})
    return static_response(PAGE, "text/html; charset=utf-8")


@bp.route("/ui/{asset}", methods=METHODS, content_types=["*/*"], name="ui_asset")
def asset(asset: str) -> Response:
    content_type = ASSETS.get(asset)
    if content_type is None or bp.current_request.method != "GET":
        return not_found()
    return static_response(asset, content_type)
