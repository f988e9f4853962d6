"""Resizing and center cropping of (C, H, W) images, as torchvision's evaluation transforms
``T.Resize(size)`` and ``T.CenterCrop(size)`` do on a PIL image; ``cnnmath.images`` re-exports
``resize``, ``resized_size`` and ``center_crop``.

torchvision's standard ImageNet preprocessing, and its cnnmath equivalent::

    T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(mean, std)])

    x, _ = images.load_image(path)                 # (3, H, W) float64 in [0, 1]
    x = images.resize(x, 256, as_uint8=True)       # shorter side 256, as 8-bit samples
    x = images.center_crop(x, 224)                 # (3, 224, 224)
    x = (x - mean[:, None, None]) / std[:, None, None]

which gives torchvision's tensor to float32 rounding (torchvision computes ToTensor and
Normalize in float32, cnnmath in float64).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_float_array, check_ndim, flag, positive_int
from ._optional import require

#: The levels of an 8-bit sample: x = q / 255, q in 0..255.
_LEVELS = 255


def _size_argument(size: Any, func: str) -> tuple[int, ...]:
    """``size`` as (n,) — the shorter side — or (H′, W′): an int, or a sequence of 1 or 2 ints
    (torchvision's forms), each >= 1."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, (bool, np.bool_)):
        return (positive_int("size", size, func=func),)
    if isinstance(size, (tuple, list)) and len(size) in (1, 2):
        return tuple(positive_int("size", n, func=func) for n in size)
    raise TypeError(
        f"{func}: size: expected an int (the shorter side, aspect ratio kept) or a pair "
        f"(height, width) of ints, got {size!r}"
    )


def resized_size(
    shape: tuple[int, int], size: Any, *, max_size: int | None = None
) -> tuple[int, int]:
    """(H′, W′) that ``resize(x, size, max_size=max_size)`` gives an image of (H, W) = shape,
    by torchvision's rule (``transforms.functional.resize``):

    - size = (H′, W′), a pair: that size exactly (the aspect ratio not kept);
    - size = n, an int (or a sequence of one): the shorter side becomes n and the longer
      ⌊n · long / short⌋ (rounded down, as torchvision's ``int()``); a square image gives
      n × n. With ``max_size`` (an int > n, for an int size only): when that longer side
      exceeds it, the longer side becomes max_size and the shorter ⌊max_size · n / long′⌋.

    >>> resized_size((600, 512), 256)
    (300, 256)
    >>> resized_size((375, 500), 256)
    (256, 341)
    >>> resized_size((100, 1000), 256, max_size=1000)
    (100, 1000)
    """
    return _resized_size(shape, size, max_size, "resized_size")


def _resized_size(
    shape: tuple[int, int], size: Any, max_size: int | None, func: str
) -> tuple[int, int]:
    """``resized_size``, its errors naming ``func``."""
    H, W = (int(n) for n in shape)
    given = _size_argument(size, func)
    if len(given) == 2:
        if max_size is not None:
            raise ValueError(
                f"{func}: max_size: applies to an int size (the shorter side) only, got size "
                f"{size!r} and max_size {max_size!r}"
            )
        return given[0], given[1]
    n = given[0]
    short, long = (W, H) if W <= H else (H, W)
    new_short, new_long = n, n * long // short
    if max_size is not None:
        limit = positive_int("max_size", max_size, func=func)
        if limit <= n:
            raise ValueError(
                f"{func}: max_size: expected more than size ({n}), the shorter side, got {limit}"
            )
        if new_long > limit:
            new_short, new_long = limit * new_short // new_long, limit
    if new_short < 1:
        raise ValueError(
            f"{func}: size: an image of {H}x{W} with its longer side limited to {max_size} "
            "would have a shorter side of 0 pixels"
        )
    return (new_long, new_short) if W <= H else (new_short, new_long)


def resize(
    x: np.ndarray, size: Any, *, max_size: int | None = None, as_uint8: bool = False
) -> np.ndarray:
    """Each channel of x (C, H, W) resized to (H′, W′) = ``resized_size((H, W), size,
    max_size=max_size)`` by Pillow's bilinear filter — torchvision's ``T.Resize(size,
    max_size=max_size)`` on a PIL image: ``size`` a pair (H′, W′) is that size exactly, an int
    n puts the shorter side at n and keeps the aspect ratio. When shrinking, Pillow's filter
    averages over the source pixels (its triangle widened by the scale: antialiased). float64
    out; x itself (float) when it already has that size.

    In which dtype the pixels are resized:

    - ``as_uint8=False`` (the default): as 32-bit floats (Pillow's "F" mode, a channel at a
      time), with no rounding: x' = bilinear(x).
    - ``as_uint8=True``: as 8-bit samples, as torchvision resizes a uint8 PIL image —
      q = round(255 · x) (exact for pixels that came from an 8-bit file, x = q / 255 as
      ``load_image`` gives), resized in Pillow's 8-bit mode ("L", a channel at a time; its
      fixed-point weights, each output rounded to an integer and clipped to 0..255), then
      x' = q' / 255. These are torchvision's numbers to the last bit: its ``ToTensor`` divides
      the same q' by 255. x must lie in [0, 1] (to 1e-9,
      clipped); values off the 256 levels are rounded to the
      nearest first (a float image resized this way loses what lies between the levels).

    The two differ by about a level (1/255) at most, which after ImageNet's normalisation is
    up to ~0.017: enough to move a probability in the fourth decimal.

    Parameters
    ----------
    x : (C, H, W) float32 or float64, C >= 1.
    size : int, or (H′, W′), or a sequence of one int (as an int).
    max_size : int > size, with an int size only: the longer side's limit (torchvision's).
    as_uint8 : resize as 8-bit samples, torchvision's way on a PIL image (see above).

    Returns
    -------
    (C, H′, W′) float64.
    """
    func = "resize"
    check_float_array("x", x, func=func)
    check_ndim(
        "x",
        x,
        (3,),
        func=func,
        layout="(C, H, W)",
        hint="for one gray image add the channel axis with x[None]" if x.ndim == 2 else "",
    )
    if min(x.shape) < 1:
        raise ValueError(f"{func}: x: expected at least one channel and pixel, got {x.shape}")
    h, w = _resized_size(x.shape[1:], size, max_size, func)
    Image = require("PIL.Image", "image")
    if not flag("as_uint8", as_uint8, func=func):
        if x.shape[1:] == (h, w):
            return x
        planes = [
            np.asarray(
                Image.fromarray(c.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR)
            )
            for c in x
        ]
        return np.stack(planes).astype(np.float64)
    margin = 1e-9  # rounding: a weighted mean of pixels in [0, 1] may exceed 1 by an ulp
    if not np.all(np.isfinite(x)) or x.min() < -margin or x.max() > 1 + margin:
        raise ValueError(
            f"{func}: x: as_uint8 needs finite pixels in [0, 1] (8-bit levels q / 255), got "
            f"values in [{np.nanmin(x):.6g}, {np.nanmax(x):.6g}]"
        )
    q = np.rint(np.clip(x, 0.0, 1.0) * _LEVELS).astype(np.uint8)
    if x.shape[1:] != (h, w):  # torchvision leaves an image of the asked size as it is
        q = np.stack([np.asarray(Image.fromarray(c).resize((w, h), Image.BILINEAR)) for c in q])
    return q / float(_LEVELS)


def _window(n: int, m: int) -> tuple[int, int, int]:
    """Along one axis of n pixels cropped to m: (first source pixel, first target pixel,
    pixels copied). m ≤ n: the window starts at round((n − m)/2), halves to even; m > n: the
    whole axis, after ⌊(m − n)/2⌋ zeros."""
    if m > n:
        return 0, (m - n) // 2, n
    # Python's round: halves go to the even neighbour, as torchvision's int(round(...))
    return int(round((n - m) / 2)), 0, m


def center_crop(x: np.ndarray, size: Any) -> np.ndarray:
    """The central (h, w) window of x (..., H, W) — torchvision's ``T.CenterCrop(size)`` —
    with ``size`` an int (a square) or a pair (h, w) (a sequence of one: a square).

    Along each axis (H and h here; W and w alike):

    - h ≤ H: rows top … top + h − 1 with top = round((H − h)/2), a half rounded to the even
      neighbour (Python's ``round``, as torchvision): H − h = 1 → 0, 3 → 2, 5 → 2, 7 → 4;
    - h > H: the image padded with zeros, ⌊(h − H)/2⌋ rows above and ⌈(h − H)/2⌉ below
      (torchvision's fill of 0: black for pixels in [0, 1]).

    Any dtype and any leading axes ((C, H, W) an image, (N, C, H, W) a batch). Returns a new
    array (…, h, w) of x's dtype, never a view of x.

    >>> center_crop(np.arange(25.0).reshape(1, 5, 5), 3)[0, 0].tolist()
    [6.0, 7.0, 8.0]
    >>> center_crop(np.arange(4).reshape(1, 2, 2), (2, 4)).tolist()
    [[[0, 0, 1, 0], [0, 2, 3, 0]]]
    """
    func = "center_crop"
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{func}: x: expected a numpy.ndarray (..., H, W), got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{func}: x: expected an array (..., H, W), got shape {x.shape}")
    given = _size_argument(size, func)
    h, w = given if len(given) == 2 else given * 2
    H, W = x.shape[-2:]
    (sy, ty, ny), (sx, tx, nx) = _window(H, h), _window(W, w)
    out = np.zeros(x.shape[:-2] + (h, w), x.dtype)
    out[..., ty : ty + ny, tx : tx + nx] = x[..., sy : sy + ny, sx : sx + nx]
    return out
