"""Result 1: finite differences are a convolution.

conv2d(X, [w1, w2], padding=1) gives Y1[i, j] = X[i+1, j] − X[i, j] (vertical, along i) and
Y2[i, j] = X[i, j+1] − X[i, j] (horizontal, along j), with X[m+1, ·] = X[·, n+1] = 0. Each
channel is one claim, checked against the differences written with NumPy slicing on the
zero-extended array.

Claims: ``r1.gradient.vertical`` (Y1), ``r1.gradient.horizontal`` (Y2).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..filters import image_gradient, to_grayscale
from ._common import identity, random, rel_error, shape_text
from .claim import Claim, ClaimOutcome

__all__ = ["claims"]


def _cases(photo: np.ndarray | None) -> dict[str, np.ndarray]:
    """Random batches (a 1×1 and a 2×9 image among them) and the photograph's luma."""
    cases = {
        f"random {shape_text(x)}": x
        for x in (random(1, (3, 1, 11, 16)), random(2, (1, 1, 2, 9)), random(3, (2, 1, 1, 1)))
    }
    if photo is not None:
        cases["the photograph's luma (1,1,600,512)"] = to_grayscale(photo)[None]
    return cases


def _differences(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X[i+1, j] − X[i, j], X[i, j+1] − X[i, j]) by slicing, X extended by zeros."""
    m, n = X.shape[2:]
    Xz = np.pad(X, ((0, 0), (0, 0), (0, 1), (0, 1)))  # X[m+1, ·] = X[·, n+1] = 0
    return Xz[:, :, 1 : m + 1, :n] - X, Xz[:, :, :m, 1 : n + 1] - X


def _check(channel: int) -> Callable[..., ClaimOutcome]:
    """Channel 0 (Y1) or 1 (Y2) of image_gradient against its slicing formula."""

    def check(photo: np.ndarray | None = None) -> ClaimOutcome:
        errors = {}
        for name, X in _cases(photo).items():
            errors[name] = rel_error(image_gradient(X)[channel], _differences(X)[channel])
        return identity(errors)

    return check


def claims() -> list[Claim]:
    """Result 1's claims, Y1 then Y2."""
    return [
        Claim(
            "r1.gradient.vertical",
            1,
            "conv with w1, zero padding 1 gives Y1[i,j] = X[i+1,j] − X[i,j] (vertical)",
            _check(0),
        ),
        Claim(
            "r1.gradient.horizontal",
            1,
            "conv with w2, zero padding 1 gives Y2[i,j] = X[i,j+1] − X[i,j] (horizontal)",
            _check(1),
        ),
    ]
