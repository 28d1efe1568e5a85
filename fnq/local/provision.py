"""Create fnq's table, bucket and queues at a local AWS endpoint; answer the FNQ_* environment.

The resources come from infra/resources.yaml through the endpoint's CloudFormation
(`fnq.local.resources`), so the local stack and a deployed one share one definition.

Run as `python -m fnq.local.provision` to provision the endpoint in AWS_ENDPOINT_URL and
print `export` lines for a shell (the `chalice local` + `fn worker` setup in docs/LOCAL.md).
"""

from __future__ import annotations

import os
import sys

from chalicelib.settings import DEFAULT_REGION, ENV_ENDPOINT_URL, Settings
from fnq.local.resources import create_local_resources

STACK_NAME = "fnq-local"
# On AWS the calls queue's visibility is 6 x the worker Lambda's timeout (90 minutes). Locally a
# message whose worker died should come back soon: 2 minutes, longer than the default lease
# (30 s timeout + 60 s grace) so a live call's copy is not redelivered while it runs.
LOCAL_VISIBILITY_TIMEOUT_SECONDS = 120


def provision(
    endpoint_url: str,
    region: str = DEFAULT_REGION,
    visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT_SECONDS,
) -> dict[str, str]:
    """Create (or find) the resources at `endpoint_url`; answer {FNQ_TABLE: ..., FNQ_BUCKET: ..., ...}."""
    return create_local_resources(endpoint_url, region, STACK_NAME, visibility_timeout)


def main() -> int:
    endpoint = os.environ.get(ENV_ENDPOINT_URL)
    if not endpoint:
        # Never create resources in whatever account the ambient credentials reach.
        print(f"ERROR: set {ENV_ENDPOINT_URL} to the local endpoint to provision", file=sys.stderr)
        return 1
    # The region the API and the worker will read from this same environment.
    for name, value in provision(endpoint, Settings.from_env().region).items():
        print(f"export {name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
