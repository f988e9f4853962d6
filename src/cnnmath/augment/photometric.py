"""Photometric transforms: ColorJitter's brightness, contrast, saturation and hue, each
alone with a factor per image, and the four in a random order per image."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._checks import real_number
from ._args import _batch, _image_batch, _interval

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
