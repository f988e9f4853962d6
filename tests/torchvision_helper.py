"""Import torchvision as a test witness beside the CPU torch.

torchvision 0.28.0's wheel is built for the GPU torch; importing it beside the CPU build
fails while it registers fake implementations of its C++ operators. Its models are plain
Python, so the import runs with ``torch.library.register_fake`` replaced by a decorator
factory that registers nothing, restored afterwards (DESIGN.md, Dependencies).
"""

from __future__ import annotations

import pytest


def import_torchvision():
    """torchvision, or skip the calling test when torch or torchvision is absent."""
    torch = pytest.importorskip("torch")
    library = torch.library
    original = library.register_fake

    def no_op(*args, **kwargs):
        return lambda func: func

    library.register_fake = no_op
    try:
        return pytest.importorskip("torchvision")
    finally:
        library.register_fake = original
