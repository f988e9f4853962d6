"""Fractional max pooling as literal loops (the oracle for cnnmath.ops.pool.fractional).

Graham's pseudo-random windows, PyTorch's rule: along an axis of length m with windows of k
taps and n outputs, from the sample u of that axis (0-based),

    α = (m − k)/(n − 1),   start_i = floor((i + u)·α) − floor(u·α)  (i < n − 1),
    start_{n−1} = m − k    (also the only start when n = 1),

computed in the input's dtype as PyTorch computes it. Each window's output is its maximum,
found by walking its taps in row-major order from −∞: a tap replaces the running choice when
greater, or NaN; the index is the chosen tap's flat position in its plane (volume), the
window's first element when no tap replaced it. The samples' last axis is (width, height)
in 2-D and (depth, height, width) in 3-D, PyTorch's order. Output sizes: ``output_size``, or
floor(m·r) per axis from ``output_ratio``. Nothing is shared with cnnmath.ops.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

_SAMPLE_OF_AXIS = {2: (1, 0), 3: (0, 1, 2)}  # spatial axis -> position in the samples' last axis


def _tuple(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def _starts(u, m, k, n):
    """The n window starts along an axis (see the module docstring), u a NumPy scalar."""
    if n == 1:
        return [m - k]
    t = type(u)
    alpha = t(m - k) / t(n - 1)
    return [math.floor((t(i) + u) * alpha) - math.floor(u * alpha) for i in range(n - 1)] + [m - k]


def _pool(x, kernel_size, output_size, output_ratio, samples, rank):
    """(y, indices, the windows' chosen flat positions), x batched."""
    N, C, spatial = x.shape[0], x.shape[1], x.shape[2:]
    kernel = _tuple(kernel_size, rank)
    if output_size is not None:
        out = _tuple(output_size, rank)
    else:
        out = tuple(int(m * r) for m, r in zip(spatial, _tuple(output_ratio, rank)))
    y = np.zeros((N, C, *out), dtype=x.dtype)
    indices = np.zeros((N, C, *out), dtype=np.int64)
    for b in range(N):
        for c in range(C):
            starts = [
                _starts(samples[b, c, _SAMPLE_OF_AXIS[rank][d]], spatial[d], kernel[d], out[d])
                for d in range(rank)
            ]
            for o in itertools.product(*(range(n) for n in out)):
                first = tuple(starts[d][o[d]] for d in range(rank))
                best, chosen = -math.inf, first
                for tap in itertools.product(*(range(k) for k in kernel)):
                    at = tuple(first[d] + tap[d] for d in range(rank))
                    v = float(x[(b, c) + at])
                    if v > best or math.isnan(v):
                        best, chosen = v, at
                y[(b, c) + o] = best
                flat = 0
                for d in range(rank):
                    flat = flat * spatial[d] + chosen[d]
                indices[(b, c) + o] = flat
    return y, indices


def _forward(x, kernel_size, output_size, output_ratio, return_indices, samples, rank):
    unbatched = x.ndim == rank + 1
    y, indices = _pool(
        x[None] if unbatched else x, kernel_size, output_size, output_ratio, samples, rank
    )
    if unbatched:
        y, indices = y[0], indices[0]
    return (y, indices) if return_indices else y


def _backward(grad_output, x, kernel_size, output_size, output_ratio, samples, rank):
    unbatched = x.ndim == rank + 1
    xb = x[None] if unbatched else x
    g = grad_output[None] if unbatched else grad_output
    _, indices = _pool(xb, kernel_size, output_size, output_ratio, samples, rank)
    N, C, spatial = xb.shape[0], xb.shape[1], xb.shape[2:]
    plane = math.prod(spatial)
    grad = np.zeros((N, C, plane), dtype=np.float64)
    for b in range(N):
        for c in range(C):
            for o in itertools.product(*(range(n) for n in indices.shape[2:])):
                grad[b, c, indices[(b, c) + o]] += g[(b, c) + o]
    return grad.reshape(x.shape).astype(x.dtype)


def fractional_max_pool2d(
    x, kernel_size, output_size=None, output_ratio=None, return_indices=False, _random_samples=None
):
    """Y[β,c,i,j] = max of X[β,c] over rows [a_i, a_i + k1) × columns [b_j, b_j + k2), the
    row starts from _random_samples[β,c,1], the column starts from _random_samples[β,c,0];
    x (N, C, H, W) or (C, H, W)."""
    return _forward(x, kernel_size, output_size, output_ratio, return_indices, _random_samples, 2)


def fractional_max_pool2d_backward(
    grad_output, x, kernel_size, output_size=None, output_ratio=None, _random_samples=None
):
    """∂ℓ/∂X[β,c].flat[I[β,c,i,j]] += G[β,c,i,j] over every window (i, j), I the chosen
    elements."""
    return _backward(grad_output, x, kernel_size, output_size, output_ratio, _random_samples, 2)


def fractional_max_pool3d(
    x, kernel_size, output_size=None, output_ratio=None, return_indices=False, _random_samples=None
):
    """Y[β,c,t,i,j] = max of X[β,c] over [a_t, a_t + k0) × [b_i, b_i + k1) × [c_j, c_j + k2),
    the starts from _random_samples[β,c,0], [β,c,1], [β,c,2]; x (N, C, D, H, W) or
    (C, D, H, W)."""
    return _forward(x, kernel_size, output_size, output_ratio, return_indices, _random_samples, 3)


def fractional_max_pool3d_backward(
    grad_output, x, kernel_size, output_size=None, output_ratio=None, _random_samples=None
):
    """∂ℓ/∂X[β,c].flat[I[β,c,t,i,j]] += G[β,c,t,i,j] over every window."""
    return _backward(grad_output, x, kernel_size, output_size, output_ratio, _random_samples, 3)
