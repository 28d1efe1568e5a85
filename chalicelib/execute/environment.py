"""The environment a function sees: Fn's contract (fn-api.md §3.2) and nothing of the worker's.

The worker runs with AWS credentials, session tokens, endpoints and Lambda's runtime variables in
its environment; none of it is inherited. The function gets a fixed base, then the app's and the
route's config (merged before it reaches us, route winning), then Fn's `FN_*` variables, and the
executor adds `TMPDIR` and `HOME`: the call's workspace (workspace.py), which config cannot move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chalicelib.ids import format_time
from chalicelib.ports import Invocation

# RFC 7230's token characters: the header names Go puts in canonical form.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

BASE_ENV: Mapping[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
}


def container_env(invocation: Invocation, runtime_env: Mapping[str, str]) -> dict[str, str]:
    """Set once per process (Fn's `buildConfig`): what a hot process keeps for all its calls."""
    env = dict(BASE_ENV)
    env.update(runtime_env)
    env.update(_valid(invocation.config))
    env.update(
        {
            "FN_FORMAT": invocation.format.value,
            "FN_APP_NAME": invocation.app_name,
            "FN_PATH": invocation.path,
            "FN_MEMORY": str(invocation.memory),
            "FN_TYPE": invocation.type.value,
        }
    )
    return env


def cold_env(invocation: Invocation, runtime_env: Mapping[str, str]) -> dict[str, str]:
    """The `default` format adds the call's own variables (Fn's `prepCold`)."""
    env = container_env(invocation, runtime_env)
    env.update(
        {
            "FN_DEADLINE": format_time(invocation.deadline),
            "FN_METHOD": invocation.method,
            "FN_REQUEST_URL": invocation.request_url,
            "FN_CALL_ID": invocation.call_id,
        }
    )
    env.update(_valid(header_env(invocation.headers)))
    return env


def header_env(headers: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """`FN_HEADER_<Canonical-Name>` = values joined by ", ", as Fn's code (not its docs) does."""
    return {f"FN_HEADER_{canonical_header(name)}": ", ".join(values) for name, values in headers.items()}


def canonical_header(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey: `content-type` → `Content-Type`, `FOO_BAR` → `Foo_bar`.

    As in Go, a name holding anything but HTTP token characters (a space, a non-ASCII letter) is
    left as it came: Python's own case mapping would turn `straße` into `Straße`, `ß` into `SS`.
    """
    if not _TOKEN.issuperset(name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _valid(variables: Mapping[str, str]) -> dict[str, str]:
    # execve cannot carry a name with "=" or a NUL anywhere; such entries are dropped, not fatal.
    return {k: v for k, v in variables.items() if k and "=" not in k and "\0" not in k and "\0" not in v}
