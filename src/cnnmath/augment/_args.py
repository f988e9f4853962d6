"""The argument checks the augmentations share: the image batch, the generator, pairs
(min, max), batch shapes and boxes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_float_array, check_ndim, real_number


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
