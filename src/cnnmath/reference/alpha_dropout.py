"""Alpha dropout as literal loops (the oracle for cnnmath.ops.alpha_dropout).

With SELU's saturation α′ = −λα, drop probability p and keep-mask m (True where kept):

    y = a·(x·m + α′·(1 − m)) + b,   a = ((1 − p)(1 + p·α′²))^(−1/2),   b = −a·α′·p

in training (y = x·0 for p = 1; y = x in eval or for p = 0); ∂x = a·m·g. The feature form
reads the mask at (n, c) for every element of map x[n, c]."""

from __future__ import annotations

import math

import numpy as np

from .activations import SELU_ALPHA, SELU_SCALE


def _mask_at(mask, index, shape):
    """The mask entry of element ``index`` of an array of ``shape``: its own, or its map's
    (n, c) when the mask is (N, C, 1, …)."""
    if mask.shape != shape:
        return bool(mask[index[:2] + (0,) * (len(index) - 2)])
    return bool(mask[index])


def alpha_dropout(x, p=0.5, training=False, mask=None):
    """y element by element (see the module docstring)."""
    x = np.asarray(x)
    if not training or p == 0:
        return x.copy()
    out = np.empty(x.shape, dtype=np.float64)
    saturation = -SELU_SCALE * SELU_ALPHA
    for index in np.ndindex(*x.shape):
        v = float(x[index])
        if p == 1:
            out[index] = v * 0.0
            continue
        a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * saturation**2))
        b = -a * saturation * p
        m = 1.0 if _mask_at(mask, index, x.shape) else 0.0
        out[index] = a * (v * m + saturation * (1.0 - m)) + b
    return out.astype(x.dtype)


def feature_alpha_dropout(x, p=0.5, training=False, mask=None):
    """alpha_dropout with the mask of x[n, c] at mask[n, c, 0, …]."""
    return alpha_dropout(x, p, training, mask)


def alpha_dropout_backward(grad_output, mask, p=0.5, training=False):
    """∂x = a·m·g in training (0 for p = 1), g in eval or for p = 0."""
    g = np.asarray(grad_output)
    if not training or p == 0:
        return g.copy()
    saturation = -SELU_SCALE * SELU_ALPHA
    out = np.empty(g.shape, dtype=np.float64)
    for index in np.ndindex(*g.shape):
        if p == 1:
            out[index] = float(g[index]) * 0.0
            continue
        a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * saturation**2))
        out[index] = a * float(g[index]) if _mask_at(mask, index, g.shape) else 0.0
    return out.astype(g.dtype)
