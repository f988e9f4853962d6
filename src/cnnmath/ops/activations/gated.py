"""The gated linear unit: glu, one half of x gated by the sigmoid of the other, and its
backward."""

from __future__ import annotations

import numpy as np

from ._elementwise import _checked, _out
from .sigmoid_like import sigmoid


def _halves(x: object, dim: object, func: str) -> tuple[np.ndarray, np.ndarray, int]:
    x = _checked(x, func)
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{func}: dim: expected an int, got {dim!r}")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"{func}: dim: expected an axis of x (shape {x.shape}), got {dim}")
    axis = int(dim) % x.ndim
    if x.shape[axis] % 2:
        raise ValueError(
            f"{func}: x: expected an even size along dim {dim} (two halves), got shape {x.shape}"
        )
    a, b = np.split(x, 2, axis=axis)
    return a, b, axis


def glu(x: np.ndarray, dim: int = -1) -> np.ndarray:
    """The gated linear unit (``torch.nn.functional.glu``): x split in halves a, b along
    ``dim``, y = a ⊙ sigmoid(b); y has half x's size along ``dim``."""
    a, b, _ = _halves(x, dim, "glu")
    with np.errstate(under="ignore", invalid="ignore"):  # ∞·0 is NaN, as in PyTorch
        return _out(a * sigmoid(b), a)


def glu_backward(grad_output: np.ndarray, x: np.ndarray, dim: int = -1) -> np.ndarray:
    """∂ℓ/∂x of y = glu(x, dim): ∂ℓ/∂a = G ⊙ σ(b), ∂ℓ/∂b = G ⊙ a ⊙ σ(b)(1 − σ(b)),
    concatenated back along ``dim``."""
    a, b, axis = _halves(x, dim, "glu_backward")
    g = _checked(grad_output, "glu_backward")
    if g.shape != a.shape:
        raise ValueError(
            f"glu_backward: grad_output: expected the output's shape {a.shape}, got {g.shape}"
        )
    s = sigmoid(b)
    with np.errstate(under="ignore", invalid="ignore"):
        return _out(np.concatenate([g * s, g * a * s * (1 - s)], axis=axis), x)
