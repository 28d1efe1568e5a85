"""Two wings: chalicelib (what ships to Lambda) never imports fnq (the workstation side).

Every module of chalicelib, and app.py, must import in an interpreter where the workstation
package and the libraries only it uses (click, moto) cannot be imported at all.
"""

from __future__ import annotations

import subprocess
import sys

BLOCK_WORKSTATION = """
import pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"fnq", "click", "moto"}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import importlib, chalicelib
names = [m.name for m in pkgutil.walk_packages(chalicelib.__path__, "chalicelib.")]
for name in names:
    importlib.import_module(name)
import app
print(len(names), "modules")
"""


def run_blocked(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def test_every_chalicelib_module_and_app_import_without_the_workstation_package() -> None:
    result = run_blocked(BLOCK_WORKSTATION)

    assert result.returncode == 0, result.stderr
    count = int(result.stdout.split()[0])
    assert count > 30  # the walk really found the package's modules


def test_the_blocker_really_blocks_the_workstation_package() -> None:
    result = run_blocked(BLOCK_WORKSTATION.replace("import app\n", "import app\nimport fnq.cli.main\n"))

    assert "blocked: fnq" in result.stderr
