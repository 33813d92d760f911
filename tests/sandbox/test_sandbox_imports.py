"""The sandbox stays independent of the client and light to import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import attsms.sandbox

SANDBOX_DIR = Path(attsms.sandbox.__file__).parent


def test_the_sandbox_imports_nothing_from_the_rest_of_attsms() -> None:
    for source in SANDBOX_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                if name == "attsms" or name.startswith("attsms."):
                    assert name.startswith("attsms.sandbox"), f"{source.name} imports {name}"


def test_httpx_loads_only_with_the_transport() -> None:
    code = (
        "import sys, attsms.sandbox, attsms.sandbox.core, attsms.sandbox.store, "
        "attsms.sandbox.server, tests.helpers.sandbox_harness\n"
        "assert 'httpx' not in sys.modules, 'httpx imported'\n"
        "import attsms.sandbox.transport\n"
        "assert 'httpx' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_package_import_is_light() -> None:
    code = (
        "import sys, attsms.sandbox\n"
        "heavy = {'httpx', 'filelock', 'http.server', 'attsms.sandbox.core'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
