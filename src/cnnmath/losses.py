"""Losses, each returning ``(loss, grad)``: the value and ∂loss/∂prediction.

Names, arguments and defaults are those of ``torch.nn.functional``:

    mse:            ℓ = (1/N) Σ_k (p_k − t_k)²,   ∂ℓ/∂p = 2(p − t)/N
    cross_entropy:  ℓ_n = −Σ_c a[n,c] log softmax(z_n)_c,
                    ∂ℓ_n/∂z_n = softmax(z_n)·Σ_c a[n,c] − a[n]
    nll_loss:       ℓ_n = −w[y_n] x[n, y_n],   ∂ℓ_n/∂x_n = −w[y_n] e_{y_n}

and the element-by-element losses of regression, multi-label classification and
distillation (``mse_loss``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss``,
``binary_cross_entropy_with_logits``, ``binary_cross_entropy``, ``kl_div``; the formulas are
in their docstrings), and those of metric learning, margin classification and likelihoods
(``triplet_margin_loss``, ``cosine_embedding_loss``, ``margin_ranking_loss``,
``hinge_embedding_loss``, ``soft_margin_loss``, ``multilabel_soft_margin_loss``,
``multi_margin_loss``, ``gaussian_nll_loss``, ``poisson_nll_loss``), all with PyTorch's
``reduction`` argument.

A loss of several differentiable inputs returns one gradient per input, in a tuple in the
order of the arguments: ``loss, (g_anchor, g_positive, g_negative) =
triplet_margin_loss(a, p, n)``; ``cosine_embedding_loss`` and ``margin_ranking_loss`` give
``(g_input1, g_input2)``, ``gaussian_nll_loss`` ``(g_input, g_var)``. Targets get no gradient.
The distances these build on (``pairwise_distance``, ``cosine_similarity``, ``normalize``)
are ops, with their backwards, in :mod:`cnnmath.ops.distance`: functions of arrays that a
model may use anywhere, not only in a loss. Above, n runs over the
samples (and their extra spatial positions), a[n, c] is the target distribution times the
class weights (see :func:`cross_entropy`) and the reduction divides the sum by PyTorch's
denominator. ``softmax_cross_entropy(logits, labels)`` is the mean
cross-entropy of a (B, K) batch, kept for the training loop. Each loss is also a class named
as ``torch.nn``'s loss module (``CrossEntropyLoss(label_smoothing=0.1)``, ``MSELoss()``, …)
that fixes its options and is called as the function is.

The softmax is :mod:`cnnmath.ops.softmax`'s, evaluated stably with the log-sum-exp shift in
float64; the loss is returned as a Python float (reductions "mean" and "sum"; a
:class:`LossValue`, whose ``item()`` a ported loop may call) or an array in
the logits' dtype ("none"), and the gradient in the logits' dtype. NaN in gives NaN out (loss
and gradient), never an exception: the training loop decides what to do with it.

cross_entropy runs on all the op's threads by blocks of positions (rows of classes), each
computing its log-softmax, per-position losses and gradient rows; the reduction sums the
per-position losses afterwards, in order, so the result does not depend on the thread count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_float_array, check_ndim, check_same_dtype, real_number
from ._loss_modules import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
)
from ._margin_losses import (
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from ._pointwise_losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)
from ._reductions import LossValue, _divide, _reduce, _reduction
from .ops import _threads
from .ops.softmax import _dim, _log_softmax_kernel
from .ops.softmax import log_softmax as _log_softmax_dim
from .ops.softmax import softmax as _softmax_dim

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "KLDivLoss",
    "LossValue",
    "L1Loss",
    "MSELoss",
    "NLLLoss",
    "SmoothL1Loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "smooth_l1_loss",
    "log_softmax",
    # metric learning, margin classification, likelihoods (_margin_losses)
    "CosineEmbeddingLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "MarginRankingLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "PoissonNLLLoss",
    "SoftMarginLoss",
    "TripletMarginLoss",
    "cosine_embedding_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "mse",
    "nll_loss",
    "softmax",
    "softmax_cross_entropy",
]

#: Elements per block of positions when cross_entropy runs on the op's threads (whole rows
#: of classes; the cut depends on the shape only, and the loss's sum runs after, in order).
_BLOCK = 1 << 15


@_threads.op
def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(z)_k = z_k − m − log Σ_j exp(z_j − m) along ``axis``, m = max_j z_j:
    :func:`cnnmath.ops.softmax.log_softmax` with the axis defaulting to the last.

    logits: float32 or float64 array, at least 1-D; returns its shape and dtype.

    >>> import numpy as np
    >>> np.exp(log_softmax(np.array([1e4, 1e4]))).tolist()
    [0.5, 0.5]
    """
    return _log_softmax_dim(*_logits(logits, axis, "log_softmax"))


@_threads.op
def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(z)_k = exp(z_k − m) / Σ_j exp(z_j − m), m = max_j z_j, along ``axis``:
    :func:`cnnmath.ops.softmax.softmax` with the axis defaulting to the last.

    logits: float32 or float64 array, at least 1-D; returns its shape and dtype (each slice
    along ``axis`` is non-negative and sums to 1).
    """
    return _softmax_dim(*_logits(logits, axis, "softmax"))


def _logits(logits: Any, axis: Any, func: str) -> tuple[np.ndarray, int]:
    check_float_array("logits", logits, func=func)
    if logits.ndim == 0:
        raise ValueError(f"{func}: logits: expected at least 1 axis, got a 0-d array")
    return logits, _dim(axis, logits.ndim, func=func, name="axis")


@_threads.op
def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error ℓ = (1/N) Σ_k (p_k − t_k)² over all N elements, and ∂ℓ/∂p = 2(p − t)/N.

    pred, target: float arrays of one shape and dtype (no broadcasting: a (B, 1) against a
    (B,) would silently become (B, B)). Returns (loss as a float, grad like pred), as
    ``torch.nn.functional.mse_loss`` with reduction="mean".

    >>> import numpy as np
    >>> mse(np.array([1.0, 3.0]), np.array([0.0, 0.0]))[0]
    5.0
    """
    func = "mse"
    check_float_array("pred", pred, func=func)
    check_float_array("target", target, func=func)
    check_same_dtype(func, pred=pred, target=target)
    if pred.shape != target.shape:
        raise ValueError(
            f"{func}: target: expected the shape of pred {pred.shape}, got {target.shape}"
        )
    if pred.size == 0:
        raise ValueError(f"{func}: pred: expected at least one element, got shape {pred.shape}")
    n = pred.size
    residual = pred - target
    with np.errstate(over="ignore", invalid="ignore"):
        loss = LossValue(np.mean(np.square(residual.astype(np.float64, copy=False))))
    grad = residual * pred.dtype.type(2.0 / n)
    return loss, grad


def _class_last(x: np.ndarray, name: str, func: str) -> tuple[np.ndarray, int]:
    """``x`` (C,), (N, C) or (N, C, d1, ...) with its class axis moved last, and that axis."""
    if x.ndim == 0:
        raise ValueError(
            f"{func}: {name}: expected (C,), (N, C) or (N, C, d1, ...), got a 0-d array"
        )
    class_axis = 0 if x.ndim == 1 else 1
    if x.shape[class_axis] == 0:
        raise ValueError(f"{func}: {name}: expected at least one class (C >= 1), got {x.shape}")
    return np.moveaxis(x, class_axis, -1), class_axis


def _weight(weight: Any, x: np.ndarray, C: int, func: str) -> np.ndarray | None:
    if weight is None:
        return None
    check_float_array("weight", weight, func=func)
    check_same_dtype(func, **{"input": x, "weight": weight})
    if weight.shape != (C,):
        raise ValueError(
            f"{func}: weight: expected shape ({C},), one per class, got {weight.shape}"
        )
    return weight.astype(np.float64)


def _class_targets(
    target: np.ndarray, x: np.ndarray, class_axis: int, ignore_index: Any, func: str
) -> tuple[np.ndarray, np.ndarray]:
    """Integer class targets checked against x: (the indices with ignored ones set to 0, the
    mask of those not ignored)."""
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(
        ignore_index, (int, np.integer)
    ):
        raise TypeError(f"{func}: ignore_index: expected an int, got {ignore_index!r}")
    C = x.shape[class_axis]
    expected = x.shape[:class_axis] + x.shape[class_axis + 1 :]
    if target.shape != expected:
        raise ValueError(
            f"{func}: target: expected class indices of shape {expected} (input {x.shape} "
            f"without its class axis {class_axis}), got shape {target.shape}"
        )
    keep = target != ignore_index
    bad = keep & ((target < 0) | (target >= C))
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{func}: target: expected class indices in [0, {C - 1}] (C = {C}) or "
            f"ignore_index = {ignore_index}, got target[{', '.join(map(str, where))}] = "
            f"{int(target[where])}"
        )
    return np.where(keep, target, 0).astype(np.intp), keep


@_threads.op
def cross_entropy(
    logits: np.ndarray,
    target: Any,
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> tuple[float | np.ndarray, np.ndarray]:
    """Cross-entropy of softmax(logits) against a target, with PyTorch's semantics
    (``torch.nn.functional.cross_entropy``, same arguments, order and defaults); returns
    ``(loss, grad)``, grad = ∂loss/∂logits.

    Shapes: logits z (N, C), (N, C, d1, ...) or unbatched (C,); the class axis is 1 (0 when
    unbatched). Below, n runs over the N·d1·… positions and lp_n = log softmax(z_n) over the
    classes. Every variant is ℓ_n = −Σ_c a[n,c]·lp_n[c] for a coefficient array a:

    - class indices: target (N,), (N, d1, ...) or () of integers in [0, C) or equal to
      ``ignore_index`` (those positions count for nothing: a = 0, not in the denominator).
      With ε = label_smoothing, w the class weights (1 when None) and m_n = [y_n ≠ ignore]:

          a[n,c] = m_n·((1 − ε)·w[y_n]·[c = y_n] + (ε/C)·w[c])

      "mean" divides the sum by D = Σ_n m_n·w[y_n], the weights of the non-ignored targets
      (also for the smoothing term, as PyTorch); D = 0 (everything ignored) gives NaN.
    - class probabilities: target floating, the shape and dtype of logits; with the smoothed
      distribution q = (1 − ε)·t + ε/C, a[n,c] = w[c]·q[n,c], and "mean" divides by the
      number of positions N·d1·… (not by the weights); ``ignore_index`` plays no part.

    Reductions: "mean" (the default), "sum" (D = 1) and "none" (the per-position losses ℓ_n,
    shape of the class-index target, in the logits' dtype). The loss is a Python float for
    "mean" and "sum".

    Gradient: ∂ℓ_n/∂z_n = softmax(z_n)·Σ_c a[n,c] − a[n], divided by D for "mean". For
    reduction "none" grad is the gradient of Σ_n ℓ_n; ℓ_n depends on z_n alone, so the
    backward of an upstream gradient g (shape of the losses) is grad · g with g broadcast
    along the class axis (``np.expand_dims(g, class_axis)``). An all-ignored batch has
    gradient 0, as PyTorch.

    Errors: logits not float32/float64, target neither integer nor floating of the logits'
    dtype and shape, class indices out of range, weight not (C,) of the logits' dtype,
    reduction unknown, label_smoothing outside [0, 1].

    >>> import numpy as np
    >>> loss, grad = cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(loss, 6), grad[0].tolist()  # log 4; (softmax − one-hot)/N
    (1.386294, [-0.375, 0.125, 0.125, 0.125])
    """
    func = "cross_entropy"
    check_float_array("logits", logits, func=func)
    z, class_axis = _class_last(logits, "logits", func)
    C = z.shape[-1]
    w = _weight(weight, logits, C, func)
    reduction = _reduction(reduction, func)
    eps = real_number("label_smoothing", label_smoothing, func=func, low=0.0, high=1.0)
    t = target if isinstance(target, np.ndarray) else np.asarray(target)
    w_c = np.ones(C) if w is None else w
    z2 = z.reshape(-1, C)  # one row per position n
    if np.issubdtype(t.dtype, np.floating):
        check_same_dtype(func, logits=logits, target=t)
        if t.shape != logits.shape:
            indices = t.shape == logits.shape[:class_axis] + logits.shape[class_axis + 1 :]
            raise ValueError(
                f"{func}: target: expected class probabilities of the shape of logits "
                f"{logits.shape}, got shape {t.shape}"
                + (
                    f" of dtype {t.dtype}; class indices must be integers, e.g. "
                    "target.astype(numpy.int64)"
                    if indices
                    else ""
                )
            )
        q2 = np.moveaxis(t, class_axis, -1).reshape(-1, C)
        denominator: Any = z2.shape[0]

        def coefficients(p0: int, p1: int, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            q = q2[p0:p1].astype(np.float64)
            if eps > 0:
                q = q * (1.0 - eps) + eps / C
            a = q * w_c
            return -np.sum(lp * a, axis=-1), a

    elif np.issubdtype(t.dtype, np.integer):
        y, keep = _class_targets(t, logits, class_axis, ignore_index, func)
        y, keep = y.reshape(-1), keep.reshape(-1)
        w_y = np.where(keep, w_c[y], 0.0)
        denominator = np.sum(w_y)

        def coefficients(p0: int, p1: int, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            yb, kb, wb = y[p0:p1, None], keep[p0:p1], w_y[p0:p1]
            per = np.where(kb, -wb * np.take_along_axis(lp, yb, axis=-1)[:, 0], 0.0)
            a = np.zeros(lp.shape)
            np.put_along_axis(a, yb, wb[:, None], axis=-1)
            if eps > 0:
                smooth = np.where(kb, -np.sum(lp * w_c, axis=-1), 0.0)
                per = (1.0 - eps) * per + (eps / C) * smooth
                a = (1.0 - eps) * a + (eps / C) * (kb[:, None] * w_c)
            return per, a

    else:
        raise ValueError(
            f"{func}: target: expected integer class indices or floating class probabilities "
            f"(dtype {logits.dtype}), got dtype {t.dtype}"
        )
    if reduction != "mean":
        denominator = 1.0
    per = np.empty(z2.shape[0])
    grad2 = np.empty(z2.shape, dtype=logits.dtype)

    def rows(p0: int, p1: int) -> None:  # positions p0..p1: everything but the final sum
        with np.errstate(under="ignore", invalid="ignore", over="ignore"):
            lp = _log_softmax_kernel(z2[p0:p1, :, None])[:, :, 0]
            per[p0:p1], a = coefficients(p0, p1, lp)
            row_sums = _divide(np.sum(a, axis=-1, keepdims=True), denominator)
            grad2[p0:p1] = np.exp(lp) * row_sums - _divide(a, denominator)

    _threads.parallel(rows, _threads.spans(z2.shape[0], max(1, _BLOCK // C)))
    grad = np.moveaxis(grad2.reshape(z.shape), -1, class_axis)
    return _reduce(per.reshape(z.shape[:-1]), denominator, reduction, logits), grad


@_threads.op
def nll_loss(
    log_probs: np.ndarray,
    target: Any,
    weight: np.ndarray | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> tuple[float | np.ndarray, np.ndarray]:
    """Negative log-likelihood ℓ_n = −w[y_n]·x[n, y_n] of log-probabilities x, with PyTorch's
    semantics (``torch.nn.functional.nll_loss``, same arguments, order and defaults); returns
    ``(loss, grad)``, grad = ∂loss/∂log_probs.

    Shapes: log_probs x (N, C), (N, C, d1, ...) or unbatched (C,), class axis 1 (0 when
    unbatched); target (N,), (N, d1, ...) or () of integers in [0, C) or equal to
    ``ignore_index`` (ignored: ℓ_n = 0, and not counted). w: class weights (C,), 1 when None.

    Reductions: "mean" divides Σ_n ℓ_n by D = Σ_{n not ignored} w[y_n] (NaN when D = 0),
    "sum", "none" (the per-position losses, shape of target, in x's dtype). Gradient:
    ∂ℓ/∂x[n, c] = −w[y_n]·[c = y_n]/D (D = 1 for "sum" and "none"; for "none" it is the
    gradient of Σ_n ℓ_n, so an upstream g is applied as grad · np.expand_dims(g, class_axis)).
    ``cross_entropy(z, y, ...)`` is ``nll_loss(log_softmax(z, class_axis), y, ...)``.

    >>> import numpy as np
    >>> loss, grad = nll_loss(np.log(np.array([[0.5, 0.5], [0.25, 0.75]])), np.array([0, 1]))
    >>> round(loss, 6), grad.tolist()  # (log 2 + log 4/3)/2
    (0.490415, [[-0.5, 0.0], [0.0, -0.5]])
    """
    func = "nll_loss"
    check_float_array("log_probs", log_probs, func=func)
    x, class_axis = _class_last(log_probs, "log_probs", func)
    C = x.shape[-1]
    w = _weight(weight, log_probs, C, func)
    reduction = _reduction(reduction, func)
    t = target if isinstance(target, np.ndarray) else np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(
            f"{func}: target: expected integer class indices, got dtype {t.dtype}; "
            "convert with target.astype(numpy.int64) if they are whole numbers"
        )
    y, keep = _class_targets(t, log_probs, class_axis, ignore_index, func)
    w_y = np.where(keep, (np.ones(C) if w is None else w)[y], 0.0)
    picked = np.take_along_axis(x, y[..., None], axis=-1)[..., 0].astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        per = np.where(keep, -w_y * picked, 0.0)
    denominator: Any = np.sum(w_y) if reduction == "mean" else 1.0
    # one value per position, at its target's class (0 for an ignored one): zeros elsewhere
    grad = np.zeros(x.shape, dtype=log_probs.dtype)
    with np.errstate(over="ignore", under="ignore"):
        value = (0.0 - _divide(w_y, denominator)).astype(log_probs.dtype)
    np.put_along_axis(grad, y[..., None], value[..., None], axis=-1)
    return _reduce(per, denominator, reduction, log_probs), np.moveaxis(grad, -1, class_axis)


def _check_labels(labels: Any, logits: np.ndarray, *, func: str) -> np.ndarray:
    """labels as an integer array (B,) with 0 <= y < K; every failure is a ValueError."""
    y = np.asarray(labels)
    B, K = logits.shape
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{func}: labels: expected integer class indices (dtype int), got dtype {y.dtype}; "
            "convert with labels.astype(numpy.int64) if they are whole numbers"
        )
    if y.shape != (B,):
        raise ValueError(
            f"{func}: labels: expected shape ({B},), one class index per row of logits "
            f"{logits.shape}, got shape {y.shape}"
        )
    bad = (y < 0) | (y >= K)
    if np.any(bad):
        first = int(np.argmax(bad))
        raise ValueError(
            f"{func}: labels: expected class indices in [0, {K - 1}] (logits have K = {K} "
            f"columns), got labels[{first}] = {int(y[first])}"
        )
    return y


@_threads.op
def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy with integer labels, averaged over the batch:

        ℓ = −(1/B) Σ_β log softmax(z_β)[y_β],    ∂ℓ/∂z[β, k] = (softmax(z_β)_k − [k = y_β]) / B

    that is ``cross_entropy(logits, labels)`` restricted to a (B, K) batch with every label a
    class (no ``ignore_index``): the strict form the training loop wants. logits z: (B, K)
    float32 or float64, B, K >= 1; labels y: (B,) integers in [0, K). Returns (loss as a
    float, grad (B, K) in the logits' dtype). Stable for any finite logits (log-sum-exp); NaN
    logits give a NaN loss.

    >>> import numpy as np
    >>> round(softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))[0], 6)  # log 4
    1.386294
    """
    func = "softmax_cross_entropy"
    check_float_array("logits", logits, func=func)
    check_ndim(
        "logits",
        logits,
        (2,),
        func=func,
        layout="(B, K)",
        hint="for one example use logits[None] and labels[None]" if logits.ndim == 1 else "",
    )
    if logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(f"{func}: logits: expected B >= 1 and K >= 1, got shape {logits.shape}")
    y = _check_labels(labels, logits, func=func)
    # The training loop's loss, called once per batch: written out directly (the general
    # cross_entropy's options cost a few % of an epoch: docs/performance.md, "Where a training
    # epoch goes").
    B = logits.shape[0]
    rows = np.arange(B)
    with np.errstate(invalid="ignore"):  # NaN and ±inf logits: a NaN loss, no warning
        shifted = logits - logits.max(axis=1, keepdims=True)  # z − max z: exp never overflows
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        loss = -np.mean(shifted[rows, y] - np.log(total[:, 0]), dtype=np.float64)
        grad = e / total  # softmax(z)
    grad[rows, y] -= 1
    grad /= B
    return LossValue(loss), grad
