"""The layout's size limits (docs/architecture.md): no module over 700 lines, no function over 80.

ruff checks complexity; no ruff rule counts lines, so this does, over every module of attsms
(the sandbox included). A function is counted from its `def` (decorators not included) to its
last line, signature and docstring included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import attsms

PACKAGE = Path(attsms.__file__).parent
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_700_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): count
        for path in _modules()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_80_lines() -> None:
    long: dict[str, int] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"] = lines
    assert long == {}


def test_only_the_entry_points_stay_at_the_top_of_the_package() -> None:
    # Everything else lives in the package of its layer or feature.
    top = {path.name for path in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py"}


def test_every_package_says_what_it_owns() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init.relative_to(PACKAGE)} has no docstring saying what it owns"
