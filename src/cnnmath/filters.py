"""Results 1–3 of SPEC.md as filters: fixed weights that make a convolution do a known job.

Each construction is a plain weight array for :func:`cnnmath.conv2d` (float64 unless a
``dtype=`` argument says otherwise), beside a one-call helper that applies it:

    result 1, finite differences   finite_difference()        (2, 1, 3, 3)   image_gradient
    result 2, average pooling      average_pool_filter(C, k)  (C, C, k, k)   average_pool_by_conv
    result 3, RGB to grayscale     grayscale_filter()         (1, 3, 1, 1)   to_grayscale

The helpers take a batch (N, C, H, W) or one unbatched image (C, H, W), like the ops, and
keep the input's dtype: the filter is built in the dtype of ``x``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

from ._checks import FLOAT_DTYPES, batched_image, check_float_array, positive_int
from .ops import conv2d

__all__ = [
    "BT601",
    "BT709",
    "FORWARD_DIFFERENCE_I",
    "FORWARD_DIFFERENCE_J",
    "average_pool_by_conv",
    "average_pool_filter",
    "finite_difference",
    "grayscale_filter",
    "image_gradient",
    "to_grayscale",
]

# ----------------------------------------------------------------------------- constants

#: ITU-R BT.601 luma weights (R, G, B): Y′ = 0.299 R′ + 0.587 G′ + 0.114 B′ (sum 1).
BT601 = (0.299, 0.587, 0.114)
#: ITU-R BT.709 (HDTV, sRGB primaries) luma weights (R, G, B), sum 1.
BT709 = (0.2126, 0.7152, 0.0722)

_NAMED_WEIGHTS = {"bt601": BT601, "bt709": BT709}


def _frozen(rows: list[list[float]]) -> np.ndarray:
    a = np.array(rows, dtype=np.float64)
    a.flags.writeable = False
    return a


#: w1 of result 1: correlated at (i, j) it reads −X[i, j] + X[i+1, j], the difference along i
#: (down the rows, vertical).
FORWARD_DIFFERENCE_I = _frozen(
    [
        [0, 0, 0],
        [0, -1, 0],
        [0, 1, 0],
    ]
)
#: w2 of result 1: correlated at (i, j) it reads −X[i, j] + X[i, j+1], the difference along j
#: (across the columns, horizontal).
FORWARD_DIFFERENCE_J = _frozen(
    [
        [0, 0, 0],
        [0, -1, 1],
        [0, 0, 0],
    ]
)


# ----------------------------------------------------------------------------- small checks


def _float_dtype(dtype: Any, *, func: str) -> np.dtype:
    """``dtype`` as a NumPy float32/float64 dtype, else ``TypeError`` naming the argument."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"{func}: dtype: expected float32 or float64, got {dtype!r}")
    return resolved


def _luma_weights(weights: Any, *, func: str) -> tuple[float, float, float]:
    """Three finite real weights (R, G, B), from a sequence or the names "bt601" / "bt709"."""
    if isinstance(weights, str):
        key = weights.lower().replace(".", "").replace("-", "").replace("_", "")
        if key not in _NAMED_WEIGHTS:
            raise ValueError(
                f"{func}: weights: expected 'bt601', 'bt709' or three numbers (R, G, B), "
                f"got {weights!r}"
            )
        return _NAMED_WEIGHTS[key]
    if isinstance(weights, np.ndarray):
        weights = weights.tolist()
    if not isinstance(weights, Sequence) or len(weights) != 3:
        raise ValueError(
            f"{func}: weights: expected three numbers (R, G, B) or 'bt601' / 'bt709', "
            f"got {weights!r}"
        )
    out = []
    for w in weights:
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, (Real, np.floating)):
            raise TypeError(f"{func}: weights: expected real numbers, got {weights!r}")
        if not math.isfinite(float(w)):
            raise ValueError(f"{func}: weights: expected finite numbers, got {weights!r}")
        out.append(float(w))
    return out[0], out[1], out[2]


# ----------------------------------------------------------------------------- result 1


def finite_difference(dtype: Any = np.float64) -> np.ndarray:
    """The filter of result 1: two 3×3 forward-difference kernels, shape (2, 1, 3, 3).

    ``w[0, 0]`` is w1 (:data:`FORWARD_DIFFERENCE_I`), ``w[1, 0]`` is w2
    (:data:`FORWARD_DIFFERENCE_J`)::

        w1 = [[0,  0, 0],      w2 = [[0,  0, 0],
              [0, -1, 0],            [0, -1, 1],
              [0,  1, 0]]            [0,  0, 0]]

    Correlated with a single-channel X, stride 1, zero padding 1, no bias (SPEC.md,
    result 1), they give for 1 <= i <= m, 1 <= j <= n

        Y1[i, j] = X[i+1, j] − X[i, j]      (along i, vertical)
        Y2[i, j] = X[i, j+1] − X[i, j]      (along j, horizontal)

    with X[m+1, ·] = X[·, n+1] = 0 supplied by the padding. :func:`image_gradient` applies it.

    Parameters
    ----------
    dtype : float32 or float64 (default).

    Returns
    -------
    w : (C_out=2, C_in=1, 3, 3) array of ``dtype``, a fresh writable copy.

    >>> finite_difference()[:, 0, 1:, 1:]
    array([[[-1.,  0.],
            [ 1.,  0.]],
    <BLANKLINE>
           [[-1.,  1.],
            [ 0.,  0.]]])
    """
    dt = _float_dtype(dtype, func="finite_difference")
    return np.stack([FORWARD_DIFFERENCE_I, FORWARD_DIFFERENCE_J])[:, None].astype(dt)


def image_gradient(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The discrete image gradient of result 1: the forward differences (Y1, Y2) of x.

    Correlates x with :func:`finite_difference` (stride 1, zero padding 1) and splits the
    two output channels:

        Y1[β, 0, i, j] = X[β, 0, i+1, j] − X[β, 0, i, j]   (vertical; the last row: −X[m, j])
        Y2[β, 0, i, j] = X[β, 0, i, j+1] − X[β, 0, i, j]   (horizontal; last column: −X[i, n])

    Parameters
    ----------
    x : (N, 1, H, W) single-channel batch, or one image (1, H, W); float32 or float64.
        A colour image is an error: convert it with :func:`to_grayscale` first (or fold the
        channels into the batch, ``x.reshape(-1, 1, H, W)``, for per-channel gradients).

    Returns
    -------
    (Y1, Y2) : each shaped like x ((N, 1, H, W), or (1, H, W) for an unbatched x), x's dtype.

    >>> import numpy as np
    >>> y1, y2 = image_gradient(np.array([[[1.0, 2.0], [4.0, 8.0]]]))
    >>> y1[0], y2[0]
    (array([[ 3.,  6.],
           [-4., -8.]]), array([[ 1., -2.],
           [ 4., -8.]]))
    """
    func = "image_gradient"
    check_float_array("x", x, func=func)
    x4, unbatched = batched_image("x", x, func=func)
    c = x4.shape[1]
    if c != 1:
        colour = (
            f"; for a colour image use cnnmath.filters.to_grayscale(x) first"
            f"{' (with alpha=' + repr('drop') + ' for RGBA)' if c == 4 else ''}"
            if c in (3, 4)
            else ""
        )
        raise ValueError(
            f"{func}: x: expected a single-channel image (N, 1, H, W) or (1, H, W), got "
            f"{c} channels (shape {x.shape}){colour}; for one gradient per channel fold "
            "the channels into the batch with x.reshape(-1, 1, H, W)"
        )
    y = conv2d(x4, finite_difference(x4.dtype), padding=1)
    y1, y2 = y[:, 0:1], y[:, 1:2]
    if unbatched:
        return y1[0], y2[0]
    return y1, y2


# ----------------------------------------------------------------------------- result 2


def average_pool_filter(channels: int, k: int, dtype: Any = np.float64) -> np.ndarray:
    """The filter of result 2: w[c, d, a, b] = δ(c, d) / k², shape (C, C, k, k).

    Output channel c reads only input channel c (δ is the Kronecker delta — the original's
    "∫xy" is a mis-transcription of it), with the same weight 1/k² at every tap. For C = 2,
    k = 2 the four kernels w[c, d] are::

        w[0, 0] = [[¼, ¼],   w[0, 1] = [[0, 0],
                   [¼, ¼]]              [0, 0]]
        w[1, 0] = [[0, 0],   w[1, 1] = [[¼, ¼],
                   [0, 0]]              [¼, ¼]]

    With stride k, no padding, no bias it gives Y[c, i, j] = (1/k²) Σ_{a=1..k} Σ_{b=1..k}
    X[c, k(i−1)+a, k(j−1)+b]: k×k average pooling, channel by channel (the sums run to k,
    not to n/k as the original has them). :func:`average_pool_by_conv` applies it.

    Parameters
    ----------
    channels : C >= 1.
    k : window (and stride) >= 1.
    dtype : float32 or float64 (default).

    Returns
    -------
    w : (C, C, k, k) array of ``dtype``.

    >>> average_pool_filter(2, 2)[:, :, 0, 0]
    array([[0.25, 0.  ],
           [0.  , 0.25]])
    """
    func = "average_pool_filter"
    C = positive_int("channels", channels, func=func)
    k = positive_int("k", k, func=func)
    dt = _float_dtype(dtype, func=func)
    w = np.zeros((C, C, k, k), dtype=dt)
    c = np.arange(C)
    w[c, c] = 1.0 / (k * k)
    return w


def average_pool_by_conv(x: np.ndarray, k: int) -> np.ndarray:
    """k×k average pooling with stride k, computed as result 2's convolution.

    ``conv2d(x, average_pool_filter(C, k), stride=k)``: equal, to rounding, to
    ``avg_pool2d(x, k)``. When k does not divide H or W both drop the rows and columns left
    over (output size floor(H/k) × floor(W/k)).

    Parameters
    ----------
    x : (N, C, H, W) or one image (C, H, W), float32 or float64, with H, W >= k.
    k : window and stride, an int >= 1.

    Returns
    -------
    Y : (N, C, H // k, W // k) (or (C, H // k, W // k)), x's dtype.

    >>> import numpy as np
    >>> average_pool_by_conv(np.arange(16.0).reshape(1, 4, 4), 2)
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    """
    func = "average_pool_by_conv"
    check_float_array("x", x, func=func)
    x4, unbatched = batched_image("x", x, func=func)
    k = positive_int("k", k, func=func)
    C, H, W = x4.shape[1:]
    if C == 0:
        raise ValueError(f"{func}: x: expected at least one channel, got shape {x.shape}")
    if k > H or k > W:
        raise ValueError(
            f"{func}: k: expected a window no larger than the image ({H}×{W}), got k={k}"
        )
    y = conv2d(x4, average_pool_filter(C, k, x4.dtype), stride=k)
    return y[0] if unbatched else y


# ----------------------------------------------------------------------------- result 3


def grayscale_filter(weights: Any = BT601, dtype: Any = np.float64) -> np.ndarray:
    """The filter of result 3: a 1×1 convolution from (R, G, B) to one luma channel.

    w[0, 0, 0, 0] = w_R, w[0, 1, 0, 0] = w_G, w[0, 2, 0, 0] = w_B; drawn as the (1, 3) matrix
    that mixes the channels at every pixel::

        BT.601:  [[0.299, 0.587, 0.114]]      (default; the original's 0.581 is a typo)
        BT.709:  [[0.2126, 0.7152, 0.0722]]

    so that Y = w_R·R + w_G·G + w_B·B. Both standards' weights sum to 1, so white stays
    white (0.299 + 0.587 + 0.114 = 0.9999999999999999 in float64). Applied to gamma-encoded
    values, as stored in PNG/JPEG files, this is luma Y′, not linear-light luminance.

    Parameters
    ----------
    weights : three numbers (R, G, B), or ``"bt601"`` / ``"bt709"``; default :data:`BT601`.
    dtype : float32 or float64 (default).

    Returns
    -------
    w : (C_out=1, C_in=3, 1, 1) array of ``dtype``.

    >>> grayscale_filter("bt709").ravel()
    array([0.2126, 0.7152, 0.0722])
    """
    func = "grayscale_filter"
    w_rgb = _luma_weights(weights, func=func)
    dt = _float_dtype(dtype, func=func)
    return np.array(w_rgb, dtype=dt).reshape(1, 3, 1, 1)


_ALPHA_CHOICES = ("drop", "keep")


def to_grayscale(x: np.ndarray, weights: Any = BT601, alpha: str | None = None) -> np.ndarray:
    """Luma Y′ = w_R·R + w_G·G + w_B·B of an RGB batch, as result 3's 1×1 convolution.

    ``conv2d(x, grayscale_filter(weights))``. This is luma of the gamma-encoded values (what
    image files store), ITU-R BT.601 by default — not linear luminance, which would need the
    values linearised first.

    Parameters
    ----------
    x : (N, 3, H, W) or one image (3, H, W), channels R, G, B; float32 or float64. An RGBA
        input (4 channels) needs an explicit ``alpha``.
    weights : three numbers (R, G, B), ``"bt601"`` (default) or ``"bt709"``.
    alpha : what to do with a fourth (alpha) channel: ``"drop"`` ignores it (Y′ alone),
        ``"keep"`` returns two channels (Y′, alpha). Required for RGBA, where a silent
        choice would either lose transparency or mix it into the gray; ``"keep"`` is an
        error for an RGB input, which has no alpha to keep.

    Returns
    -------
    Y : (N, 1, H, W) (or (1, H, W) unbatched); (N, 2, H, W) / (2, H, W) with
    ``alpha="keep"``; x's dtype.

    >>> import numpy as np
    >>> to_grayscale(np.ones((3, 1, 2)))  # white stays white (to rounding)
    array([[[1., 1.]]])
    """
    func = "to_grayscale"
    check_float_array("x", x, func=func)
    x4, unbatched = batched_image("x", x, func=func)
    w = grayscale_filter(weights, x4.dtype)
    if alpha is not None and alpha not in _ALPHA_CHOICES:
        raise ValueError(f"{func}: alpha: expected None, 'drop' or 'keep', got {alpha!r}")
    c = x4.shape[1]
    if c == 4 and alpha is None:
        raise ValueError(
            f"{func}: x has 4 channels (RGBA, shape {x.shape}): choose what to do with alpha, "
            "alpha='drop' (gray only) or alpha='keep' (gray and alpha as 2 channels)"
        )
    if c not in (3, 4):
        raise ValueError(
            f"{func}: x: expected 3 channels (R, G, B) or 4 (RGBA) on axis "
            f"{0 if unbatched else 1}, got {c} (shape {x.shape})"
        )
    if c == 3 and alpha == "keep":
        raise ValueError(
            f"{func}: alpha: 'keep' needs a 4-channel RGBA x, got 3 channels (shape {x.shape})"
        )
    y = conv2d(x4[:, :3], w)
    if alpha == "keep":
        y = np.concatenate([y, x4[:, 3:4]], axis=1)
    return y[0] if unbatched else y
