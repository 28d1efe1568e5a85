"""Python boilerplate: standard library only, so it runs without installing Fn's fdk.

It answers compact JSON, `{"message":"Hello World"}`, byte for byte what the node and go boilerplate
answer and what the tutorial shows `fn call` and `fn logs get` printing.
"""

from __future__ import annotations

HANDLER = '''import json
import sys


def handler(body):
    """Hello World, or Hello <name> for {"name": ...}."""
    name = "World"
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        data = {}
    if isinstance(data, dict) and data.get("name"):
        name = str(data["name"])
    return {"message": "Hello " + name}
'''

DEFAULT = (
    HANDLER
    + """

if __name__ == "__main__":
    # default format: the request body on stdin, the response on stdout, logs on stderr.
    sys.stdout.write(json.dumps(handler(sys.stdin.read()), separators=(",", ":")))
"""
)

JSON = (
    HANDLER
    + """

def main():
    # json format: one request object per line on stdin, one response object per line on stdout.
    for line in iter(sys.stdin.readline, ""):
        if not line.strip():
            continue
        request = json.loads(line)
        result = handler(request.get("body") or "")
        response = {
            "body": json.dumps(result, separators=(",", ":")),
            "content_type": "application/json",
            "protocol": {"status_code": 200},
        }
        sys.stdout.write(json.dumps(response) + "\\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
"""
)

FILES = {
    "default": {"func.py": DEFAULT},
    "json": {"func.py": JSON},
}
COMMON = {"requirements.txt": "# This function's dependencies, installed into its bundle by `fn deploy`.\n"}
