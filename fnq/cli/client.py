"""The one small HTTP client of the CLI: base URL, bearer token, JSON, Fn's error envelope.

Standard library only (`http.client`), so `fn` starts fast and needs nothing from AWS.
Every network or server failure becomes a `CliError` whose message reads like Fn's (Go's
`Get "http://…/v1/apps": dial tcp …: connect: connection refused`), never a traceback.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fnq.cli.errors import ApiError, CliError

DEFAULT_API_URL = "http://localhost:8080"
API_PREFIX = "/v1"
# Characters kept as they are in a request path: Fn substitutes path parameters raw (a route
# `/a/b` becomes `…/routes/a/b`), so `/` stays; anything else unsafe is percent-encoded, which Fn
# did not do (a space or a non-ASCII app name broke its requests).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
# Methods for which Fn's Go client sends `Content-Type: application/json` on /v1 requests.
_JSON_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Endpoint:
    """Where the server is: scheme, host, port and an optional path prefix.

    Fn used only the host of FN_API_URL and always spoke plain http. fnq keeps the scheme (so an
    API Gateway URL works over https) and keeps a path prefix such as API Gateway's stage
    (`https://x.execute-api.eu-west-1.amazonaws.com/api`); a trailing `/v1` is dropped because
    Fn users often wrote it and Fn ignored it.
    """

    scheme: str
    host: str
    port: int
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in {"http", "https"} or not parts.hostname:
            raise CliError(f"invalid FN_API_URL {url!r}: expected http(s)://host[:port][/prefix]")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise CliError(f"invalid FN_API_URL {url!r}: {exc}") from exc
        prefix = parts.path.rstrip("/")
        prefix = prefix.removesuffix(API_PREFIX).rstrip("/")
        return cls(scheme=scheme, host=parts.hostname, port=port, prefix=prefix)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}{path}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        """Case-insensitive, as HTTP header names are."""
        value = self.headers.get(name)
        return None if value is None else str(value)


class FnClient:
    """Talks to one server. `api()` is for the JSON /v1 API; `request()` for anything else."""

    def __init__(
        self, endpoint: Endpoint, token: str = "", user_agent: str = "fn", timeout: float = 60.0
    ) -> None:
        self.endpoint = endpoint
        self.token = token
        self.user_agent = user_agent
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request to `path` (already encoded, see `encode_path`).

        Network failures become a `CliError` with a Go-like message.
        """
        target = self.endpoint.prefix + path
        all_headers = {"User-Agent": self.user_agent}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        all_headers.update(headers or {})
        conn_class = (
            http.client.HTTPSConnection if self.endpoint.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_class(self.endpoint.host, self.endpoint.port, timeout=timeout or self.timeout)
        try:
            conn.request(method, target, body=body, headers=all_headers)
            reply = conn.getresponse()
            return Response(status=reply.status, headers=reply.headers, body=reply.read())
        except (OSError, http.client.HTTPException) as exc:
            raise CliError(f'{method.title()} "{self.endpoint.url(path)}": {self._reason(exc)}') from exc
        except ValueError as exc:
            # http.client refusing a header (a newline in FN_TOKEN or an -e variable). Its message
            # quotes the value, which may be the token: name the header, never print the value.
            # (After OSError: ssl's certificate error is a ValueError too.)
            raise CliError(
                f'{method.title()} "{self.endpoint.url(path)}": {_unsendable(all_headers)}'
            ) from exc
        finally:
            conn.close()

    def api(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """Call `/v1<path>` and return its JSON object; an error status raises `ApiError`."""
        return decode_object(
            self.api_response(
                method, path, query=query, json_body=json_body, data=data, content_type=content_type
            )
        )

    def api_response(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str = "application/json",
    ) -> Response:
        """Like `api()`, for the one answer that may not be JSON (a call's log)."""
        headers = {"Accept": "application/json"}
        body = data
        if json_body is not None:
            # Fn's Go client encodes with json.Encoder, which ends the body with a newline.
            body = (json.dumps(json_body, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        if body is not None or method in _JSON_METHODS:
            headers["Content-Type"] = content_type
        target = encode_path(API_PREFIX + path)
        if query:
            # Go's url.Values.Encode sorts the keys; so do we, so requests read the same.
            target += "?" + urlencode(sorted(query.items()))
        reply = self.request(method, target, body=body, headers=headers)
        if reply.status >= 300:
            raise ApiError(reply.status, error_message(reply))
        return reply

    def _reason(self, exc: BaseException) -> str:
        address = f"{self.endpoint.host}:{self.endpoint.port}"
        if isinstance(exc, ConnectionRefusedError):
            return f"dial tcp {address}: connect: connection refused"
        if isinstance(exc, socket.gaierror):
            return f"dial tcp: lookup {self.endpoint.host}: no such host"
        if isinstance(exc, TimeoutError):
            # Connecting or waiting for the answer: socket timeouts do not say which.
            return f"tcp {address}: i/o timeout"
        if isinstance(exc, http.client.RemoteDisconnected):
            return "EOF"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"tls: failed to verify certificate: {exc.verify_message or exc.reason}"
        if isinstance(exc, ssl.SSLError):
            return f"tls: {exc.reason or exc}"
        if isinstance(exc, OSError) and exc.strerror:
            return f"dial tcp {address}: {exc.strerror.lower()}"
        return str(exc) or type(exc).__name__


# The values http.client refuses: a CR or LF that does not start a folded continuation line.
_ILLEGAL_HEADER_VALUE = re.compile(r"\n(?![ \t])|\r(?![ \t\n])")


def _unsendable(headers: Mapping[str, str]) -> str:
    """Which header http.client refused, in Go's words, without its value (it may be the token)."""
    for name, value in headers.items():
        if _ILLEGAL_HEADER_VALUE.search(value):
            hint = " (FN_TOKEN holds a line break)" if name == "Authorization" else ""
            return f'invalid header field value for "{name[:60]}"{hint}'
    return "invalid header field"


def encode_path(path: str) -> str:
    return quote(path, safe=_PATH_SAFE)


def decode_object(reply: Response) -> dict[str, Any]:
    """The JSON object of a success reply; an empty body is an empty object (e.g. a DELETE)."""
    if not reply.body.strip():
        return {}
    try:
        value = json.loads(reply.body)
    except ValueError as exc:
        raise CliError(f"invalid JSON from server (status {reply.status}): {_excerpt(reply.body)}") from exc
    if not isinstance(value, dict):
        raise CliError(f"unexpected JSON from server (status {reply.status}): {_excerpt(reply.body)}")
    return value


def error_message(reply: Response) -> str:
    """Fn's `error.message` when the server sent the envelope; otherwise say what came back.

    Fn's own CLI printed `unknown error (status 500): {resp:0xc…}` here; we show the status and
    the start of the body instead, which is what one needs to debug a proxy or gateway in between.
    """
    try:
        value = json.loads(reply.body)
    except ValueError:
        value = None
    if isinstance(value, dict):
        error = value.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
            return str(error["message"])
        if isinstance(value.get("message"), str) and value["message"]:
            # API Gateway's own errors look like {"message": "Forbidden"}.
            return f"{value['message']} (status {reply.status})"
    body = _excerpt(reply.body)
    return f"unexpected response from server: status {reply.status}" + (f": {body}" if body else "")


def wrapped(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    """`payload[key]` as an object; Fn's CLI panicked when a 200 lacked its wrapper, we say so."""
    value = payload.get(key)
    if not isinstance(value, dict):
        raise CliError(f'unexpected response from server: no "{key}" object')
    return value


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def paginate(
    client: FnClient,
    path: str,
    key: str,
    limit: int,
    cursor: str = "",
    query: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """GET `path` page by page, following `next_cursor`, until `limit` items or the last page.

    Fn's CLI sent no page size (the server's default of 30 applies) and stopped only on an empty
    cursor or enough items; it looped forever when a server kept answering a cursor with empty
    pages, so an empty page or a repeated cursor ends the walk here.
    """
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        params = dict(query or {})
        if cursor:
            params["cursor"] = cursor
        page = client.api("GET", path, query=params)
        batch = page.get(key)
        if not isinstance(batch, list):
            raise CliError(f'unexpected response from server: no "{key}" list')
        items.extend(item for item in batch if isinstance(item, dict))
        seen.add(cursor)
        cursor = str(page.get("next_cursor") or "")
        if len(items) >= limit or not cursor or not batch or cursor in seen:
            return items[:limit]
