"""The package's top level: ``import cnnmath`` then a dotted name, as the docs write them
(``cnnmath.onnx.load``, ``cnnmath.models.resnet20``), works for every public module, which
loads on first use; a name that is no module or attribute is an AttributeError naming it.
Witness: a fresh interpreter's ``sys.modules`` and the package's folder."""

import json
import pathlib
import subprocess
import sys

import pytest

import cnnmath

PACKAGE = pathlib.Path(cnnmath.__file__).parent
PUBLIC = sorted(
    p.stem if p.is_file() else p.name
    for p in PACKAGE.iterdir()
    if not p.name.startswith(("_", "."))
    and (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
)


def _fresh(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_every_public_module_is_reached_from_the_package_and_loads_only_when_used():
    assert {"onnx", "models", "weights", "tiled", "data", "train"} <= set(PUBLIC)
    code = (
        "import json, sys, cnnmath\n"
        f"names = {PUBLIC!r}\n"
        "before = [n for n in names if 'cnnmath.' + n in sys.modules]\n"
        "found = {n: type(getattr(cnnmath, n)).__name__ for n in names}\n"
        "print(json.dumps({'before': before, 'found': found,\n"
        "    'load': callable(cnnmath.onnx.load), 'dir': sorted(set(names) - set(dir(cnnmath)))}))\n"
    )
    out = _fresh(code)
    for lazy in ("onnx", "models", "tiled", "weights", "bench", "tour"):
        assert lazy not in out["before"], f"import cnnmath imported cnnmath.{lazy}"
    # each a module, except where the package re-exports a function of that name
    assert {n for n, kind in out["found"].items() if kind != "module"} == {"summary"}
    assert out["load"] and out["dir"] == []


def test_a_name_that_is_nothing_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="'no_such_module'"):
        cnnmath.no_such_module  # noqa: B018
