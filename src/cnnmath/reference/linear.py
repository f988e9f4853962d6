"""The dense layer as literal loops (the oracle for cnnmath.ops.linear)."""

from __future__ import annotations

import numpy as np

from ._geometry import _check_grad_output

# ---------------------------------------------------------------------------------------
# Dense layer
# ---------------------------------------------------------------------------------------


def linear(x, weight, bias=None):
    """Dense layer ``y = x Wᵀ + b``, over the last axis of ``x``.

    ``y[..., o] = Σ_{k=1..in} x[..., k] · W[o, k] + b[o]``

    Parameters
    ----------
    x : (*, in) array
    weight : (out, in) array
    bias : (out,) array or None

    Returns
    -------
    (*, out) array of ``x``'s dtype.
    """
    x = np.asarray(x)
    w = np.asarray(weight, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    n_out, n_in = w.shape
    rows = x.reshape(-1, n_in).astype(np.float64)
    y = np.zeros((rows.shape[0], n_out), dtype=np.float64)
    for r in range(rows.shape[0]):
        for o in range(n_out):
            total = 0.0
            for k in range(n_in):
                total += rows[r, k] * w[o, k]
            if b is not None:
                total += b[o]
            y[r, o] = total
    return y.reshape(*x.shape[:-1], n_out).astype(x.dtype)


def linear_backward(grad_output, x, weight):
    """Gradients of :func:`linear`.

    With ``G = grad_output`` of shape ``(*, out)`` and the leading axes of ``x`` flattened
    into rows ``r``:

    - ``∂x[r, k] = Σ_o G[r, o] · W[o, k]``  (``G W``),
    - ``∂W[o, k] = Σ_r G[r, o] · x[r, k]``  (``Gᵀ x``),
    - ``∂b[o] = Σ_r G[r, o]``.

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : shapes ``x.shape``, ``weight.shape``, ``(out,)``, in
        the dtypes of ``x``, ``weight`` and ``weight``.
    """
    x = np.asarray(x)
    weight = np.asarray(weight)
    w = weight.astype(np.float64)
    n_out, n_in = w.shape
    rows = x.reshape(-1, n_in).astype(np.float64)
    grad_y = _check_grad_output(grad_output, (*x.shape[:-1], n_out)).reshape(-1, n_out)
    grad_rows = np.zeros_like(rows)
    grad_w = np.zeros_like(w)
    grad_b = np.zeros(n_out, dtype=np.float64)
    for r in range(rows.shape[0]):
        for o in range(n_out):
            g_out = grad_y[r, o]
            grad_b[o] += g_out
            for k in range(n_in):
                grad_rows[r, k] += g_out * w[o, k]
                grad_w[o, k] += g_out * rows[r, k]
    grad_x = grad_rows.reshape(x.shape)
    return grad_x.astype(x.dtype), grad_w.astype(weight.dtype), grad_b.astype(weight.dtype)
