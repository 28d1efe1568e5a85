"""The Lambda cold start's import path: `import app` brings in neither boto3 nor python-ulid nor PyYAML,
nor the executor (chalicelib.execute).

boto3 (with s3transfer) was half of the cold start's import time; the clients come from botocore
and the DynamoDB types from our own serializer. chalicelib.execute is imported when the first
function runs (wiring.PlatformExecutor) or the first bundle is fetched or checked: an API Lambda
answers most requests without it. bench row 6 measures the time; this keeps it so.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

IMPORT_APP = """
import sys
KEPT_OFF = ("boto3", "s3transfer", "ulid", "yaml", "chalicelib.execute")
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


def test_importing_the_app_imports_neither_boto3_nor_ulid_nor_yaml_nor_the_executor() -> None:
    result = subprocess.run([sys.executable, "-c", IMPORT_APP], capture_output=True, text=True, check=False)

    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


@pytest.mark.parametrize(
    ("module", "first_blocked"), [("boto3", "boto3"), ("chalicelib.execute.executor", "chalicelib.execute")]
)
def test_the_blocker_really_blocks(module: str, first_blocked: str) -> None:
    code = IMPORT_APP.replace("import app\n", f"import app\nimport {module}\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)

    assert f"blocked: {first_blocked}\n" in result.stderr
