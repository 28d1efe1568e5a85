"""A Lambda sandbox in miniature: run as `python -I -S lambda_runtime.py TASK_DIR RUNTIME_DIR HANDLER`.

The interpreter sees the standard library, the unpacked deployment package (TASK_DIR, as
/var/task) and the libraries the Lambda Python runtime provides (RUNTIME_DIR: boto3, botocore and
theirs), nothing else. It imports HANDLER ("app.app", "app.handle_calls") once, as a cold start does,
then answers invocations: one JSON line on stdin, {"event": ..., "timeout_ms": N, "memory_mb": N},
one JSON line on stdout, {"response": ...} or {"error": "..."}. Everything else the code writes to
stdout or stderr goes to stderr, as Lambda sends it to CloudWatch Logs.

Standard library only: it runs before anything else is importable.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any


class Context:
    """The Lambda context object's fields and method that handlers use."""

    def __init__(self, function_name: str, timeout_ms: int, memory_mb: int) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = str(memory_mb)  # a string, as the runtime gives it
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    task_dir, runtime_dir, handler_name = sys.argv[1:4]
    sys.path[:0] = [task_dir, runtime_dir]
    os.chdir(task_dir)
    # Replies go to the original stdout; anything printed by the code goes to stderr.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    module_name, attribute = handler_name.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), attribute)
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", attribute)
    for line in sys.stdin:
        request = json.loads(line)
        context = Context(function_name, int(request["timeout_ms"]), int(request["memory_mb"]))
        reply: dict[str, Any]
        try:
            reply = {"response": handler(request["event"], context)}
        except Exception:
            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
