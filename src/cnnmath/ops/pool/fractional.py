"""Fractional max pooling (B. Graham, "Fractional Max-Pooling", 2014) over 2-D and 3-D
windows, as ``torch.nn.functional.fractional_max_pool2d`` / ``fractional_max_pool3d``, and the
backward passes.

The windows have a fixed size k per axis; their starts step by a pseudo-random 1 or 2 (more
where the input is over twice the output) so that n windows span an input of length m. One
sample u ∈ [0, 1) per (image, channel, axis) fixes the starts along that axis (0-based):

    α = (m − k)/(n − 1),
    a_i = ⌊(i + u)·α⌋ − ⌊u·α⌋   for i = 0, …, n − 2,      a_{n−1} = m − k

(n = 1: the one window starts at m − k). Window i reads [a_i, a_i + k): the first starts at
0, the last ends at m, and consecutive starts differ by ⌊α⌋ or ⌊α⌋ + 1. Then, for 2-D,

    Y[β,c,i,j] = max_{0≤a<k1, 0≤b<k2} X[β, c, a_i + a, b_j + b],

the row starts a_i from the sample u[β,c,1] and the column starts b_j from u[β,c,0] — the
order of PyTorch's samples tensor, (N, C, 2) holding (width, height), found by experiment
against it; for 3-D, (N, C, 3) holds (depth, height, width) in that order.

PyTorch's rules, kept here:

- α and (i + u)·α are computed in x's dtype (float32 windows may differ from float64's
  for the same u at the rounding edge), the floors of non-negative numbers;
- the chosen element is the first maximum in row-major window order, or the last NaN
  (max pooling's rule); indices are its flat position u·n + v in its (m, n) plane (t·m·n +
  u·n + v in a volume), as ``max_pool2d``'s, so ``max_unpool2d`` takes them;
- the output size is ``output_size``, or ⌊m·r⌋ per axis for ``output_ratio`` r; the windows
  must fit: n + k − 1 <= m in 2-D, n + k <= m in 3-D (PyTorch's two checks differ so).

Decisions of cnnmath (the ops are pure: no hidden random state):

- ``_random_samples`` is required (PyTorch's functional draws it when None; here the layers
  ``nn.FractionalMaxPool2d`` / ``3d`` draw it from their generator). Shape (N', C, 2) (or 3)
  with N' >= N (PyTorch's check: the first N rows are used; N = 1 for an unbatched input),
  x's dtype, every value in [0, 1) (PyTorch does not check the range; every u gives windows
  inside x, but values outside are not what ``torch.rand`` draws, so a stray array is
  refused);
- exactly one of ``output_size`` and ``output_ratio`` (PyTorch's layers require it; its
  functional silently prefers ``output_size`` when both are given), r in (0, 1) as its
  layers check, and output sizes >= 1 (PyTorch returns an empty output for a size 0).

Vectorised: one gather of every window's tap per kernel tap (a loop over the k1·k2 or
k0·k1·k2 taps, none over pixels, planes or images); the windows' starts differ per plane, so
each tap reads through an index array (start of the window + the tap's offset).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product
from typing import Any, NamedTuple

import numpy as np

from ..._checks import (
    batched_image,
    batched_volume,
    check_float_array,
    check_same_dtype,
    check_shape,
    int_pair,
    int_triple,
    real_number,
)
from ._common import _check_indices, _flag

__all__ = [
    "fractional_max_pool2d",
    "fractional_max_pool2d_backward",
    "fractional_max_pool3d",
    "fractional_max_pool3d_backward",
]

_AXES = {2: ("height", "width"), 3: ("depth", "height", "width")}
#: Which sample sets each spatial axis: PyTorch's (width, height) and (depth, height, width).
_SAMPLE_OF_AXIS = {2: (1, 0), 3: (0, 1, 2)}


def _window_starts(u: np.ndarray, m: int, k: int, n: int) -> np.ndarray:
    """(P, n) starts a_i of the n windows of k taps over a length m, one row per sample of
    u (P,): a_i = ⌊(i + u)·α⌋ − ⌊u·α⌋ (i < n − 1), a_{n−1} = m − k, α = (m − k)/(n − 1),
    in u's dtype (PyTorch's arithmetic)."""
    last = np.full((len(u), 1), m - k, dtype=np.intp)
    if n == 1:
        return last
    t = u.dtype.type
    alpha = t(m - k) / t(n - 1)
    i = np.arange(n - 1, dtype=u.dtype)
    u = u[:, None]
    starts = np.floor((i + u) * alpha) - np.floor(u * alpha)
    return np.concatenate([starts.astype(np.intp), last], axis=1)


class _Windows(NamedTuple):
    """A checked call: x's planes (P, *spatial) (P = N·C), the window, the output sizes,
    the batch shape (N, C) and whether x was unbatched."""

    planes: np.ndarray
    kernel: tuple[int, ...]
    out: tuple[int, ...]
    batch: tuple[int, int]
    unbatched: bool


def _output_spec(
    output_size: Any, output_ratio: Any, rank: int, *, func: str
) -> tuple[tuple[int, ...] | None, tuple[float, ...] | None]:
    """(output_size, output_ratio) checked, exactly one of them given: the sizes as ``rank``
    ints >= 1, or the ratios as ``rank`` numbers in (0, 1) (one number for every axis)."""
    if (output_size is None) == (output_ratio is None):
        given = "neither" if output_size is None else "both"
        raise ValueError(
            f"{func}: output_size, output_ratio: expected exactly one of them, got {given}"
        )
    if output_size is not None:
        check = int_pair if rank == 2 else int_triple
        return check("output_size", output_size, minimum=1, func=func), None
    ratios = output_ratio if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * rank
    several = "a pair" if rank == 2 else "a triple"
    if len(ratios) != rank:
        raise TypeError(
            f"{func}: output_ratio: expected a number or {several} of numbers in (0, 1), "
            f"got {output_ratio!r}"
        )
    return None, tuple(
        real_number("output_ratio", r, low=0, high=1, low_open=True, high_open=True, func=func)
        for r in ratios
    )


def _output_sizes(
    output_size: Any, output_ratio: Any, spatial: tuple[int, ...], *, func: str
) -> tuple[int, ...]:
    """``output_size`` as given, or ⌊m·r⌋ per axis from ``output_ratio``: exactly one."""
    size, ratios = _output_spec(output_size, output_ratio, len(spatial), func=func)
    if size is not None:
        return size
    assert ratios is not None
    out = tuple(int(m * r) for r, m in zip(ratios, spatial))
    if min(out) < 1:
        raise ValueError(
            f"{func}: output_ratio: expected output sizes >= 1, got {out} from "
            f"{output_ratio!r} of the input's {tuple(spatial)}"
        )
    return out


def _windows(
    x: Any, kernel_size: Any, output_size: Any, output_ratio: Any, rank: int, *, func: str
) -> _Windows:
    """x, the window and the output sizes checked (see the module docstring)."""
    check_float_array("x", x, func=func)
    xb, unbatched = (batched_image if rank == 2 else batched_volume)("x", x, func=func)
    if min(xb.shape[1:]) < 1:
        raise ValueError(
            f"{func}: x: expected channels and spatial sizes >= 1, got shape {np.shape(x)}"
        )
    spatial = xb.shape[2:]
    kernel = (int_pair if rank == 2 else int_triple)(
        "kernel_size", kernel_size, minimum=1, func=func
    )
    out = _output_sizes(output_size, output_ratio, spatial, func=func)
    slack = 1 if rank == 2 else 0  # PyTorch: n + k − 1 <= m (2-D), n + k − 1 < m (3-D)
    for axis, m, k, n in zip(_AXES[rank], spatial, kernel, out):
        if n + k - slack > m:
            rule = "output + kernel_size - 1 <=" if rank == 2 else "output + kernel_size <="
            raise ValueError(
                f"{func}: kernel_size, output_size: expected {rule} the input's size along "
                f"each axis, got {axis} {n} + {k} for an input {axis} of {m} "
                f"(input {tuple(spatial)}, kernel_size {kernel}, output {out})"
            )
    planes = xb.reshape(xb.shape[0] * xb.shape[1], *spatial)
    return _Windows(planes, kernel, out, (xb.shape[0], xb.shape[1]), unbatched)


def _samples(samples: Any, x: np.ndarray, win: _Windows, *, func: str) -> np.ndarray:
    """The (N·C, rank) samples of x's planes, checked (see the module docstring)."""
    rank = len(win.kernel)
    name = "_random_samples"
    (n, c), what = win.batch, ("width, height" if rank == 2 else "depth, height, width")
    if samples is None:
        raise TypeError(
            f"{func}: {name}: expected an array (N, C, {rank}) of samples in [0, 1), one "
            f"({what}) per image and channel, got None; draw them with "
            f"rng.random(({n}, {c}, {rank}), dtype=x.dtype), or use "
            f"nn.FractionalMaxPool{rank}d, which draws them"
        )
    check_float_array(name, samples, func=func)
    check_same_dtype(func, x=x, _random_samples=samples)
    if samples.ndim != 3 or samples.shape[0] < n or samples.shape[1:] != (c, rank):
        raise ValueError(
            f"{func}: {name}: expected shape (N', {c}, {rank}) with N' >= {n} (one ({what}) "
            f"per image and channel of x {x.shape}), got {samples.shape}"
        )
    u = samples[:n].reshape(n * c, rank)
    outside = ~((u >= 0) & (u < 1))  # NaN too
    if outside.any():
        raise ValueError(
            f"{func}: {name}: expected values in [0, 1) (as torch.rand draws), got "
            f"{int(outside.sum())} outside, the first {u[outside][0]!r}"
        )
    return u


def _starts(win: _Windows, u: np.ndarray) -> np.ndarray:
    """(P, *out) flat position in its plane of every window's first element."""
    spatial = win.planes.shape[1:]
    rank = len(spatial)
    strides = [math.prod(spatial[d + 1 :]) for d in range(rank)]
    first = np.zeros((len(u), *win.out), dtype=np.intp)
    for d, (m, k, n) in enumerate(zip(spatial, win.kernel, win.out)):
        a = _window_starts(np.ascontiguousarray(u[:, _SAMPLE_OF_AXIS[rank][d]]), m, k, n)
        shape = [len(u)] + [1] * rank
        shape[1 + d] = n
        first += (a * strides[d]).reshape(shape)
    return first


def _tap_offsets(win: _Windows) -> list[int]:
    """The flat offset in a plane of each tap of the window, in row-major window order."""
    spatial = win.planes.shape[1:]
    strides = [math.prod(spatial[d + 1 :]) for d in range(len(spatial))]
    return [
        sum(t * s for t, s in zip(tap, strides)) for tap in product(*(range(k) for k in win.kernel))
    ]


def _choose(win: _Windows, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Y, I), each (P, *out): every window's maximum and the flat position in its plane of
    the element chosen, by PyTorch's walk over the taps in row-major order: a tap replaces
    the choice when greater, or NaN (the first maximum; the last NaN).

    Each tap is one gather of every window's element at that tap (an index array, the
    windows' first elements plus the tap's offset, into x's planes laid end to end), then
    masked updates of the running maximum and the chosen tap where the tap took the window
    (a copy, not np.maximum: the first of -0.0 and 0.0 stays, as in the walk). Buffers are
    reused across the taps; the indices are int32 while x has under 2³¹ elements (half the
    memory traffic)."""
    P, plane = win.planes.shape[0], math.prod(win.planes.shape[1:])
    flat = win.planes.reshape(-1)
    index_type = np.int32 if flat.size < 2**31 else np.intp
    first = _starts(win, u)
    first_global = (
        first + (np.arange(P, dtype=np.intp) * plane).reshape((-1,) + (1,) * len(win.out))
    ).astype(index_type)
    offsets = _tap_offsets(win)
    nan = bool(np.isnan(flat).any())
    at = np.add(first_global, index_type(offsets[0]))
    best = np.take(flat, at)
    tap = np.zeros(first.shape, dtype=np.uint8 if len(offsets) < 256 else np.intp)
    values, take = np.empty_like(best), np.empty(best.shape, dtype=bool)
    for t, offset in enumerate(offsets[1:], start=1):
        np.take(flat, np.add(first_global, index_type(offset), out=at), out=values)
        np.greater(values, best, out=take)
        if nan:
            take |= np.isnan(values)
        np.copyto(best, values, where=take)
        np.copyto(tap, t, where=take)
    return best, first + np.take(np.asarray(offsets, dtype=np.intp), tap)


def _forward(
    x: Any,
    kernel_size: Any,
    output_size: Any,
    output_ratio: Any,
    return_indices: Any,
    samples: Any,
    rank: int,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    func = f"fractional_max_pool{rank}d"
    win = _windows(x, kernel_size, output_size, output_ratio, rank, func=func)
    indices = _flag("return_indices", return_indices, func=func)
    u = _samples(samples, x, win, func=func)
    y, at = _choose(win, u)
    shape = (win.batch[1],) if win.unbatched else win.batch
    y, at = y.reshape(*shape, *win.out), at.reshape(*shape, *win.out).astype(np.int64)
    return (y, at) if indices else y


def _backward(
    grad_output: Any,
    x: Any,
    kernel_size: Any,
    output_size: Any,
    output_ratio: Any,
    samples: Any,
    indices: Any,
    rank: int,
) -> np.ndarray:
    func = f"fractional_max_pool{rank}d_backward"
    win = _windows(x, kernel_size, output_size, output_ratio, rank, func=func)
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x=x)
    out_shape = (*np.shape(x)[:-rank], *win.out)
    check_shape("grad_output", grad_output, out_shape, func=func)
    spatial = win.planes.shape[1:]
    if indices is None:
        _, at = _choose(win, _samples(samples, x, win, func=func))
    else:
        _check_indices(
            indices,
            out_shape,
            "grad_output's",
            spatial,
            "a plane of x" if rank == 2 else "a volume of x",
            func=func,
            pool=f"fractional_max_pool{rank}d",
        )
        if samples is not None:
            _samples(samples, x, win, func=func)
        at = indices.reshape(win.planes.shape[0], -1)
    P, plane = win.planes.shape[0], math.prod(spatial)
    at = at.reshape(P, -1) + (np.arange(P, dtype=np.intp) * plane)[:, None]
    grad = np.zeros(P * plane, dtype=win.planes.dtype)
    # windows in row-major order, each G added to its chosen element (np.add.at: elements
    # several windows chose collect every G, summed in the window order, as PyTorch's loop)
    np.add.at(grad, at.reshape(-1), np.asarray(grad_output).reshape(-1))
    return grad.reshape(np.shape(x))


def fractional_max_pool2d(
    x: np.ndarray,
    kernel_size: int | Sequence[int],
    output_size: int | Sequence[int] | None = None,
    output_ratio: float | Sequence[float] | None = None,
    return_indices: bool = False,
    _random_samples: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Fractional max pooling, as ``torch.nn.functional.fractional_max_pool2d`` given the
    same ``_random_samples``.

    Y[β,c,i,j] = max_{0≤a<k1, 0≤b<k2} X[β, c, a_i + a, b_j + b]  (0-based), the starts
    a_i = ⌊(i + u)·α⌋ − ⌊u·α⌋ (i < H − 1), a_{H−1} = m − k1, α = (m − k1)/(H − 1), with
    u = _random_samples[β, c, 1]; the columns' b_j likewise from _random_samples[β, c, 0].

    x : (B, C, m, n) or unbatched (C, m, n), float32/float64. kernel_size : k or (k1, k2).
    output_size : H or (H, W), or output_ratio : r or (r1, r2) in (0, 1) giving
    (⌊m·r1⌋, ⌊n·r2⌋) — exactly one; H + k1 − 1 <= m and W + k2 − 1 <= n.
    _random_samples : (B', C, 2) of x's dtype, B' >= B (1 unbatched), values in [0, 1):
    required (the layer ``nn.FractionalMaxPool2d`` draws them; see the module docstring).
    Returns (B, C, H, W) of x's dtype; with ``return_indices`` also the int64 positions
    u·n + v in x's planes of the chosen elements (the first maximum in row-major window
    order, the last NaN), which ``max_unpool2d`` takes.

    >>> import numpy as np
    >>> x = np.arange(25.0).reshape(1, 5, 5)
    >>> fractional_max_pool2d(x, 2, output_size=3, _random_samples=np.zeros((1, 1, 2)))
    array([[[ 6.,  7.,  9.],
            [11., 12., 14.],
            [21., 22., 24.]]])
    """
    return _forward(x, kernel_size, output_size, output_ratio, return_indices, _random_samples, 2)


def fractional_max_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | Sequence[int],
    output_size: int | Sequence[int] | None = None,
    output_ratio: float | Sequence[float] | None = None,
    _random_samples: np.ndarray | None = None,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``fractional_max_pool2d``: each G[β,c,i,j] added to the element its window
    chose (windows overlap: an element chosen by several collects each G).

    ∂ℓ/∂X[β,c,u,v] = Σ_{i,j} G[β,c,i,j] · [ (u, v) is the element window (i, j) chose ]

    grad_output : (B, C, H, W) like the forward's output; the other arguments as the
    forward's. ``indices``: the I the forward returned (``return_indices=True``): the choice
    is then read from it (``_random_samples`` may be None) instead of found again in x.
    Returns an array like x.
    """
    return _backward(
        grad_output, x, kernel_size, output_size, output_ratio, _random_samples, indices, 2
    )


def fractional_max_pool3d(
    x: np.ndarray,
    kernel_size: int | Sequence[int],
    output_size: int | Sequence[int] | None = None,
    output_ratio: float | Sequence[float] | None = None,
    return_indices: bool = False,
    _random_samples: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Fractional max pooling of volumes, as ``torch.nn.functional.fractional_max_pool3d``
    given the same ``_random_samples``.

    Y[β,c,t,i,j] = max over [a_t, a_t + k0) × [b_i, b_i + k1) × [c_j, c_j + k2) of X[β,c]
    (0-based), each axis's starts by the module docstring's rule, from the samples
    _random_samples[β, c, 0] (depth), [β, c, 1] (height), [β, c, 2] (width).

    x : (B, C, d, m, n) or unbatched (C, d, m, n), float32/float64. kernel_size : k or
    (k0, k1, k2). output_size : D or (D, H, W), or output_ratio : r or (r0, r1, r2) in
    (0, 1) — exactly one; D + k0 <= d, H + k1 <= m, W + k2 <= n (PyTorch's 3-D check).
    _random_samples : (B', C, 3) of x's dtype, B' >= B (1 unbatched), values in [0, 1).
    Returns (B, C, D, H, W); with ``return_indices`` also the int64 positions
    (t·m + u)·n + v in x's volumes, which ``max_unpool3d`` takes.

    >>> import numpy as np
    >>> x = np.arange(64.0).reshape(1, 4, 4, 4)
    >>> fractional_max_pool3d(x, 2, output_size=1, _random_samples=np.zeros((1, 1, 3)))
    array([[[[63.]]]])
    """
    return _forward(x, kernel_size, output_size, output_ratio, return_indices, _random_samples, 3)


def fractional_max_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | Sequence[int],
    output_size: int | Sequence[int] | None = None,
    output_ratio: float | Sequence[float] | None = None,
    _random_samples: np.ndarray | None = None,
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``fractional_max_pool3d``: each G[β,c,t,i,j] added to the element its
    window chose, as ``fractional_max_pool2d_backward`` (``indices`` likewise)."""
    return _backward(
        grad_output, x, kernel_size, output_size, output_ratio, _random_samples, indices, 3
    )
