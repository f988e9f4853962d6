"""Power-average (Lp) pooling in 1-D, 2-D and 3-D as literal loops over every window (the
oracle for cnnmath.ops.pool.lp_pool).

PyTorch's definition (``torch.nn.functional.lp_pool2d``): the average pooling of x^p without
padding, times the window size K, to the power 1/p. Per window of taps T (the taps inside
x, D of them; D = K except for a ``ceil_mode`` window that runs past x):

    S = Σ_{t ∈ T} x[t]^p,   W = (K / D)·S,   y = W^(1/p);   p = inf: y = max_{t ∈ T} |x[t]|

Inputs are batched only: (N, C, L), (N, C, H, W) or (N, C, D, H, W).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ._geometry import _check_grad_output
from .pool import _window_count


def _setup(x_shape, rank, kernel_size, stride, ceil_mode):
    """Kernel, stride and output size per window axis."""
    k = (kernel_size,) * rank if isinstance(kernel_size, (int, np.integer)) else kernel_size
    s = k if stride is None else stride
    s = (s,) * rank if isinstance(s, (int, np.integer)) else s
    k, s = tuple(int(v) for v in k), tuple(int(v) for v in s)
    if len(k) != rank or len(s) != rank:
        raise ValueError(f"kernel_size and stride need {rank} entries, got {k} and {s}")
    spatial = x_shape[2:]
    out = tuple(_window_count(m, f, st, 0, 1, ceil_mode) for m, f, st in zip(spatial, k, s))
    return k, s, out


def _windows(x_shape, rank, kernel_size, stride, ceil_mode):
    """Every (output index, the taps of its window inside x in row-major order), and K."""
    k, s, out = _setup(x_shape, rank, kernel_size, stride, ceil_mode)
    spatial = x_shape[2:]
    result = []
    for o in itertools.product(*(range(n) for n in out)):
        taps = []
        for offsets in itertools.product(*(range(f) for f in k)):
            tap = tuple(st * i + a for st, i, a in zip(s, o, offsets))
            if all(t < m for t, m in zip(tap, spatial)):
                taps.append(tap)
        result.append((o, taps))
    return result, out, math.prod(k)


def _power(base, exponent):
    """base^exponent in float64, NaN for a negative base and a fractional exponent, inf for
    0 to a negative power (as C's pow)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return float(np.power(np.float64(base), exponent))


def _first_max_abs(plane, taps):
    """The first tap of the largest |x| in row-major order (a NaN wins, the last NaN last)."""
    best, best_at = None, None
    for tap in taps:
        value = abs(plane[tap])
        if best is None or value > best or math.isnan(value):
            best, best_at = value, tap
    return best, best_at


def lp_pool(x, rank, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Y[β, c, o] = ((K/D)·Σ_{t ∈ window o} X[β, c, t]^p)^(1/p), or max |X| for p = inf;
    x (N, C, *rank window axes)."""
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    p = float(norm_type)
    windows, out, size = _windows(x.shape, rank, kernel_size, stride, ceil_mode)
    y = np.zeros(x.shape[:2] + out)
    for beta in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = x64[beta, c]
            for o, taps in windows:
                if p == math.inf:
                    y[(beta, c) + o] = _first_max_abs(plane, taps)[0]
                    continue
                total = 0.0
                for tap in taps:
                    total += _power(plane[tap], p)
                y[(beta, c) + o] = _power(total / len(taps) * size, 1 / p)
    return y.astype(x.dtype)


def lp_pool_backward(grad_output, x, rank, norm_type, kernel_size, stride=None, ceil_mode=False):
    """∂ℓ/∂X of :func:`lp_pool` as PyTorch's autograd has it: each window's share
    Gz = G·(1/p)·W^(1/p - 1)·K (0 where the window's sum S is 0) split as Gz/D over its taps,
    the sum at each element then times p·X^(p-1) (so NaN at X = 0 for p < 1 even where
    every share is 0). p = inf: G·sgn(X) to the first maximum of |X| (sgn 0 at 0 and NaN)."""
    x = np.asarray(x)
    x64 = x.astype(np.float64)
    p = float(norm_type)
    windows, out, size = _windows(x.shape, rank, kernel_size, stride, ceil_mode)
    grad_y = _check_grad_output(grad_output, x.shape[:2] + out)
    shares = np.zeros_like(x64)
    grad_x = np.zeros_like(x64)
    for beta in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = x64[beta, c]
            for o, taps in windows:
                g = grad_y[(beta, c) + o]
                if p == math.inf:
                    _, at = _first_max_abs(plane, taps)
                    value = plane[at]
                    sign = 0.0 if math.isnan(value) or value == 0 else math.copysign(1.0, value)
                    grad_x[(beta, c) + at] += g * sign
                    continue
                total = 0.0
                for tap in taps:
                    total += _power(plane[tap], p)
                if total == 0:
                    continue
                w = total / len(taps) * size
                share = g * ((1 / p) * _power(w, 1 / p - 1)) * size / len(taps)
                for tap in taps:
                    shares[(beta, c) + tap] += share
            if p != math.inf:
                for index in np.ndindex(plane.shape):
                    grad_x[(beta, c) + index] = shares[(beta, c) + index] * (
                        p * _power(plane[index], p - 1)
                    )
    return grad_x.astype(x.dtype)


def lp_pool1d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """:func:`lp_pool` over signals (N, C, L)."""
    return lp_pool(x, 1, norm_type, kernel_size, stride, ceil_mode)


def lp_pool1d_backward(grad_output, x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """:func:`lp_pool_backward` over signals (N, C, L)."""
    return lp_pool_backward(grad_output, x, 1, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """:func:`lp_pool` over images (N, C, H, W)."""
    return lp_pool(x, 2, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d_backward(grad_output, x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """:func:`lp_pool_backward` over images (N, C, H, W)."""
    return lp_pool_backward(grad_output, x, 2, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """:func:`lp_pool` over volumes (N, C, D, H, W)."""
    return lp_pool(x, 3, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d_backward(grad_output, x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """:func:`lp_pool_backward` over volumes (N, C, D, H, W)."""
    return lp_pool_backward(grad_output, x, 3, norm_type, kernel_size, stride, ceil_mode)
