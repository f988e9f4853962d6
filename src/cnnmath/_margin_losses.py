"""Losses of metric learning, margin classification and likelihoods, as ``torch.nn.functional``:
the same names, arguments, defaults and reductions, PyTorch's formulas and its subgradients at
the kinks. Each returns ``(loss, grad)``; a loss of several differentiable inputs returns one
gradient per input in a tuple, in the argument order (``triplet_margin_loss`` →
``(loss, (∂/∂anchor, ∂/∂positive, ∂/∂negative))``).

    triplet_margin_loss       ℓ_n = max(m + d(a_n, p_n) − d(a_n, n_n), 0)
    cosine_embedding_loss     ℓ_n = 1 − cos(x1_n, x2_n) (y = 1),  max(0, cos − m) (y = −1)
    margin_ranking_loss       ℓ_k = max(0, −y_k (x1_k − x2_k) + m)
    hinge_embedding_loss      ℓ_k = x_k (y = 1),  max(0, m − x_k) (y = −1)
    soft_margin_loss          ℓ_k = log(1 + exp(−y_k x_k))
    multilabel_soft_margin_loss  ℓ_n = −(1/C) Σ_c w_c [t_c log σ(x_c) + (1 − t_c) log σ(−x_c)]
    multi_margin_loss         ℓ_n = (w_y/C) Σ_{c≠y} max(0, m − x_y + x_c)^p
    gaussian_nll_loss         ℓ_k = ½ (log v_k + (x_k − t_k)²/v_k)
    poisson_nll_loss          ℓ_k = e^(x_k) − t_k x_k  (log_input)

Conventions shared with the other losses (``_pointwise_losses``): "mean" divides the sum by the
number of terms (samples n, or elements k), "sum" sums, "none" returns the terms in the
input's dtype with, as grad, the gradient of their sum; the loss is a Python float computed in
float64, gradients are in the input's dtype. Arrays compared with each other have one shape
and one dtype (PyTorch broadcasts; here a mismatch is an error). A ±1 target may be integer or
floating; any other value is refused with its index (PyTorch silently gives such a position
a loss that is neither case's). Where a hinge max(0, z) sits exactly at z = 0 the gradient
flows for the ranking, embedding and triplet losses (PyTorch's clamp_min) and not for
``multi_margin_loss`` (its kernel tests z > 0), as in PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._checks import check_float_array, check_same_dtype, flag, real_number
from ._pointwise_losses import _broadcast, _pair, _sigmoid, _softplus
from ._reductions import _reduce, _reduction
from .ops.distance import norm_order, pairwise_distance, pairwise_distance_backward

__all__ = [
    "cosine_embedding_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
]

LossValue = tuple[float | np.ndarray, Any]

#: ½ log 2π, the constant of the Gaussian's log-density
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _alike(func: str, **arrays: Any) -> list[np.ndarray]:
    """The arrays checked (float32/float64, one dtype, the first one's shape), as float64."""
    (first, x), *rest = arrays.items()
    for name, a in arrays.items():
        check_float_array(name, a, func=func)
    check_same_dtype(func, **arrays)
    for name, a in rest:
        if a.shape != x.shape:
            raise ValueError(
                f"{func}: {name}: expected the shape of {first} {x.shape}, got {a.shape}"
            )
    return [a.astype(np.float64) for a in arrays.values()]


def _signs(func: str, target: Any, shape: tuple[int, ...], of: str) -> np.ndarray:
    """A target of 1s and −1s (integer or floating) of ``shape``, as float64."""
    t = np.asarray(target)
    if t.dtype.kind not in "iuf":
        raise TypeError(
            f"{func}: target: expected an array of 1 and -1 (integer or floating), got dtype "
            f"{t.dtype}"
        )
    if t.shape != shape:
        raise ValueError(f"{func}: target: expected shape {shape} ({of}), got {t.shape}")
    bad = (t != 1) & (t != -1)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{func}: target: expected 1 or -1, got target[{', '.join(map(str, where))}] = "
            f"{t[where]!r}"
        )
    return t.astype(np.float64)


def _finish(
    per: np.ndarray, grads: list[np.ndarray], like: np.ndarray, reduction: str, n: int
) -> tuple[float | np.ndarray, list[np.ndarray]]:
    """(reduce(ℓ), the grads divided by n for "mean", in like's dtype)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        if reduction == "mean":
            grads = [g / n for g in grads]
        return _reduce(per, np.float64(n), reduction, like), [g.astype(like.dtype) for g in grads]


def _margin(value: Any, func: str, **bounds: Any) -> float:
    return real_number("margin", value, func=func, **bounds)


def triplet_margin_loss(
    anchor: np.ndarray,
    positive: np.ndarray,
    negative: np.ndarray,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> LossValue:
    """The triplet loss of metric learning, as ``torch.nn.functional.triplet_margin_loss``:

        ℓ_n = max(m + d(a_n, p_n) − d⁻_n, 0),    d(x, y) = ‖x − y + ε‖_p  (pairwise_distance)
        d⁻_n = d(a_n, n_n),  or with ``swap`` min(d(a_n, n_n), d(p_n, n_n))

    (the swap of Balntas et al. 2016: the harder of the two negatives' distances). Gradients:
    for an active triplet (m + d⁺ − d⁻ >= 0) the distances' gradients (``cnnmath.ops.
    pairwise_distance_backward``), +1 for d(a, p), −1 for the chosen negative distance (½
    each on a tie of the swap's min, as PyTorch's).

    anchor, positive, negative: float arrays of one shape and dtype, (N, D) or (D,) (or
    (N, …, D): the vector axis is the last), one triplet per row; margin > 0; p >= 0 or
    math.inf; eps >= 0. "mean" divides by the number of triplets. Returns
    ``(loss, (grad_anchor, grad_positive, grad_negative))``, "none" losses of shape (N, …).

    >>> import numpy as np
    >>> a, p, n = np.zeros((1, 2)), np.array([[1.0, 0.0]]), np.array([[0.0, 1.5]])
    >>> loss, (ga, gp, gn) = triplet_margin_loss(a, p, n, margin=1.0, eps=0.0)
    >>> loss, ga.tolist(), gp.tolist(), gn.tolist()  # max(1 + 1 − 1.5, 0): active
    (0.5, [[-1.0, 1.0]], [[1.0, 0.0]], [[0.0, -1.0]])
    """
    func = "triplet_margin_loss"
    reduction = _reduction(reduction, func)
    a, pos, neg = _alike(func, anchor=anchor, positive=positive, negative=negative)
    if a.ndim == 0:
        raise ValueError(f"{func}: anchor: expected (N, D) or (D,), got a 0-d array")
    margin = _margin(margin, func, low=0.0, low_open=True)
    p = norm_order(p, func=func)
    eps = real_number("eps", eps, func=func, low=0.0)
    swap = flag("swap", swap, func=func)
    with np.errstate(over="ignore", invalid="ignore"):
        d_pos = pairwise_distance(a, pos, p, eps)
        d_neg = pairwise_distance(a, neg, p, eps)
        # the share of the negative term each distance takes: all to d(a, n) without swap
        w_neg = np.ones_like(d_neg)
        w_swap = np.zeros_like(d_neg)
        if swap:
            d_swap = pairwise_distance(pos, neg, p, eps)
            tie = d_swap == d_neg
            w_neg = np.where(tie, 0.5, (d_neg < d_swap).astype(np.float64))
            w_swap = np.where(tie, 0.5, (d_swap < d_neg).astype(np.float64))
            d_neg = np.minimum(d_neg, d_swap)
        z = margin + d_pos - d_neg
        per = np.maximum(z, 0.0)
        active = (z >= 0).astype(np.float64)
        # (np.asarray: one unbatched triplet's products are NumPy scalars, not 0-d arrays)
        ga_p, gp_a = pairwise_distance_backward(np.asarray(active), a, pos, p, eps)
        ga_n, gn_a = pairwise_distance_backward(np.asarray(active * w_neg), a, neg, p, eps)
        gp_n, gn_p = pairwise_distance_backward(np.asarray(active * w_swap), pos, neg, p, eps)
        grads = [ga_p - ga_n, gp_a - gp_n, -gn_a - gn_p]
    loss, grads = _finish(per, grads, anchor, reduction, per.size)
    return loss, tuple(grads)


def _squared(x: np.ndarray, axis: int) -> np.ndarray:
    return np.sum(x * x, axis=axis)


#: The constant cosine_embedding_loss adds to each squared norm: PyTorch's, 10⁻¹² rounded to
#: float32 (in every dtype)
_COSINE_EPS = float(np.float32(1e-12))


def cosine_embedding_loss(
    input1: np.ndarray,
    input2: np.ndarray,
    target: Any,
    margin: float = 0.0,
    reduction: str = "mean",
) -> LossValue:
    """Whether pairs are alike, by their cosine, as ``torch.nn.functional.
    cosine_embedding_loss``: with c_n = s_n / √(q1_n q2_n), s = Σ_i x1_i x2_i,
    q_j = Σ_i x_j,i² + ε, ε = float32(10⁻¹²) (PyTorch's constant, added to the squared norms),

        ℓ_n = 1 − c_n  (y_n = 1),     max(0, c_n − m)  (y_n = −1)
        ∂c/∂x1 = x2/√(q1 q2) − c·x1/q1,    ∂c/∂x2 = x1/√(q1 q2) − c·x2/q2

    and ∂ℓ/∂c = −1 (y = 1), [c − m >= 0] (y = −1).

    input1, input2: float (N, D) with target (N,), or (D,) with target (); target of 1 and
    −1; margin a real number (−1 to 1 is meaningful). "mean" divides by N. Returns
    ``(loss, (grad_input1, grad_input2))``.
    """
    func = "cosine_embedding_loss"
    reduction = _reduction(reduction, func)
    x1, x2 = _alike(func, input1=input1, input2=input2)
    if x1.ndim not in (1, 2):
        raise ValueError(
            f"{func}: input1: expected (N, D) with target (N,), or (D,) with target (), got "
            f"shape {x1.shape}"
        )
    axis = x1.ndim - 1
    y = _signs(func, target, x1.shape[:-1], f"one per row of input1 {x1.shape}")
    margin = _margin(margin, func)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        q1, q2 = _squared(x1, axis) + _COSINE_EPS, _squared(x2, axis) + _COSINE_EPS
        root = np.sqrt(q1 * q2)
        c = np.sum(x1 * x2, axis=axis) / root
        per = np.where(y == 1, 1 - c, np.maximum(c - margin, 0.0))
        dc = np.where(y == 1, -1.0, (c - margin >= 0).astype(np.float64))[..., None]
        grads = [
            dc * (x2 / root[..., None] - (c / q1)[..., None] * x1),
            dc * (x1 / root[..., None] - (c / q2)[..., None] * x2),
        ]
    loss, grads = _finish(per, grads, input1, reduction, per.size)
    return loss, tuple(grads)


def margin_ranking_loss(
    input1: np.ndarray,
    input2: np.ndarray,
    target: Any,
    margin: float = 0.0,
    reduction: str = "mean",
) -> LossValue:
    """Which of two scores should rank higher, as ``torch.nn.functional.margin_ranking_loss``:

        ℓ_k = max(0, −y_k (x1_k − x2_k) + m),   ∂ℓ_k/∂x1_k = −y_k a_k,   ∂ℓ_k/∂x2_k = y_k a_k

    with a_k = [−y_k (x1_k − x2_k) + m >= 0] (y = 1: x1 should be the larger by m).

    input1, input2: float arrays of one shape and dtype; target: 1 and −1, the same shape.
    "mean" divides by the number of elements. Returns ``(loss, (grad_input1, grad_input2))``.
    """
    func = "margin_ranking_loss"
    reduction = _reduction(reduction, func)
    x1, x2 = _alike(func, input1=input1, input2=input2)
    y = _signs(func, target, x1.shape, "that of input1")
    margin = _margin(margin, func)
    with np.errstate(over="ignore", invalid="ignore"):
        z = -y * (x1 - x2) + margin
        active = (z >= 0).astype(np.float64)
        per = np.maximum(z, 0.0)
        grads = [-y * active, y * active]
    loss, grads = _finish(per, grads, input1, reduction, per.size)
    return loss, tuple(grads)


def hinge_embedding_loss(
    input: np.ndarray, target: Any, margin: float = 1.0, reduction: str = "mean"
) -> LossValue:
    """The hinge embedding loss (input usually a distance between a pair), as
    ``torch.nn.functional.hinge_embedding_loss``:

        ℓ_k = x_k  (y_k = 1),    max(0, m − x_k)  (y_k = −1)
        ∂ℓ_k/∂x_k = 1  (y_k = 1),   −[m − x_k >= 0]  (y_k = −1)

    input: float array; target: 1 and −1 of input's shape; margin a real number. "mean"
    divides by the number of elements.
    """
    func = "hinge_embedding_loss"
    reduction = _reduction(reduction, func)
    check_float_array("input", input, func=func)
    x = input.astype(np.float64)
    y = _signs(func, target, x.shape, "that of input")
    margin = _margin(margin, func)
    with np.errstate(over="ignore", invalid="ignore"):
        z = margin - x
        per = np.where(y == 1, x, np.maximum(z, 0.0))
        d = np.where(y == 1, 1.0, -(z >= 0).astype(np.float64))
    loss, (grad,) = _finish(per, [d], input, reduction, per.size)
    return loss, grad


def soft_margin_loss(input: np.ndarray, target: Any, reduction: str = "mean") -> LossValue:
    """The logistic loss of ±1 labels, as ``torch.nn.functional.soft_margin_loss``:

        ℓ_k = log(1 + exp(−y_k x_k)),    ∂ℓ_k/∂x_k = −y_k σ(−y_k x_k)

    evaluated as softplus(−y x) and σ without overflow: finite where PyTorch's
    log1p(exp(−y x)) overflows (−y x > 709 in float64, > 88 in float32: its loss is inf and
    its gradient NaN there).

    input: float array; target: 1 and −1 of input's shape. "mean" divides by the number of
    elements.

    >>> import numpy as np
    >>> round(soft_margin_loss(np.zeros(3), np.array([1, -1, 1]))[0], 6)  # log 2
    0.693147
    """
    func = "soft_margin_loss"
    reduction = _reduction(reduction, func)
    check_float_array("input", input, func=func)
    x = input.astype(np.float64)
    y = _signs(func, target, x.shape, "that of input")
    with np.errstate(over="ignore", invalid="ignore"):
        z = -y * x
        per = _softplus(z)
        d = -y * _sigmoid(z)
    loss, (grad,) = _finish(per, [d], input, reduction, per.size)
    return loss, grad


def multilabel_soft_margin_loss(
    input: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None = None,
    reduction: str = "mean",
) -> LossValue:
    """Multi-label one-versus-all logistic loss, as ``torch.nn.functional.
    multilabel_soft_margin_loss``: over the C classes of the last axis,

        ℓ_n = (1/C) Σ_c w_c [t_nc softplus(−x_nc) + (1 − t_nc) softplus(x_nc)]
            = −(1/C) Σ_c w_c [t_nc log σ(x_nc) + (1 − t_nc) log σ(−x_nc)]
        ∂ℓ_n/∂x_nc = w_c (σ(x_nc) − t_nc) / C

    (``binary_cross_entropy_with_logits`` averaged over the classes per sample, then over
    the samples).

    input: float (N, C) or (C,) (or (N, …, C)); target: labels in [0, 1] (soft ones too), of
    input's shape, in input's dtype or integer 0/1 (a multi-hot int64 array, as PyTorch
    takes); weight: per class (C,), or any float array broadcasting to input's shape.
    "mean" divides Σ_n ℓ_n by the number of samples; "none" returns ℓ_n, input's shape
    without its last axis.
    """
    func = "multilabel_soft_margin_loss"
    reduction = _reduction(reduction, func)
    if isinstance(target, np.ndarray) and target.dtype.kind in "iub":
        if target.size and not np.isin(target, (0, 1)).all():
            raise ValueError(f"{func}: target: expected integer labels 0 or 1, got other values")
        if isinstance(input, np.ndarray) and input.dtype.kind == "f":
            target = target.astype(input.dtype)
    x, t = _pair(func, input, target)
    if x.ndim == 0:
        raise ValueError(f"{func}: input: expected (N, C) or (C,), got a 0-d array")
    w = _broadcast(func, "weight", weight, input)
    C = x.shape[-1]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        per = t * _softplus(-x) + (1 - t) * _softplus(x)
        d = _sigmoid(x) - t
        if w is not None:
            per, d = w * per, w * d
        per, d = np.sum(per, axis=-1) / C, d / C
    loss, (grad,) = _finish(per, [d], input, reduction, per.size)
    return loss, grad


def multi_margin_loss(
    input: np.ndarray,
    target: Any,
    p: int = 1,
    margin: float = 1.0,
    weight: np.ndarray | None = None,
    reduction: str = "mean",
) -> LossValue:
    """The multi-class hinge loss (Weston–Watkins, a linear SVM's), as
    ``torch.nn.functional.multi_margin_loss``: with y = y_n, z_c = m − x_y + x_c,

        ℓ_n = (w_y / C) Σ_{c ≠ y} [z_c > 0] z_c^p                     (p = 1 or 2)
        ∂ℓ_n/∂x_c = (w_y / C) [z_c > 0] p z_c^(p−1)  (c ≠ y),    ∂ℓ_n/∂x_y = −Σ_{c ≠ y} of those

    (the kink z_c = 0 counts as inactive, as in PyTorch's kernel).

    input: float (N, C) with target (N,), or (C,) with target () or (1,); target: integer
    class indices in [0, C) (0-based, as PyTorch's); weight: per class (C,) of input's dtype.
    "mean" divides by N; "none" returns target's shape.
    """
    func = "multi_margin_loss"
    reduction = _reduction(reduction, func)
    check_float_array("input", input, func=func)
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise ValueError(
            f"{func}: input: expected (N, C) or (C,) with C >= 1, got shape {input.shape}"
        )
    if isinstance(p, (bool, np.bool_)) or p not in (1, 2):
        raise ValueError(f"{func}: p: expected 1 or 2, got {p!r}")
    margin = _margin(margin, func)
    x = np.atleast_2d(input).astype(np.float64)
    N, C = x.shape
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{func}: target: expected integer class indices, got dtype {t.dtype}; convert "
            "with target.astype(numpy.int64) if they are whole numbers"
        )
    if t.ndim > 1 or t.size != N:
        wanted = f"({N},)" if input.ndim == 2 else "() or (1,)"
        raise ValueError(
            f"{func}: target: expected shape {wanted}, one class index per row of input "
            f"{input.shape}, got {t.shape}"
        )
    y = t.reshape(N)
    bad = (y < 0) | (y >= C)
    if np.any(bad):
        first = int(np.argmax(bad))
        where = f"target[{first}]" if t.ndim else "target"
        raise ValueError(
            f"{func}: target: expected class indices in [0, {C - 1}] (C = {C}), got "
            f"{where} = {int(y[first])}"
        )
    w_y = np.ones(N)
    if weight is not None:
        check_float_array("weight", weight, func=func)
        check_same_dtype(func, input=input, weight=weight)
        if weight.shape != (C,):
            raise ValueError(
                f"{func}: weight: expected shape ({C},), one per class, got {weight.shape}"
            )
        w_y = weight.astype(np.float64)[y]
    rows = np.arange(N)
    with np.errstate(over="ignore", invalid="ignore"):
        z = margin - x[rows, y][:, None] + x
        active = z > 0
        active[rows, y] = False
        h = np.where(active, z if p == 1 else z * z, 0.0)
        scale = (w_y / C)[:, None]
        per = np.sum(h, axis=1) * scale[:, 0]
        d = scale * np.where(active, 1.0 if p == 1 else 2 * z, 0.0)
        d[rows, y] = -np.sum(d, axis=1)
    loss, (grad,) = _finish(per.reshape(t.shape), [d.reshape(input.shape)], input, reduction, N)
    return loss, grad


def _variance_view(func: str, var: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """var as an array broadcasting to input's ``shape`` under PyTorch's three rules: the
    same shape (one variance per element); input's shape without its last axis; or input's
    number of axes with exactly one of them of length 1 where input's is not (one variance
    shared along that axis)."""
    if var.shape == shape:
        return var
    if var.shape == shape[:-1] and len(shape) >= 1:
        return var[..., None]
    differ = [i for i, (a, b) in enumerate(zip(shape, var.shape)) if a != b]
    if var.ndim == len(shape) and len(differ) == 1 and var.shape[differ[0]] == 1:
        return var
    raise ValueError(
        f"{func}: var: expected input's shape {shape}, that shape without its last axis "
        f"{shape[:-1]}, or it with one axis of length 1, got {var.shape}"
    )


def gaussian_nll_loss(
    input: np.ndarray,
    target: np.ndarray,
    var: np.ndarray | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> LossValue:
    """Negative log-likelihood of the target under N(input, var), as ``torch.nn.functional.
    gaussian_nll_loss``: with v = max(var, ε) broadcast to input's shape,

        ℓ_k = ½ (log v_k + (x_k − t_k)² / v_k)  [+ ½ log 2π with ``full``]
        ∂ℓ_k/∂x_k = (x_k − t_k) / v_k,     ∂ℓ_k/∂v_k = ½ (1/v_k − (x_k − t_k)² / v_k²)

    and ∂ℓ/∂var the latter summed over the axes var is broadcast along. PyTorch clamps var
    outside autograd, so where var < ε the gradient is the formula's at v = ε, passed through
    as if unclamped (not 0): the same here.

    input, target: float arrays of one shape and dtype; var: float array of input's dtype,
    non-negative, of input's shape (one variance each), of that shape without its last axis,
    or with one axis of length 1 (shared along it) — or a non-negative Python number (one
    for all). eps >= 0. "mean" divides by the number of elements. Returns
    ``(loss, (grad_input, grad_var))``; grad_var has var's shape (a Python float for a
    number var).
    """
    func = "gaussian_nll_loss"
    reduction = _reduction(reduction, func)
    x, t = _pair(func, input, target)
    if isinstance(var, np.ndarray):
        check_float_array("var", var, func=func)
        check_same_dtype(func, input=input, var=var)
        view = _variance_view(func, var, x.shape).astype(np.float64)
        if np.any(var < 0):
            where = tuple(int(i) for i in np.argwhere(var < 0)[0])
            raise ValueError(
                f"{func}: var: expected variances >= 0, got var[{', '.join(map(str, where))}] "
                f"= {var[where]!r}"
            )
        var_shape: tuple[int, ...] | None = var.shape
    else:  # one variance for all
        view = np.full(x.shape, real_number("var", var, func=func, low=0.0))
        var_shape = None
    full = flag("full", full, func=func)
    eps = real_number("eps", eps, func=func, low=0.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        v = np.maximum(view, eps)  # the clamp (NaN stays NaN); its gradient is the identity
        r = x - t
        per = 0.5 * (np.log(v) + r * r / v)
        if full:
            per = per + _HALF_LOG_2PI
        grad_x = r / v
        grad_v = 0.5 * (1 / v - r * r / (v * v))
        # summed over the axes var is shared along (all of them for a number)
        shared = tuple(i for i, n in enumerate(view.shape) if n == 1 and x.shape[i] != 1)
        grad_v = np.sum(grad_v, axis=None if var_shape is None else shared, keepdims=True)
    loss, (grad_x, grad_v) = _finish(per, [grad_x, grad_v], input, reduction, per.size)
    if var_shape is None:
        return loss, (grad_x, float(grad_v.reshape(())))
    return loss, (grad_x, grad_v.reshape(var_shape))


def poisson_nll_loss(
    input: np.ndarray,
    target: np.ndarray,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> LossValue:
    """Negative log-likelihood of counts t under a Poisson of rate λ, as ``torch.nn.
    functional.poisson_nll_loss`` (without log t!, a constant):

        log_input=True  (x = log λ):  ℓ_k = e^(x_k) − t_k x_k,        ∂ℓ_k/∂x_k = e^(x_k) − t_k
        log_input=False (x = λ >= 0): ℓ_k = x_k − t_k log(x_k + ε),   ∂ℓ_k/∂x_k = 1 − t_k/(x_k + ε)

    With ``full`` the Stirling approximation of log t! is added where t > 1 (not elsewhere,
    as PyTorch): t log t − t + ½ log(2π t); it does not depend on x.

    input, target: float arrays of one shape and dtype; with log_input=False, input holds
    rates and a negative one is refused (PyTorch gives NaN). eps >= 0. "mean" divides by the
    number of elements.
    """
    func = "poisson_nll_loss"
    reduction = _reduction(reduction, func)
    x, t = _pair(func, input, target)
    log_input = flag("log_input", log_input, func=func)
    full = flag("full", full, func=func)
    eps = real_number("eps", eps, func=func, low=0.0)
    if not log_input and np.any(x < 0):
        where = tuple(int(i) for i in np.argwhere(x < 0)[0])
        raise ValueError(
            f"{func}: input: expected rates >= 0 with log_input=False, got "
            f"input[{', '.join(map(str, where))}] = {x[where]!r}"
        )
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if log_input:
            e = np.exp(x)
            per, d = e - t * x, e - t
        else:
            per, d = x - t * np.log(x + eps), 1 - t / (x + eps)
        if full:
            big = t > 1
            tt = np.where(big, t, 2.0)
            stirling = tt * np.log(tt) - tt + 0.5 * np.log(2 * math.pi * tt)
            per = per + np.where(big, stirling, 0.0)
    loss, (grad,) = _finish(per, [d], input, reduction, per.size)
    return loss, grad
