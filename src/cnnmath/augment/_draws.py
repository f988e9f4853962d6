"""Rejection sampling of boxes, torchvision's ``get_params`` loop made batch-wide: ten
tries per image at once, the first that fits kept (RandomResizedCrop and
RandomErasing)."""

from __future__ import annotations

import math

import numpy as np

_TRIES = 10  # torchvision's get_params tries ten boxes before its fallback


def _tries(
    rng: np.random.Generator,
    B: int,
    area: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """The ten tries of every image at once: s ~ U(scale), r = exp(U(log ratio)) (B, 10) each,
    and the sides (rint(√(area·s·r)), rint(√(area·s/r))) — Python's round, ties to even, as
    torchvision's ``int(round(...))``. Draws 20B uniforms: the B×10 fractions, then the ratios."""
    s = rng.uniform(scale[0], scale[1], size=(B, _TRIES))
    r = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), size=(B, _TRIES)))
    target = area * s
    return np.rint(np.sqrt(target * r)).astype(np.intp), np.rint(np.sqrt(target / r)).astype(
        np.intp
    )


def _first(ok: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Whether each row of ``ok`` (B, 10) has a True, and the values at its first True."""
    k = np.argmax(ok, axis=1)
    rows = np.arange(ok.shape[0])
    return np.asarray(ok.any(axis=1)), [v[rows, k] for v in values]
