"""The reductions every loss shares: "mean", "sum" or "none" over per-element losses."""

from __future__ import annotations

from typing import Any

import numpy as np

_REDUCTIONS = ("mean", "sum", "none")


class LossValue(float):
    """A loss's value (reductions "mean" and "sum"): a Python float that also answers the two
    calls a ported PyTorch loop makes on a loss tensor. ``item()`` is the float itself
    (``running_loss += loss.item()``); ``backward()`` raises, saying where the gradient is:
    cnnmath has no autograd, each loss returns ∂loss/∂input beside its value, and
    ``model.backward(grad)`` carries it through the model. Arithmetic on it gives plain
    floats."""

    __slots__ = ()

    def item(self) -> float:
        """The value as a plain Python float (PyTorch's ``Tensor.item``)."""
        return float(self)

    def backward(self, *args: object, **kwargs: object) -> None:
        """Refused with the way to do it: the gradient came with the value."""
        raise RuntimeError(
            "loss.backward(): cnnmath has no autograd; every loss returns its gradient beside "
            "its value: `loss, grad = criterion(logits, y)`, then `model.backward(grad)` fills "
            "every parameter's .grad"
        )


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
            return LossValue(np.sum(per))
        return LossValue(np.sum(per) / denominator)
