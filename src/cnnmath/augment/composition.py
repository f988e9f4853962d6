"""Composition: one augmentation from several, each drawing from the same generator."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .geometric import random_flip, random_shift  # noqa: F401 (compose's example)


def compose(*augments: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> Callable:
    """One augmentation that applies ``augments`` in order, each drawing from the same
    generator (``fit(..., augment=compose(random_flip, random_shift))``).

    >>> both = compose(random_flip, random_shift)
    >>> both(np.zeros((2, 1, 4, 4)), np.random.default_rng(0)).shape
    (2, 1, 4, 4)
    """
    for i, f in enumerate(augments):
        if not callable(f):
            raise TypeError(f"compose: augments[{i}]: expected a function (x, rng) -> x, got {f!r}")

    def composed(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for f in augments:
            x = f(x, rng)
        return x

    return composed
