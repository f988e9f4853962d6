"""RandomErasing: a rectangle per image set to a value, with its deterministic half
(``erase``) and its box draw."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import check_float_array, real_number
from ._args import _batch, _boxes, _image_batch, _image_shape, _interval, _rng
from ._draws import _first, _tries

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
