"""The reductions every loss shares: "mean", "sum" or "none" over per-element losses."""

from __future__ import annotations

from typing import Any

import numpy as np

_REDUCTIONS = ("mean", "sum", "none")


def _reduction(reduction: Any, func: str) -> str:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"{func}: reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _divide(a: np.ndarray, d: Any) -> np.ndarray:
    """a / d, with 0 where a is 0 (so an all-ignored batch, d = 0, has gradient 0 as PyTorch)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(a, d, out=np.zeros_like(a), where=a != 0)


def _reduce(
    per: np.ndarray, denominator: Any, reduction: str, like: np.ndarray
) -> float | np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if reduction == "none":
            with np.errstate(under="ignore"):
                return np.asarray(per).astype(like.dtype)
        if reduction == "sum":
            return float(np.sum(per))
        return float(np.sum(per) / denominator)
