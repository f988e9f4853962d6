"""The strided-window tricks, kept in one private module.

Everything that builds views with custom strides (im2col as a window view, the scatter back of
window gradients) lives here, so a later backend (CuPy, Dask) swaps this module and the array
namespace rather than every op. Loops here run over kernel taps only, never over pixels or
batch elements.
"""

from __future__ import annotations

import numpy as np

from ._geometry import Pads, Pair


def pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of ``x`` by ((top, bottom), (left, right)) with ``value``."""
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(pt, pb), (pl, pr)]
    return np.pad(x, widths, mode="constant", constant_values=value)


def windows(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """A read-only view W[..., i, j, a, c] = xp[..., s_h i + d_h a, s_w j + d_w c].

    Shape ``xp.shape[:-2] + (H_out, W_out, f1, f2)``; no data is copied.
    """
    (f1, f2), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    *lead, rh, rw = xp.strides
    shape = (*xp.shape[:-2], ho, wo, f1, f2)
    strides = (*lead, rh * sh, rw * sw, rh * dh, rw * dw)
    return np.lib.stride_tricks.as_strided(xp, shape=shape, strides=strides, writeable=False)


def tap_slices(a: int, c: int, stride: Pair, dilation: Pair, out_hw: Pair) -> tuple[slice, slice]:
    """The rows and columns of the padded input that kernel tap (a, c) reads, over all outputs."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    return (
        slice(dh * a, dh * a + sh * (ho - 1) + 1, sh),
        slice(dw * c, dw * c + sw * (wo - 1) + 1, sw),
    )


def dilate(g: np.ndarray, stride: Pair) -> np.ndarray:
    """Insert s-1 zeros between neighbouring entries of the last two axes (the identity for s=1)."""
    sh, sw = stride
    if sh == sw == 1:
        return g
    *lead, h, w = g.shape
    out = np.zeros((*lead, (h - 1) * sh + 1, (w - 1) * sw + 1), dtype=g.dtype)
    out[..., ::sh, ::sw] = g
    return out
