"""Padding the borders of an image: with a constant, or with the image's own pixels reflected,
replicated or wrapped around.

Along one axis of length n padded by (a, b) — a cells before, b after — the padded signal
x̃ of length a + n + b reads x̃[t] = x[σ(t − a)], with the source index σ(u) of the mode:

    constant   σ(u) = u for 0 ≤ u < n, else the cell holds the constant v
    reflect    σ(u) = the reflection of u about 0 and n − 1 (…, 2, 1 | 0, 1, …, n−1 | n−2, …):
               |u|, or 2(n − 1) − |u| past n − 1; the edge pixel itself is not repeated
    replicate  σ(u) = min(max(u, 0), n − 1): the edge pixel repeated
    circular   σ(u) = u mod n: the image tiled periodically

A negative a or b crops that side instead (x̃ is shorter than x). Constant, reflected and
replicated padding read σ(t − a) of the whole signal, so (−2, 2) reflects [0, 1, 2, 3] into
[2, 3, 2, 1]; circular padding wraps what the crop keeps, so (−2, 2) gives [2, 3, 2, 3]: both
as PyTorch pads, and as ONNX Runtime wherever it accepts the pads. Reflection needs each pad
smaller than the axis (PyTorch and ONNX Runtime refuse more); circular padding may wrap
several times (as ONNX Runtime and NumPy; PyTorch refuses).

The backward pass is the adjoint of the gather: ∂ℓ/∂x[j] = Σ_{t : σ(t − a) = j} G[t], the
interior copied in one slice and the border cells added into their sources.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np

from .._checks import check_float_array
from .conv._arguments import _check_fits

__all__ = ["PAD_MODES", "pad2d", "pad2d_backward", "pad_axes", "pad_axes_backward", "pad_widths"]

#: The padding modes, in PyTorch's names (ONNX's "edge" is "replicate", "wrap" is "circular").
PAD_MODES = ("constant", "reflect", "replicate", "circular")


#: PyTorch's order of the sides in a padding tuple: the last axis first, then the one before.
_SIDES = ("left", "right", "top", "bottom", "front", "back")


@overload
def pad_widths(padding: Any, *, func: str) -> tuple[int, int, int, int]: ...
@overload
def pad_widths(
    padding: Any, *, func: str, sides: Literal[6]
) -> tuple[int, int, int, int, int, int]: ...
def pad_widths(padding: Any, *, func: str, sides: int = 4) -> tuple[int, ...]:
    """``padding`` as PyTorch's ``(left, right, top, bottom)`` — with ``sides=6`` a volume's
    ``(left, right, top, bottom, front, back)`` (W, then H, then D): an int pads every side."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        return (int(padding),) * sides
    if (
        isinstance(padding, (tuple, list))
        and len(padding) == sides
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in padding)
    ):
        return tuple(int(v) for v in padding)
    count = {4: "four", 6: "six"}.get(sides, str(sides))
    raise ValueError(
        f"{func}: padding: expected an int or {count} ints ({', '.join(_SIDES[:sides])}), "
        f"got {padding!r}"
    )


def _check_mode(mode: Any, *, func: str) -> str:
    if mode not in PAD_MODES:
        raise ValueError(f"{func}: mode: expected one of {', '.join(PAD_MODES)}, got {mode!r}")
    return str(mode)


class _Axis:
    """One padded axis: σ for every cell of x̃ (−1 for a constant cell), and where the
    interior lies — cells [a, a + kept) of x̃ copy x[crop : crop + kept]."""

    def __init__(self, n: int, before: int, after: int, mode: str, *, func: str, axis: int):
        self.n, self.a, self.crop = n, max(0, before), max(0, -before)
        self.kept = n - self.crop - max(0, -after)
        length = n + before + after
        if length < 0:
            raise ValueError(
                f"{func}: padding: {(before, after)} crops more than axis {axis} has ({n})"
            )
        if mode == "reflect" and length and (before >= n or after >= n):
            raise ValueError(
                f"{func}: padding: reflect needs each pad smaller than the axis it reflects "
                f"(length {n} on axis {axis}), got {(before, after)}"
            )
        if mode == "circular" and length and self.kept < 1:
            raise ValueError(
                f"{func}: padding: circular padding wraps what the crop keeps, but "
                f"{(before, after)} keeps nothing of axis {axis} (length {n})"
            )
        u = np.arange(length) - before  # the source index before folding
        if mode == "constant":
            sigma = np.where((u >= 0) & (u < n), u, -1)
        elif mode == "replicate":
            sigma = np.clip(u, 0, n - 1)
        elif mode == "reflect":  # one fold suffices: each pad is shorter than the axis
            sigma = np.abs(u)
            sigma = np.where(sigma > n - 1, 2 * (n - 1) - sigma, sigma)
        else:  # circular: the crop first, then the kept cells tiled
            sigma = self.crop + np.mod(np.arange(length) - self.a, max(self.kept, 1))
        self.sigma = sigma
        self.kept = max(self.kept, 0)

    def scatter(self, g: np.ndarray, axis: int) -> np.ndarray:
        """The adjoint along this axis: gx[j] = Σ_{t : σ(t) = j} g[t]."""
        g = np.moveaxis(g, axis, 0)
        gx = np.zeros((self.n,) + g.shape[1:], dtype=g.dtype)
        a, kept, crop = self.a, self.kept, self.crop
        gx[crop : crop + kept] = g[a : a + kept]
        border = np.concatenate(
            [np.arange(min(a, len(self.sigma))), np.arange(a + kept, len(self.sigma))]
        )
        border = border[self.sigma[border] >= 0]
        if len(border):  # a few cells per side: the pad widths
            np.add.at(gx, self.sigma[border], g[border])
        return np.moveaxis(gx, 0, axis)


def _fill(value: Any, *, func: str) -> float:
    """The constant mode's value: any real number, ±inf and NaN included (as PyTorch)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{func}: value: expected a real number, got {value!r}")
    return float(value)


def _check_axes(func: str, x: np.ndarray, widths: Any, axes: Sequence[int]) -> list[int]:
    if len(widths) != len(axes):
        raise ValueError(
            f"{func}: widths: expected one (before, after) pair per axis ({len(axes)}), "
            f"got {len(widths)}"
        )
    out = []
    for axis in axes:
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(f"{func}: axes: expected axes of x (ndim {x.ndim}), got {axis}")
        out.append(axis % x.ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{func}: axes: expected distinct axes, got {tuple(axes)}")
    return out


def _axes_of(
    func: str, x: np.ndarray, widths: Sequence[tuple[int, int]], axes: Sequence[int], mode: str
) -> list[tuple[int, _Axis]]:
    if len(widths) != len(axes):
        raise ValueError(
            f"{func}: widths: expected one (before, after) pair per axis ({len(axes)}), "
            f"got {len(widths)}"
        )
    chosen: list[tuple[int, int, int]] = []
    for axis, width in zip(axes, widths):
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(f"{func}: axes: expected axes of x (ndim {x.ndim}), got {axis}")
        a = axis % x.ndim
        if a in (b for b, _, _ in chosen):
            raise ValueError(f"{func}: axes: expected distinct axes, got {tuple(axes)}")
        before, after = (int(v) for v in width)
        chosen.append((a, before, after))
    shape = list(x.shape)
    for a, before, after in chosen:
        shape[a] = x.shape[a] + before + after
        if shape[a] > 0:  # its index map too
            _check_fits(func, "padding", f"the index of padded axis {a}", (shape[a],), 8)
    if min(shape, default=0) >= 0:
        _check_fits(func, "padding", "the padded array", tuple(shape), x.itemsize)
    return [
        (a, _Axis(x.shape[a], before, after, mode, func=func, axis=a))
        for a, before, after in chosen
    ]


def _gather(x: np.ndarray, padded: list[tuple[int, _Axis]], mode: str, value: float) -> np.ndarray:
    if mode == "constant":  # one slice assignment into a filled array
        shape = list(x.shape)
        into: list[Any] = [slice(None)] * x.ndim
        out_of: list[Any] = [slice(None)] * x.ndim
        for a, p in padded:
            shape[a] = len(p.sigma)
            into[a] = slice(p.a, p.a + p.kept)
            out_of[a] = slice(p.crop, p.crop + p.kept)
        y = np.full(shape, value, dtype=x.dtype)
        y[tuple(into)] = x[tuple(out_of)]
        return y
    y = x
    for a, p in padded:  # one gather per axis
        y = np.take(y, p.sigma, axis=a)
    return y


def _scatter(
    func: str, G: np.ndarray, x: np.ndarray, padded: list[tuple[int, _Axis]]
) -> np.ndarray:
    expected = list(x.shape)
    for a, p in padded:
        expected[a] = len(p.sigma)
    if G.shape != tuple(expected) or G.dtype != x.dtype:
        raise ValueError(
            f"{func}: grad_output: expected the padded shape {tuple(expected)} and dtype "
            f"{x.dtype}, got {G.shape} and {G.dtype}"
        )
    gx = G
    for a, p in padded:
        gx = p.scatter(gx, a)
    return gx if gx is not G else G.copy()


def pad_axes(
    x: np.ndarray,
    widths: Sequence[tuple[int, int]],
    axes: Sequence[int],
    mode: str = "constant",
    value: float = 0.0,
) -> np.ndarray:
    """x̃ = x padded by ``widths[k]`` = (before, after) cells along ``axes[k]`` in ``mode``
    (module docstring: σ per mode; negative widths crop). Shape: each padded axis grows from
    n to n + before + after; dtype kept. ``value`` fills the constant mode's cells. x may be
    an integer array too (a gather: ONNX pads integer tensors).

    >>> pad_axes(np.array([1.0, 2.0, 3.0]), [(2, 1)], axes=[0], mode="reflect")
    array([3., 2., 1., 2., 3., 2.])
    """
    func = "pad_axes"
    x = np.asarray(x)
    if x.dtype.kind not in "iuf":
        raise TypeError(f"{func}: x: expected an integer or float array, got dtype {x.dtype}")
    mode = _check_mode(mode, func=func)
    return _gather(x, _axes_of(func, x, widths, axes, mode), mode, _fill(value, func=func))


def pad_axes_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    widths: Sequence[tuple[int, int]],
    axes: Sequence[int],
    mode: str = "constant",
) -> np.ndarray:
    """∂ℓ/∂x of ``pad_axes(x, widths, axes, mode)`` given G = ∂ℓ/∂x̃ (the padded shape):
    ∂ℓ/∂x[j] = Σ_{t : σ(t − a) = j} G[t] along each padded axis — the interior of G plus each
    border cell added into the pixel it copied (nothing from a constant cell). Returns x's
    shape and dtype; only x's shape and dtype are read."""
    func = "pad_axes_backward"
    x = check_float_array("x", x, func=func)
    G = check_float_array("grad_output", grad_output, func=func)
    mode = _check_mode(mode, func=func)
    return _scatter(func, G, x, _axes_of(func, x, widths, axes, mode))


def _image(func: str, x: Any, padding: Any, mode: Any) -> tuple[np.ndarray, list, list, str]:
    x = check_float_array("x", x, func=func)
    if x.ndim < 2:
        raise ValueError(f"{func}: x: expected shape (..., H, W), got {x.shape}")
    left, right, top, bottom = pad_widths(padding, func=func)
    return x, [(top, bottom), (left, right)], [x.ndim - 2, x.ndim - 1], _check_mode(mode, func=func)


def pad2d(x: np.ndarray, padding: Any, mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """An image padded on its last two axes, as ``torch.nn.functional.pad(x, padding, mode,
    value)`` with a four-int padding:

        x̃[…, i, j] = x[…, σ_H(i − top), σ_W(j − left)]

    (σ of the mode, module docstring; a constant cell holds ``value``).

    x: (…, H, W), float32/float64; ``padding`` an int (every side) or (left, right, top,
    bottom), PyTorch's order; negative entries crop. Returns (…, H + top + bottom,
    W + left + right) in x's dtype.

    >>> pad2d(np.arange(3.0).reshape(1, 3), (2, 1, 0, 0), mode="reflect")
    array([[2., 1., 0., 1., 2., 1.]])
    >>> pad2d(np.ones((1, 1)), 1, value=7.0)
    array([[7., 7., 7.],
           [7., 1., 7.],
           [7., 7., 7.]])
    """
    func = "pad2d"
    x, widths, axes, mode = _image(func, x, padding, mode)
    return _gather(x, _axes_of(func, x, widths, axes, mode), mode, _fill(value, func=func))


def pad2d_backward(
    grad_output: np.ndarray, x: np.ndarray, padding: Any, mode: str = "constant"
) -> np.ndarray:
    """∂ℓ/∂x of ``pad2d(x, padding, mode)`` given G = ∂ℓ/∂x̃ (the padded shape): each
    border cell of G added into the pixel it copied, the interior passed through,

        ∂ℓ/∂x[…, p, q] = Σ_{i, j : σ_H(i − top) = p, σ_W(j − left) = q} G[…, i, j].

    Returns x's shape and dtype (only x's shape and dtype are read)."""
    func = "pad2d_backward"
    x, widths, axes, mode = _image(func, x, padding, mode)
    G = check_float_array("grad_output", grad_output, func=func)
    return _scatter(func, G, x, _axes_of(func, x, widths, axes, mode))
