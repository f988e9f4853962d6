"""Results 1–3 (docs/results.md) as filters: fixed weights that make a convolution do a known job.

Each construction is a plain weight array for :func:`cnnmath.conv2d` (float64 unless a
``dtype=`` argument says otherwise), beside a one-call helper that applies it:

    result 1, finite differences   finite_difference()        (2, 1, 3, 3)   image_gradient
    result 2, average pooling      average_pool_filter(C, k)  (C, C, k, k)   average_pool_by_conv
    result 3, RGB to grayscale     grayscale_filter()         (1, 3, 1, 1)   to_grayscale

The helpers take a batch (N, C, H, W) or one unbatched image (C, H, W), like the ops, and
keep the input's dtype: the filter is built in the dtype of ``x``.

For image files (``cnnmath filter``), :func:`filter_image` applies one of ``OPERATORS`` to a
picture's channels (alpha handled, colour turned to gray where the result needs one channel)
and :func:`to_pixels` maps the signed result onto [0, 1] as one of ``SCALES`` says;
:func:`filter_memory` is the memory that takes, for refusing an image before decoding it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from ._checks import batched_image, check_float_array, float_dtype, positive_int
from .ops import _machine, _threads, conv2d, max_pool2d

__all__ = [
    "BT601",
    "BT709",
    "FORWARD_DIFFERENCE_I",
    "FORWARD_DIFFERENCE_J",
    "OPERATORS",
    "SCALES",
    "Filtered",
    "average_pool_by_conv",
    "average_pool_filter",
    "filter_image",
    "filter_memory",
    "finite_difference",
    "grayscale_filter",
    "image_gradient",
    "image_kernel",
    "luma_weights",
    "to_grayscale",
    "to_pixels",
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


def luma_weights(
    weights: Any, *, func: str | None = None, name: str = "weights"
) -> tuple[float, float, float]:
    """Three finite real luma weights (w_R, w_G, w_B), not all zero.

    ``weights`` is a sequence of three numbers, a text ``"r,g,b"`` (as typed on a command
    line), or a standard's name: ``"bt601"`` / ``"bt709"`` (case, dots, dashes and
    underscores ignored: ``"BT.709"`` works). All-zero weights (a blank output) and weights
    whose absolute sum overflows (no pixel range) are refused. Errors name ``func`` (when
    given) and ``name``.

    >>> luma_weights("BT.709")
    (0.2126, 0.7152, 0.0722)
    >>> luma_weights("0.5, 0.25, 0.25")
    (0.5, 0.25, 0.25)
    """
    where = f"{func}: {name}: " if func else f"{name}: "
    expected = "'bt601', 'bt709' or three numbers (R, G, B)"
    if isinstance(weights, str):
        key = weights.lower().replace(".", "").replace("-", "").replace("_", "").strip()
        if key in _NAMED_WEIGHTS:
            return _NAMED_WEIGHTS[key]
        if "," not in weights:
            raise ValueError(f"{where}expected {expected}, got {weights!r}")
        try:
            weights = [float(part) for part in weights.split(",")]
        except ValueError:
            raise ValueError(f"{where}expected {expected}, got {weights!r}") from None
    if isinstance(weights, np.ndarray):
        weights = weights.tolist()
    if not isinstance(weights, Sequence) or len(weights) != 3:
        raise ValueError(
            f"{where}expected three numbers (R, G, B) or 'bt601' / 'bt709', got {weights!r}"
        )
    out = []
    for w in weights:
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, (Real, np.floating)):
            raise TypeError(f"{where}expected real numbers, got {weights!r}")
        if not math.isfinite(float(w)):
            raise ValueError(f"{where}expected finite numbers, got {weights!r}")
        out.append(float(w))
    if not any(out):
        raise ValueError(f"{where}the weights are all zero: the output would be blank, got {out}")
    if not math.isfinite(sum(abs(w) for w in out)):
        raise ValueError(f"{where}the weights overflow when summed, got {out}")
    return out[0], out[1], out[2]


# ----------------------------------------------------------------------------- result 1


def finite_difference(dtype: Any = np.float64) -> np.ndarray:
    """The filter of result 1: two 3×3 forward-difference kernels, shape (2, 1, 3, 3).

    ``w[0, 0]`` is w1 (:data:`FORWARD_DIFFERENCE_I`), ``w[1, 0]`` is w2
    (:data:`FORWARD_DIFFERENCE_J`)::

        w1 = [[0,  0, 0],      w2 = [[0,  0, 0],
              [0, -1, 0],            [0, -1, 1],
              [0,  1, 0]]            [0,  0, 0]]

    Correlated with a single-channel X, stride 1, zero padding 1, no bias (result 1),
    they give for 1 <= i <= m, 1 <= j <= n

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
    dt = float_dtype("dtype", dtype, func="finite_difference")
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
    dt = float_dtype("dtype", dtype, func=func)
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
    w_rgb = luma_weights(weights, func=func)
    dt = float_dtype("dtype", dtype, func=func)
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
        hint = ""
        if x.shape[-1] in (3, 4):  # channels last, as images often come
            layout, order = (
                ("(H, W, C)", "2, 0, 1") if unbatched else ("(N, H, W, C)", "0, 3, 1, 2")
            )
            hint = (
                f"; if x holds its channels last, {layout}, as images often come, pass "
                f"x.transpose({order})"
            )
        raise ValueError(
            f"{func}: x: expected 3 channels (R, G, B) or 4 (RGBA) on axis "
            f"{0 if unbatched else 1}, got {c} (shape {x.shape}){hint}"
        )
    if c == 3 and alpha == "keep":
        raise ValueError(
            f"{func}: alpha: 'keep' needs a 4-channel RGBA x, got 3 channels (shape {x.shape})"
        )
    y = conv2d(x4[:, :3], w)
    if alpha == "keep":
        y = np.concatenate([y, x4[:, 3:4]], axis=1)
    return y[0] if unbatched else y


# ----------------------------------------------------------------------------- image files

#: The operators of :func:`filter_image` (and ``cnnmath filter``).
OPERATORS = ("gradient", "grayscale", "avgpool", "maxpool", "conv")

#: How a filtered value y becomes a pixel value in [0, 1] (:func:`to_pixels`). [lo, hi] is the
#: interval the operator can produce from input pixels in [0, 1] (for a kernel w:
#: lo = Σ min(w, 0), hi = Σ max(w, 0)).
SCALES = {
    "range": "(y − lo)/(hi − lo): the operator's possible range onto [0, 1]; a difference "
    "d in [−1, 1] becomes 0.5 + d/2, so 0 is mid-gray (default)",
    "abs": "|y| / max(|lo|, |hi|): the size of y, its sign dropped (0 is black)",
    "minmax": "(y − min y)/(max y − min y) over this image: full contrast, absolute level lost "
    "(a constant image becomes 0.5)",
    "clip": "y clipped to [0, 1], unscaled: negative values become black",
}


def _kernel_bounds(w: Any) -> tuple[float, float]:
    """[lo, hi] = [Σ min(w, 0), Σ max(w, 0)]: the values Σ w·x takes for x in [0, 1] (a
    kernel's window, or luma weights over R, G, B).

    >>> _kernel_bounds([0.5, -0.25, 1.0])
    (-0.25, 1.5)
    """
    a = np.asarray(w, dtype=np.float64)
    return float(np.minimum(a, 0).sum()), float(np.maximum(a, 0).sum())


def _gradient_bounds(plane: tuple[float, float], magnitude: bool) -> tuple[float, float]:
    """The range of result 1's differences of a plane with values in ``plane`` = [lo, hi]:
    Y1, Y2 in [−(hi − lo), hi − lo]; the magnitude √(Y1² + Y2²) in [0, √2·(hi − lo)]
    (a gray image in [0, 1]: [−1, 1] and [0, √2]).

    >>> _gradient_bounds((0.0, 1.0), magnitude=False)
    (-1.0, 1.0)
    """
    spread = plane[1] - plane[0]
    return (0.0, math.sqrt(2.0) * spread) if magnitude else (-spread, spread)


def to_pixels(y: np.ndarray, bounds: tuple[float, float], scale: str = "range") -> np.ndarray:
    """Map filtered values y to pixel values in [0, 1] as ``SCALES[scale]`` says.

    ``bounds`` = (lo, hi), the range the operator can produce from pixels in [0, 1] (lo < hi).
    Returns an array of y's shape and dtype, clipped to [0, 1] (rounding can step 1 ulp out).

    >>> to_pixels(np.array([-1.0, 0.0, 0.5, 1.0]), (-1.0, 1.0), "range")
    array([0.  , 0.5 , 0.75, 1.  ])
    """
    lo, hi = bounds
    if scale == "range":
        out = (y - lo) / (hi - lo)
    elif scale == "abs":
        out = np.abs(y) / max(abs(lo), abs(hi))
    elif scale == "minmax":
        y_min, y_max = (float(y.min()), float(y.max())) if y.size else (0.0, 0.0)
        out = (y - y_min) / (y_max - y_min) if y_max > y_min else np.full_like(y, 0.5)
    elif scale == "clip":
        out = y
    else:
        raise ValueError(f"to_pixels: scale: expected one of {tuple(SCALES)}, got {scale!r}")
    return np.clip(out, 0.0, 1.0)


def _check_kernel_fits(w: np.ndarray, hw: tuple[int, int], padding: Any, *, func: str) -> None:
    """Refuse a kernel (f1, f2) larger than the H×W image padded by ``padding`` ("valid": 0,
    an int or a pair of ints; "same" always fits), naming ``kernel`` rather than the op's
    kernel_size. Any other padding is left for ``conv2d`` to refuse, naming padding."""
    if isinstance(padding, str):
        if padding != "valid":
            return
        padding = 0

    def whole(p: Any) -> bool:
        return bool(
            isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)) and p >= 0
        )

    pair = tuple(padding) if isinstance(padding, (tuple, list)) else (padding, padding)
    if len(pair) != 2 or not all(whole(p) for p in pair):
        return
    (f1, f2), (H, W), (p1, p2) = w.shape, hw, pair
    if f1 > H + 2 * p1 or f2 > W + 2 * p2:
        raise ValueError(
            f"{func}: kernel: {f1}x{f2} is larger than the image ({H}x{W} pixels) with padding "
            f"{p1}x{p2}"
        )


def image_kernel(w: Any, *, func: str | None = None, name: str = "kernel") -> np.ndarray:
    """A kernel whose output can be mapped to pixels: non-empty 2-D (f1, f2), finite, not all
    zero, with an absolute sum that does not overflow; returned as float64.

    >>> image_kernel([[1, 0, -1]])
    array([[ 1.,  0., -1.]])
    """
    where = f"{func}: {name}: " if func else f"{name}: "
    a = np.asarray(w)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{where}expected real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"{where}expected a non-empty 2-D kernel (f1, f2), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{where}expected finite numbers, got {a.tolist()}")
    if not np.any(a):
        raise ValueError(f"{where}the kernel is all zeros: its output would be blank")
    with np.errstate(over="ignore"):
        total = np.abs(a).sum()
    if not np.isfinite(total):
        raise ValueError(
            f"{where}the kernel's weights overflow when summed (its output range cannot be "
            "mapped to pixels); scale it down"
        )
    return a


@dataclass(frozen=True)
class Filtered:
    """What :func:`filter_image` made.

    pixels : (C, H', W') in [0, 1], the operator's output mapped by the scale (alpha apart).
    alpha : (1, H', W') in [0, 1] — the input's alpha carried along (pooled with the colour
        for the poolings) — or None when the input had none or the operator drops it.
    notes : what was done that the caller did not spell out (colour turned to gray, alpha
        dropped, rows left over), one sentence each.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    notes: tuple[str, ...]


def _weights_label(weights: Any, w_rgb: tuple[float, float, float]) -> str:
    for label, named in (("BT.601", BT601), ("BT.709", BT709)):
        if w_rgb == named:
            return label
    return "(" + ", ".join(f"{v:g}" for v in w_rgb) + ")"


def filter_image(
    x: np.ndarray,
    channels: Sequence[str],
    operator: str,
    *,
    weights: Any = None,
    magnitude: bool = False,
    k: int = 2,
    kernel: Any = None,
    padding: int | str = "same",
    scale: str = "range",
) -> Filtered:
    """Apply one of ``OPERATORS`` to a picture x (C, H, W) in [0, 1] and map it to pixels.

    ``channels`` names x's channels as ``cnnmath.images.load_image`` does: ("L",), ("L", "A"),
    ("R", "G", "B") or ("R", "G", "B", "A"). Operators, with [lo, hi] the range each can
    produce (used by ``scale``, see ``SCALES`` and :func:`to_pixels`):

    - ``gradient`` (result 1): Y1[i, j] = X[i+1, j] − X[i, j], Y2[i, j] = X[i, j+1] − X[i, j]
      with zero padding, side by side (Y1 left, Y2 right: width 2W), [−1, 1]; with
      ``magnitude`` the one image sqrt(Y1² + Y2²), [0, √2]. Colour is turned to gray first
      with result 3 (``weights``), alpha dropped; the gray plane then spans
      [g_lo, g_hi] = [Σ min(w, 0), Σ max(w, 0)] and the ranges widen with it, to
      ±(g_hi − g_lo) and [0, √2·(g_hi − g_lo)] (``_gradient_bounds``).
    - ``grayscale`` (result 3): Y′ = w_R R + w_G G + w_B B, [Σ min(w, 0), Σ max(w, 0)]; alpha
      kept; gray input is returned unchanged.
    - ``avgpool`` (result 2, as a convolution) / ``maxpool``: k×k windows, stride k, every
      channel (alpha too), [0, 1]; rows and columns past a multiple of k are dropped.
    - ``conv``: a 2-D ``kernel`` correlated with each colour channel alone (``padding``:
      'same', 'valid' or an int), [Σ min(w, 0), Σ max(w, 0)]; alpha dropped.

    ``weights`` (gradient, grayscale): see :func:`luma_weights`; None means BT.601.
    Returns :class:`Filtered` (pixels, alpha, notes).
    """
    func = "filter_image"
    check_float_array("x", x, func=func)
    if x.ndim != 3 or len(channels) != x.shape[0] or tuple(channels) not in _LAYOUTS:
        raise ValueError(
            f"{func}: channels: expected the names of x's {x.shape[0] if x.ndim else 0} "
            f"channels, one of {_LAYOUTS}, got {tuple(channels)} for x of shape {x.shape}"
        )
    if operator not in OPERATORS:
        raise ValueError(f"{func}: operator: expected one of {OPERATORS}, got {operator!r}")
    if scale not in SCALES:
        raise ValueError(f"{func}: scale: expected one of {tuple(SCALES)}, got {scale!r}")
    gray_input = channels[0] == "L"
    has_alpha = channels[-1] == "A"
    notes: list[str] = []
    alpha = None
    bounds = (0.0, 1.0)
    if operator in ("gradient", "grayscale"):
        w_rgb = luma_weights(BT601 if weights is None else weights, func=func)
    if operator == "gradient":
        if gray_input:
            gray = x[:1]
            if has_alpha:
                notes.append("alpha channel dropped (the gradient is of the gray channel)")
        else:
            if has_alpha:
                notes.append("alpha channel dropped")
            gray = to_grayscale(x[:3], w_rgb)
            notes.append(
                f"colour input converted to grayscale with {_weights_label(weights, w_rgb)} "
                "luma weights (result 3: a 1x1 convolution) before taking differences"
            )
        y1, y2 = image_gradient(gray)
        bounds = _gradient_bounds((0.0, 1.0) if gray_input else _kernel_bounds(w_rgb), magnitude)
        if magnitude:
            y = np.sqrt(y1 * y1 + y2 * y2)
        else:
            notes.append("output: Y1 (vertical differences) left, Y2 (horizontal) right")
            y = np.concatenate([y1, y2], axis=2)
    elif operator == "grayscale":
        alpha = x[-1:] if has_alpha else None
        if gray_input:
            notes.append("input is already gray: written unchanged")
            y = x[:1]
        else:
            y = to_grayscale(x[:3], w_rgb)
            bounds = _kernel_bounds(w_rgb)
    elif operator in ("avgpool", "maxpool"):
        k = positive_int("k", k, func=func)
        H, W = x.shape[1:]
        if k > H or k > W:
            raise ValueError(
                f"{func}: k: the window {k}x{k} is larger than the image ({H}x{W} pixels)"
            )
        if H % k or W % k:
            notes.append(
                f"{H % k} row(s) and {W % k} column(s) at the bottom/right dropped "
                f"({H}x{W} is not a multiple of k={k})"
            )
        pooled = average_pool_by_conv(x, k) if operator == "avgpool" else max_pool2d(x, k)
        y, alpha = (pooled[:-1], pooled[-1:]) if has_alpha else (pooled, None)
    else:  # conv
        if kernel is None:
            raise ValueError(f"{func}: kernel: the conv operator needs a 2-D kernel, got None")
        w = image_kernel(kernel, func=func)
        _check_kernel_fits(w, x.shape[1:], padding, func=func)
        colour = x[:-1] if has_alpha else x
        if has_alpha:
            notes.append("alpha channel dropped")
        # each channel alone: the C channels become a batch of C one-channel images
        y = conv2d(colour[:, None], w[None, None].astype(x.dtype), padding=padding)[:, 0]
        bounds = _kernel_bounds(w)
    return Filtered(to_pixels(y, bounds, scale), alpha, tuple(notes))


_LAYOUTS = (("L",), ("L", "A"), ("R", "G", "B"), ("R", "G", "B", "A"))


def filter_memory(
    operator: str,
    shape: tuple[int, int, int],
    *,
    magnitude: bool = False,
    k: int = 2,
    kernel_shape: tuple[int, ...] | None = None,
    padding: int | str = "same",
) -> int:
    """Bytes that reading a (C, H, W) picture, :func:`filter_image` and writing the result
    take at their peak — an upper estimate, so an image can be refused before it is decoded.

    Counted in float64 planes of the input (one plane = 8·H·W bytes), from the arrays alive
    at the peak: the picture (C planes) and its conversion, then per operator

    - gradient: C + 11 (side by side) or C + 7 (``magnitude``): the gray plane, the padded
      input, Y1 and Y2, their concatenation, the pixel mapping's temporaries;
    - grayscale: 2C + 3; avgpool, maxpool: 2.25 C + 0.5 (decoding dominates);
    - conv: C + C_colour · (padded + 2 · output), the padded input and the output measured in
      planes, so a large ``padding`` (a larger output) counts in full;

    then 25 % and one plane more for what the count leaves out (Pillow's own buffer, small
    temporaries), and for gradient and conv, when their windows (one float64 plane per
    filter tap and convolved plane: 9 for the gradient's 3×3 filters on the gray plane, 9·3
    output planes for a 3×3 filter on RGB) fill more than one of the engine's cache-sized
    chunks, one chunk per thread beyond the first (each thread copies its own block of
    windows). The tests hold the estimate between the peak ``tracemalloc``
    measures and three times it. ``k`` is accepted for the poolings' sake, whose output is
    smaller than x.
    """
    if operator not in OPERATORS:
        raise ValueError(f"filter_memory: operator: expected one of {OPERATORS}, got {operator!r}")
    C, H, W = (int(n) for n in shape)
    plane = 8 * H * W
    colour = C - 1 if C in (2, 4) else C  # alpha is not convolved
    taps = 0  # filter taps of the window copies (none: no correlation)
    windowed = 1.0  # planes (of H·W) whose windows are copied: the gray plane, or the colours'
    if operator == "gradient":
        planes = C + (7.0 if magnitude else 11.0)
        taps = 9  # its 3×3 finite-difference filters
    elif operator == "grayscale":
        planes = 2.0 * C + 3.0
    elif operator in ("avgpool", "maxpool"):
        planes = 2.25 * C + 0.5
    else:  # conv: the output can be larger than the input (padding)
        f1, f2 = (int(n) for n in kernel_shape) if kernel_shape is not None else (1, 1)
        taps = f1 * f2
        if padding == "same":
            p1, p2 = f1 // 2, f2 // 2
        else:
            p1 = p2 = 0 if padding == "valid" else int(padding)
        H_in, W_in = H + 2 * p1, W + 2 * p2
        H_out, W_out = max(H_in - f1 + 1, 0), max(W_in - f2 + 1, 0)
        area = max(H * W, 1)
        planes = C + colour * (H_in * W_in + 2 * H_out * W_out) / area
        windowed = colour * H_out * W_out / area
    chunk = _machine.BUDGETS.chunk_bytes
    per_thread = chunk if taps * windowed * plane > chunk else 0
    return int(plane * (1.25 * planes + 1.0)) + (_threads.threads() - 1) * per_thread
