"""Normalisation as literal loops (the oracle for cnnmath.ops.norm).

Every statistic is a loop over its values with a float64 accumulator; every output element is
written on its own. The backward passes are NOT the closed form of cnnmath.ops.norm: they are
the chain rule through the statistics, one term at a time (Ioffe & Szegedy's derivation),
over the m values x_i of one statistic with μ, σ², x̂_i = (x_i − μ)/√(σ² + ε):

    ∂ℓ/∂x̂_i = γ_i g_i
    ∂ℓ/∂σ²  = Σ_i ∂ℓ/∂x̂_i · (x_i − μ) · (−1/2) (σ² + ε)^(−3/2)
    ∂ℓ/∂μ   = Σ_i ∂ℓ/∂x̂_i · (−1/√(σ² + ε)) + ∂ℓ/∂σ² · Σ_i (−2 (x_i − μ)) / m
    ∂ℓ/∂x_i = ∂ℓ/∂x̂_i / √(σ² + ε) + ∂ℓ/∂σ² · 2 (x_i − μ)/m + ∂ℓ/∂μ / m

(σ² = Σ (x_i − μ)²/m depends on x_i directly and through μ; μ = Σ x_i/m.)
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------------------------------
# One statistic: the values are given as a list of float64 numbers
# ---------------------------------------------------------------------------------------


def _mean_var(values):
    """Mean and biased variance of a list of floats, by two literal loops."""
    m = len(values)
    total = 0.0
    for v in values:
        total += v
    mean = total / m
    squares = 0.0
    for v in values:
        squares += (v - mean) * (v - mean)
    return mean, squares / m


def _inv_std(var, eps):
    return 1.0 / np.sqrt(np.float64(var) + eps)


def _chain_rule(values, grads, gammas, mean, var, eps):
    """∂ℓ/∂x_i for one statistic by the chain rule above (values x_i, upstream g_i, γ_i)."""
    m = len(values)
    inv = _inv_std(var, eps)
    dxhat = [gammas[i] * grads[i] for i in range(m)]
    dvar = 0.0
    for i in range(m):
        dvar += dxhat[i] * (values[i] - mean) * (-0.5) * inv**3
    dmean = 0.0
    for i in range(m):
        dmean += dxhat[i] * (-inv)
    centred_sum = 0.0
    for i in range(m):
        centred_sum += -2.0 * (values[i] - mean)
    dmean += dvar * centred_sum / m
    return [dxhat[i] * inv + dvar * 2.0 * (values[i] - mean) / m + dmean / m for i in range(m)]


def _grad_output(grad_output, shape):
    grad_output = np.asarray(grad_output, dtype=np.float64)
    if grad_output.shape != tuple(shape):
        raise ValueError(f"grad_output must have x's shape {tuple(shape)}, got {grad_output.shape}")
    return grad_output


# ---------------------------------------------------------------------------------------
# Batch normalisation
# ---------------------------------------------------------------------------------------


def batch_norm(
    x,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
    *,
    num_batches_tracked=None,
):
    """Batch normalisation of x (N, C, *) per channel c, over β = 1..N and every position l:

    training: ``μ_c = Σ_{β,l} x[β,c,l] / m``, ``σ²_c = Σ (x[β,c,l] − μ_c)² / m`` (m = N·L) and,
    when running statistics are given, in place:
    ``r_μ ← (1 − f) r_μ + f μ_c``, ``r_σ² ← (1 − f) r_σ² + f Σ (x − μ_c)² / (m − 1)`` with
    f = momentum, or 1/num_batches_tracked when momentum is None;
    evaluation: μ_c, σ²_c are the running statistics.
    ``y[β,c,l] = γ_c (x[β,c,l] − μ_c) / √(σ²_c + ε) + β_c``.
    """
    x = np.asarray(x)
    N, C = x.shape[0], x.shape[1]
    xf = x.reshape(N, C, -1).astype(np.float64)
    L = xf.shape[2]
    m = N * L
    y = np.zeros_like(xf)
    for c in range(C):
        if training:
            values = [xf[n, c, l] for n in range(N) for l in range(L)]
            mean, var = _mean_var(values)
            if running_mean is not None:
                f = momentum if momentum is not None else 1.0 / num_batches_tracked
                unbiased = var * m / (m - 1)
                running_mean[c] = (1 - f) * float(running_mean[c]) + f * mean
                running_var[c] = (1 - f) * float(running_var[c]) + f * unbiased
        else:
            mean, var = float(running_mean[c]), float(running_var[c])
        gamma = 1.0 if weight is None else float(weight[c])
        beta = 0.0 if bias is None else float(bias[c])
        inv = _inv_std(var, eps)
        for n in range(N):
            for l in range(L):
                y[n, c, l] = gamma * (xf[n, c, l] - mean) * inv + beta
    return y.reshape(x.shape).astype(x.dtype)


def batch_norm_backward(
    grad_output, x, running_mean, running_var, weight=None, *, training=False, eps=1e-5
):
    """Gradients of :func:`batch_norm`: (grad_x, grad_weight, grad_bias).

    Training: the chain rule through μ_c and σ²_c of the module docstring, per channel.
    Evaluation (constant running statistics): ``∂x = γ_c g / √(r_σ²_c + ε)``. Both:
    ``∂γ_c = Σ_{β,l} g x̂``, ``∂β_c = Σ_{β,l} g``.
    """
    x = np.asarray(x)
    N, C = x.shape[0], x.shape[1]
    xf = x.reshape(N, C, -1).astype(np.float64)
    L = xf.shape[2]
    g = _grad_output(grad_output, x.shape).reshape(N, C, L)
    grad_x = np.zeros_like(xf)
    grad_w = np.zeros(C)
    grad_b = np.zeros(C)
    for c in range(C):
        gamma = 1.0 if weight is None else float(weight[c])
        values = [xf[n, c, l] for n in range(N) for l in range(L)]
        grads = [g[n, c, l] for n in range(N) for l in range(L)]
        if training:
            mean, var = _mean_var(values)
            dx = _chain_rule(values, grads, [gamma] * len(values), mean, var, eps)
        else:
            mean, var = float(running_mean[c]), float(running_var[c])
            dx = [gamma * gi * _inv_std(var, eps) for gi in grads]
        inv = _inv_std(var, eps)
        for i, (n, l) in enumerate((n, l) for n in range(N) for l in range(L)):
            grad_x[n, c, l] = dx[i]
            grad_w[c] += grads[i] * (values[i] - mean) * inv
            grad_b[c] += grads[i]
    return (grad_x.reshape(x.shape).astype(x.dtype), grad_w.astype(x.dtype), grad_b.astype(x.dtype))


# ---------------------------------------------------------------------------------------
# Group normalisation
# ---------------------------------------------------------------------------------------


def _group_members(C, num_groups, L, n):
    """The (n, c, l) indices of each group of sample n: channels k·C/G .. (k+1)·C/G − 1."""
    per = C // num_groups
    return [
        [(n, c, l) for c in range(k * per, (k + 1) * per) for l in range(L)]
        for k in range(num_groups)
    ]


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation: per sample n and group k of C/G consecutive channels, μ and σ²
    (biased) over the group's values; ``y[n,c,l] = γ_c (x[n,c,l] − μ_nk)/√(σ²_nk + ε) + β_c``.
    """
    x = np.asarray(x)
    N, C = x.shape[0], x.shape[1]
    xf = x.reshape(N, C, -1).astype(np.float64)
    L = xf.shape[2]
    y = np.zeros_like(xf)
    for n in range(N):
        for members in _group_members(C, num_groups, L, n):
            mean, var = _mean_var([xf[i] for i in members])
            inv = _inv_std(var, eps)
            for i in members:
                c = i[1]
                gamma = 1.0 if weight is None else float(weight[c])
                beta = 0.0 if bias is None else float(bias[c])
                y[i] = gamma * (xf[i] - mean) * inv + beta
    return y.reshape(x.shape).astype(x.dtype)


def group_norm_backward(grad_output, x, num_groups, weight=None, *, eps=1e-5):
    """Gradients of :func:`group_norm`: (grad_x, grad_weight, grad_bias), grad_x by the chain
    rule through each group's μ and σ² with ∂ℓ/∂x̂ = γ_c g; ``∂γ_c = Σ_{n,l} g x̂``,
    ``∂β_c = Σ_{n,l} g``."""
    x = np.asarray(x)
    N, C = x.shape[0], x.shape[1]
    xf = x.reshape(N, C, -1).astype(np.float64)
    L = xf.shape[2]
    g = _grad_output(grad_output, x.shape).reshape(N, C, L)
    grad_x = np.zeros_like(xf)
    grad_w = np.zeros(C)
    grad_b = np.zeros(C)
    for n in range(N):
        for members in _group_members(C, num_groups, L, n):
            values = [xf[i] for i in members]
            grads = [g[i] for i in members]
            gammas = [1.0 if weight is None else float(weight[i[1]]) for i in members]
            mean, var = _mean_var(values)
            dx = _chain_rule(values, grads, gammas, mean, var, eps)
            inv = _inv_std(var, eps)
            for k, i in enumerate(members):
                grad_x[i] = dx[k]
                grad_w[i[1]] += grads[k] * (values[k] - mean) * inv
                grad_b[i[1]] += grads[k]
    return (grad_x.reshape(x.shape).astype(x.dtype), grad_w.astype(x.dtype), grad_b.astype(x.dtype))


# ---------------------------------------------------------------------------------------
# Layer normalisation
# ---------------------------------------------------------------------------------------


def _layer_rows(x, normalized_shape):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    K = 1
    for size in shape:
        K *= size
    return shape, np.asarray(x, dtype=np.float64).reshape(-1, K)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation: per leading index r, μ_r and σ²_r (biased) over the trailing
    axes' K values; ``y[r,k] = γ_k (x[r,k] − μ_r)/√(σ²_r + ε) + β_k``."""
    x = np.asarray(x)
    shape, rows = _layer_rows(x, normalized_shape)
    w = None if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    b = None if bias is None else np.asarray(bias, dtype=np.float64).reshape(-1)
    y = np.zeros_like(rows)
    R, K = rows.shape
    for r in range(R):
        mean, var = _mean_var([rows[r, k] for k in range(K)])
        inv = _inv_std(var, eps)
        for k in range(K):
            gamma = 1.0 if w is None else w[k]
            beta = 0.0 if b is None else b[k]
            y[r, k] = gamma * (rows[r, k] - mean) * inv + beta
    return y.reshape(x.shape).astype(x.dtype)


def layer_norm_backward(grad_output, x, normalized_shape, weight=None, *, eps=1e-5):
    """Gradients of :func:`layer_norm`: (grad_x, grad_weight, grad_bias), grad_x by the chain
    rule through each row's μ and σ² with ∂ℓ/∂x̂ = γ_k g; ``∂γ_k = Σ_r g x̂``,
    ``∂β_k = Σ_r g`` (shape normalized_shape)."""
    x = np.asarray(x)
    shape, rows = _layer_rows(x, normalized_shape)
    R, K = rows.shape
    g = _grad_output(grad_output, x.shape).reshape(R, K)
    w = None if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    grad_x = np.zeros_like(rows)
    grad_w = np.zeros(K)
    grad_b = np.zeros(K)
    for r in range(R):
        values = [rows[r, k] for k in range(K)]
        grads = [g[r, k] for k in range(K)]
        gammas = [1.0 if w is None else w[k] for k in range(K)]
        mean, var = _mean_var(values)
        dx = _chain_rule(values, grads, gammas, mean, var, eps)
        inv = _inv_std(var, eps)
        for k in range(K):
            grad_x[r, k] = dx[k]
            grad_w[k] += grads[k] * (values[k] - mean) * inv
            grad_b[k] += grads[k]
    return (
        grad_x.reshape(x.shape).astype(x.dtype),
        grad_w.reshape(shape).astype(x.dtype),
        grad_b.reshape(shape).astype(x.dtype),
    )


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """RMS normalisation: per leading index r, the mean of the squares over the trailing
    axes' K values; ``y[r,k] = γ_k x[r,k]/√(mean + ε)`` (ε None: the machine epsilon of x's
    dtype)."""
    x = np.asarray(x)
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    shape, rows = _layer_rows(x, normalized_shape)
    w = None if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    y = np.zeros_like(rows)
    R, K = rows.shape
    for r in range(R):
        squares = 0.0
        for k in range(K):
            squares += rows[r, k] * rows[r, k]
        rms = np.sqrt(np.float64(squares / K) + eps)
        for k in range(K):
            gamma = 1.0 if w is None else w[k]
            y[r, k] = gamma * rows[r, k] / rms
    return y.reshape(x.shape).astype(x.dtype)


def rms_norm_backward(grad_output, x, normalized_shape, weight=None, *, eps=None):
    """Gradients of :func:`rms_norm`: (grad_x, grad_weight) by the chain rule through each
    row's s = mean(x²) + ε, one term at a time: with ∂ℓ/∂x̂_k = γ_k g_k and x̂_k = x_k s^(−1/2),

        ∂ℓ/∂s   = Σ_k ∂ℓ/∂x̂_k · x_k · (−1/2) s^(−3/2)
        ∂ℓ/∂x_i = ∂ℓ/∂x̂_i · s^(−1/2) + ∂ℓ/∂s · 2 x_i / K,      ∂γ_k = Σ_r g x̂."""
    x = np.asarray(x)
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    shape, rows = _layer_rows(x, normalized_shape)
    R, K = rows.shape
    g = _grad_output(grad_output, x.shape).reshape(R, K)
    w = None if weight is None else np.asarray(weight, dtype=np.float64).reshape(-1)
    grad_x = np.zeros_like(rows)
    grad_w = np.zeros(K)
    for r in range(R):
        squares = 0.0
        for k in range(K):
            squares += rows[r, k] * rows[r, k]
        s = np.float64(squares / K) + eps
        d_xhat = [(1.0 if w is None else w[k]) * g[r, k] for k in range(K)]
        d_s = 0.0
        for k in range(K):
            d_s += d_xhat[k] * rows[r, k] * (-0.5) * s**-1.5
        for i in range(K):
            grad_x[r, i] = d_xhat[i] / np.sqrt(s) + d_s * 2.0 * rows[r, i] / K
            grad_w[i] += g[r, i] * rows[r, i] / np.sqrt(s)
    return grad_x.reshape(x.shape).astype(x.dtype), grad_w.reshape(shape).astype(x.dtype)
