"""`make demo`: the async tutorial of DESIGN.md §1, run for real, start to finish.

Starts `fn start` on a free port, runs the tutorial's `fn` commands in a temporary directory
(printing each command and its output), stops the stack, and exits 0 only if the call ended
`Status: success` with the log `{"message":"Hello World"}`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from fnq.local import CODE_ROOT

# The `fn` installed next to this interpreter: the project's own, never another on PATH.
FN = str(Path(sys.executable).with_name("fn"))
CALL_ID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
EXPECTED_LOG = {"message": "Hello World"}
START_TIMEOUT_SECONDS = 60.0


class DemoFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo_environment(api_url: str) -> dict[str, str]:
    # Nothing of the caller's AWS set-up: the demo talks to the embedded stack only.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FNQ_"))}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = CODE_ROOT if not path else os.pathsep.join([CODE_ROOT, path])
    env["FN_API_URL"] = api_url
    return env


def run(argv: list[str], cwd: Path, env: dict[str, str], shown: str | None = None) -> str:
    """Run a tutorial command the way a user would, echoing it and its output."""
    print(f"$ {shown or shlex.join(['fn', *argv[1:]] if argv[0] == FN else argv)}", flush=True)
    # One pipe for both streams keeps their lines in the order a terminal would show them.
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    output = done.stdout
    print(output, end="" if output.endswith("\n") or not output else "\n", flush=True)
    if done.returncode != 0:
        raise DemoFailed(f"{shown or shlex.join(argv)} exited with status {done.returncode}")
    return output


def wait_until_up(api_url: str, stack: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise DemoFailed(f"fn start exited with status {stack.returncode}")
        try:
            with urllib.request.urlopen(f"{api_url}/version", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise DemoFailed(f"{api_url}/version did not answer within {START_TIMEOUT_SECONDS:.0f} s")


def add_async_type(func_yaml: Path) -> None:
    """The tutorial's `$EDITOR func.yaml`: add `type: async` (replacing any type line)."""
    lines = [line for line in func_yaml.read_text().splitlines() if not line.startswith("type:")]
    func_yaml.write_text("\n".join([*lines, "type: async"]) + "\n")


def wait_for_call(work: Path, env: dict[str, str], call_id: str) -> str:
    """`fn calls get --wait`: blocks until the call is final, then prints its block."""
    return run([FN, "calls", "get", "--wait", "myapp", call_id], work, env)


def tutorial(work: Path, env: dict[str, str]) -> None:
    run([FN, "init", "--runtime", "python", "asyncfn"], work, env)
    function = work / "asyncfn"
    print("$ cd asyncfn && echo 'type: async' >> func.yaml", flush=True)
    add_async_type(function / "func.yaml")
    run([FN, "deploy", "--local", "--app", "myapp"], function, env)
    found = CALL_ID.search(run([FN, "call", "myapp", "/asyncfn"], function, env))
    if found is None:
        raise DemoFailed("fn call printed no call id")
    call_id = found.group(0)
    status = wait_for_call(function, env, call_id)
    log = run([FN, "logs", "get", "myapp", call_id], function, env)
    if "Status: success" not in status:
        raise DemoFailed("the call did not end with Status: success")
    try:
        logged = json.loads(log)
    except ValueError as exc:
        raise DemoFailed(f"the log is not JSON: {log!r}") from exc
    if logged != EXPECTED_LOG:
        raise DemoFailed(f"the log is {log.strip()!r}, expected {json.dumps(EXPECTED_LOG)}")


def main() -> int:
    port = free_port()
    api_url = f"http://localhost:{port}"
    env = demo_environment(api_url)
    with tempfile.TemporaryDirectory(prefix="fnq-demo-") as tmp:
        work = Path(tmp)
        stack_log = work / "fn-start.log"
        # `python -m fnq.local` is `fn start`, without depending on how the CLI registers it.
        print(f"$ fn start --port {port} --ephemeral &   (its output is shown if the demo fails)", flush=True)
        with open(stack_log, "wb") as log_file:
            stack = subprocess.Popen(
                # --ephemeral: the demo leaves nothing behind, and never touches ~/.fnq.
                [sys.executable, "-m", "fnq.local", "--port", str(port), "--ephemeral"],
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        failure: str | None = None
        try:
            wait_until_up(api_url, stack)
            tutorial(work, env)
        except (DemoFailed, subprocess.TimeoutExpired) as exc:
            failure = str(exc)
        finally:
            if stack.poll() is None:
                stack.send_signal(signal.SIGTERM)
            try:
                stopped = stack.wait(30)
            except subprocess.TimeoutExpired:
                stack.kill()
                stopped = stack.wait()
            if stopped != 0 and failure is None:
                failure = f"fn start exited with status {stopped} on SIGTERM"
        if failure is not None:
            print(f"--- fn start output ---\n{stack_log.read_text(errors='replace')}", file=sys.stderr)
            print(f"DEMO FAILED: {failure}", file=sys.stderr)
            return 1
    print("Demo OK: the async call succeeded and logged Hello World; the stack stopped cleanly.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
