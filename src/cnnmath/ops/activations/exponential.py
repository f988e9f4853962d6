"""The exponential linear units: elu, selu and celu."""

from __future__ import annotations

import numpy as np

from ._elementwise import _out, _quiet, _real, _wide, elementwise


# --------------------------------------------------------------------------- elu
@elementwise
def elu(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ(x) = x if x > 0 else α·(exp(x) − 1), with expm1 for accuracy near 0; α = 1 as
    PyTorch. Elementwise, any shape; returns x's shape and dtype."""
    x64 = _wide(x, "elu")
    a = _real("alpha", alpha, "elu")
    with _quiet():
        return _out(np.where(x64 > 0, x64, a * np.expm1(np.minimum(x64, 0))), x)


@elementwise
def elu_grad(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ′(x) = 1 if x > 0 else α·exp(x) (α at x = 0, as PyTorch), elementwise, any shape;
    returns x's shape and dtype."""
    x64 = _wide(x, "elu_grad")
    a = _real("alpha", alpha, "elu_grad")
    with _quiet():
        return _out(np.where(x64 > 0, 1.0, a * np.exp(np.minimum(x64, 0))), x)


# --------------------------------------------------------------------------- selu, celu
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@elementwise
def selu(x: np.ndarray) -> np.ndarray:
    """σ(x) = λ·x if x > 0 else λ·α·(exp(x) − 1), with PyTorch's constants α ≈ 1.67326 and
    λ ≈ 1.05070 (``SELU_ALPHA``, ``SELU_SCALE``); elementwise, any shape; x's shape and dtype."""
    x64 = _wide(x, "selu")
    with _quiet():
        negative = (SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(x64, 0))
        return _out(np.where(x64 > 0, SELU_SCALE * x64, negative), x)


@elementwise
def selu_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = λ if x > 0 else λ·α·exp(x) (λα at x = 0, as PyTorch), elementwise, any shape;
    returns x's shape and dtype."""
    x64 = _wide(x, "selu_grad")
    with _quiet():
        negative = (SELU_SCALE * SELU_ALPHA) * np.exp(np.minimum(x64, 0))
        return _out(np.where(x64 > 0, SELU_SCALE, negative), x)


def _alpha_nonzero(alpha: object, func: str) -> float:
    a = _real("alpha", alpha, func)
    if a == 0:
        raise ValueError(f"{func}: alpha: expected a finite number != 0, got {alpha!r}")
    return a


@elementwise
def celu(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ(x) = x if x > 0 else α·(exp(x/α) − 1) (continuously differentiable ELU), α = 1 as
    PyTorch (α ≠ 0); elementwise, any shape; returns x's shape and dtype."""
    x64 = _wide(x, "celu")
    a = _alpha_nonzero(alpha, "celu")
    with _quiet():
        return _out(np.where(x64 > 0, x64, a * np.expm1(np.minimum(x64, 0) / a)), x)


@elementwise
def celu_grad(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ′(x) = 1 if x > 0 else exp(x/α) (1 at x = 0), elementwise, any shape; returns x's
    shape and dtype."""
    x64 = _wide(x, "celu_grad")
    a = _alpha_nonzero(alpha, "celu_grad")
    with _quiet():
        return _out(np.where(x64 > 0, 1.0, np.exp(np.minimum(x64, 0) / a)), x)
