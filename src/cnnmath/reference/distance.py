"""Distances and similarities between vectors as literal loops over every vector and entry.

For a vector d = (d_1, …, d_D): ‖d‖_p = (Σ_i |d_i|^p)^(1/p), max_i |d_i| for p = ∞, the count
of non-zero d_i for p = 0; its subgradient ∂‖d‖_p/∂d_i = sgn(d_i)|d_i|^(p−1)/‖d‖^(p−1) (0 where
d_i = 0 or ‖d‖ = 0), shared equally among the largest |d_i| for p = ∞, 0 for p = 0.

    pairwise_distance(x1, x2)[m] = ‖x1[m] − x2[m] + ε‖_p                (vectors: last axis)
    cosine_similarity(x1, x2)[m] = Σ_i (x1[m, i]/n1)(x2[m, i]/n2),  n = max(‖·‖_2, ε)
    normalize(x)[m] = x[m] / max(‖x[m]‖_p, ε)

The backwards differentiate these term by term; cosine_similarity's treats each clamped norm
as the unclamped one passed straight through (PyTorch clamps it outside autograd). Sums in
float64, results in the input's dtype.
"""

from __future__ import annotations

import math

import numpy as np


def _sign(a):
    return (a > 0) - (a < 0)


def _norm(v, p):
    if p == 0:
        return float(sum(1 for a in v if a != 0))
    if p == math.inf:
        return max((abs(a) for a in v), default=0.0)
    return sum(abs(a) ** p for a in v) ** (1.0 / p)


def _norm_grad(v, n, p):
    """∂‖v‖_p/∂v_i for each i, ``n`` = ‖v‖_p."""
    if p == 0:
        return [0.0] * len(v)
    if p == math.inf:
        top = [abs(a) == n or a != a for a in v]
        return [_sign(a) * t / sum(top) for a, t in zip(v, top)]
    return [0.0 if a == 0 or n == 0 else _sign(a) * abs(a) ** (p - 1) / n ** (p - 1) for a in v]


def _rows(x, axis):
    """x with ``axis`` moved last, as a list of vectors of Python floats, and the other axes."""
    moved = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    return [list(map(float, row)) for row in moved.reshape(-1, moved.shape[-1])], moved.shape


def _unrows(rows, shape, axis, dtype):
    return np.moveaxis(np.array(rows, dtype=np.float64).reshape(shape), -1, axis).astype(dtype)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """out[m] = ‖x1[m] − x2[m] + ε‖_p for each vector m along the last axis (out keeps that
    axis with length 1 if ``keepdim``)."""
    r1, shape = _rows(x1, -1)
    r2, _ = _rows(x2, -1)
    out = np.zeros(len(r1))
    for m in range(len(r1)):
        d = [a - b + eps for a, b in zip(r1[m], r2[m])]
        out[m] = _norm(d, p)
    out = out.reshape(shape[:-1] + ((1,) if keepdim else ()))
    return out.astype(x1.dtype)


def pairwise_distance_backward(grad_output, x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """∂ℓ/∂x1[m, i] = g[m] · ∂‖d‖_p/∂d_i with d = x1[m] − x2[m] + ε; ∂ℓ/∂x2 = −∂ℓ/∂x1."""
    r1, shape = _rows(x1, -1)
    r2, _ = _rows(x2, -1)
    g = np.asarray(grad_output, dtype=np.float64).reshape(-1)
    grad = []
    for m in range(len(r1)):
        d = [a - b + eps for a, b in zip(r1[m], r2[m])]
        grad.append([float(g[m]) * q for q in _norm_grad(d, _norm(d, p), p)])
    g1 = _unrows(grad, shape, -1, x1.dtype)
    return g1, (-g1).astype(x1.dtype)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """out[m] = Σ_i (x1[m, i]/n1)(x2[m, i]/n2), n_j = max(‖x_j[m]‖_2, ε), along ``dim``."""
    r1, shape = _rows(x1, dim)
    r2, _ = _rows(x2, dim)
    out = np.zeros(len(r1))
    for m in range(len(r1)):
        n1, n2 = max(_norm(r1[m], 2), eps), max(_norm(r2[m], 2), eps)
        out[m] = sum((a / n1) * (b / n2) for a, b in zip(r1[m], r2[m]))
    return out.reshape(shape[:-1]).astype(x1.dtype)


def cosine_similarity_backward(grad_output, x1, x2, dim=1, eps=1e-8):
    """∂ℓ/∂x1[m, i] = g[m]·(x2[m, i]/(n1 n2) − (s/n1)·x1[m, i]/‖x1[m]‖) and the same with
    x1 and x2 exchanged (s the forward's value, x/‖x‖ = 0 at x = 0)."""
    r1, shape = _rows(x1, dim)
    r2, _ = _rows(x2, dim)
    g = np.asarray(grad_output, dtype=np.float64).reshape(-1)
    grad1, grad2 = [], []
    for m in range(len(r1)):
        a, b = r1[m], r2[m]
        na, nb = _norm(a, 2), _norm(b, 2)
        n1, n2 = max(na, eps), max(nb, eps)
        s = sum((ai / n1) * (bi / n2) for ai, bi in zip(a, b))
        ua, ub = _norm_grad(a, na, 2), _norm_grad(b, nb, 2)
        gm = float(g[m])
        grad1.append([gm * (bi / n2 / n1 - s / n1 * q) for bi, q in zip(b, ua)])
        grad2.append([gm * (ai / n1 / n2 - s / n2 * q) for ai, q in zip(a, ub)])
    return _unrows(grad1, shape, dim, x1.dtype), _unrows(grad2, shape, dim, x1.dtype)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """out[m, i] = x[m, i] / max(‖x[m]‖_p, ε) along ``dim``."""
    rows, shape = _rows(input, dim)
    out = []
    for v in rows:
        delta = max(_norm(v, p), eps)
        out.append([a / delta for a in v])
    return _unrows(out, shape, dim, input.dtype)


def normalize_backward(grad_output, input, p=2.0, dim=1, eps=1e-12):
    """∂ℓ/∂x[m, j] = g[m, j]/δ − [n ≥ ε]·(Σ_k g[m, k] x[m, k]/δ²)·∂‖x[m]‖_p/∂x[m, j], with
    n = ‖x[m]‖_p and δ = max(n, ε)."""
    rows, shape = _rows(input, dim)
    grows, _ = _rows(grad_output, dim)
    out = []
    for v, g in zip(rows, grows):
        n = _norm(v, p)
        delta = max(n, eps)
        through = (n >= eps) * sum(gk * xk for gk, xk in zip(g, v)) / (delta * delta)
        out.append([gj / delta - through * q for gj, q in zip(g, _norm_grad(v, n, p))])
    return _unrows(out, shape, dim, input.dtype)
