"""Geometric transforms: whole-pixel shifts, horizontal flips, and RandomResizedCrop (a
box per image, resized bilinearly) with its deterministic half and its box draw."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._checks import int_pair, positive_int, real_number
from ..ops.interpolate import Taps
from ._args import _batch, _boxes, _image_batch, _image_shape, _interval, _rng
from ._draws import _first, _tries


def random_shift(x: np.ndarray, rng: np.random.Generator, max_shift: int = 1) -> np.ndarray:
    """Translate each image of a batch by its own random whole-pixel offset, zeros shifted in.

    For image β, offsets (δ_β, γ_β) are drawn uniformly from {−s, …, s}² (s = ``max_shift``)
    and ``out[β, c, i, j] = x[β, c, i + δ_β, j + γ_β]`` (0 where that falls outside the
    image). Done by one gather from the zero-padded batch — no loop over examples.

    This is CIFAR's "random crop with padding" (torchvision's ``RandomCrop(H, padding=s)``):
    a window of the image's size at a uniform place in the zero-padded image is the image
    shifted by a uniform offset in {−s, …, s}².

    x : (B, C, H, W) float32 or float64; rng : a ``numpy.random.Generator`` (the training
    loop's stream; a seed would repeat the same shifts every call); max_shift : int >= 0.
    Returns a new array like x. Draws 2B integers from ``rng``. Bad arguments raise
    ``TypeError``/``ValueError`` naming the argument, what was expected and what was given.

    >>> x = np.ones((3, 1, 4, 4))
    >>> random_shift(x, np.random.default_rng(0), 0).shape
    (3, 1, 4, 4)
    """
    func = "random_shift"
    _batch(x, rng, func)
    s = positive_int("max_shift", max_shift, func=func, minimum=0)
    B, C, H, W = x.shape
    offsets = rng.integers(-s, s + 1, size=(2, B))
    if s == 0:
        return x.copy()
    padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
    rows = np.arange(H)[None, :] + s + offsets[0][:, None]  # (B, H): i + δ_β in padded indices
    cols = np.arange(W)[None, :] + s + offsets[1][:, None]  # (B, W)
    beta = np.arange(B)[:, None, None, None]
    chan = np.arange(C)[None, :, None, None]
    return padded[beta, chan, rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each image of a batch left to right with probability p, on its own draw:
    ``out[β] = x[β, :, :, ::-1]`` where u_β < p, else x[β], with u_β ~ U[0, 1) (torchvision's
    ``RandomHorizontalFlip(p)`` per image). One select over the batch, no loop over images.

    x : (B, C, H, W) float32 or float64; rng : a ``numpy.random.Generator``; p in [0, 1].
    Returns a new array like x. Draws B uniforms from ``rng``.

    >>> x = np.arange(3.0).reshape(1, 1, 1, 3)
    >>> random_flip(x, np.random.default_rng(0), p=1.0)[0, 0, 0].tolist()
    [2.0, 1.0, 0.0]
    """
    func = "random_flip"
    _batch(x, rng, func)
    p = real_number("p", p, func=func, low=0.0, high=1.0)
    flip = np.asarray(rng.random(x.shape[0]) < p)
    return np.where(flip[:, None, None, None], x[..., ::-1], x)


# ---------------------------------------------------------------------------------------------
# RandomResizedCrop: a box per image, resized bilinearly


def random_resized_crop_boxes(
    rng: np.random.Generator,
    shape: Sequence[int],
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> np.ndarray:
    """The boxes ``random_resized_crop`` cuts: for each image of a batch of ``shape`` (B, C, H,
    W), torchvision's ``RandomResizedCrop.get_params`` rule, all images at once.

    Try k = 1 … 10: s ~ U(scale), r = exp(U(log r_min, log r_max)) (log-uniform aspect),
    w = round(√(H·W·s·r)), h = round(√(H·W·s/r)); the first try with 0 < w ≤ W and 0 < h ≤ H
    is placed uniformly, top ~ U{0, …, H − h}, left ~ U{0, …, W − w}. An image none of whose
    tries fits gets the central crop of the image's aspect clamped to ``ratio``: W/H < r_min
    gives w = W, h = round(W / r_min); W/H > r_max gives h = H, w = round(H · r_max); else the
    whole image; top = ⌊(H − h)/2⌋, left = ⌊(W − w)/2⌋. The box's area fraction is ≈ s and its
    aspect w/h ≈ r, to the rounding of the sides.

    Returns (B, 4) intp rows (top, left, height, width). Draws 20B uniforms from ``rng`` (the
    ten tries' fractions, then their log-ratios: every try is drawn, used or not), then 2B
    integers (the tops, then the lefts; a fallback image's are drawn and not used) — a fixed
    count whatever the tries give. ``scale``: 0 <= min <= max (fractions of the image's area);
    ``ratio``: 0 < min <= max (width / height).

    >>> boxes = random_resized_crop_boxes(np.random.default_rng(0), (2, 3, 32, 32))
    >>> boxes.shape, bool((boxes[:, 0] + boxes[:, 2] <= 32).all())
    ((2, 4), True)
    """
    func = "random_resized_crop_boxes"
    _rng(rng, func)
    B, H, W = _image_shape(shape, func)
    scale = _interval("scale", scale, func, low=0.0)
    ratio = _interval("ratio", ratio, func, low=0.0, low_open=True)
    return _resized_crop_boxes(rng, B, H, W, scale, ratio)


def _resized_crop_boxes(
    rng: np.random.Generator,
    B: int,
    H: int,
    W: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> np.ndarray:
    """``random_resized_crop_boxes`` of checked arguments."""
    w_try, h_try = _tries(rng, B, H * W, scale, ratio)
    fits = (w_try > 0) & (w_try <= W) & (h_try > 0) & (h_try <= H)
    found, (h, w) = _first(fits, h_try, w_try)
    in_ratio = W / H  # the fallback: the central crop of the image's aspect clamped to ratio
    if in_ratio < ratio[0]:
        fallback = (int(round(W / ratio[0])), W)
    elif in_ratio > ratio[1]:
        fallback = (H, int(round(H * ratio[1])))
    else:
        fallback = (H, W)
    h = np.where(found, h, fallback[0])
    w = np.where(found, w, fallback[1])
    top = np.where(found, rng.integers(0, H - h + 1), (H - h) // 2)
    left = np.where(found, rng.integers(0, W - w + 1), (W - w) // 2)
    return np.stack([top, left, h, w], axis=1).astype(np.intp)


def _crop_taps(start: np.ndarray, length: np.ndarray, n_out: int, dt: np.dtype) -> Taps:
    """PyTorch's bilinear taps (``ops.interpolate.linear_taps``, align_corners=False) of a
    window [start, start + length) of each image resized to n_out, (B, n_out) arrays holding
    indices into the whole image: u = max(0, (i + ½)·length/n_out − ½) in ``dt`` arithmetic,
    i0 = min(⌊u⌋, length − 1), i1 = min(i0 + 1, length − 1), λ1 = u − i0, λ0 = 1 − λ1; a window
    of length n_out is copied. The taps stay inside the window, as the crop then resize does."""
    n = length[:, None]
    r = n.astype(dt) / dt.type(n_out)
    u = np.maximum(r * (np.arange(n_out, dtype=dt) + dt.type(0.5)) - dt.type(0.5), dt.type(0))
    i0 = np.minimum(np.floor(u).astype(np.intp), n - 1)
    lambda1 = (u - i0.astype(dt)).astype(dt)
    copy = n == n_out  # PyTorch copies an axis that keeps its length
    i0 = np.where(copy, np.arange(n_out), i0)
    lambda1 = np.where(copy, dt.type(0), lambda1).astype(dt)
    i1 = np.minimum(i0 + 1, n - 1)
    offset = start[:, None]
    return Taps(i0 + offset, i1 + offset, (dt.type(1) - lambda1).astype(dt), lambda1)


def _along(y: np.ndarray, taps: Taps, axis: int) -> np.ndarray:
    """λ0·take(y, i0) + λ1·take(y, i1) along ``axis`` (2: rows, 3: columns), each image by its
    own taps (``ops.interpolate.resample_along`` with per-image indices)."""
    shape = [taps.i0.shape[0], 1, 1, 1]
    shape[axis] = taps.i0.shape[1]
    out = np.take_along_axis(y, taps.i0.reshape(shape), axis=axis) * taps.lambda0.reshape(shape)
    out += np.take_along_axis(y, taps.i1.reshape(shape), axis=axis) * taps.lambda1.reshape(shape)
    return out


def resized_crop(
    x: np.ndarray, boxes: np.ndarray, size: int | tuple[int, int] | None = None
) -> np.ndarray:
    """Cut box β out of image β and resize it bilinearly to ``size``: torchvision's
    ``resized_crop(img, top, left, height, width, size, antialias=False)`` for every image at
    once (``crop`` then ``interpolate(mode="bilinear", align_corners=False)``).

    For box (t, l, h, w) and output (H_out, W_out), along the width then the height (PyTorch's
    order), output pixel j reads the crop's columns

        Y[j] = λ0_j · X[l + i0_j] + λ1_j · X[l + i1_j],   u_j = max(0, (j + ½)·w/W_out − ½),
        i0_j = min(⌊u_j⌋, w − 1), i1_j = min(i0_j + 1, w − 1), λ1_j = u_j − i0_j, λ0_j = 1 − λ1_j

    (and so for the rows with t, h, H_out): the half-pixel rule of ``ops.interpolate_bilinear``
    with each image's own taps, which stay inside the box — at a box's edge the edge pixel is
    repeated, never its neighbour outside the box (``grid_sample`` on the box's affine grid
    would read that neighbour when a box is enlarged, so the taps are gathered directly: one
    ``take_along_axis`` per tap and axis for the whole batch). No antialiasing: a box larger
    than ``size`` is sampled, not averaged (torchvision's v2 default is ``antialias=True``).

    x : (B, C, H, W) float32 or float64. boxes : (B, 4) integers (top, left, height, width),
    each box inside its image with height, width >= 1. size : an int, a pair (H_out, W_out) of
    ints >= 1, or None for the input's (H, W). Returns (B, C, H_out, W_out) in x's dtype.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> resized_crop(x, np.array([[1, 1, 2, 2]]), 2)[0, 0]  # the centre 2×2, unchanged
    array([[ 5.,  6.],
           [ 9., 10.]])
    """
    func = "resized_crop"
    _image_batch(x, func)
    top, left, height, width = _boxes(boxes, x, func, minimum=1)
    H_out, W_out = x.shape[2:] if size is None else int_pair("size", size, minimum=1, func=func)
    dt = x.dtype
    y = _along(x, _crop_taps(left, width, W_out, dt), axis=3)
    return _along(y, _crop_taps(top, height, H_out, dt), axis=2)


def random_resized_crop(
    x: np.ndarray,
    rng: np.random.Generator,
    size: int | tuple[int, int] | None = None,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> np.ndarray:
    """ImageNet's crop: from each image a random box of area fraction ≈ s ~ U(scale) and aspect
    w/h ≈ r, log r ~ U(log ratio), placed uniformly, resized bilinearly to ``size`` —
    torchvision's ``RandomResizedCrop(size, scale, ratio, antialias=False)`` applied image by
    image: ``resized_crop(x, random_resized_crop_boxes(rng, x.shape, scale, ratio), size)``
    (the two functions give the rule and the resampling).

    x : (B, C, H, W) float32 or float64; rng : a ``numpy.random.Generator``; size : an int, a
    pair (H_out, W_out), or None (default) for the input's (H, W). Returns (B, C, H_out, W_out)
    in x's dtype. Draws 20B uniforms, then 2B integers from ``rng``
    (``random_resized_crop_boxes``).

    >>> x = np.random.default_rng(0).random((4, 3, 32, 32))
    >>> random_resized_crop(x, np.random.default_rng(1), size=24).shape
    (4, 3, 24, 24)
    """
    func = "random_resized_crop"
    _batch(x, rng, func)
    out_size = x.shape[2:] if size is None else int_pair("size", size, minimum=1, func=func)
    scale = _interval("scale", scale, func, low=0.0)
    ratio = _interval("ratio", ratio, func, low=0.0, low_open=True)
    B, _, H, W = x.shape
    return resized_crop(x, _resized_crop_boxes(rng, B, H, W, scale, ratio), out_size)
