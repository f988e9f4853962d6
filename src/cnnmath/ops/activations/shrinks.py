"""The shrinks and thresholds: hardshrink, softshrink, tanhshrink, threshold and the
Heaviside step."""

from __future__ import annotations

import numpy as np

from ._elementwise import _checked, _out, _real, _wide, elementwise


# --------------------------------------------------------------------------- shrinks
def _shrink_args(x: object, lambd: object, func: str) -> tuple[np.ndarray, float]:
    x = _checked(x, func)
    lam = _real("lambd", lambd, func)
    if lam < 0:
        raise ValueError(f"{func}: lambd: expected a number >= 0, got {lambd!r}")
    return x, lam


def _outside(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Where x is not in [low, high] — NaN included, as PyTorch's backward tests
    ``low <= x <= high`` to zero the gradient."""
    return ~((x >= low) & (x <= high))


@elementwise
def hardshrink(x: np.ndarray, *, lambd: float = 0.5) -> np.ndarray:
    """σ(x) = x where |x| > λ, else 0 (``torch.nn.functional.hardshrink``), λ >= 0."""
    x, lam = _shrink_args(x, lambd, "hardshrink")
    return _out(np.where(_outside(x, -lam, lam), x, 0), x)


@elementwise
def softshrink(x: np.ndarray, *, lambd: float = 0.5) -> np.ndarray:
    """σ(x) = x − λ for x > λ, x + λ for x < −λ, else 0 (``torch.nn.functional.softshrink``,
    soft thresholding), λ >= 0."""
    x, lam = _shrink_args(x, lambd, "softshrink")
    with np.errstate(under="ignore", invalid="ignore"):  # 0·x: 0 inside (−0 below 0), NaN kept
        return _out(np.where(x > lam, x - lam, np.where(x < -lam, x + lam, 0 * x)), x)


@elementwise
def shrink_grad(x: np.ndarray, *, lambd: float = 0.5) -> np.ndarray:
    """σ′ of both shrinks: 1 where |x| > λ, 0 inside [−λ, λ] (the kinks too) and at NaN —
    the rule of PyTorch's vectorised backward, which every element of a long array meets."""
    x, lam = _shrink_args(x, lambd, "shrink_grad")
    return _out((np.abs(x) > lam).astype(np.float64), x)


@elementwise
def tanhshrink(x: np.ndarray) -> np.ndarray:
    """σ(x) = x − tanh(x) (``torch.nn.functional.tanhshrink``)."""
    x64 = _wide(x, "tanhshrink")
    return _out(x64 - np.tanh(x64), x)


@elementwise
def tanhshrink_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1 − (1 − tanh²x) = tanh²x."""
    x64 = _wide(x, "tanhshrink_grad")
    return _out(np.tanh(x64) ** 2, x)


@elementwise
def threshold(x: np.ndarray, *, threshold: float, value: float) -> np.ndarray:
    """σ(x) = x where x > threshold, else ``value`` (``torch.nn.functional.threshold``; a NaN
    stays NaN, as PyTorch tests x <= threshold)."""
    x = _checked(x, "threshold")
    th, v = _real("threshold", threshold, "threshold"), _real("value", value, "threshold")
    return _out(np.where(x <= th, v, x), x)


@elementwise
def threshold_grad(x: np.ndarray, *, threshold: float, value: float) -> np.ndarray:
    """σ′(x) = 0 where x <= threshold, else 1 (1 at NaN, as PyTorch's backward)."""
    x = _checked(x, "threshold_grad")
    th = _real("threshold", threshold, "threshold_grad")
    _real("value", value, "threshold_grad")
    return _out(np.where(x <= th, 0.0, 1.0), x)


# --------------------------------------------------------------------------- step
@elementwise
def step(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 if x > 0 else 0 (Heaviside, 0 at 0), elementwise, any shape; returns x's
    shape and dtype. 0 at NaN, as ``torch.heaviside(x, 0)`` (x > 0 is false there)."""
    x = _checked(x, "step")
    return _out(x > 0, x)


@elementwise
def step_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 0 wherever it exists (everywhere but x = 0, where 0 is returned too, and NaN),
    as PyTorch's zero gradient for thresholds; elementwise, any shape; x's shape and dtype.
    Useless for training: the registry marks step not differentiable."""
    x = _checked(x, "step_grad")
    return np.zeros_like(x)
