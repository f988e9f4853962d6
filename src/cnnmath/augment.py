"""Data augmentation for training batches: random transformations drawn from the loop's generator.

An augmentation is a function ``(x_batch, rng) -> x_batch`` that ``cnnmath.train.fit`` applies
to every training batch. It draws all its randomness from the ``numpy.random.Generator`` it is
given — the training loop's one stream — so a run is repeatable from its seed and resumes from a
checkpoint exactly (the generator's state is part of the checkpoint). Every image of a batch
gets its own draw, as torchvision's per-sample transform applied image by image would give it,
and each augmentation works on the whole batch at once (no loop over images or pixels).

    random_shift            RandomCrop(H, padding=s)       whole-pixel shifts, zeros shifted in
    random_flip             RandomHorizontalFlip(p)
    random_resized_crop     RandomResizedCrop(size)        a box per image, resized bilinearly
    color_jitter            ColorJitter(b, c, s, h)        its four operations in a random order
    random_erasing          RandomErasing(p, scale, ...)   a rectangle per image set to a value
    compose                 Compose([...])

MixUp and CutMix mix the labels too, so they are ``(x_batch, y_batch, rng) -> (x̃, ỹ)``, soft
labels ỹ (B, K), and ``fit`` takes one by its own keyword, ``fit(..., mix=...)``, applied
after ``augment``. They mix the batch with itself rolled by one, one λ (and one box) per
batch, as torchvision.transforms.v2 does:

    random_mixup            MixUp(alpha, num_classes)      x̃ = λx + (1 − λ)x_rolled, λ ~ Beta(α, α)
    random_cutmix           CutMix(alpha, num_classes)     the rolled batch's box pasted in
    random_mix              RandomChoice([MixUp, CutMix])  one of the two per batch

with their deterministic halves ``mixup`` (λ given) and ``cutmix`` (box given), and the box's
draw ``random_cutmix_box``.

Their deterministic halves have torchvision's functional names and can be called alone:
``resized_crop`` (boxes given), ``adjust_brightness`` / ``adjust_contrast`` /
``adjust_saturation`` / ``adjust_hue`` (a factor per image) and ``erase``; the draws of the
boxes are ``random_resized_crop_boxes`` and ``random_erasing_boxes`` (torchvision's
``get_params``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._checks import (
    check_float_array,
    check_ndim,
    check_same_dtype,
    int_pair,
    positive_int,
    real_number,
)
from .ops.interpolate import Taps

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "color_jitter",
    "compose",
    "cutmix",
    "erase",
    "mixup",
    "random_cutmix",
    "random_cutmix_box",
    "random_erasing",
    "random_erasing_boxes",
    "random_flip",
    "random_mix",
    "random_mixup",
    "random_resized_crop",
    "random_resized_crop_boxes",
    "random_shift",
    "resized_crop",
]


def _image_batch(x: Any, func: str) -> None:
    """x a (B, C, H, W) float batch, or the error naming what it is instead."""
    check_float_array("x", x, func=func)
    check_ndim(
        "x",
        x,
        (4,),
        func=func,
        layout="(B, C, H, W)",
        hint="for one image add the batch axis with x[None]" if x.ndim == 3 else "",
    )


def _rng(rng: Any, func: str) -> None:
    """rng a numpy.random.Generator, or the error saying how to make one."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{func}: rng: expected a numpy.random.Generator, got "
            f"{type(rng).__name__} {rng!r}; make one with numpy.random.default_rng("
            "seed)"
        )


def _batch(x: Any, rng: Any, func: str) -> None:
    """x a (B, C, H, W) float batch and rng a Generator, or the error naming which is not."""
    _image_batch(x, func)
    _rng(rng, func)


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


def compose(*augments: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> Callable:
    """One augmentation that applies ``augments`` in order, each drawing from the same
    generator (``fit(..., augment=compose(random_flip, random_shift))``).

    >>> both = compose(random_flip, random_shift)
    >>> both(np.zeros((2, 1, 4, 4)), np.random.default_rng(0)).shape
    (2, 1, 4, 4)
    """
    for i, f in enumerate(augments):
        if not callable(f):
            raise TypeError(f"compose: augments[{i}]: expected a function (x, rng) -> x, got {f!r}")

    def composed(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for f in augments:
            x = f(x, rng)
        return x

    return composed


# ---------------------------------------------------------------------------------------------
# Argument checks shared by the transforms below


def _interval(
    name: str,
    value: Any,
    func: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> tuple[float, float]:
    """A pair (min, max) of finite numbers with min <= max, each within the bounds."""
    if not isinstance(value, (tuple, list, np.ndarray)) or np.ndim(value) != 1 or len(value) != 2:
        raise TypeError(f"{func}: {name}: expected a pair (min, max) of numbers, got {value!r}")
    lo = real_number(f"{name}[0]", value[0], func=func, low=low, high=high, low_open=low_open)
    hi = real_number(f"{name}[1]", value[1], func=func, low=low, high=high, low_open=low_open)
    if lo > hi:
        raise ValueError(f"{func}: {name}: expected min <= max, got {tuple(value)!r}")
    return lo, hi


def _image_shape(shape: Any, func: str) -> tuple[int, int, int]:
    """(B, H, W) of a batch shape (B, C, H, W) — x.shape — with B >= 0 and H, W >= 1."""
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 4
        or any(
            isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) for v in shape
        )
        or min(shape) < 0
        or min(shape[2:]) < 1
    ):
        raise ValueError(
            f"{func}: shape: expected a batch's shape (B, C, H, W) — x.shape — with H, W >= 1, "
            f"got {shape!r}"
        )
    return int(shape[0]), int(shape[2]), int(shape[3])


def _boxes(
    boxes: Any, x: np.ndarray, func: str, *, minimum: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(top, left, height, width), each (B,) intp, of a (B, 4) integer array of boxes lying
    inside x's images, with height and width >= ``minimum``."""
    B, _, H, W = x.shape
    if not isinstance(boxes, np.ndarray) or boxes.dtype.kind not in "iu":
        raise TypeError(
            f"{func}: boxes: expected an integer numpy.ndarray (B, 4) of (top, left, height, "
            f"width), got {type(boxes).__name__}"
            + (f" of dtype {boxes.dtype}" if isinstance(boxes, np.ndarray) else "")
        )
    if boxes.shape != (B, 4):
        raise ValueError(
            f"{func}: boxes: expected shape (B, 4) = {(B, 4)} (one (top, left, height, width) "
            f"per image), got {boxes.shape}"
        )
    top, left, height, width = (boxes[:, k].astype(np.intp) for k in range(4))
    bad = (
        (top < 0)
        | (left < 0)
        | (height < minimum)
        | (width < minimum)
        | (top + height > H)
        | (left + width > W)
    )
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{func}: boxes: expected boxes inside the {H}×{W} images (top, left >= 0, height, "
            f"width >= {minimum}, top + height <= {H}, left + width <= {W}), got "
            f"{tuple(int(v) for v in boxes[b])} at row {b}"
        )
    return top, left, height, width


# ---------------------------------------------------------------------------------------------
# RandomResizedCrop: a box per image, resized bilinearly

_TRIES = 10  # torchvision's get_params tries ten boxes before its fallback


def _tries(
    rng: np.random.Generator,
    B: int,
    area: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """The ten tries of every image at once: s ~ U(scale), r = exp(U(log ratio)) (B, 10) each,
    and the sides (rint(√(area·s·r)), rint(√(area·s/r))) — Python's round, ties to even, as
    torchvision's ``int(round(...))``. Draws 20B uniforms: the B×10 fractions, then the ratios."""
    s = rng.uniform(scale[0], scale[1], size=(B, _TRIES))
    r = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), size=(B, _TRIES)))
    target = area * s
    return np.rint(np.sqrt(target * r)).astype(np.intp), np.rint(np.sqrt(target / r)).astype(
        np.intp
    )


def _first(ok: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Whether each row of ``ok`` (B, 10) has a True, and the values at its first True."""
    k = np.argmax(ok, axis=1)
    rows = np.arange(ok.shape[0])
    return np.asarray(ok.any(axis=1)), [v[rows, k] for v in values]


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


# ---------------------------------------------------------------------------------------------
# ColorJitter: brightness, contrast, saturation and hue, in a random order per image

#: torchvision's ``rgb_to_grayscale`` weights (R, G, B), which its contrast and saturation
#: blend towards — BT.601's 0.299 written 0.2989 (``cnnmath.filters.BT601`` has 0.299).
LUMA = (0.2989, 0.587, 0.114)


def _unit_range(x: np.ndarray, func: str) -> None:
    """x's channels 1 or 3 and its values in [0, 1] (NaN refused), or the error saying so."""
    if x.shape[1] not in (1, 3):
        raise ValueError(
            f"{func}: x: expected 1 (gray) or 3 (RGB) channels, got {x.shape[1]} in shape {x.shape}"
        )
    if x.size and not (x.min() >= 0 and x.max() <= 1):
        raise ValueError(
            f"{func}: x: expected values in [0, 1] (colours as floats: apply it before "
            f"normalising), got min {float(x.min())!r} and max {float(x.max())!r}"
        )


def _factor(
    name: str, factor: Any, B: int, func: str, *, low: float, high: float | None = None
) -> np.ndarray:
    """A number or a (B,) array of numbers in [low, high], as a (B,) float64 array."""
    if isinstance(factor, np.ndarray) and factor.ndim == 1:
        if factor.shape != (B,) or factor.dtype.kind not in "iuf":
            raise ValueError(
                f"{func}: {name}: expected a number or one per image, shape ({B},), got an "
                f"array of dtype {factor.dtype} and shape {factor.shape}"
            )
        values = factor.astype(np.float64)
        inside = (
            np.isfinite(values) & (values >= low) & (values <= (np.inf if high is None else high))
        )
        if not inside.all():
            bound = f"[{low:g}, {high:g}]" if high is not None else f">= {low:g}"
            b = int(np.flatnonzero(~inside)[0])
            raise ValueError(
                f"{func}: {name}: expected factors {bound}, got {float(values[b])!r} at index {b}"
            )
        return values
    return np.full(B, real_number(name, factor, func=func, low=low, high=high))


def _per_image(factor: np.ndarray, dt: np.dtype) -> np.ndarray:
    return factor.astype(dt)[:, None, None, None]


def _gray(x: np.ndarray) -> np.ndarray:
    """(B, 1, H, W): 0.2989 R + 0.587 G + 0.114 B in x's dtype (torchvision's grayscale)."""
    w = [x.dtype.type(c) for c in LUMA]
    return x[:, 0:1] * w[0] + x[:, 1:2] * w[1] + x[:, 2:3] * w[2]


def _blend(a: np.ndarray, b: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """clip(f·a + (1 − f)·b, 0, 1) per image (torchvision's ``_blend`` for float images)."""
    f = _per_image(factor, a.dtype)
    return np.clip(a * f + b * _per_image(1.0 - factor, a.dtype), 0, 1)


def _brightness(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    return np.clip(x * _per_image(factor, x.dtype), 0, 1)


def _contrast(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    gray = _gray(x) if x.shape[1] == 3 else x
    return _blend(x, gray.mean(axis=(1, 2, 3), keepdims=True), factor)


def _saturation(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    return x.copy() if x.shape[1] == 1 else _blend(x, _gray(x), factor)


def _rgb_to_hsv(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h, s, v), each (B, H, W), of RGB x (B, 3, H, W): torchvision's ``_rgb_to_hsv``
    (Pillow's): v = max, s = (max − min)/max, h by the sector of the largest channel, h ∈ [0, 1);
    a gray pixel (max = min) has h = s = 0."""
    dt = x.dtype.type
    r, g = x[:, 0], x[:, 1]
    maxc, minc = x.max(axis=1), x.min(axis=1)
    gray = maxc == minc
    spread = maxc - minc
    s = spread / np.where(gray, dt(1), maxc)
    rc, gc, bc = np.moveaxis((maxc[:, None] - x) / np.where(gray, dt(1), spread)[:, None], 1, 0)
    red = maxc == r  # the largest channel, red first, then green
    green = (maxc == g) & ~red
    blue = ~red & ~green
    h = (bc - gc) * red + ((rc + dt(2)) - bc) * green + ((gc + dt(4)) - rc) * blue
    return np.fmod(h * dt(1.0 / 6.0) + dt(1), dt(1)), s, maxc


# RGB from (v, p, q, t) by the sector ⌊6h⌋ (torchvision's and Pillow's table): sector 0 is
# (v, t, p), 1 is (q, v, p), …
_SECTORS = np.array([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]])


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB (B, 3, H, W) of (h, s, v): with 6h = i + f, i = ⌊6h⌋ mod 6, p = v(1 − s),
    q = v(1 − s f), t = v(1 − s(1 − f)) (each clipped to [0, 1]), the sector's (r, g, b) of
    (v, p, q, t) (torchvision's ``_hsv_to_rgb``)."""
    dt = h.dtype.type
    h6 = h * dt(6)
    sector = np.floor(h6)
    f = h6 - sector
    sxf = s * f
    one_minus_s = dt(1) - s
    q = np.clip((dt(1) - sxf) * v, 0, 1)
    t = np.clip((sxf + one_minus_s) * v, 0, 1)
    p = np.clip(one_minus_s * v, 0, 1)
    vpqt = np.stack((v, p, q, t), axis=1)
    select = np.moveaxis(_SECTORS[:, sector.astype(np.intp) % 6], 0, 1)
    return np.take_along_axis(vpqt, select, axis=1)


def _hue(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    if x.shape[1] == 1:
        return x.copy()
    h, s, v = _rgb_to_hsv(x)
    h = np.mod(h + factor.astype(x.dtype)[:, None, None], x.dtype.type(1))
    return _hsv_to_rgb(h, s, v)


def _adjust(
    func: str, x: Any, factor: Any, op: Callable, *, low: float, high: float | None = None
) -> np.ndarray:
    name = func.removeprefix("adjust_") + "_factor"
    _image_batch(x, func)
    _unit_range(x, func)
    return op(x, _factor(name, factor, x.shape[0], func, low=low, high=high))


def adjust_brightness(x: np.ndarray, brightness_factor: float | np.ndarray) -> np.ndarray:
    """Scale each image's colours: Y[β] = clip(f_β · X[β], 0, 1) (torchvision's
    ``adjust_brightness``; f = 0 is black, 1 the image itself).

    x : (B, C, H, W) float32 or float64, C = 1 or 3, values in [0, 1]. brightness_factor : a
    number >= 0 for every image, or a (B,) array of them, one per image. Returns a new array
    like x.

    >>> adjust_brightness(np.full((1, 3, 1, 1), 0.4), 2.0).ravel()
    array([0.8, 0.8, 0.8])
    """
    return _adjust("adjust_brightness", x, brightness_factor, _brightness, low=0.0)


def adjust_contrast(x: np.ndarray, contrast_factor: float | np.ndarray) -> np.ndarray:
    """Blend each image with the mean of its gray: Y[β] = clip(f_β · X[β] + (1 − f_β) · m_β, 0, 1)
    with m_β = mean over pixels of 0.2989 R + 0.587 G + 0.114 B (``LUMA``; of the image itself
    when C = 1) (torchvision's ``adjust_contrast``; f = 0 is a flat gray, 1 the image itself).

    x : (B, C, H, W) float32 or float64, C = 1 or 3, values in [0, 1]. contrast_factor : a
    number >= 0, or a (B,) array, one per image. Returns a new array like x.

    >>> adjust_contrast(np.array([[[[0.2, 0.6]]]]), 0.5).ravel()
    array([0.3, 0.5])
    """
    return _adjust("adjust_contrast", x, contrast_factor, _contrast, low=0.0)


def adjust_saturation(x: np.ndarray, saturation_factor: float | np.ndarray) -> np.ndarray:
    """Blend each pixel with its gray: Y[β] = clip(f_β · X[β] + (1 − f_β) · gray(X[β]), 0, 1),
    gray = 0.2989 R + 0.587 G + 0.114 B (``LUMA``) (torchvision's ``adjust_saturation``;
    f = 0 is the grayscale image, 1 the image itself; a 1-channel image is returned as it is).

    x : (B, C, H, W) float32 or float64, C = 1 or 3, values in [0, 1]. saturation_factor : a
    number >= 0, or a (B,) array, one per image. Returns a new array like x.

    >>> adjust_saturation(np.array([[[[1.0]], [[0.0]], [[0.0]]]]), 0.0).ravel()  # red to gray
    array([0.2989, 0.2989, 0.2989])
    """
    return _adjust("adjust_saturation", x, saturation_factor, _saturation, low=0.0)


def adjust_hue(x: np.ndarray, hue_factor: float | np.ndarray) -> np.ndarray:
    """Turn each image's hues: RGB → HSV, h ← (h + f_β) mod 1, HSV → RGB (torchvision's
    ``adjust_hue``; Pillow's HSV: v = max(R, G, B), s = (v − min)/v, h the position on the
    colour wheel in turns, red 0, green ⅓, blue ⅔). Saturation and value are kept; f = ±0.5
    gives the complementary hues; a gray pixel or a 1-channel image is unchanged.

    Computed in x's dtype: torchvision computes hue in float32 whatever the input, so a
    float64 image agrees with it to float32's rounding, a float32 image to a few units of it.

    x : (B, C, H, W) float32 or float64, C = 1 or 3, values in [0, 1]. hue_factor : a number
    in [−0.5, 0.5], or a (B,) array, one per image. Returns a new array like x.

    >>> adjust_hue(np.array([[[[1.0]], [[0.0]], [[0.0]]]]), 1 / 3).ravel()  # red to green
    array([0., 1., 0.])
    """
    return _adjust("adjust_hue", x, hue_factor, _hue, low=-0.5, high=0.5)


_JITTER_OPS = (_brightness, _contrast, _saturation, _hue)  # torchvision's fn_idx 0, 1, 2, 3


def _jitter_range(
    name: str, value: Any, func: str, *, center: float, bound: tuple[float, float]
) -> tuple[float, float] | None:
    """torchvision's ``ColorJitter._check_input``: a number v >= 0 is [center − v, center + v]
    (for brightness, contrast and saturation the low end clipped at 0), a pair (min, max) is
    itself; both inside ``bound``; None when the range is the single point ``center`` (the
    operation is skipped)."""
    if value is None:
        return None
    if isinstance(value, (tuple, list, np.ndarray)):
        lo, hi = _interval(name, value, func, low=bound[0], high=bound[1])
    else:
        v = real_number(name, value, func=func, low=0.0)
        lo, hi = center - v, center + v
        if center == 1.0:  # a factor below 0 means nothing: clipped
            lo = max(lo, 0.0)
        if lo < bound[0] or hi > bound[1]:
            raise ValueError(
                f"{func}: {name}: expected a number in [0, {bound[1] - center:g}] (or a pair "
                f"inside [{bound[0]:g}, {bound[1]:g}]), got {value!r}"
            )
    return None if lo == hi == center else (lo, hi)


def color_jitter(
    x: np.ndarray,
    rng: np.random.Generator,
    brightness: float | tuple[float, float] | None = 0,
    contrast: float | tuple[float, float] | None = 0,
    saturation: float | tuple[float, float] | None = 0,
    hue: float | tuple[float, float] | None = 0,
) -> np.ndarray:
    """Jitter each image's brightness, contrast, saturation and hue by its own random factors,
    the four operations in its own random order: torchvision's ``ColorJitter(brightness,
    contrast, saturation, hue)`` applied image by image.

    Factors: brightness b means f ~ U[max(0, 1 − b), 1 + b] (a pair (min, max): U[min, max]),
    and so for contrast and saturation; hue h means f ~ U[−h, h] (h <= 0.5; a pair inside
    [−0.5, 0.5]). Each operation is ``adjust_brightness`` / ``adjust_contrast`` /
    ``adjust_saturation`` / ``adjust_hue`` with that factor; 0 (or None) skips it. Every image
    takes the four in an order of its own, uniform over the 24 (torchvision draws one order
    per call, that is per image when applied image by image). Vectorised by steps: at step
    k = 1 … 4, each operation is applied at once to the images whose k-th operation it is —
    16 batched calls on disjoint subsets, each image passing through each operation once.

    x : (B, C, H, W) float32 or float64, C = 3 (RGB; 1 for gray, where saturation and hue do
    nothing), values in [0, 1] — jitter before normalising. Returns a new array like x.
    Draws 4B uniforms from ``rng`` (image β's order: the argsort of its four), then B
    uniforms for each operation not skipped, in the order brightness, contrast, saturation,
    hue (image β's factor is the β-th).

    >>> x = np.random.default_rng(0).random((2, 3, 4, 4))
    >>> y = color_jitter(x, np.random.default_rng(1), 0.4, 0.4, 0.4, 0.1)
    >>> y.shape, bool(((0 <= y) & (y <= 1)).all())
    ((2, 3, 4, 4), True)
    """
    func = "color_jitter"
    _batch(x, rng, func)
    positive = (0.0, math.inf)
    ranges = (
        _jitter_range("brightness", brightness, func, center=1.0, bound=positive),
        _jitter_range("contrast", contrast, func, center=1.0, bound=positive),
        _jitter_range("saturation", saturation, func, center=1.0, bound=positive),
        _jitter_range("hue", hue, func, center=0.0, bound=(-0.5, 0.5)),
    )
    _unit_range(x, func)
    B = x.shape[0]
    order = np.argsort(rng.random((B, 4)), axis=1)
    factors: list[np.ndarray | None] = [
        None if r is None else np.asarray(rng.uniform(r[0], r[1], size=B)) for r in ranges
    ]
    out = x.copy()
    for step in range(4):
        for k, factor in enumerate(factors):
            chosen = np.flatnonzero(order[:, step] == k)
            if factor is not None and chosen.size:
                out[chosen] = _JITTER_OPS[k](out[chosen], factor[chosen])
    return out


# ---------------------------------------------------------------------------------------------
# RandomErasing: a rectangle per image set to a value


def _channel_values(value: Any, C: int, func: str) -> np.ndarray:
    """A number or a sequence of one per channel (or a single one), as a (C,) float64 array."""
    if isinstance(value, (tuple, list, np.ndarray)):
        values = [real_number(f"value[{k}]", v, func=func) for k, v in enumerate(value)]
        if len(values) not in (1, C):
            raise ValueError(
                f"{func}: value: expected a number or one per channel ({C}), got {len(values)} "
                "values"
            )
        return np.resize(np.asarray(values, dtype=np.float64), C)
    if isinstance(value, str):
        raise ValueError(f"{func}: value: expected a number or one per channel, got {value!r}")
    return np.full(C, real_number("value", value, func=func))


def _mask(
    top: np.ndarray, left: np.ndarray, height: np.ndarray, width: np.ndarray, H: int, W: int
) -> np.ndarray:
    """(B, 1, H, W) bool: True inside each image's box, [top, top + height) × [left,
    left + width)."""
    rows = np.arange(H)[None, :]
    cols = np.arange(W)[None, :]
    inside_rows = (rows >= top[:, None]) & (rows < (top + height)[:, None])
    inside_cols = (cols >= left[:, None]) & (cols < (left + width)[:, None])
    return (inside_rows[:, :, None] & inside_cols[:, None, :])[:, None]


def erase(x: np.ndarray, boxes: np.ndarray, value: Any = 0) -> np.ndarray:
    """Set box β of image β to ``value``: Y[β, c, i, j] = v_c (or v[β, c, i, j]) for
    top_β <= i < top_β + height_β and left_β <= j < left_β + width_β, else X[β, c, i, j]
    (torchvision's ``erase(img, i, j, h, w, v)`` for every image at once, by one mask).

    x : (B, C, H, W) float32 or float64. boxes : (B, 4) integers (top, left, height, width),
    inside the images; a box of height or width 0 erases nothing. value : a number, a sequence
    of one per channel, or an array broadcastable to x (noise, say); cast to x's dtype.
    Returns a new array like x.

    >>> erase(np.ones((1, 1, 3, 3)), np.array([[1, 1, 1, 2]]))[0, 0]
    array([[1., 1., 1.],
           [1., 0., 0.],
           [1., 1., 1.]])
    """
    func = "erase"
    _image_batch(x, func)
    top, left, height, width = _boxes(boxes, x, func, minimum=0)
    if isinstance(value, np.ndarray) and value.ndim == 4:
        check_float_array("value", value, func=func)
        try:
            fill = np.broadcast_to(value, x.shape)
        except ValueError:
            raise ValueError(
                f"{func}: value: expected an array broadcastable to x's shape {x.shape}, got "
                f"shape {value.shape}"
            ) from None
    else:
        fill = _channel_values(value, x.shape[1], func)[None, :, None, None]
    return _erase(x, (top, left, height, width), fill)


def _erase(x: np.ndarray, boxes: Sequence[np.ndarray], fill: np.ndarray) -> np.ndarray:
    """``erase`` of checked arguments: boxes as (top, left, height, width) arrays."""
    top, left, height, width = boxes
    mask = _mask(top, left, height, width, x.shape[2], x.shape[3])
    return np.where(mask, fill.astype(x.dtype), x)


def random_erasing_boxes(
    rng: np.random.Generator,
    shape: Sequence[int],
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
) -> np.ndarray:
    """The boxes ``random_erasing`` erases: for each image of a batch of ``shape`` (B, C, H,
    W), with probability p, torchvision's ``RandomErasing.get_params`` rule, all images at
    once.

    Image β is erased when u_β < p, u_β ~ U[0, 1). Then try k = 1 … 10: s ~ U(scale),
    r = exp(U(log r_min, log r_max)), h = round(√(H·W·s·r)), w = round(√(H·W·s/r)) — here r is
    height / width, as torchvision's; the first try with h < H and w < W is placed uniformly,
    top ~ U{0, …, H − h}, left ~ U{0, …, W − w}. An image not erased, or none of whose tries
    fits, gets the empty box (0, 0, 0, 0) (torchvision returns the image unchanged).

    Returns (B, 4) intp rows (top, left, height, width). Draws B uniforms from ``rng`` (who is
    erased), 20B uniforms (the ten tries' fractions, then their log-ratios), then 2B integers
    (the tops, then the lefts) — a fixed count. p in [0, 1]; ``scale``: 0 <= min <= max <= 1
    (fractions of the image's area); ``ratio``: 0 < min <= max.

    >>> random_erasing_boxes(np.random.default_rng(0), (3, 1, 8, 8), p=0.0).tolist()
    [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    """
    func = "random_erasing_boxes"
    _rng(rng, func)
    B, H, W = _image_shape(shape, func)
    p = real_number("p", p, func=func, low=0.0, high=1.0)
    scale = _interval("scale", scale, func, low=0.0, high=1.0)
    ratio = _interval("ratio", ratio, func, low=0.0, low_open=True)
    return _erasing_boxes(rng, B, H, W, p, scale, ratio)


def _erasing_boxes(
    rng: np.random.Generator,
    B: int,
    H: int,
    W: int,
    p: float,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> np.ndarray:
    """``random_erasing_boxes`` of checked arguments."""
    erased = rng.random(B) < p
    h_try, w_try = _tries(rng, B, H * W, scale, ratio)  # r is height / width here
    found, (h, w) = _first((h_try < H) & (w_try < W), h_try, w_try)
    # an image none of whose tries fits keeps an empty box; its place is still drawn (a
    # fixed count of draws), from a range that must not be empty
    h, w = np.where(found, h, 0), np.where(found, w, 0)
    top = rng.integers(0, H - h + 1)
    left = rng.integers(0, W - w + 1)
    keep = erased & found
    boxes = np.stack([top, left, h, w], axis=1)
    return np.where(keep[:, None], boxes, 0).astype(np.intp)


def random_erasing(
    x: np.ndarray,
    rng: np.random.Generator,
    p: float = 0.5,
    scale: tuple[float, float] = (0.02, 0.33),
    ratio: tuple[float, float] = (0.3, 3.3),
    value: Any = 0,
) -> np.ndarray:
    """Erase a random rectangle of each image with probability p (Zhong et al., 2017):
    torchvision's ``RandomErasing(p, scale, ratio, value)`` applied image by image —
    ``erase(x, random_erasing_boxes(rng, x.shape, p, scale, ratio), value)``, the box of area
    fraction ≈ s ~ U(scale) and aspect height/width ≈ r, log r ~ U(log ratio), placed
    uniformly (``random_erasing_boxes`` gives the rule).

    x : (B, C, H, W) float32 or float64 (usually after normalising, as torchvision places it).
    value : a number, one per channel, or "random" for standard normal noise in the box.
    Returns a new array like x. Draws B + 20B uniforms, then 2B integers from ``rng``
    (``random_erasing_boxes``); with value="random", then B·C·H·W standard normals in x's
    dtype (all of them, one per pixel, whatever the boxes).

    >>> x = np.ones((4, 3, 8, 8))
    >>> np.array_equal(random_erasing(x, np.random.default_rng(0), p=0.0), x)
    True
    """
    func = "random_erasing"
    _batch(x, rng, func)
    p = real_number("p", p, func=func, low=0.0, high=1.0)
    scale = _interval("scale", scale, func, low=0.0, high=1.0)
    ratio = _interval("ratio", ratio, func, low=0.0, low_open=True)
    noise = isinstance(value, str) and value == "random"
    if isinstance(value, str) and not noise:
        raise ValueError(
            f"{func}: value: expected a number, one per channel or 'random', got {value!r}"
        )
    fill = None if noise else _channel_values(value, x.shape[1], func)[None, :, None, None]
    B, _, H, W = x.shape
    boxes = _erasing_boxes(rng, B, H, W, p, scale, ratio)
    if fill is None:
        fill = rng.standard_normal(x.shape, dtype=x.dtype)
    return _erase(x, tuple(boxes.T), fill)


# ---------------------------------------------------------------------------------------------
# MixUp and CutMix: a batch mixed with itself rolled by one, its labels mixed alike
#
# Every image β is paired with image β − 1 (image 0 with image B − 1): the batch rolled by one
# along its batch axis, torchvision v2's ``roll(1, 0)``. The pairing is by position, so the
# batch must already be shuffled (``fit``'s batches are). One λ, and for CutMix one box, for
# the whole batch, as torchvision v2 draws them.

#: A label-aware augmentation, ``(x, y, rng) -> (x̃, ỹ)``: what ``fit(..., mix=...)`` takes.
Mix = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _probabilities(y: Any, x: np.ndarray, num_classes: Any, func: str) -> np.ndarray:
    """The labels as class probabilities A (B, K) in x's dtype: one-hot rows of class indices
    y (B,) in [0, num_classes), or soft labels y (B, K) of x's dtype as given (num_classes
    None or K)."""
    B = x.shape[0]
    if not isinstance(y, np.ndarray) or y.dtype == np.bool_ or y.dtype.kind not in "iuf":
        got = f"{type(y).__name__}" + (f" of dtype {y.dtype}" if isinstance(y, np.ndarray) else "")
        raise TypeError(
            f"{func}: y: expected class indices (B,) as an integer numpy.ndarray, or class "
            f"probabilities (B, K) of x's dtype {x.dtype}, got {got}"
        )
    K = None if num_classes is None else positive_int("num_classes", num_classes, func=func)
    if y.dtype.kind == "f":
        check_same_dtype(func, x=x, y=y)
        if y.ndim != 2 or y.shape[0] != B:
            raise ValueError(
                f"{func}: y: expected class probabilities of shape (B, K) with B = {B} (x's "
                f"batch), got shape {y.shape}"
            )
        if K is not None and y.shape[1] != K:
            raise ValueError(
                f"{func}: num_classes: expected the K = {y.shape[1]} columns of the class "
                f"probabilities y {y.shape} (or None), got {K}"
            )
        return y
    if y.shape != (B,):
        raise ValueError(
            f"{func}: y: expected class indices of shape (B,) = ({B},), one per image of x "
            f"{x.shape}, got shape {y.shape}"
        )
    if K is None:
        raise ValueError(
            f"{func}: num_classes: expected an int >= 1 (the K of the one-hot labels) for class "
            "indices y, got None; it may be None only for class probabilities y (B, K)"
        )
    bad = (y < 0) | (y >= K)
    if bad.any():
        b = int(np.argmax(bad))
        raise ValueError(
            f"{func}: y: expected class indices in [0, {K - 1}] (num_classes = {K}), got "
            f"y[{b}] = {int(y[b])}"
        )
    one_hot = np.zeros((B, K), dtype=x.dtype)
    one_hot[np.arange(B), y] = 1
    return one_hot


def _mix_rolled(a: np.ndarray, lam: float) -> np.ndarray:
    """λ·a + (1 − λ)·roll(a, 1, axis 0) in a's dtype, in torchvision's order of operations
    (the rolled term times 1 − λ, plus a times λ: the same roundings)."""
    dt = a.dtype.type
    return np.roll(a, 1, axis=0) * dt(1.0 - lam) + a * dt(lam)


def _mix_inputs(x: Any, y: Any, num_classes: Any, func: str, *, box: bool = False) -> np.ndarray:
    """x checked as a (B, C, H, W) float batch (with H, W >= 1 where a box is cut from it)
    and y as its labels: their probabilities."""
    _image_batch(x, func)
    if box and min(x.shape[2:]) < 1:
        raise ValueError(
            f"{func}: x: expected images with H, W >= 1 for CutMix's box (B, C, H, W), got "
            f"shape {x.shape}"
        )
    return _probabilities(y, x, num_classes, func)


def mixup(
    x: np.ndarray, y: np.ndarray, lam: float, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MixUp (Zhang et al., 2018) of a batch with itself rolled by one, for a given λ:

        x̃[β] = λ·x[β] + (1 − λ)·x[β − 1],    ỹ[β] = λ·a[β] + (1 − λ)·a[β − 1]

    with β − 1 taken modulo B (image 0 is paired with image B − 1: torchvision v2's
    ``roll(1, 0)``) and a the labels as class probabilities: one-hot rows e_{y_β} of class
    indices, or soft labels as given (so a mixed batch can be mixed again). This is
    torchvision.transforms.v2's ``MixUp`` with its draw of λ made explicit
    (``random_mixup`` draws it).

    x : (B, C, H, W) float32 or float64. y : (B,) integer class indices in [0, num_classes),
    or (B, K) class probabilities of x's dtype. lam : λ in [0, 1]. num_classes : K, needed
    for class indices (None, or K, for probabilities). Returns (x̃ like x, ỹ (B, K) in x's
    dtype) — torchvision gives float32 labels for class indices whatever the images' dtype;
    here they take the images' dtype, the one the model's logits and the loss have.

    >>> x = np.arange(2.0).reshape(2, 1, 1, 1)
    >>> x_mixed, y_mixed = mixup(x, np.array([0, 2]), 0.75, num_classes=3)
    >>> x_mixed.ravel().tolist(), y_mixed.tolist()
    ([0.25, 0.75], [[0.75, 0.0, 0.25], [0.25, 0.0, 0.75]])
    """
    func = "mixup"
    a = _mix_inputs(x, y, num_classes, func)
    lam = real_number("lam", lam, func=func, low=0.0, high=1.0)
    return _mix_rolled(x, lam), _mix_rolled(a, lam)


def _cutmix_box(box: Any, H: int, W: int, func: str) -> tuple[int, int, int, int]:
    """(top, left, height, width), whole numbers, a box inside an H×W image (sides >= 0)."""
    values = np.zeros(0)
    if isinstance(box, (tuple, list, np.ndarray)):
        try:
            values = np.asarray(box)
        except ValueError:  # ragged: numpy's "inhomogeneous shape"
            pass
    booleans = values.shape == (4,) and any(isinstance(v, (bool, np.bool_)) for v in box)
    if values.shape != (4,) or values.dtype.kind not in "iu" or booleans:
        raise TypeError(f"{func}: box: expected 4 integers (top, left, height, width), got {box!r}")
    top, left, height, width = (int(v) for v in values)
    if min(top, left, height, width) < 0 or top + height > H or left + width > W:
        raise ValueError(
            f"{func}: box: expected a box inside the {H}×{W} images (top, left, height, width "
            f">= 0, top + height <= {H}, left + width <= {W}), got {(top, left, height, width)}"
        )
    return top, left, height, width


def cutmix(
    x: np.ndarray, y: np.ndarray, box: Sequence[int], num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CutMix (Yun et al., 2019) of a batch with itself rolled by one, for a given box: the
    box of image β − 1 pasted into image β, the labels mixed by the area kept,

        x̃[β, c, i, j] = x[β − 1, c, i, j] inside the box, x[β, c, i, j] outside,
        λ = 1 − h·w / (H·W),    ỹ[β] = λ·a[β] + (1 − λ)·a[β − 1]

    for the box rows top <= i < top + h, columns left <= j < left + w — one box for the whole
    batch, as torchvision v2 draws it — with β − 1 modulo B (``roll(1, 0)``) and a the labels
    as class probabilities (one-hot rows of class indices, or soft labels as given). This is
    torchvision.transforms.v2's ``CutMix`` with its box made explicit (``random_cutmix_box``
    draws it); λ is the fraction of each image that stays its own, torchvision's
    ``lam_adjusted`` (the Beta draw only sizes the box).

    x : (B, C, H, W) float32 or float64, H, W >= 1. y : (B,) integer class indices in
    [0, num_classes), or (B, K) class probabilities of x's dtype. box : (top, left, height,
    width), integers, inside the images; torchvision's box (x1, y1, x2, y2) is (y1, x1,
    y2 − y1, x2 − x1); an empty box (height or width 0) leaves the batch as it is, λ = 1.
    num_classes : K, needed for class indices. Returns (x̃ like x, ỹ (B, K) in x's dtype).

    >>> x = np.stack([np.zeros((1, 2, 2)), np.ones((1, 2, 2))])
    >>> x_mixed, y_mixed = cutmix(x, np.array([0, 1]), (0, 0, 1, 2), num_classes=2)
    >>> x_mixed[0, 0].tolist(), y_mixed[0].tolist()  # image 1's top row pasted into image 0
    ([[1.0, 1.0], [0.0, 0.0]], [0.5, 0.5])
    """
    func = "cutmix"
    a = _mix_inputs(x, y, num_classes, func, box=True)
    return _cutmix(x, a, _cutmix_box(box, x.shape[2], x.shape[3], func))


def _cutmix(
    x: np.ndarray, a: np.ndarray, box: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``cutmix`` of checked arguments, a the labels as probabilities: the box of the batch
    rolled by one pasted in (one slice assignment for the whole batch), a mixed by λ."""
    top, left, h, w = (int(v) for v in box)
    H, W = x.shape[2:]
    inside = (slice(None), slice(None), slice(top, top + h), slice(left, left + w))
    x_mixed = x.copy()
    x_mixed[inside] = np.roll(x[inside], 1, axis=0)
    return x_mixed, _mix_rolled(a, 1.0 - h * w / (H * W))


def _random_mixup(
    x: np.ndarray, a: np.ndarray, rng: np.random.Generator, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """``random_mixup`` of checked arguments: λ ~ Beta(α, α), then ``mixup``'s blend."""
    lam = float(rng.beta(alpha, alpha))
    return _mix_rolled(x, lam), _mix_rolled(a, lam)


def _alpha(alpha: Any, func: str, name: str = "alpha", *, zero: bool = False) -> float:
    """α of Beta(α, α): a finite number > 0 (>= 0 where 0 switches the mix off)."""
    return real_number(name, alpha, func=func, low=0.0, low_open=not zero)


def random_cutmix_box(
    rng: np.random.Generator, shape: Sequence[int], alpha: float = 1.0
) -> np.ndarray:
    """The box ``random_cutmix`` pastes, torchvision v2 ``CutMix``'s rule: λ ~ Beta(α, α),
    a centre (r_y, r_x) uniform over the pixels (r_x ~ U{0, …, W − 1}, then
    r_y ~ U{0, …, H − 1}), half sides ⌊r·W⌋ and ⌊r·H⌋ with r = ½·√(1 − λ), the box clipped
    to the image:

        left = max(r_x − ⌊r·W⌋, 0),  right = min(r_x + ⌊r·W⌋, W)    (top, bottom alike)

    so its area is about (1 − λ)·H·W away from the edges, smaller where it is clipped (which
    is why ``cutmix`` recomputes λ from the box). One box for the whole batch.

    shape : the batch's shape (B, C, H, W) — x.shape. alpha : α > 0. Returns a (4,) intp
    array (top, left, height, width) = (y1, x1, y2 − y1, x2 − x1) in torchvision's names.
    Draws one Beta(α, α) variate, then two integers (r_x, then r_y) from ``rng``.

    >>> random_cutmix_box(np.random.default_rng(0), (8, 3, 32, 32)).shape
    (4,)
    """
    func = "random_cutmix_box"
    _rng(rng, func)
    _, H, W = _image_shape(shape, func)
    return _draw_cutmix_box(rng, H, W, _alpha(alpha, func))


def _draw_cutmix_box(rng: np.random.Generator, H: int, W: int, alpha: float) -> np.ndarray:
    """``random_cutmix_box`` of checked arguments."""
    lam = float(rng.beta(alpha, alpha))
    r_x, r_y = int(rng.integers(W)), int(rng.integers(H))
    r = 0.5 * math.sqrt(1.0 - lam)
    half_w, half_h = int(r * W), int(r * H)
    x1, x2 = max(r_x - half_w, 0), min(r_x + half_w, W)
    y1, y2 = max(r_y - half_h, 0), min(r_y + half_h, H)
    return np.array([y1, x1, y2 - y1, x2 - x1], dtype=np.intp)


def random_mixup(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    alpha: float = 1.0,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MixUp with λ ~ Beta(α, α): ``mixup(x, y, λ, num_classes)``, torchvision v2's
    ``MixUp(alpha=α, num_classes=K)`` on a batch (one λ for the whole batch).

    x : (B, C, H, W) float32 or float64; y : (B,) class indices or (B, K) probabilities of
    x's dtype; rng : a ``numpy.random.Generator``; alpha : α > 0 (1: λ uniform on [0, 1];
    small α: λ near 0 or 1, light mixing); num_classes : K (needed for class indices).
    Returns (x̃, ỹ (B, K)) as ``mixup``. Draws one Beta(α, α) variate from ``rng``, after
    every argument is checked. For ``fit(..., mix=...)`` fix the options with
    ``functools.partial(random_mixup, alpha=0.2, num_classes=10)``.

    >>> x, y = np.zeros((4, 3, 8, 8)), np.array([0, 1, 2, 0])
    >>> [a.shape for a in random_mixup(x, y, np.random.default_rng(0), num_classes=3)]
    [(4, 3, 8, 8), (4, 3)]
    """
    func = "random_mixup"
    a = _mix_inputs(x, y, num_classes, func)
    _rng(rng, func)
    return _random_mixup(x, a, rng, _alpha(alpha, func))


def random_cutmix(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    alpha: float = 1.0,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """CutMix with torchvision's random box: ``cutmix(x, y, random_cutmix_box(rng, x.shape,
    alpha), num_classes)``, torchvision v2's ``CutMix(alpha=α, num_classes=K)`` on a batch
    (one box for the whole batch, λ = 1 − its area / (H·W)).

    x : (B, C, H, W) float32 or float64, H, W >= 1; y : (B,) class indices or (B, K)
    probabilities of x's dtype; rng : a ``numpy.random.Generator``; alpha : α > 0;
    num_classes : K (needed for class indices). Returns (x̃, ỹ (B, K)) as ``cutmix``. Draws
    what ``random_cutmix_box`` draws (one Beta variate, two integers), after every argument
    is checked.

    >>> x, y = np.zeros((4, 3, 8, 8)), np.array([0, 1, 2, 0])
    >>> [a.shape for a in random_cutmix(x, y, np.random.default_rng(0), num_classes=3)]
    [(4, 3, 8, 8), (4, 3)]
    """
    func = "random_cutmix"
    a = _mix_inputs(x, y, num_classes, func, box=True)
    _rng(rng, func)
    box = _draw_cutmix_box(rng, x.shape[2], x.shape[3], _alpha(alpha, func))
    return _cutmix(x, a, box)


def random_mix(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    num_classes: int | None = None,
    mixup_alpha: float = 1.0,
    cutmix_alpha: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """MixUp or CutMix, one of them per batch, each with probability ½: torchvision's
    classification recipe, ``v2.RandomChoice([MixUp(alpha=mixup_alpha, num_classes=K),
    CutMix(alpha=cutmix_alpha, num_classes=K)])`` (``references/classification``'s
    ``--mixup-alpha`` / ``--cutmix-alpha``). An α of 0 leaves that one out, as the recipe
    does (``mixup_alpha=0`` gives CutMix on every batch); not both.

    x : (B, C, H, W) float32 or float64 (H, W >= 1 unless cutmix_alpha = 0); y : (B,) class
    indices or (B, K) probabilities of x's dtype; rng : a ``numpy.random.Generator``;
    num_classes : K (needed for class indices); mixup_alpha, cutmix_alpha : α >= 0 of each,
    at least one > 0. Returns (x̃, ỹ (B, K)) as ``mixup`` / ``cutmix``. With both α > 0 it
    draws one integer (the choice, MixUp 0, CutMix 1), then the chosen one's draws
    (``random_mixup`` / ``random_cutmix``); with one α = 0 it draws no choice, only the
    other one's draws. Every argument is checked before the first draw.
    For ``fit``: ``mix=functools.partial(random_mix, num_classes=10, mixup_alpha=0.2)``.

    >>> x, y = np.zeros((4, 3, 8, 8)), np.array([0, 1, 2, 0])
    >>> [a.shape for a in random_mix(x, y, np.random.default_rng(0), num_classes=3)]
    [(4, 3, 8, 8), (4, 3)]
    """
    func = "random_mix"
    alphas = {
        "mixup": _alpha(mixup_alpha, func, "mixup_alpha", zero=True),
        "cutmix": _alpha(cutmix_alpha, func, "cutmix_alpha", zero=True),
    }
    chosen = [name for name, alpha in alphas.items() if alpha > 0]
    if not chosen:
        raise ValueError(
            f"{func}: mixup_alpha, cutmix_alpha: expected at least one > 0 (an α of 0 leaves "
            f"that mix out), got {mixup_alpha!r} and {cutmix_alpha!r}"
        )
    a = _mix_inputs(x, y, num_classes, func, box="cutmix" in chosen)
    _rng(rng, func)
    # the choice is drawn only between two (numpy's integers(1) would draw nothing either)
    name = chosen[int(rng.integers(2))] if len(chosen) == 2 else chosen[0]
    if name == "mixup":
        return _random_mixup(x, a, rng, alphas[name])
    return _cutmix(x, a, _draw_cutmix_box(rng, x.shape[2], x.shape[3], alphas[name]))
