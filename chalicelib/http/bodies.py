"""How large a request body each resource accepts.

Asked twice: by the use cases before they parse or store a body, and by the local server
(fnq/local/api_server.py) before it reads one, so a 60 MiB body is refused without being held in
memory. Deployed, API Gateway and Lambda refuse bodies over about 6 MB before the app sees them.
"""

from __future__ import annotations

from chalicelib import inputs
from chalicelib.bundles import MAX_BUNDLE_BYTES


def body_limit(path: str, max_request_bytes: int) -> int:
    """The most bytes a body sent to `path` may have; `max_request_bytes` is the invoke limit."""
    if path.startswith("/r/"):
        return max_request_bytes
    if path.startswith("/v1/bundles/"):
        return MAX_BUNDLE_BYTES
    return inputs.MAX_JSON_BODY_BYTES
