"""Functions are guests (issue #10): each test deploys a function that tries an attack on `fn start`
run as an unprivileged uid with a token, and shows the attack fails."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from bench.guests import run_burst
from chalicelib.execute.tree import is_alive
from chalicelib.settings import DEFAULT_REGION
from fnq.local.resources import FAKE_KEY
from tests.execute.test_orphans import DAEMONIZE
from tests.local.support import FnStart, Http
from tests.security.support import (
    NOBODY,
    TOKEN,
    deploy,
    fn_start_as_nobody,
    output_of_async_call,
    zombies_of,
)
from tests.support import until
from tests.test_tokens_headers import SHOW_DEFAULT, SHOW_JSON

pytestmark = pytest.mark.e2e
CAP = 4


@pytest.fixture(scope="module")
def stack() -> Iterator[FnStart]:
    # Calls past the cap wait long enough for all 200 of the burst to be served.
    with fn_start_as_nobody(
        FNQ_MAX_PROCESSES_PER_FUNCTION=str(CAP), FNQ_PROCESS_WAIT_SECONDS="60"
    ) as started:
        yield started


@pytest.fixture
def http(stack: FnStart) -> Http:
    return Http(stack.url, token=TOKEN)


READ_THE_PARENT = """
import json, os

def attempt(path):
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError as exc:
        return type(exc).__name__
    return "read: " + ", ".join(n for n in ("FNQ_API_TOKEN", "AWS_SECRET_ACCESS_KEY") if n.encode() in data)

parent = os.getppid()
print(json.dumps({
    "uid": os.getuid(),
    "environ": attempt(f"/proc/{parent}/environ"),
    "mem": attempt(f"/proc/{parent}/mem"),
    "own environ": attempt("/proc/self/environ"),
}))
"""


def test_a_function_cannot_read_the_environment_of_the_api_or_the_worker(http: Http, tmp_path: Path) -> None:
    # GIVEN a function reading its parent's /proc/<pid>/environ and mem: for a sync call the API
    # process (which holds the token), for an async call the worker
    deploy(http, tmp_path, "spy", "sync", READ_THE_PARENT)
    deploy(http, tmp_path, "spy", "async", READ_THE_PARENT, type="async")

    # WHEN it runs both ways
    status, _, reply = http.call("spy", "sync")
    assert status == 200, reply
    from_api = json.loads(reply)
    from_worker = json.loads(output_of_async_call(http, "spy", "async"))

    # THEN it runs as the same unprivileged uid as the platform, reads its own environment, and
    # the kernel refuses it the platform's
    for seen in (from_api, from_worker):
        assert seen == {
            "uid": NOBODY,
            "environ": "PermissionError",
            "mem": "PermissionError",
            "own environ": "read: ",
        }


READ_THE_EMBEDDED_AWS = """
import json, os

def attempt(path):
    try:
        with open(path, "rb") as f:
            f.read(1 << 20)
    except OSError as exc:
        return type(exc).__name__
    return "read"

def endpoint():
    # The one of the fn start that runs this sync call (this process's parent): others may run.
    mine = f"\\0--parent-pid\\0{os.getppid()}\\0".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"fnq.local.endpoint_process" in cmdline and mine in cmdline:
            return int(pid)

pid = endpoint()
print(json.dumps({
    "pid": pid,
    "environ": attempt(f"/proc/{pid}/environ"),
    "mem": attempt(f"/proc/{pid}/mem"),
}))
"""


def test_a_function_cannot_read_the_embedded_aws_process(stack: FnStart, http: Http, tmp_path: Path) -> None:
    # GIVEN a function that finds its stack's embedded AWS's process (it holds every app's calls,
    # bodies and logs) by its command line and reads its /proc/<pid>/environ and mem. environ is
    # what the non-dumpable setting decides (same uid); mem is refused by Yama's ptrace scope too.
    deploy(http, tmp_path, "spy", "aws", READ_THE_EMBEDDED_AWS)

    # WHEN it runs
    status, _, reply = http.call("spy", "aws")
    assert status == 200, reply

    # THEN it found that process, run by the same uid, and the kernel refused it both
    assert json.loads(reply) == {"pid": stack.aws_pid, "environ": "PermissionError", "mem": "PermissionError"}


def test_the_token_reaches_neither_a_function_nor_its_input_nor_its_call_record(
    stack: FnStart, http: Http, tmp_path: Path
) -> None:
    # GIVEN functions showing their whole environment, and (json) their whole input line
    deploy(http, tmp_path, "nosy", "env", SHOW_DEFAULT)
    deploy(http, tmp_path, "nosy", "input", SHOW_JSON, format="json", type="async")

    # WHEN each is called with the token
    status, headers, reply = http.call("nosy", "env")
    assert status == 200, reply
    status, async_headers, accepted = http.call("nosy", "input")
    assert status == 202, accepted
    async_id = async_headers["Fn_call_id"]
    assert http.wait_for_call("nosy", async_id)["status"] == "success"
    shown = [reply.decode(), http.log_of("nosy", async_id)]

    # THEN the token is in neither what they saw nor the records the embedded DynamoDB holds,
    # which do hold the request's other headers
    assert "FN_HEADER_Content-Type" in shown[0] and '"Content-Type"' in shown[1]
    records = [stored_call(stack, call_id) for call_id in (headers["Fn_call_id"], async_id)]
    assert all("text/plain" in record for record in records)
    for text in shown + records:
        assert TOKEN not in text


VICTIM = """
import json
print(json.dumps({"victim": "runs its own code"}))
"""
# Rewrites every other bundle it finds beside its own code directory, and adds a json.py there
# (the victim's `import json` would find it first).
REWRITE_THE_OTHERS = """
import json, os
mine = os.getcwd()
root = os.path.dirname(mine)
changed = []
for name in sorted(os.listdir(root)):
    other = os.path.join(root, name)
    if other == mine or not os.path.isdir(other):
        continue
    os.chmod(other, 0o755)
    os.chmod(os.path.join(other, "func.py"), 0o644)
    with open(os.path.join(other, "func.py"), "w") as f:
        f.write("print('pwned')\\n")
    with open(os.path.join(other, "json.py"), "w") as f:
        f.write("raise SystemExit('pwned')\\n")
    changed.append(name)
print(json.dumps(changed))
"""


def test_rewriting_another_bundles_extracted_files_does_not_change_what_it_runs(
    http: Http, tmp_path: Path
) -> None:
    # GIVEN a victim that has run once (its bundle is extracted in the API's cache)
    deploy(http, tmp_path, "victim", "hello", VICTIM)
    deploy(http, tmp_path, "attacker", "rewrite", REWRITE_THE_OTHERS)
    assert http.call("victim", "hello")[2] == b'{"victim": "runs its own code"}\n'

    # WHEN another function rewrites the files of every bundle beside its own, and adds a module
    status, _, reply = http.call("attacker", "rewrite")
    assert status == 200 and json.loads(reply), reply  # it did change them

    # THEN the victim still runs its own code
    status, _, reply = http.call("victim", "hello")
    assert (status, reply) == (200, b'{"victim": "runs its own code"}\n')


def test_a_double_forked_daemon_is_gone_when_its_call_ends(http: Http, tmp_path: Path) -> None:
    # GIVEN a function that double-forks a daemon (its own session, stdio on /dev/null)
    deploy(http, tmp_path, "daemons", "sync", DAEMONIZE)
    deploy(http, tmp_path, "daemons", "async", DAEMONIZE, type="async")

    # WHEN it runs in the API process and in the worker
    status, _, reply = http.call("daemons", "sync")
    assert status == 200, reply
    from_api = int(reply)
    from_worker = int(output_of_async_call(http, "daemons", "async"))

    # THEN each daemon is gone as its call ends (a bounded poll: killing takes a moment)
    assert until(lambda: not is_alive(from_api)), f"daemon {from_api} outlived its call"
    assert until(lambda: not is_alive(from_worker)), f"daemon {from_worker} outlived its call"


# Leaves three children it never waits for, and a grandchild in a session of its own that exits.
FORK_AND_FORGET = """
import os
for _ in range(3):
    if os.fork() == 0:
        os._exit(0)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os._exit(0)
    os._exit(0)
print("forked")
"""


def test_no_zombie_is_left_after_50_forking_calls(http: Http, tmp_path: Path) -> None:
    deploy(http, tmp_path, "forks", "sync", FORK_AND_FORGET)
    deploy(http, tmp_path, "forks", "async", FORK_AND_FORGET, type="async")

    for _ in range(40):
        assert http.call("forks", "sync")[0] == 200
    ids = [json.loads(http.call("forks", "async")[2])["call_id"] for _ in range(10)]
    calls = [http.wait_for_call("forks", call_id) for call_id in ids]
    assert [call["status"] for call in calls] == ["success"] * 10, [call.get("error") for call in calls]

    assert until(lambda: not zombies_of(NOBODY)), f"zombies left: {zombies_of(NOBODY)}"


def test_200_concurrent_sync_calls_stay_within_the_cap_and_version_keeps_answering(
    stack: FnStart, tmp_path: Path
) -> None:
    # GIVEN a hot function capped at CAP processes
    # WHEN 200 sync calls arrive at once, while its processes are counted and /version is timed
    burst = run_burst(stack.url, tmp_path, calls=200, cap=CAP, token=TOKEN)
    print(burst.render())

    # THEN there were never more processes than the cap, every call was served or refused with
    # Retry-After, and /version answered every time
    assert burst.violations == [], burst.render()
    assert burst.most_processes == CAP and burst.statuses[200] > 0


def stored_call(stack: FnStart, call_id: str) -> str:
    """The call's item as fn start's embedded DynamoDB holds it (its endpoint and table from the banner)."""
    endpoint = re.search(r"AWS endpoint\s+(\S+)", stack.output)
    table = re.search(r"^\s+table\s+(\S+)", stack.output, re.MULTILINE)
    assert endpoint and table, stack.output
    db = boto3.client(
        "dynamodb",
        endpoint_url=endpoint[1],
        region_name=DEFAULT_REGION,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_KEY,
    )
    item = db.get_item(TableName=table[1], Key={"pk": {"S": f"CALL#{call_id}"}, "sk": {"S": "#CALL"}})
    return json.dumps(item["Item"], default=str)
