"""The oracle's independence, read from its imports: every module of cnnmath.reference imports
NumPy, the standard library and its own siblings only (DESIGN.md: an oracle that shares code
with what it checks shares its bugs)."""

import ast
import sys
from pathlib import Path

import pytest

import cnnmath.reference

REFERENCE = Path(cnnmath.reference.__file__).parent
MODULES = sorted(REFERENCE.glob("*.py"))


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level


def test_reference_has_modules():
    assert {"__init__.py", "conv.py", "pool.py", "linear.py"} <= {p.name for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_reference_imports_numpy_only(path):
    for name, level in _imports(path):
        if level == 1:  # a sibling inside cnnmath.reference
            continue
        top = name.split(".")[0]
        assert level == 0 and (top in ("numpy", "__future__") or top in sys.stdlib_module_names), (
            f"{path.name} imports {'.' * level}{name}"
        )
