"""Gradient clipping and flat parameter vectors, as ``torch.nn.utils``.

``parameters`` is a :class:`Parameter` or an iterable of them (``model.parameters()``); the
gradients are the ``grad`` arrays backward passes have summed into, changed in place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._checks import check_float_array
from .parameter import Parameter

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "parameters_to_vector",
    "vector_to_parameters",
]


def _parameters(parameters: Any, func: str) -> list[Parameter]:
    listed = [parameters] if isinstance(parameters, Parameter) else parameters
    try:
        params = list(listed)
    except TypeError:
        params = None
    if params is None or not all(isinstance(p, Parameter) for p in params):
        raise TypeError(
            f"{func}: parameters: expected a Parameter or an iterable of Parameters "
            f"(model.parameters()), got {type(parameters).__name__}"
        )
    return params


def _with_gradients(params: list[Parameter]) -> list[Parameter]:
    """The parameters that have a gradient (PyTorch's clipping skips a grad of None: the
    norm is the same, but a NaN factor must not reach a parameter no backward reached)."""
    return [p for p in params if p._holds_gradient()]


def _from_text(value: Any, name: str, func: str) -> Any:
    """A number given as text ("inf", "2"), read as PyTorch's ``float(norm_type)`` reads it;
    anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        raise TypeError(
            f"{func}: {name}: expected a real number or its text, got {value!r}"
        ) from None


def _real(value: Any, name: str, func: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{func}: {name}: expected a real number, got {value!r}")
    return float(value)


def clip_grad_norm_(
    parameters: Any, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> float:
    """Scale every gradient by one factor so that their joint p-norm is at most ``max_norm``;
    return the norm before scaling.

    With gᵢ the gradients and p = ``norm_type`` (``math.inf`` for the largest |entry|; text
    such as "inf" is read as a number, as PyTorch's):

        N = ‖(‖g₁‖_p, ‖g₂‖_p, …)‖_p,   gᵢ ← gᵢ · min(1, max_norm / (N + 10⁻⁶)),

    the norm of all the gradients as one vector, and PyTorch's 10⁻⁶ keeping the factor finite
    when N = 0. The direction of the update is kept; only its length is capped, which tames
    the rare exploding step. A non-finite N gives PyTorch's factor too (0 for N = ∞, NaN for
    a NaN N), or with ``error_if_nonfinite=True`` raises ``FloatingPointError`` (PyTorch's
    RuntimeError) before any gradient changes.
    """
    func = "clip_grad_norm_"
    params = _with_gradients(_parameters(parameters, func))
    max_norm = _real(max_norm, "max_norm", func)
    p = _real(_from_text(norm_type, "norm_type", func), "norm_type", func)
    if math.isnan(max_norm) or max_norm < 0:
        raise ValueError(f"{func}: max_norm: expected a number >= 0, got {max_norm}")
    if not p > 0:
        raise ValueError(f"{func}: norm_type: expected a number > 0 or math.inf, got {p}")
    if not params:
        return 0.0
    norms = np.array([np.linalg.norm(q.grad.ravel(), ord=p) for q in params], dtype=np.float64)
    total = float(np.linalg.norm(norms, ord=p))
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(
            f"{func}: the total {p}-norm of the gradients is {total}; with "
            f"error_if_nonfinite=False the gradients would be scaled to NaN instead"
        )
    factor = min(1.0, max_norm / (total + 1e-6)) if not math.isnan(total) else math.nan
    with np.errstate(invalid="ignore"):  # ∞·0 = NaN, PyTorch's answer for an infinite N
        for q in params:  # in place, not through the attribute: has_grad stays as it is
            np.multiply(q.grad, q.grad.dtype.type(factor), out=q.grad)
    return total


def clip_grad_value_(parameters: Any, clip_value: float) -> None:
    """Clamp every gradient entry into [−c, c], c = ``clip_value`` ≥ 0: g ← min(max(g, −c), c)
    (a NaN stays NaN)."""
    func = "clip_grad_value_"
    params = _with_gradients(_parameters(parameters, func))
    c = _real(clip_value, "clip_value", func)
    if math.isnan(c) or c < 0:
        raise ValueError(f"{func}: clip_value: expected a number >= 0, got {c}")
    for q in params:
        np.clip(q.grad, -c, c, out=q.grad)


def parameters_to_vector(parameters: Iterable[Parameter]) -> np.ndarray:
    """The parameters' values as one 1-D array θ = (vec(W₁), vec(b₁), …), in the order given
    (a copy; all parameters must share a dtype)."""
    func = "parameters_to_vector"
    params = _parameters(parameters, func)
    dtypes = {q.dtype for q in params}
    if len(dtypes) > 1:
        raise TypeError(
            f"{func}: parameters: expected one dtype, got {sorted(str(d) for d in dtypes)}"
        )
    if not params:
        return np.zeros(0)
    return np.concatenate([q.data.ravel() for q in params])


def vector_to_parameters(vec: np.ndarray, parameters: Iterable[Parameter]) -> None:
    """Copy the 1-D ``vec`` into the parameters in order, the inverse of
    :func:`parameters_to_vector`: vec has Σ sizes entries, each parameter takes the next
    ``size`` of them in its own shape (rounded to its dtype)."""
    func = "vector_to_parameters"
    check_float_array("vec", vec, func=func)
    params = _parameters(parameters, func)
    sizes = [q.size for q in params]
    if vec.ndim != 1 or vec.size != sum(sizes):
        raise ValueError(
            f"{func}: vec: expected a 1-D array of {sum(sizes)} values (the parameters' "
            f"sizes), got shape {vec.shape}"
        )
    for q, piece in zip(params, np.split(vec, np.cumsum(sizes)[:-1]), strict=True):
        q.data[...] = piece.reshape(q.shape)
