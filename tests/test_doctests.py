"""Every docstring example in the package runs and prints what it says (doctest), module by
module, so an example that drifts from the code fails CI."""

import doctest
import importlib
import pkgutil

import pytest

import cnnmath

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(cnnmath.__path__, prefix="cnnmath.")
    if not info.name.endswith("__main__")
)


def test_the_package_has_examples():
    found = 0
    for name in MODULES:
        module = importlib.import_module(name)
        found += sum(len(t.examples) for t in doctest.DocTestFinder().find(module))
    assert found >= 10, f"only {found} docstring examples in the whole package"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
