"""The Lambda cold start's import path: `import app` brings in neither boto3 nor python-ulid nor PyYAML,
nor the executor (chalicelib.execute), nor what only one Lambda's handler or one route needs.

boto3 (with s3transfer) was half of the cold start's import time; the clients come from botocore
and the DynamoDB types from our own serializer. chalicelib.execute is imported when the first
function runs (wiring.PlatformExecutor) or the first bundle is fetched or checked: an API Lambda
answers most requests without it; the call runner comes with it (at the first sync call or batch).
Every Lambda imports app.py, so the worker's batch handlers and callback delivery (with its HTTP
client), the scheduled sweeper and the shard merging of call listings are imported at their first
use too (wiring.Components, aws/dynamodb/calls.py). bench row 6 measures the time; this keeps it so.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

IMPORT_APP = """
import sys
KEPT_OFF = (
    "boto3", "s3transfer", "ulid", "yaml", "chalicelib.execute",
    "chalicelib.runner", "chalicelib.batch", "chalicelib.delivery", "chalicelib.webhook",
    "chalicelib.sweeper", "chalicelib.aws.dynamodb.listing",
)
def kept_off(name):
    return any(name == off or name.startswith(off + ".") for off in KEPT_OFF)
class Block:
    def find_spec(self, name, path=None, target=None):
        if kept_off(name):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import app
import chalicelib.wiring
print(sorted(name for name in sys.modules if kept_off(name)))
"""


def test_importing_the_app_imports_neither_boto3_nor_ulid_nor_yaml_nor_any_one_handler_s_own_modules() -> (
    None
):
    result = subprocess.run([sys.executable, "-c", IMPORT_APP], capture_output=True, text=True, check=False)

    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


@pytest.mark.parametrize(
    ("module", "first_blocked"),
    [
        ("boto3", "boto3"),
        ("chalicelib.execute.executor", "chalicelib.execute"),
        ("chalicelib.delivery", "chalicelib.delivery"),
    ],
)
def test_the_blocker_really_blocks(module: str, first_blocked: str) -> None:
    code = IMPORT_APP.replace("import app\n", f"import app\nimport {module}\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)

    assert f"blocked: {first_blocked}\n" in result.stderr
