"""Losses that compare input and target element by element (regression, multi-label and
segmentation masks, distillation), as ``torch.nn.functional``: the same names, arguments,
defaults and reductions. Each returns ``(loss, grad)``, grad = ∂loss/∂input.

Every one is ℓ = reduce(ℓ_k) over the elements k of input x and target t (one shape, one
dtype: PyTorch broadcasts some of them with a warning; here a shape mismatch is an error, as
a (B, 1) against a (B,) silently becomes (B, B)). The reductions: "mean" Σ_k ℓ_k / n over
the n elements (``kl_div`` also "batchmean", Σ_k ℓ_k / N for a batch of N), "sum", and
"none", which returns the ℓ_k (input's shape and dtype) and, as grad, the gradient of Σ_k ℓ_k
(so an upstream g applies as grad·g). The loss is a Python float for "mean" and "sum",
computed in float64; the gradient is in the input's dtype. NaN in gives NaN out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_float_array, check_same_dtype, real_number
from ._reductions import _reduce, _reduction

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "smooth_l1_loss",
]


def _pair(func: str, input: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """input and target checked: float arrays of one dtype and one shape, as float64."""
    check_float_array("input", input, func=func)
    check_float_array("target", target, func=func)
    check_same_dtype(func, input=input, target=target)
    if input.shape != target.shape:
        raise ValueError(
            f"{func}: target: expected the shape of input {input.shape}, got {target.shape}"
        )
    return input.astype(np.float64), target.astype(np.float64)


def _finish(
    per: np.ndarray, d: np.ndarray, input: np.ndarray, reduction: str, n: float
) -> tuple[float | np.ndarray, np.ndarray]:
    """(reduce(ℓ_k), ∂/∂x_k), with "mean" dividing both by n as PyTorch does: NaN for no
    elements (0/0), ±∞ for weights that sum to 0 but not all 0."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        grad = (d / n if reduction == "mean" else d).astype(input.dtype)
    return _reduce(per, np.float64(n), reduction, input), grad


def _broadcast(func: str, name: str, value: Any, input: np.ndarray) -> np.ndarray | None:
    """An optional weight checked to be a float array of input's dtype that broadcasts to
    input's shape, as float64."""
    if value is None:
        return None
    check_float_array(name, value, func=func)
    check_same_dtype(func, **{"input": input, name: value})
    try:
        out = np.broadcast_to(value, input.shape)
    except ValueError:
        raise ValueError(
            f"{func}: {name}: expected a shape that broadcasts to input's {input.shape}, got "
            f"{value.shape}"
        ) from None
    return out.astype(np.float64)


def _element_weight(func: str, weight: Any, input: np.ndarray) -> np.ndarray | None:
    """An optional weight w_k per element: a float array of input's shape and dtype (as
    PyTorch, which refuses any other size), as float64."""
    if weight is None:
        return None
    check_float_array("weight", weight, func=func)
    check_same_dtype(func, input=input, weight=weight)
    if weight.shape != input.shape:
        raise ValueError(
            f"{func}: weight: expected the shape of input {input.shape}, got {weight.shape}"
        )
    return weight.astype(np.float64)


def _weighted_mean(
    func: str,
    per: np.ndarray,
    d: np.ndarray,
    input: np.ndarray,
    reduction: str,
    weight: Any,
) -> tuple[float | np.ndarray, np.ndarray]:
    """reduce(w_k ℓ_k), "mean" the weighted average Σ w_k ℓ_k / Σ w_k (n without weights)."""
    w = _element_weight(func, weight, input)
    if w is None:
        return _finish(per, d, input, reduction, input.size)
    with np.errstate(invalid="ignore", over="ignore"):
        return _finish(w * per, w * d, input, reduction, float(np.sum(w)))


def l1_loss(
    input: np.ndarray,
    target: np.ndarray,
    reduction: str = "mean",
    weight: np.ndarray | None = None,
) -> tuple[float | np.ndarray, np.ndarray]:
    """Mean absolute error: ℓ_k = |x_k − t_k|, ∂ℓ_k/∂x_k = sign(x_k − t_k) (0 where x = t, as
    PyTorch's subgradient). With ``weight`` w (input's shape) the elements count w_k times:
    ℓ_k = w_k |x_k − t_k|, and "mean" is the weighted average Σ_k ℓ_k / Σ_k w_k (as PyTorch).

    >>> import numpy as np
    >>> l1_loss(np.array([1.0, -3.0]), np.array([0.0, 0.0]))[0]
    2.0
    >>> l1_loss(np.array([1.0, -3.0]), np.array([0.0, 0.0]), weight=np.array([3.0, 1.0]))[0]
    1.5
    """
    func = "l1_loss"
    reduction = _reduction(reduction, func)
    x, t = _pair(func, input, target)
    r = x - t
    return _weighted_mean(func, np.abs(r), np.sign(r), input, reduction, weight)


def mse_loss(
    input: np.ndarray,
    target: np.ndarray,
    reduction: str = "mean",
    weight: np.ndarray | None = None,
) -> tuple[float | np.ndarray, np.ndarray]:
    """Mean squared error: ℓ_k = (x_k − t_k)², ∂ℓ_k/∂x_k = 2(x_k − t_k). With ``weight`` w
    (input's shape): ℓ_k = w_k (x_k − t_k)², "mean" Σ_k ℓ_k / Σ_k w_k (as PyTorch)."""
    func = "mse_loss"
    reduction = _reduction(reduction, func)
    x, t = _pair(func, input, target)
    r = x - t
    with np.errstate(over="ignore"):
        return _weighted_mean(func, r * r, 2 * r, input, reduction, weight)


def smooth_l1_loss(
    input: np.ndarray, target: np.ndarray, reduction: str = "mean", beta: float = 1.0
) -> tuple[float | np.ndarray, np.ndarray]:
    """Smooth L1 (Fast R-CNN's box loss), with r = x − t and β ≥ 0:

        ℓ_k = r²/(2β)     if |r| < β,      |r| − β/2   otherwise;
        ∂ℓ_k/∂x_k = r/β   if |r| < β,      sign(r)     otherwise

    (quadratic near 0, linear beyond β; β = 0 is the L1 loss). ``huber_loss`` with δ = β is
    β times this one.
    """
    func = "smooth_l1_loss"
    reduction = _reduction(reduction, func)
    beta = real_number("beta", beta, func=func, low=0.0)
    x, t = _pair(func, input, target)
    r = x - t
    a = np.abs(r)
    inside = a < beta
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        per = np.where(inside, 0.5 * r * r / (beta or 1.0), a - 0.5 * beta)
        d = np.where(inside, r / (beta or 1.0), np.sign(r))
    return _finish(per, d, input, reduction, x.size)


def huber_loss(
    input: np.ndarray,
    target: np.ndarray,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: np.ndarray | None = None,
) -> tuple[float | np.ndarray, np.ndarray]:
    """Huber loss, with r = x − t and δ > 0:

    ℓ_k = r²/2          if |r| ≤ δ,    δ·(|r| − δ/2)   otherwise;
    ∂ℓ_k/∂x_k = r       if |r| ≤ δ,    δ·sign(r)       otherwise.

    With ``weight`` w (input's shape) each ℓ_k is multiplied by w_k; "mean" then still divides
    by the number of elements n, not by Σ w_k — PyTorch's rule for this loss, unlike its
    weighted ``l1_loss`` and ``mse_loss``.
    """
    func = "huber_loss"
    reduction = _reduction(reduction, func)
    delta = real_number("delta", delta, func=func, low=0.0, low_open=True)
    x, t = _pair(func, input, target)
    r = x - t
    a = np.abs(r)
    inside = a <= delta
    with np.errstate(over="ignore", invalid="ignore"):
        per = np.where(inside, 0.5 * r * r, delta * (a - 0.5 * delta))
        d = np.where(inside, r, delta * np.sign(r))
        w = _element_weight(func, weight, input)
        if w is not None:
            per, d = w * per, w * d
    return _finish(per, d, input, reduction, x.size)


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + eᶻ) without overflow: max(z, 0) + log1p(e^(−|z|))."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1/(1 + e^(−z)), from the side where the exponential cannot overflow."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def binary_cross_entropy_with_logits(
    input: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None = None,
    reduction: str = "mean",
    pos_weight: np.ndarray | None = None,
) -> tuple[float | np.ndarray, np.ndarray]:
    """Binary cross-entropy of σ(x) against targets t ∈ [0, 1] (multi-label classification,
    binary segmentation masks), from the logits x:

        ℓ_k = w_k·[p_k·t_k·softplus(−x_k) + (1 − t_k)·softplus(x_k)]
            = −w_k·[p_k·t_k·log σ(x_k) + (1 − t_k)·log(1 − σ(x_k))]
        ∂ℓ_k/∂x_k = w_k·[(1 − t_k)·σ(x_k) − p_k·t_k·(1 − σ(x_k))]

    with w = ``weight`` and p = ``pos_weight`` (1 when None; each broadcast to input's shape,
    so a (C,) pos_weight weighs each class's positives along the last axis, as PyTorch's).
    Written with softplus(z) = log(1 + eᶻ), the loss is finite for any finite logit: at
    x = ±10⁴ it is 0 or 10⁴ where log σ(x) would give −inf.

    >>> import numpy as np
    >>> round(binary_cross_entropy_with_logits(np.zeros(2), np.array([0.0, 1.0]))[0], 6)
    0.693147
    """
    func = "binary_cross_entropy_with_logits"
    reduction = _reduction(reduction, func)
    x, t = _pair(func, input, target)
    w = _broadcast(func, "weight", weight, input)
    p = _broadcast(func, "pos_weight", pos_weight, input)
    pt = t if p is None else p * t
    with np.errstate(over="ignore", invalid="ignore"):
        per = pt * _softplus(-x) + (1 - t) * _softplus(x)
        s = _sigmoid(x)
        d = (1 - t) * s - pt * (1 - s)
        if w is not None:
            per, d = w * per, w * d
    return _finish(per, d, input, reduction, x.size)


# PyTorch's floor on x(1 − x) in the gradient: 10⁻¹² rounded to float32 in every dtype
_FLOOR = float(np.float32(1e-12))


def binary_cross_entropy(
    input: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None = None,
    reduction: str = "mean",
) -> tuple[float | np.ndarray, np.ndarray]:
    """Binary cross-entropy of probabilities x ∈ [0, 1] against targets t, as PyTorch computes
    it, each log clamped at −100 so that x = 0 or 1 gives a finite loss:

        ℓ_k = −w_k·[t_k·max(log x_k, −100) + (1 − t_k)·max(log(1 − x_k), −100)]
        ∂ℓ_k/∂x_k = w_k·(x_k − t_k) / max(x_k·(1 − x_k), ε),   ε = float32(10⁻¹²)

    Prefer ``binary_cross_entropy_with_logits`` on the logits: σ's rounding near 0 and 1 is
    what the clamps hide. An input outside [0, 1] is an error (NaN passes through).
    """
    func = "binary_cross_entropy"
    reduction = _reduction(reduction, func)
    x, t = _pair(func, input, target)
    w = _broadcast(func, "weight", weight, input)
    outside = (x < 0) | (x > 1)
    if np.any(outside):
        where = tuple(int(i) for i in np.argwhere(outside)[0])
        index = ", ".join(map(str, where))
        raise ValueError(
            f"{func}: input: expected probabilities in [0, 1], got input[{index}] = {x[where]}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        per = -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log1p(-x), -100))
        d = (x - t) / np.maximum(x * (1 - x), _FLOOR)
    if w is not None:
        per, d = w * per, w * d
    return _finish(per, d, input, reduction, x.size)


def kl_div(
    input: np.ndarray,
    target: np.ndarray,
    reduction: str = "mean",
    log_target: bool = False,
) -> tuple[float | np.ndarray, np.ndarray]:
    """Kullback–Leibler divergence KL(t ‖ q) with ``input`` the log-probabilities x = log q
    (knowledge distillation: the student's log-softmax against the teacher's softmax):

        ℓ_k = t_k·(log t_k − x_k)    (0 where t_k = 0),      ∂ℓ_k/∂x_k = −t_k
        with ``log_target=True`` (target given as log t):  ℓ_k = e^(t_k)·(t_k − x_k),  ∂ = −e^(t_k)

    Reductions as the others, plus "batchmean": Σ_k ℓ_k divided by the batch size
    input.shape[0], which is the mathematical KL per example; PyTorch's default "mean"
    divides by every element instead.
    """
    func = "kl_div"
    if reduction != "batchmean":
        reduction = _reduction(reduction, func)
    if not isinstance(log_target, (bool, np.bool_)):
        raise TypeError(f"{func}: log_target: expected a bool, got {log_target!r}")
    x, t = _pair(func, input, target)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if log_target:
            p = np.exp(t)
            per = p * (t - x)
        else:
            p = t
            per = np.where(t == 0, 0.0, t * np.log(np.where(t == 0, 1.0, t))) - t * x
    if reduction == "batchmean":  # the mean over the batch axis alone
        return _finish(per, -p, input, "mean", x.shape[0] if x.ndim else 1)
    return _finish(per, -p, input, reduction, x.size)
