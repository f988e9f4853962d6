"""Optional dependencies, imported where they are used.

Each extra of ``pyproject.toml`` brings one library; a missing one is reported with the
extra that installs it, so the message is the fix.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, purpose: str = "this") -> ModuleType:
    """Import ``module`` (a dotted name) or raise ImportError naming ``cnnmath[extra]``.

    >>> require("json", "none").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise ImportError(
            f'{purpose} needs {top}, which is not installed: pip install "cnnmath[{extra}]"'
        ) from exc
