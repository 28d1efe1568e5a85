"""Hostile requests, generated: every answer must be a 2xx/4xx in Fn's shape, and every record readable.

    python -m bench.hostile                       # starts `fn start` on free ports, 2,000 requests
    python -m bench.hostile --requests 20000 --seed 7
    python -m bench.hostile --api-url http://localhost:8080   # a running stack (its data is changed)

Requests are drawn with Hypothesis from Fn's v1 API (apps, routes, invokes, calls, listings) with
values chosen to hurt: numbers DynamoDB cannot hold, empty and huge keys, deep nesting, lone
surrogates, CR/LF in header names and values, unknown methods, bodies of every size, and issue
#11's exact inputs. Apps t0 and t1 hold real functions (never deleted, so invokes run code); one
of them answers with whatever response headers and status its request body names. tests/hostile/
runs the same generator, fewer examples, in `make test`.

An answer is a failure when it is a 5xx (except a function's own answer, which carries the call's
id: the status a json function chose, Fn's 502/504 for its failure or timeout), when the
connection drops, when an error is not Fn's JSON envelope, or when a header was injected into it.
Afterwards every app, route and call listed must read back. It prints the counts and the first
failures of each kind; exit status 1 if any.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.client
import io
import json
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

APPS = ["h0", "h1", "h2"]  # created, changed and deleted by the requests
TARGETS = ["t0", "t1"]  # hold the functions below; never deleted, so invokes reach code
FUNCTIONS = ["f", "g", "a", "p", "q"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return f"{self.method} {self.path[:120]} body={self.body[:160]!r} headers={list(self.headers)[:3]!r}"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


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
        "€",
        "\\ud800",
        "<script>alert(1)</script>",
        "../..",
        "/",
    ]
)
# Mostly short, sometimes long; half a megabyte (a record DynamoDB cannot hold) now and then.
long_text = st.builds(lambda n: "x" * n, st.sampled_from([600, 1_100, 5_000, 70_000, 500_000]))
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
    kind = draw(st.sampled_from(["plain", "plain", "plain", "number", "deep", "surrogate", "garbage"]))
    if kind == "number":
        return draw(st.sampled_from(NASTY_NUMBERS))
    if kind == "deep":
        depth = draw(st.sampled_from([31, 33, 100, 1000, 100_000]))
        return "[" * depth + "]" * depth
    if kind == "surrogate":
        return '"\\ud800x"'
    if kind == "garbage":
        return draw(st.sampled_from(["{", "", "null", "[]", '"x"', "{}", "[null, null]", "\xff"]))
    return json.dumps(draw(value))


def string_map(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.dictionaries(text, values, max_size=4).map(json.dumps),
        st.dictionaries(st.sampled_from(["K", "A_B", "x"]), values, max_size=3).map(json.dumps),
        st.sampled_from(['{"": "v"}', '{"k": 1.5}', '{"k": [1, 2]}', "[1, 2]", '"x"', '{"a=b": "v"}']),
    )


def wrap(name: str, fields: dict[str, str], chosen: list[str]) -> bytes:
    inner = "{" + ",".join(f'"{k}":{fields[k]}' for k in chosen) + "}"
    return ('{"' + name + '":' + inner + "}").encode("utf-8", "surrogatepass")


@st.composite
def app_body(draw: st.DrawFn) -> bytes:
    fields = {
        "name": draw(st.one_of(st.sampled_from(APPS), st.sampled_from(APPS), text).map(json.dumps)),
        "config": draw(string_map(text.map(json.dumps))),
        "annotations": draw(st.one_of(raw_json(json_value), string_map(raw_json(json_value)))),
    }
    return wrap("app", fields, draw(st.lists(st.sampled_from(sorted(fields)), unique=True)))


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
        "cpus": draw(st.sampled_from(['"500m"', '"0.5"', '"' + "9" * 5000 + 'm"', "1"])),
        "config": draw(string_map(text.map(json.dumps))),
        "headers": draw(
            st.one_of(
                st.dictionaries(text, st.lists(text, max_size=3), max_size=3).map(json.dumps),
                st.sampled_from(
                    [
                        '{"": ["x"]}',
                        '{"a\\r\\nb": ["x"]}',
                        '{"X": ["a\\r\\nb"]}',
                        '{"é": ["x"]}',
                        '{"\\u20ac": ["x"]}',
                        '{"X": ["\\u20ac"]}',
                        '{"Content-Length": ["1"]}',
                        '{"X-Ok": ["fine"]}',
                    ]
                ),
            )
        ),
        "annotations": draw(string_map(raw_json(json_value))),
    }
    return wrap("route", fields, draw(st.lists(st.sampled_from(sorted(fields)), unique=True)))


segment = st.one_of(
    st.sampled_from([*APPS, *TARGETS, *FUNCTIONS, "nope"]), short_text.map(lambda t: quote(t, safe=""))
)
query = st.dictionaries(
    st.sampled_from(["cursor", "per_page", "path", "from_time", "to_time", "status", "image"]),
    st.one_of(
        text, st.integers().map(str), st.sampled_from(["queued", "error", "-1", "1e9", "%ff", "x" * 3000])
    ),
    max_size=3,
)
header_pair = st.tuples(
    st.one_of(
        st.sampled_from(
            [
                "X-A",
                "Content-Type",
                "Fn-Intent",
                "Authorization",
                "Accept",
                "Fn-Delay",
                "Fn-Not-Before",
                "Idempotency-Key",
            ]
        ),
        text,
    ),
    st.one_of(
        text,
        st.sampled_from(
            [
                "Bearer é",
                "application/json",
                "text/plain",
                "*/*",
                "x" * 6000,
                "1" + "0" * 18,
                "-" + "9" * 20,
                "5",
                "9999-12-31T23:59:59Z",
                "0001-01-01T00:00:00+14:00",
                "2026-13-45T99:00:00",
            ]
        ),
    ),
)
# What the answering functions (p, q) are asked to answer: headers HTTP cannot carry, headers
# the server sets, statuses out of range, error texts of any size.
protocol_answer = st.fixed_dictionaries(
    {
        "status_code": st.one_of(
            st.sampled_from([200, 201, 404, 418, 500, 0, 99, 600, -1, "200"]), st.just("x" * 300_000)
        ),
        "headers": st.one_of(
            st.dictionaries(text, st.lists(text, max_size=2), max_size=3),
            st.sampled_from(
                [
                    {"X-A\r\nSet-Cookie": ["x=1"]},
                    {"X-B": ["a\r\nSet-Cookie: y=2"]},
                    {"\u20ac": ["euro"]},
                    {"Content-Length": ["1"]},
                    {"Fn_call_id": ["forged"]},
                    {"X-Ok": ["fine"]},
                ]
            ),
        ),
    }
)


@functools.cache
def issue_causes(app: str) -> tuple[Request, ...]:
    """Issue #11's exact inputs (the acceptance table in tests/test_hostile_inputs.py has them too)."""
    json_type = (("Content-Type", "application/json"),)

    def post_app(fields: str) -> Request:
        return Request("POST", "/v1/apps", f'{{"app": {{"name": "{app}", {fields}}}}}'.encode(), json_type)

    def post_route(fields: str) -> Request:
        body = f'{{"route": {{"path": "/r", "image": "r:0.0.1", {fields}}}}}'.encode()
        return Request("POST", f"/v1/apps/{app}/routes", body, json_type)

    return (
        *(
            post_app(f'"annotations": {{"k": {number}}}')
            for number in ["1.5", "1e400", "NaN", "Infinity", "1" * 39]
        ),
        post_app('"annotations": {"k": [null, null]}'),
        post_app('"annotations": {"k": ' + "[" * 1000 + "]" * 1000 + "}"),
        post_app('"config": {"K": "' + "x" * 500_000 + '"}'),
        post_app('"annotations": {"k": "' + "x" * 500_000 + '"}'),
        post_app('"config": {"": "v"}'),
        post_app('"annotations": {"": 1}'),
        post_route('"headers": {"X": ["' + "x" * 450_000 + '"]}'),
        post_route('"config": {"K": "' + "x" * 450_000 + '"}'),
        post_route('"headers": {"": ["x"]}'),
        post_route('"headers": {"X": ["a\\r\\nb"]}'),
        post_route('"headers": {"\\u20ac": ["x"]}'),
        post_route('"headers": {"X\\r\\nSet-Cookie": ["x=1"]}'),
        Request(
            "POST", f"/v1/apps/{app}/routes", b'{"route": {"path": "/' + b"a" * 1100 + b'", "image": "x"}}'
        ),
        Request("POST", f"/v1/apps/{app}/routes", b'{"route": {"path": "/\\ud800", "image": "x"}}'),
        Request("POST", "/v1/apps", _huge_bodies()[0], json_type),
        Request("POST", "/v1/apps", _huge_bodies()[1], json_type),
        Request("POST", f"/r/{TARGETS[0]}/a", b"{}", tuple((f"X-H{i}", "v" * 5000) for i in range(90))),
        Request("GET", "/v1/apps", b"", (("Authorization", "Bearer é"),)),
        *(Request(method, "/v1/apps") for method in ["TRACE", "FOO", "CONNECT"]),
        Request("POST", f"/r/{TARGETS[0]}/q", json.dumps({"status_code": "x" * 300_000}).encode(), json_type),
    )


@functools.cache
def _huge_bodies() -> tuple[bytes, bytes]:
    """A 60 MiB JSON body and a 3-million-element array, made once and shared."""
    return (
        b'{"app": {"name": "big", "config": {"K": "' + b"x" * (60 << 20) + b'"}}}',
        b'{"app": {"annotations": {"k": [' + b"0," * 2_999_999 + b"0]}}}",
    )


@st.composite
def requests(draw: st.DrawFn) -> Request:
    kind = draw(
        st.sampled_from(
            ["app", "app", "route", "route", "invoke", "invoke", "invoke", "read", "read", "method", "cause"]
        )
    )
    # Mostly apps that exist (requests on them reach the rules), sometimes names that cannot.
    app = draw(st.sampled_from([*APPS, *TARGETS])) if draw(st.integers(0, 9)) < 8 else draw(segment)
    json_type = (("Content-Type", "application/json"),)
    if kind == "app":
        method = draw(st.sampled_from(["POST", "PATCH", "PATCH", "DELETE", "GET"]))
        if method == "DELETE" and app in TARGETS:
            method = "PATCH"  # the functions' apps stay
        path = "/v1/apps" if method == "POST" else f"/v1/apps/{app}"
        return Request(method, path, draw(app_body()), json_type)
    if kind == "route":
        method = draw(st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]))
        route = draw(
            st.one_of(st.just("r"), segment, st.builds(lambda n: "a/" * n, st.sampled_from([3, 10, 600])))
        )
        if app in TARGETS and route in FUNCTIONS and method in ("PUT", "PATCH", "DELETE"):
            route = "r"  # the functions' routes stay as deployed
        path = f"/v1/apps/{app}/routes" + ("" if method == "POST" else f"/{route}")
        return Request(method, path, draw(route_body()), json_type)
    if kind == "invoke":
        target_app = draw(st.sampled_from(TARGETS)) if draw(st.integers(0, 9)) < 8 else draw(segment)
        function = draw(st.sampled_from(FUNCTIONS)) if draw(st.integers(0, 9)) < 8 else draw(segment)
        method = draw(st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH"]))
        headers = tuple(draw(st.lists(header_pair, max_size=4)))
        if function in ("p", "q"):
            body = json.dumps(draw(protocol_answer)).encode()
        else:
            body = draw(
                st.one_of(
                    st.binary(max_size=64), st.builds(lambda n: b"x" * n, st.sampled_from([70_000, 7 << 20]))
                )
            )
        return Request(method, f"/r/{target_app}/{function}", body, headers)
    if kind == "read":
        target = draw(
            st.sampled_from(
                ["calls", "routes", "calls/01ARZ3NDEKTSV4RRFFQ69G5FAV", "calls/x/log", "", "routes/f"]
            )
        )
        params = "&".join(f"{k}={quote(v)}" for k, v in draw(query).items())
        base = "/v1/apps" if draw(st.booleans()) and not target else f"/v1/apps/{app}/{target}".rstrip("/")
        return Request("GET", f"{base}?{params}")
    if kind == "cause":
        return draw(st.sampled_from(issue_causes(draw(st.sampled_from(APPS)))))
    method = draw(st.sampled_from(["TRACE", "FOO", "OPTIONS", "HEAD", "CONNECT"]))
    return Request(method, draw(st.sampled_from(["/v1/apps", f"/r/{app}/f", "/", "/v1/nope"])))


# --- sending and judging ----------------------------------------------------------------------
@dataclass
class Verdicts:
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, kind: str, detail: str) -> None:
        self.failures.setdefault(kind, []).append(detail)

    @property
    def tried(self) -> int:
        return sum(self.statuses.values())


def send(base: str, request: Request, token: str) -> Answer:
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
        return Answer(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
    finally:
        conn.close()


def judge(verdicts: Verdicts, request: Request, answer: Answer | BaseException) -> None:
    if isinstance(answer, BaseException):
        verdicts.statuses[0] += 1
        verdicts.fail(f"dropped: {type(answer).__name__}", request.describe())
        return
    status = answer.status
    verdicts.statuses[status] += 1
    # An invoke answered with the call's id is the function's answer, whatever its status: the
    # status it chose (json format), or Fn's 502/504 for its own failure or timeout.
    functions_answer = request.path.startswith("/r/") and "fn_call_id" in answer.headers
    if status >= 500 and not functions_answer:
        verdicts.fail(f"{status}: {answer.body[:100]!r}", request.describe())
    if status >= 400 and request.method != "HEAD" and not functions_answer:
        try:
            message = json.loads(answer.body)["error"]["message"]
            assert isinstance(message, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            content_type = answer.headers.get("content-type", "")
            verdicts.fail(
                f"{status}: not Fn's envelope ({content_type})",
                f"{request.describe()} -> {answer.body[:100]!r}",
            )
    injected = {"set-cookie", "x-c"} & set(answer.headers)
    if injected or answer.headers.get("fn_call_id") == "forged":
        verdicts.fail("header injected into the response", f"{request.describe()} -> {answer.headers!r}")


def read_back(base: str, token: str, verdicts: Verdicts) -> int:
    """Every app, route and call the API lists must read back; answers how many records were read."""

    def get(path: str) -> Any:
        answer = send(base, Request("GET", path), token)
        if answer.status != 200:
            verdicts.fail(f"unreadable record: {answer.status}", f"GET {path} -> {answer.body[:120]!r}")
            return None
        return json.loads(answer.body)

    read = 0
    cursor = ""
    while True:
        listing = get("/v1/apps?per_page=100" + (f"&cursor={cursor}" if cursor else "")) or {"apps": []}
        for app in listing["apps"]:
            name = quote(app["name"], safe="")
            read += get(f"/v1/apps/{name}") is not None
            for route in (get(f"/v1/apps/{name}/routes?per_page=100") or {"routes": []})["routes"]:
                read += get(f"/v1/apps/{name}/routes{quote(route['path'])}") is not None
            for call in (get(f"/v1/apps/{name}/calls?per_page=100") or {"calls": []})["calls"]:
                read += get(f"/v1/apps/{name}/calls/{call['id']}") is not None
        cursor = listing.get("next_cursor", "")
        if not cursor:
            return read


# json-format functions: f echoes the request's headers back as response headers (what a careless
# function does); p and q answer with the protocol their request body names (what a hostile one
# does). A default-format function echoes its input and writes 300 KB to stderr.
ECHO_JSON = """import json, sys
for line in sys.stdin:
    req = json.loads(line)
    headers = req.get("protocol", {}).get("headers", {})
    out = {"body": req.get("body", ""), "content_type": "text/plain",
           "protocol": {"status_code": 200, "headers": headers}}
    sys.stdout.write(json.dumps(out) + "\\n"); sys.stdout.flush()
"""
ANSWERS_JSON = """import json, sys
for line in sys.stdin:
    try:
        protocol = json.loads(json.loads(line).get("body") or "{}")
    except ValueError:
        protocol = {}
    out = {"body": "done", "content_type": "text/plain", "protocol": protocol}
    sys.stdout.write(json.dumps(out) + "\\n"); sys.stdout.flush()
"""
ECHO_DEFAULT = "import sys\nsys.stdout.write(sys.stdin.read())\nsys.stderr.write('x' * 300000)\n"


def deploy_targets(base: str, token: str) -> None:
    """Apps t0 and t1 with real functions behind /f, /g, /a, /p and /q, so invokes run code; h0..h2."""
    for app in APPS:
        send(base, Request("POST", "/v1/apps", json.dumps({"app": {"name": app}}).encode()), token)

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

    echo_json = bundle("name: f\nruntime: python\nformat: json\n", ECHO_JSON)
    answers = bundle("name: p\nruntime: python\nformat: json\n", ANSWERS_JSON)
    echo_default = bundle("name: g\nruntime: python\n", ECHO_DEFAULT)
    for app in TARGETS:
        for path, digest, kind, fmt in (
            ("f", echo_json, "sync", "json"),
            ("g", echo_default, "sync", "default"),
            ("a", echo_default, "async", "default"),
            ("p", answers, "sync", "json"),
            ("q", answers, "async", "json"),
        ):
            route = {"image": f"{path}:0.0.1", "bundle": digest, "type": kind, "format": fmt}
            body = json.dumps({"route": route}).encode()
            answer = send(
                base,
                Request(
                    "PUT", f"/v1/apps/{app}/routes/{path}", body, (("Content-Type", "application/json"),)
                ),
                token,
            )
            if answer.status != 200:
                raise SystemExit(
                    f"setup failed: PUT /v1/apps/{app}/routes/{path} -> {answer.status} {answer.body[:200]!r}"
                )


def run(base: str, count: int, seed_value: int, token: str) -> Verdicts:
    """Deploy the targets, then send `count` generated requests (the same ones for the same seed)."""
    verdicts = Verdicts()
    deploy_targets(base, token)

    @seed(seed_value)
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
            answer: Answer | BaseException = send(base, request, token)
        except (OSError, http.client.HTTPException) as exc:
            answer = exc
        judge(verdicts, request, answer)

    probe()
    return verdicts


def report(verdicts: Verdicts, read: int, seconds: float, out: Any = sys.stdout) -> None:
    bad = sum(len(v) for v in verdicts.failures.values())
    print(
        f"hostile requests: {verdicts.tried} in {seconds:.1f} s; records read back afterwards: {read}",
        file=out,
    )
    print("statuses: " + ", ".join(f"{s} x{n}" for s, n in sorted(verdicts.statuses.items())), file=out)
    platform = sum(
        len(v) for kind, v in verdicts.failures.items() if kind[:1] == "5" or kind.startswith("dropped")
    )
    print(f"5xx (not a function's own 502/504) or dropped: {platform}; failures of any kind: {bad}", file=out)
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
