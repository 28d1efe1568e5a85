"""The deployed API's time limits, read from .chalice/config.json, for `fn start`'s API.

A sync call runs inside the API's invocation: deployed, API Gateway answers 504 once the
integration has run 29 s, and Lambda ends the API function at its own timeout. `fn start` takes
the sync cap of the default stage (`FNQ_MAX_SYNC_TIMEOUT`) and ends a request at the earlier of
the two limits (api_server.py), so that nothing runs locally that the deployed API would cut.
Both can be set in the shell (a small limit makes a test fast); the stage's numbers are read, not
copied here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.settings import ENV_MAX_SYNC_TIMEOUT
from fnq.local import CODE_ROOT

CHALICE_CONFIG = Path(CODE_ROOT) / ".chalice" / "config.json"
# The stage `make package` builds by default, and the one fn start's API stands for.
DEFAULT_STAGE = "dev"
API_FUNCTION = "api_handler"
# API Gateway's integration timeout for a REST API's Lambda integration: 29 s at most.
API_GATEWAY_TIMEOUT_SECONDS = 29
# The API function's timeout for fn start, instead of the stage's (e.g. a small one in a test).
ENV_API_TIMEOUT_SECONDS = "FNQ_API_TIMEOUT_SECONDS"


def stage_setting(stage: str, key: str, function: str | None = None, path: Path = CHALICE_CONFIG) -> Any:
    """A setting as Chalice resolves it: the function's in the stage, the stage's, the top level's."""
    config: dict[str, Any] = json.loads(path.read_text())
    stage_config = config["stages"][stage]
    if function is not None and key in stage_config.get("lambda_functions", {}).get(function, {}):
        return stage_config["lambda_functions"][function][key]
    return stage_config.get(key, config.get(key))


@dataclass(frozen=True)
class ApiLimits:
    max_sync_timeout: int  # the longest timeout a sync route may have (FNQ_MAX_SYNC_TIMEOUT)
    function_timeout_seconds: float  # the API function's Lambda timeout

    @property
    def request_seconds(self) -> float:
        """How long a request may run before it is answered 504 and its invocation ended."""
        return min(float(API_GATEWAY_TIMEOUT_SECONDS), self.function_timeout_seconds)

    def environment(self) -> dict[str, str]:
        """What the API's settings need to apply the cap (chalicelib/routes.py)."""
        return {ENV_MAX_SYNC_TIMEOUT: str(self.max_sync_timeout)}


def deployed_api_limits(environ: Mapping[str, str], stage: str = DEFAULT_STAGE) -> ApiLimits:
    """The stage's API limits, each unless the environment sets its own."""
    stage_cap = stage_setting(stage, "environment_variables")[ENV_MAX_SYNC_TIMEOUT]
    cap = environ.get(ENV_MAX_SYNC_TIMEOUT) or stage_cap
    timeout = environ.get(ENV_API_TIMEOUT_SECONDS) or stage_setting(stage, "lambda_timeout", API_FUNCTION)
    return ApiLimits(int(cap), float(timeout))
