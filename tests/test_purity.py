"""Only adapters import boto3: the domain and use cases import and run without it."""

from __future__ import annotations

import subprocess
import sys

BLOCK_BOTO = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"boto3", "botocore", "moto"}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import chalicelib.models, chalicelib.errors, chalicelib.ids, chalicelib.ports, chalicelib.rules
import chalicelib.bundles, chalicelib.codec, chalicelib.runner, chalicelib.batch, chalicelib.settings
import chalicelib.apps, chalicelib.routes, chalicelib.uploads, chalicelib.invoke, chalicelib.calls
import chalicelib.cache, chalicelib.tokens
import chalicelib.execute.cold
print("pure")
"""


def test_the_domain_imports_without_boto3() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCK_BOTO], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "pure", result.stderr


def test_the_blocker_really_blocks_boto3() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_BOTO.replace('print("pure")', "import chalicelib.aws.clients")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "blocked: botocore" in result.stderr
