"""Result 2: average pooling is a strided convolution.

The filter w[c, d, a, b] = δ(c, d)/k² with stride k averages each k×k block of each channel;
checked against ``avg_pool2d`` and against block means computed by reshaping (an
independent witness), for k dividing n and for k not dividing it (both floor n/k).

Claims: ``r2.avgpool.conv``, ``r2.avgpool.floor``.
"""

from __future__ import annotations

import numpy as np

from ..filters import average_pool_by_conv
from ..ops import avg_pool2d
from ._common import identity, random, rel_error
from .claim import Claim, ClaimOutcome

__all__ = ["claims"]


def _block_mean(X: np.ndarray, k: int) -> np.ndarray:
    """k×k means of non-overlapping blocks by reshaping, after dropping the rows and columns
    that no full block covers (the floor): an independent witness for average pooling."""
    N, C, H, W = X.shape
    h, w = H // k, W // k
    return X[:, :, : h * k, : w * k].reshape(N, C, h, k, w, k).mean(axis=(3, 5))


def _cases(photo: np.ndarray | None, *, divides: bool) -> dict[str, tuple[np.ndarray, int]]:
    """Named (X, k): k dividing the sizes, or not."""
    cases: dict[str, tuple[np.ndarray, int]]
    if divides:
        cases = {
            f"C={C}, k={k}, random (2,{C},12,12)": (random(10 + C + k, (2, C, 12, 12)), k)
            for C in (1, 3, 5)
            for k in (2, 3, 4)
        }
        if photo is not None:
            cases.update({f"the photograph, k={k}": (photo[None], k) for k in (2, 4, 8)})
    else:
        cases = {
            f"C={C}, k={k}, random (2,{C},13,11)": (random(20 + C + k, (2, C, 13, 11)), k)
            for C in (1, 3)
            for k in (2, 3, 4, 5)
        }
        if photo is not None:
            cases["the photograph, k=7 (600/7, 512/7 not whole)"] = (photo[None], 7)
    return cases


def _check_average_pool(photo: np.ndarray | None = None) -> ClaimOutcome:
    """conv2d with δ(c,d)/k², stride k, against avg_pool2d and against block means."""
    errors = {}
    for name, (X, k) in _cases(photo, divides=True).items():
        Y = average_pool_by_conv(X, k)
        errors[name] = max(rel_error(Y, avg_pool2d(X, k)), rel_error(Y, _block_mean(X, k)))
    return identity(errors)


def _check_average_pool_floor(photo: np.ndarray | None = None) -> ClaimOutcome:
    """k not dividing n: same output shape floor(n/k), same numbers (the leftover dropped)."""
    errors: dict[str, float] = {}
    sizes: dict[str, None] = {}  # an ordered set
    for name, (X, k) in _cases(photo, divides=False).items():
        Y, P = average_pool_by_conv(X, k), avg_pool2d(X, k)
        (m, n), (h, w) = X.shape[2:], Y.shape[2:]
        sizes[f"{m}×{n} → {h}×{w} (k={k})"] = None
        errors[name] = max(rel_error(Y, P), rel_error(Y, _block_mean(X, k)))
    outcome = identity(errors)
    detail = f"{outcome.detail}; sizes {', '.join(sizes)}"
    return ClaimOutcome(outcome.max_abs_error, outcome.passed, None, detail, outcome.bound)


def claims() -> list[Claim]:
    """Result 2's claims."""
    return [
        Claim(
            "r2.avgpool.conv",
            2,
            "the δ(c,d)/k² filter, stride k, equals k×k average pooling",
            _check_average_pool,
        ),
        Claim(
            "r2.avgpool.floor",
            2,
            "when k does not divide n, it and avg_pool2d both floor n/k",
            _check_average_pool_floor,
        ),
    ]
