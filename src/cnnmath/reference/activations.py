"""The activations and their derivatives, element by element with ``math`` (the oracle for
cnnmath.ops.activations).

Each function takes an array, applies the scalar formula to every element in a Python loop,
in float64, and returns an array of the input's shape and dtype. ``name_grad`` is σ′ as a
function of x, so a backward pass is ``g * name_grad(x)``. The formulas are written as the
textbooks write them; the one concession to floating point is that an exponential is only
taken of an argument that cannot overflow (each σ below says which branch it takes).
"""

from __future__ import annotations

import math

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _map(func, x):
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=np.float64)
    flat_x = x.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_x.size):
        flat_out[i] = func(float(flat_x[i]))
    return out.astype(x.dtype)


def _sigmoid(v):
    """1/(1 + e^(−v)), written for each sign so that no exp overflows."""
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def _softplus(v):
    """log(1 + e^v) = max(v, 0) + log(1 + e^(−|v|))."""
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def _phi(v):
    """Standard normal distribution function Φ(v) = ½(1 + erf(v/√2))."""
    return 0.5 * math.erfc(-v / math.sqrt(2.0))


def _density(v):
    """Standard normal density φ(v) = exp(−v²/2)/√(2π)."""
    return math.exp(-0.5 * v * v) / math.sqrt(2.0 * math.pi)


def identity(x):
    return _map(lambda v: v, x)


def identity_grad(x):
    return _map(lambda v: 1.0, x)


def relu(x):
    return _map(lambda v: v if v > 0 else 0.0, x)


def relu_grad(x):
    return _map(lambda v: 1.0 if v > 0 else 0.0, x)


def relu_backward(grad_output, x):
    """∂ℓ/∂x through relu: g where x > 0 or x is NaN, else 0 (whatever g holds)."""
    x = np.asarray(x)
    g = np.asarray(grad_output)
    out = np.empty(x.shape, dtype=g.dtype)
    for index in np.ndindex(*x.shape):
        out[index] = 0.0 if x[index] <= 0 else g[index]
    return out


def leaky_relu(x, negative_slope=0.01):
    return _map(lambda v: v if v > 0 else negative_slope * v, x)


def leaky_relu_grad(x, negative_slope=0.01):
    return _map(lambda v: 1.0 if v > 0 else negative_slope, x)


def sigmoid(x):
    return _map(_sigmoid, x)


def sigmoid_grad(x):
    return _map(lambda v: _sigmoid(v) * (1.0 - _sigmoid(v)), x)


def tanh(x):
    return _map(math.tanh, x)


def tanh_grad(x):
    return _map(lambda v: 1.0 - math.tanh(v) ** 2, x)


def softplus(x, beta=1.0, threshold=20.0):
    return _map(lambda v: v if beta * v > threshold else _softplus(beta * v) / beta, x)


def softplus_grad(x, beta=1.0, threshold=20.0):
    return _map(lambda v: 1.0 if beta * v > threshold else _sigmoid(beta * v), x)


def elu(x, alpha=1.0):
    return _map(lambda v: v if v > 0 else alpha * (math.exp(v) - 1.0), x)


def elu_grad(x, alpha=1.0):
    return _map(lambda v: 1.0 if v > 0 else alpha * math.exp(v), x)


def gelu(x, approximate="none"):
    if approximate == "tanh":
        return gelu_tanh(x)
    return _map(lambda v: v * _phi(v), x)


def gelu_grad(x, approximate="none"):
    if approximate == "tanh":
        return gelu_tanh_grad(x)
    return _map(lambda v: _phi(v) + v * _density(v), x)


_K = math.sqrt(2.0 / math.pi)
_C = 0.044715


def gelu_tanh(x):
    """½·x·(1 + tanh(√(2/π)(x + 0.044715 x³)))."""
    return _map(lambda v: 0.5 * v * (1.0 + math.tanh(_K * (v + _C * v**3))), x)


def gelu_tanh_grad(x):
    """½(1 + tanh u) + ½·x·(1 − tanh² u)·u′, u = √(2/π)(x + 0.044715 x³)."""

    def d(v):
        t = math.tanh(_K * (v + _C * v**3))
        return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * _K * (1.0 + 3.0 * _C * v * v)

    return _map(d, x)


def silu(x):
    return _map(lambda v: v * _sigmoid(v), x)


def silu_grad(x):
    return _map(lambda v: _sigmoid(v) * (1.0 + v * (1.0 - _sigmoid(v))), x)


def mish(x):
    return _map(lambda v: v * math.tanh(_softplus(v)), x)


def mish_grad(x):
    def d(v):
        t = math.tanh(_softplus(v))
        return t + v * (1.0 - t * t) * _sigmoid(v)

    return _map(d, x)


def step(x):
    return _map(lambda v: 1.0 if v > 0 else 0.0, x)


def step_grad(x):
    return _map(lambda v: 0.0, x)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    return _map(lambda v: min_val if v < min_val else (max_val if v > max_val else v), x)


def hardtanh_grad(x, min_val=-1.0, max_val=1.0):
    return _map(lambda v: 1.0 if min_val < v < max_val else 0.0, x)


def hardtanh_backward(grad_output, x, min_val=-1.0, max_val=1.0):
    """∂ℓ/∂x through hardtanh: g where min_val < x < max_val, else 0 (whatever g holds)."""
    x = np.asarray(x)
    g = np.asarray(grad_output)
    out = np.empty(x.shape, dtype=g.dtype)
    for index in np.ndindex(*x.shape):
        out[index] = g[index] if min_val < x[index] < max_val else 0.0
    return out


def relu6(x):
    return hardtanh(x, 0.0, 6.0)


def relu6_grad(x):
    return hardtanh_grad(x, 0.0, 6.0)


def hardsigmoid(x):
    return _map(lambda v: 0.0 if v <= -3 else (1.0 if v >= 3 else v / 6.0 + 0.5), x)


def hardsigmoid_grad(x):
    return _map(lambda v: 1.0 / 6.0 if -3 < v < 3 else 0.0, x)


def hardswish(x):
    return _map(lambda v: 0.0 if v <= -3 else (v if v >= 3 else v * (v + 3.0) / 6.0), x)


def hardswish_grad(x):
    return _map(lambda v: 0.0 if v <= -3 else (1.0 if v >= 3 else (2.0 * v + 3.0) / 6.0), x)


def selu(x):
    return _map(lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * (math.exp(v) - 1.0)), x)


def selu_grad(x):
    return _map(lambda v: SELU_SCALE * (1.0 if v > 0 else SELU_ALPHA * math.exp(v)), x)


def celu(x, alpha=1.0):
    return _map(lambda v: v if v > 0 else alpha * (math.exp(v / alpha) - 1.0), x)


def celu_grad(x, alpha=1.0):
    return _map(lambda v: 1.0 if v > 0 else math.exp(v / alpha), x)


def softsign(x):
    return _map(lambda v: v / (1.0 + abs(v)), x)


def softsign_grad(x):
    return _map(lambda v: 1.0 / (1.0 + abs(v)) ** 2, x)


def logsigmoid(x):
    return _map(lambda v: -_softplus(-v), x)


def logsigmoid_grad(x):
    return _map(lambda v: 1.0 - _sigmoid(v), x)


def prelu(x, weight):
    """y = x if x > 0 else a_c·x, channel c on axis 1 (one channel for fewer than 2 axes);
    ``weight`` (C,) or (1,)."""
    x = np.asarray(x)
    a = np.asarray(weight, dtype=np.float64).reshape(-1)
    y = np.empty(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        c = index[1] if x.ndim >= 2 and a.size > 1 else 0
        v = float(x[index])
        y[index] = v if v > 0 else a[c] * v
    return y.astype(x.dtype)


def prelu_backward(grad_output, x, weight):
    """(∂x, ∂weight): ∂x = g if x > 0 else a_c·g; ∂a_c = Σ over x ≤ 0 in channel c of g·x."""
    x = np.asarray(x)
    a = np.asarray(weight, dtype=np.float64).reshape(-1)
    gx = np.empty(x.shape, dtype=np.float64)
    ga = np.zeros(a.size, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        c = index[1] if x.ndim >= 2 and a.size > 1 else 0
        v, g = float(x[index]), float(grad_output[index])
        if v > 0:
            gx[index] = g
        else:
            gx[index] = a[c] * g
            ga[c] += g * v
    return gx.astype(x.dtype), ga.reshape(np.shape(weight)).astype(x.dtype)


def hardshrink(x, lambd=0.5):
    """y = 0 for −λ ≤ x ≤ λ, else x (a NaN fails both tests and passes through)."""
    return _map(lambda v: 0.0 if -lambd <= v <= lambd else v, x)


def softshrink(x, lambd=0.5):
    """y = x − λ for x > λ, x + λ for x < −λ, else 0 (NaN passes through)."""

    def one(v):
        if v > lambd:
            return v - lambd
        if v < -lambd:
            return v + lambd
        return v if math.isnan(v) else 0.0

    return _map(one, x)


def shrink_grad(x, lambd=0.5):
    """σ′ of both shrinks: 1 for |x| > λ, else 0 (the kinks ±λ and NaN included)."""
    return _map(lambda v: 1.0 if abs(v) > lambd else 0.0, x)


def tanhshrink(x):
    """y = x − tanh x, element by element.

    Parameters
    ----------
    x : array of any shape

    Returns
    -------
    array of ``x``'s shape and dtype.
    """
    return _map(lambda v: v - math.tanh(v), x)


def tanhshrink_grad(x):
    """d/dx (x − tanh x) = 1 − (1 − tanh²x) = tanh²x."""
    return _map(lambda v: math.tanh(v) ** 2, x)


def threshold(x, threshold, value):
    """y = x for x > threshold, else value; a NaN is not ≤ threshold and passes through."""
    return _map(lambda v: value if v <= threshold else v, x)


def threshold_grad(x, threshold, value):
    """1 where x passes through (x > threshold, or NaN), 0 where it was replaced."""
    return _map(lambda v: 0.0 if v <= threshold else 1.0, x)


def glu(x, dim=-1):
    """y[…, i, …] = a_i·sigmoid(b_i) with a_i = x[…, i, …] and b_i = x[…, i + m, …], m half of
    x's size along ``dim``; every output element computed on its own."""
    x = np.asarray(x)
    axis = dim % x.ndim
    m = x.shape[axis] // 2
    out_shape = x.shape[:axis] + (m,) + x.shape[axis + 1 :]
    y = np.empty(out_shape, dtype=np.float64)
    for index in np.ndindex(*out_shape):
        partner = index[:axis] + (index[axis] + m,) + index[axis + 1 :]
        y[index] = float(x[index]) * _sigmoid(float(x[partner]))
    return y.astype(x.dtype)


def glu_backward(grad_output, x, dim=-1):
    """∂ℓ/∂a_i = g_i·sigmoid(b_i), ∂ℓ/∂b_i = g_i·a_i·sigmoid(b_i)·(1 − sigmoid(b_i))."""
    x = np.asarray(x)
    axis = dim % x.ndim
    m = x.shape[axis] // 2
    gx = np.empty(x.shape, dtype=np.float64)
    for index in np.ndindex(*grad_output.shape):
        partner = index[:axis] + (index[axis] + m,) + index[axis + 1 :]
        g, a, s = float(grad_output[index]), float(x[index]), _sigmoid(float(x[partner]))
        gx[index] = g * s
        gx[partner] = g * a * s * (1.0 - s)
    return gx.astype(x.dtype)


def rrelu(x, lower=1.0 / 8, upper=1.0 / 3, training=False, slopes=None):
    """Training: y = x if x > 0 (or NaN) else a·x, a = slopes[index]; eval: y = x if x > 0
    else ((lower + upper)/2)·x."""
    x = np.asarray(x)
    y = np.empty(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        v = float(x[index])
        if training:
            y[index] = float(slopes[index]) * v if v <= 0 else v
        else:
            y[index] = v if v > 0 else (lower + upper) / 2 * v
    return y.astype(x.dtype)


def rrelu_backward(grad_output, x, lower=1.0 / 8, upper=1.0 / 3, training=False, slopes=None):
    """∂x = g if x > 0 (training: or NaN) else a·g, a = slopes[index] in training and
    (lower + upper)/2 in eval."""
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        v, g = float(x[index]), float(grad_output[index])
        if training:
            out[index] = float(slopes[index]) * g if v <= 0 else g
        else:
            out[index] = g if v > 0 else (lower + upper) / 2 * g
    return out.astype(x.dtype)
