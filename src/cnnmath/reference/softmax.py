"""softmax, log_softmax, cross_entropy, nll_loss and dropout as literal loops (the oracle for
cnnmath.ops.softmax, cnnmath.ops.dropout and cnnmath.losses).

Slices along the softmax axis are visited one by one (``numpy.ndindex`` over the other axes),
and within a slice every class is a Python loop. The losses follow PyTorch's rule, written out
per position n (a sample, or a sample's pixel) and class c:

    class indices y_n (ignored when y_n = ignore_index), weights w (1 when None), ε smoothing:
        ℓ_n = −(1 − ε)·w[y_n]·lp[n, y_n] − (ε/C)·Σ_c w[c]·lp[n, c]   (0 when ignored)
        mean = Σ_n ℓ_n / Σ_{n not ignored} w[y_n]
    class probabilities t (same shape as the logits):
        ℓ_n = −Σ_c w[c]·((1 − ε)·t[n, c] + ε/C)·lp[n, c],   mean = Σ_n ℓ_n / (number of n)

with lp = log_softmax over the classes (axis 1, or 0 for an unbatched (C,) input).
"""

from __future__ import annotations

import math

import numpy as np


def _slices(shape, dim):
    """Every index tuple of ``shape`` with ``slice(None)`` at ``dim``."""
    others = [n for i, n in enumerate(shape) if i != dim]
    for rest in np.ndindex(*others):
        index = list(rest)
        index.insert(dim, slice(None))
        yield tuple(index)


def _log_softmax_row(z):
    """log softmax of one slice: z_k − m − log Σ_j exp(z_j − m), m = max_j z_j."""
    m = max(z)
    total = 0.0
    for v in z:
        total += math.exp(v - m)
    return [v - m - math.log(total) for v in z]


def log_softmax(x, dim):
    """log softmax along axis ``dim``, one slice at a time.

    For each slice z = (z_0, …, z_{K−1}) along ``dim``, with m = max_j z_j:

        Y_k = z_k − m − log Σ_j exp(z_j − m)

    computed in float64.

    Parameters
    ----------
    x : array of any shape
    dim : int, the axis (negative counts from the end)

    Returns
    -------
    array of ``x``'s shape and dtype.
    """
    x = np.asarray(x)
    dim %= x.ndim
    out = np.empty(x.shape, dtype=np.float64)
    for index in _slices(x.shape, dim):
        out[index] = _log_softmax_row([float(v) for v in x[index]])
    return out.astype(x.dtype)


def softmax(x, dim):
    """softmax along axis ``dim``, one slice at a time.

    For each slice z = (z_0, …, z_{K−1}) along ``dim``, with m = max_j z_j:

        Y_k = exp(z_k − m − log Σ_j exp(z_j − m))   (= exp(z_k) / Σ_j exp(z_j))

    computed in float64: the exponential of :func:`log_softmax`'s row, with its arguments
    (x of any shape, ``dim`` an axis, negative from the end) and its result's shape and
    dtype (``x``'s).
    """
    x = np.asarray(x)
    dim %= x.ndim
    out = np.empty(x.shape, dtype=np.float64)
    for index in _slices(x.shape, dim):
        out[index] = [math.exp(v) for v in _log_softmax_row([float(v) for v in x[index]])]
    return out.astype(x.dtype)


def softmax_backward(grad_output, x, dim):
    """∂x_k = Σ_j g_j ∂y_j/∂x_k = Σ_j g_j y_j([j = k] − y_k) = y_k (g_k − Σ_j g_j y_j)."""
    x = np.asarray(x)
    dim %= x.ndim
    out = np.empty(x.shape, dtype=np.float64)
    for index in _slices(x.shape, dim):
        y = [math.exp(v) for v in _log_softmax_row([float(v) for v in x[index]])]
        g = [float(v) for v in grad_output[index]]
        K = len(y)
        row = []
        for k in range(K):
            total = 0.0
            for j in range(K):
                total += g[j] * y[j] * ((1.0 if j == k else 0.0) - y[k])
            row.append(total)
        out[index] = row
    return out.astype(x.dtype)


def log_softmax_backward(grad_output, x, dim):
    """∂x_k = Σ_j g_j ∂lp_j/∂x_k = Σ_j g_j ([j = k] − softmax_k)."""
    x = np.asarray(x)
    dim %= x.ndim
    out = np.empty(x.shape, dtype=np.float64)
    for index in _slices(x.shape, dim):
        p = [math.exp(v) for v in _log_softmax_row([float(v) for v in x[index]])]
        g = [float(v) for v in grad_output[index]]
        K = len(p)
        row = []
        for k in range(K):
            total = 0.0
            for j in range(K):
                total += g[j] * ((1.0 if j == k else 0.0) - p[k])
            row.append(total)
        out[index] = row
    return out.astype(x.dtype)


def _positions(x):
    """(class axis, the list of index tuples that pick one position's class slice)."""
    dim = 0 if x.ndim == 1 else 1
    return dim, list(_slices(x.shape, dim))


def _target_at(target, index, dim):
    """The target entry for a position: ``index`` without its class slot."""
    return target[tuple(i for k, i in enumerate(index) if k != dim)]


def _coefficients(x, target, weight, ignore_index, label_smoothing):
    """Per position: (its index, a[c] for every class, whether it counts, its mean weight)."""
    dim, positions = _positions(x)
    C = x.shape[dim]
    w = [1.0] * C if weight is None else [float(v) for v in weight]
    eps = float(label_smoothing)
    probabilities = np.issubdtype(np.asarray(target).dtype, np.floating)
    rows = []
    for index in positions:
        if probabilities:
            t = [float(v) for v in target[index]]
            a = [w[c] * ((1.0 - eps) * t[c] + eps / C) for c in range(C)]
            rows.append((index, a, True, 1.0))
            continue
        y = int(_target_at(target, index, dim))
        if y == ignore_index:
            rows.append((index, [0.0] * C, False, 0.0))
            continue
        a = [(1.0 - eps) * (w[c] if c == y else 0.0) + eps / C * w[c] for c in range(C)]
        rows.append((index, a, True, w[y]))
    return rows


def _reduce(x, target, losses, rows, reduction):
    if reduction == "none":
        dim = 0 if x.ndim == 1 else 1
        shape = x.shape[:dim] + x.shape[dim + 1 :]
        return np.array(losses, dtype=np.float64).reshape(shape).astype(x.dtype), 1.0
    total = 0.0
    for v in losses:
        total += v
    if reduction == "sum":
        return total, 1.0
    denominator = 0.0
    for _, _, _, mean_weight in rows:
        denominator += mean_weight
    return (total / denominator if denominator != 0 else math.nan), denominator


def cross_entropy(
    logits, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    """(loss, ∂loss/∂logits) by PyTorch's rule (module docstring); ∂ℓ_n/∂z_n[k] =
    Σ_c a[c]·(softmax_k − [c = k]), divided by the mean's denominator. For "none" the
    gradient is that of the sum of the per-position losses."""
    x = np.asarray(logits)
    rows = _coefficients(x, target, weight, ignore_index, label_smoothing)
    losses, grads = [], []
    for index, a, _, _ in rows:
        lp = _log_softmax_row([float(v) for v in x[index]])
        total = 0.0
        for c in range(len(a)):
            if a[c] != 0.0:
                total -= a[c] * lp[c]
        losses.append(total)
        grads.append(
            [sum(a[c] * (math.exp(lp[k]) - (c == k)) for c in range(len(a))) for k in range(len(a))]
        )
    loss, denominator = _reduce(x, target, losses, rows, reduction)
    grad = np.zeros(x.shape, dtype=np.float64)
    for (index, _, _, _), row in zip(rows, grads):
        grad[index] = [v / denominator if v != 0.0 else 0.0 for v in row]
    return loss, grad.astype(x.dtype)


def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean"):
    """(loss, ∂loss/∂log_probs): ℓ_n = −w[y_n]·x[n, y_n]; the mean divides by the weights of
    the targets not ignored; ∂ℓ/∂x[n, y_n] = −w[y_n]/denominator."""
    x = np.asarray(log_probs)
    rows = _coefficients(x, target, weight, ignore_index, 0.0)
    losses = []
    for index, a, _, _ in rows:
        row = [float(v) for v in x[index]]
        total = 0.0
        for c in range(len(a)):
            if a[c] != 0.0:
                total -= a[c] * row[c]
        losses.append(total)
    loss, denominator = _reduce(x, target, losses, rows, reduction)
    grad = np.zeros(x.shape, dtype=np.float64)
    for index, a, _, _ in rows:
        grad[index] = [-v / denominator if v != 0.0 else 0.0 for v in a]
    return loss, grad.astype(x.dtype)


def dropout(x, p=0.5, training=True, mask=None):
    """y = x·mask/(1 − p) element by element in training (mask: True where kept; 0 for every
    element when p = 1), y = x in eval."""
    x = np.asarray(x)
    if not training:
        return x.copy()
    out = np.empty(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        scale = 0.0 if p == 1 or not mask[index] else 1.0 / (1.0 - p)
        out[index] = float(x[index]) * scale
    return out.astype(x.dtype)


def dropout_backward(grad_output, mask, p=0.5, training=True):
    """∂x = g·mask/(1 − p) in training, g in eval."""
    g = np.asarray(grad_output)
    if not training:
        return g.copy()
    out = np.empty(g.shape, dtype=np.float64)
    for index in np.ndindex(*g.shape):
        scale = 0.0 if p == 1 or not mask[index] else 1.0 / (1.0 - p)
        out[index] = float(g[index]) * scale
    return out.astype(g.dtype)
