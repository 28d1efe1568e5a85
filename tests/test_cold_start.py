"""The Lambda cold start's import path: `import app` brings in neither boto3 nor python-ulid nor PyYAML.

boto3 (with s3transfer) was half of the cold start's import time; the clients come from botocore
and the DynamoDB types from our own serializer. bench row 6 measures the time; this keeps it so.
"""

from __future__ import annotations

import subprocess
import sys

IMPORT_APP = """
import sys
HEAVY = {"boto3", "s3transfer", "ulid", "yaml"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import app
import chalicelib.wiring
print(sorted(HEAVY & {name.split(".")[0] for name in sys.modules}))
"""


def test_importing_the_app_imports_neither_boto3_nor_ulid_nor_yaml() -> None:
    result = subprocess.run([sys.executable, "-c", IMPORT_APP], capture_output=True, text=True, check=False)

    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


def test_the_blocker_really_blocks() -> None:
    code = IMPORT_APP.replace("import app\n", "import app\nimport boto3\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)

    assert "blocked: boto3" in result.stderr
