"""Hostile requests, generated: every answer must be a 2xx/4xx in Fn's shape, and every record readable.

    python -m bench.hostile                       # starts `fn start` on free ports, 2,000 requests
    python -m bench.hostile --requests 20000 --seed 7
    python -m bench.hostile --api-url http://localhost:8080   # a running stack (its data is changed)

Requests are drawn with Hypothesis from Fn's v1 API (apps, routes, invokes, calls, listings) with
values chosen to hurt: numbers DynamoDB cannot hold, empty and huge keys, deep nesting, lone
surrogates, CR/LF in header names and values, unknown methods, bodies of every size. An answer is a
failure when it is a 5xx, when the connection drops, or when an error is not Fn's JSON envelope.
After the run every app, route and call listed must read back (the records the API accepted).
It prints the counts and the first failures of each kind; exit status 1 if any.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

APPS = ["h0", "h1", "h2"]  # a few names, so creates, updates and deletes meet each other


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return f"{self.method} {self.path[:120]} body={self.body[:160]!r} headers={list(self.headers)[:3]!r}"


# --- values -----------------------------------------------------------------------------------
NASTY_NUMBERS = ["1.5", "1e400", "-1e400", "NaN", "Infinity", "-0.0", "1" * 39, "-" + "9" * 40, "1e-400"]
NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\r\n",
        "a\r\nSet-Cookie: x=1",
        "\x00",
        "é",
        "\\ud800",
        "<script>alert(1)</script>",
        "../..",
        "/",
    ]
)
# Mostly short, sometimes long; half a megabyte (a record DynamoDB cannot hold) now and then.
long_text = st.builds(lambda n: "x" * n, st.sampled_from([600, 1_100, 5_000, 500_000]))
text = st.one_of(st.text(max_size=40), st.text(max_size=40), NASTY_TEXT, long_text)
short_text = st.one_of(st.text(max_size=40), NASTY_TEXT, st.just("y" * 1100))
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), text
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def raw_json(draw: st.DrawFn, value: st.SearchStrategy[Any]) -> str:
    """JSON text, sometimes with what json.dumps cannot make: NaN, 1e400, deep nesting, surrogates."""
    kind = draw(st.sampled_from(["plain", "plain", "number", "deep", "surrogate", "garbage"]))
    if kind == "number":
        return draw(st.sampled_from(NASTY_NUMBERS))
    if kind == "deep":
        depth = draw(st.sampled_from([33, 100, 1000, 100_000]))
        return "[" * depth + "]" * depth
    if kind == "surrogate":
        return '"\\ud800x"'
    if kind == "garbage":
        return draw(st.sampled_from(["{", "", "null", "[]", '"x"', "{}", '{"app": null}', "\xff"]))
    return json.dumps(draw(value))


def string_map(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.dictionaries(text, values, max_size=4).map(json.dumps),
        st.sampled_from(['{"": "v"}', '{"k": 1.5}', '{"k": [1, 2]}', "[1, 2]", '"x"']),
    )


@st.composite
def app_body(draw: st.DrawFn) -> bytes:
    fields = {
        "name": draw(st.one_of(st.sampled_from(APPS), text).map(json.dumps)),
        "config": draw(string_map(text.map(json.dumps))),
        "annotations": draw(st.one_of(raw_json(json_value), string_map(raw_json(json_value)))),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    inner = "{" + ",".join(f'"{k}":{fields[k]}' for k in chosen) + "}"
    return ('{"app":' + inner + "}").encode("utf-8", "surrogatepass")


@st.composite
def route_body(draw: st.DrawFn) -> bytes:
    number = st.one_of(st.integers(-5, 10_000).map(str), st.sampled_from(NASTY_NUMBERS), st.just('"30"'))
    fields = {
        "path": draw(st.one_of(st.just('"/f"'), text.map(lambda t: json.dumps("/" + t)))),
        "image": draw(st.one_of(st.just('"f:0.0.1"'), text.map(json.dumps))),
        "type": draw(st.sampled_from(['"sync"', '"async"', '"x"', "1"])),
        "format": draw(st.sampled_from(['"default"', '"json"', '"http"', "null"])),
        "memory": draw(number),
        "timeout": draw(number),
        "idle_timeout": draw(number),
        "max_retries": draw(number),
        "config": draw(string_map(text.map(json.dumps))),
        "headers": draw(
            st.one_of(
                st.dictionaries(text, st.lists(text, max_size=3), max_size=3).map(json.dumps),
                st.sampled_from(
                    ['{"": ["x"]}', '{"a\\r\\nb": ["x"]}', '{"X": ["a\\r\\nb"]}', '{"é": ["x"]}']
                ),
            )
        ),
        "annotations": draw(string_map(raw_json(json_value))),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    inner = "{" + ",".join(f'"{k}":{fields[k]}' for k in chosen) + "}"
    return ('{"route":' + inner + "}").encode("utf-8", "surrogatepass")


segment = st.one_of(
    st.sampled_from([*APPS, "f", "g", "a", "nope"]), short_text.map(lambda t: quote(t, safe=""))
)
query = st.dictionaries(
    st.sampled_from(["cursor", "per_page", "path", "from_time", "to_time", "status", "image"]),
    st.one_of(text, st.integers().map(str), st.sampled_from(["queued", "error", "-1", "1e9", "%ff"])),
    max_size=3,
)
header_pair = st.tuples(
    st.one_of(st.sampled_from(["X-A", "Content-Type", "Fn-Intent", "Authorization"]), text),
    st.one_of(text, st.sampled_from(["Bearer é", "application/json", "x" * 6000])),
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    app = draw(st.one_of(st.sampled_from(APPS), segment))
    kind = draw(st.sampled_from(["app", "app", "route", "route", "invoke", "invoke", "read", "method"]))
    if kind == "app":
        method = draw(st.sampled_from(["POST", "PATCH", "DELETE", "GET"]))
        path = "/v1/apps" if method == "POST" else f"/v1/apps/{app}"
        return Request(method, path, draw(app_body()), (("Content-Type", "application/json"),))
    if kind == "route":
        method = draw(st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]))
        route = draw(
            st.one_of(st.just("f"), segment, st.builds(lambda n: "a/" * n, st.sampled_from([10, 600])))
        )
        path = f"/v1/apps/{app}/routes" + ("" if method == "POST" else f"/{route}")
        return Request(method, path, draw(route_body()), (("Content-Type", "application/json"),))
    if kind == "invoke":
        method = draw(st.sampled_from(["POST", "GET", "PUT", "DELETE"]))
        headers = tuple(draw(st.lists(header_pair, max_size=4)))
        body = draw(
            st.one_of(st.binary(max_size=64), st.builds(lambda n: b"x" * n, st.sampled_from([70_000])))
        )
        target = draw(st.one_of(st.sampled_from(["f", "g", "a"]), segment))
        return Request(method, f"/r/{app}/{target}", body, headers)
    if kind == "read":
        target = draw(st.sampled_from(["calls", "routes", "calls/01ARZ3NDEKTSV4RRFFQ69G5FAV", "calls/x/log"]))
        return Request(
            "GET", f"/v1/apps/{app}/{target}?" + "&".join(f"{k}={quote(v)}" for k, v in draw(query).items())
        )
    method = draw(st.sampled_from(["TRACE", "FOO", "OPTIONS", "HEAD", "CONNECT"]))
    return Request(method, draw(st.sampled_from(["/v1/apps", f"/r/{app}/f", "/", "/v1/nope"])))


# --- sending and judging ----------------------------------------------------------------------
@dataclass
class Verdicts:
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, kind: str, detail: str) -> None:
        self.failures.setdefault(kind, []).append(detail)


def send(base: str, request: Request, token: str) -> tuple[int, bytes, str]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "localhost", parts.port or 80, timeout=60)
    headers = dict(request.headers)
    if token and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.putrequest(request.method, parts.path.rstrip("/") + request.path, skip_accept_encoding=True)
        for name, value in headers.items():
            try:
                conn.putheader(name.encode("utf-8", "surrogatepass"), value.encode("utf-8", "surrogatepass"))
            except ValueError:
                continue  # http.client will not send it; no server ever sees such a header
        conn.putheader("Content-Length", str(len(request.body)))
        # Refused before the body was read (431, 413): the answer is still there to be read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.endheaders(request.body)
        reply = conn.getresponse()
        return reply.status, reply.read(), reply.getheader("Content-Type") or ""
    finally:
        conn.close()


def judge(verdicts: Verdicts, request: Request, answer: tuple[int, bytes, str] | BaseException) -> None:
    if isinstance(answer, BaseException):
        verdicts.statuses[0] += 1
        verdicts.fail(f"dropped: {type(answer).__name__}", request.describe())
        return
    status, body, content_type = answer
    verdicts.statuses[status] += 1
    if status >= 500:
        verdicts.fail(f"{status}: {body[:100]!r}", request.describe())
    elif status >= 400 and request.method != "HEAD" and not request.path.startswith("/r/"):
        try:
            message = json.loads(body)["error"]["message"]
            assert isinstance(message, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            verdicts.fail(
                f"{status}: not Fn's envelope ({content_type})", f"{request.describe()} -> {body[:100]!r}"
            )


def read_back(base: str, token: str, verdicts: Verdicts) -> int:
    """Every app, route and call the API lists must read back; answers how many records were read."""

    def get(path: str) -> Any:
        status, body, _ = send(base, Request("GET", path), token)
        if status != 200:
            verdicts.fail(f"unreadable record: {status}", f"GET {path} -> {body[:120]!r}")
            return None
        return json.loads(body)

    read = 0
    listing = get("/v1/apps?per_page=100") or {"apps": []}
    for app in listing["apps"]:
        name = quote(app["name"], safe="")
        read += get(f"/v1/apps/{name}") is not None
        for route in (get(f"/v1/apps/{name}/routes?per_page=100") or {"routes": []})["routes"]:
            read += get(f"/v1/apps/{name}/routes{quote(route['path'])}") is not None
        for call in (get(f"/v1/apps/{name}/calls?per_page=100") or {"calls": []})["calls"]:
            read += get(f"/v1/apps/{name}/calls/{call['id']}") is not None
    return read


# A json function that echoes the request's headers back as response headers (what a careless or
# hostile function can send), and a default one that prints its input; routes f (sync, json),
# g (sync, default) and a (async) in every app.
ECHO_JSON = """import json, sys
for line in sys.stdin:
    req = json.loads(line)
    headers = req.get("protocol", {}).get("headers", {})
    out = {"body": req.get("body", ""), "content_type": "text/plain",
           "protocol": {"status_code": 200, "headers": headers}}
    sys.stdout.write(json.dumps(out) + "\\n"); sys.stdout.flush()
"""
ECHO_DEFAULT = "import sys\nsys.stdout.write(sys.stdin.read())\nsys.stderr.write('x' * 300000)\n"


def deploy_targets(base: str, token: str) -> None:
    """Apps h0..h2 with real functions behind /f, /g and /a, so invokes run code."""
    import hashlib
    import io
    import zipfile

    def bundle(func_yaml: str, code: str) -> str:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("func.yaml", func_yaml)
            archive.writestr("func.py", code)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        send(
            base,
            Request("PUT", f"/v1/bundles/sha256/{digest}", data, (("Content-Type", "application/zip"),)),
            token,
        )
        return f"sha256:{digest}"

    json_fn = bundle("name: f\nruntime: python\nformat: json\n", ECHO_JSON)
    default_fn = bundle("name: g\nruntime: python\n", ECHO_DEFAULT)
    for app in APPS:
        for path, digest, kind, fmt in (
            ("f", json_fn, "sync", "json"),
            ("g", default_fn, "sync", "default"),
            ("a", default_fn, "async", "default"),
        ):
            route = {"image": f"{path}:0.0.1", "bundle": digest, "type": kind, "format": fmt}
            body = json.dumps({"route": route}).encode()
            status, answer, _ = send(
                base,
                Request(
                    "PUT", f"/v1/apps/{app}/routes/{path}", body, (("Content-Type", "application/json"),)
                ),
                token,
            )
            if status != 200:
                raise SystemExit(
                    f"setup failed: PUT /v1/apps/{app}/routes/{path} -> {status} {answer[:200]!r}"
                )


def run(base: str, count: int, seed: int, token: str) -> Verdicts:
    verdicts = Verdicts()
    deploy_targets(base, token)

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # every example counts; shrinking would re-send near-duplicates
        suppress_health_check=list(HealthCheck),
    )
    @given(requests())
    def probe(request: Request) -> None:
        try:
            answer: tuple[int, bytes, str] | BaseException = send(base, request, token)
        except (OSError, http.client.HTTPException) as exc:
            answer = exc
        judge(verdicts, request, answer)

    random.seed(seed)
    probe._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
    probe()
    return verdicts


def report(verdicts: Verdicts, read: int, seconds: float, out: Any = sys.stdout) -> None:
    total = sum(verdicts.statuses.values())
    bad = sum(len(v) for v in verdicts.failures.values())
    print(f"hostile requests: {total} in {seconds:.1f} s; records read back afterwards: {read}", file=out)
    print("statuses: " + ", ".join(f"{s} x{n}" for s, n in sorted(verdicts.statuses.items())), file=out)
    fivexx = sum(n for s, n in verdicts.statuses.items() if s >= 500 or s == 0)
    print(f"5xx or dropped: {fivexx}; failures of any kind: {bad}", file=out)
    for kind, details in sorted(verdicts.failures.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(details):5d}  {kind}", file=out)
        for detail in details[:2]:
            print(f"         e.g. {detail[:300]}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--api-url", default="", help="a running stack; default: start fn start")
    parser.add_argument("--token", default="", help="FN_TOKEN of that stack")
    args = parser.parse_args(argv)
    if args.api_url:
        return _run_against(args.api_url, args)
    from tests.local.support import FnStart, free_port

    stack = FnStart(free_port()).ready()
    try:
        return _run_against(stack.url, args)
    finally:
        stack.stop()


def _run_against(base: str, args: argparse.Namespace) -> int:
    started = time.monotonic()
    verdicts = run(base, args.requests, args.seed, args.token)
    read = read_back(base, args.token, verdicts)
    report(verdicts, read, time.monotonic() - started)
    return 1 if verdicts.failures else 0


if __name__ == "__main__":
    sys.exit(main())
