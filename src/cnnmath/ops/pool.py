"""Max and average pooling over 2-D windows, and their backward passes.

Window k = (k1, k2), stride s (default k), padding p on both sides of each axis:

    max:  Y[β,c,i,j] = max_{a,b} X̃[β, c, s(i-1)+a, s(j-1)+b],   X̃ padded with -∞
    avg:  Y[β,c,i,j] = (1/(k1 k2)) Σ_{a,b} X̃[β, c, s(i-1)+a, s(j-1)+b],   X̃ padded with 0

(PyTorch's defaults: no dilation, floor rounding, zero padding counted in the divisor.)
Output size floor((m + 2p - k)/s) + 1. Padding is at most half the window, so every window
holds at least one real element.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._checks import batched_image, check_float_array, check_same_dtype, check_shape, int_pair
from ._geometry import Pads, Pair, check_output_size
from ._windows import merge_phases, phase_shifts, split_padded

_NO_DILATION = (1, 1)


class _Geometry(NamedTuple):
    x: np.ndarray  # 4-D
    unbatched: bool
    kernel: Pair
    stride: Pair
    pads: Pads
    out_hw: Pair


def _geometry(x: Any, kernel_size: Any, stride: Any, padding: Any, *, func: str) -> _Geometry:
    check_float_array("x", x, func=func)
    x4, unbatched = batched_image("x", x, func=func)
    k = int_pair("kernel_size", kernel_size, minimum=1, func=func)
    s = k if stride is None else int_pair("stride", stride, minimum=1, func=func)
    p = int_pair("padding", padding, minimum=0, func=func)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"{func}: padding: expected at most half the window (<= {(k[0] // 2, k[1] // 2)}) "
            f"so every window holds a real element, got {padding!r} for kernel_size {k}"
        )
    pads = ((p[0], p[0]), (p[1], p[1]))
    out_hw = check_output_size(x4.shape[2:], k, s, pads, _NO_DILATION, func=func)
    return _Geometry(x4, unbatched, k, s, pads, out_hw)


def _grad_output(grad_output: Any, x: np.ndarray, geo: _Geometry, *, func: str) -> np.ndarray:
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x=x)
    expected = (*geo.x.shape[:2], *geo.out_hw)
    check_shape("grad_output", grad_output, expected[1:] if geo.unbatched else expected, func=func)
    return grad_output[None] if geo.unbatched else grad_output


# Every op below is a loop over the k1·k2 window taps, never over pixels: for each tap, one
# whole-array operation between the values it reads (one per window) and the outputs.
# ``_Layout`` says where those values lie:
# - non-overlapping tiles (stride = kernel, no padding, the size divisible): x reshaped to
#   (B, C, Ho, k1, Wo, k2), tap (a, e) being the view [:, :, :, a, :, e]; nothing is copied.
# - otherwise the padded input split into its s_h·s_w stride phases, each flattened over
#   (batch, channel, row, column) (``split_padded``, one copy). The outputs then live on a
#   "wide" grid n = (b, c, i, j) with j < Wq, and tap (a, e) of output n is element
#   n + offset of one phase: each tap is an operation on two long contiguous vectors.
#   Wide positions with i >= Ho or j >= Wo are scratch: computed, never read back, and
#   their output gradient is zero.
# Large fresh temporaries cost page faults on every call, so each path makes as few as it can.


class _Layout:
    """Where each window tap reads its values, and where its gradient goes back."""

    def __init__(self, geo: _Geometry, fill: float | None):
        """``fill``: the padding value (-inf or 0); None when no input values are needed."""
        self.geo = geo
        B, C, m, n = geo.x.shape
        (k1, k2), (sh, sw), ((pt, pb), (pl, pr)), (Ho, Wo) = (
            geo.kernel,
            geo.stride,
            geo.pads,
            geo.out_hw,
        )
        self.tiles = (
            (k1, k2) == (sh, sw) and pt == pb == pl == pr == 0 and m == Ho * k1 and n == Wo * k2
        )
        if self.tiles:
            self.grid: tuple[int, ...] = (B, C, Ho, Wo)
            self.size = B * C * Ho * Wo
            self.n = self.size
            self.X = None if fill is None else geo.x.reshape(B, C, Ho, k1, Wo, k2)
            self.taps = [(a * k2 + e, (a, e)) for a in range(k1) for e in range(k2)]
        else:
            self.Hq, self.Wq = -(-(m + pt + pb) // sh), -(-(n + pl + pr) // sw)
            self.size = B * C * self.Hq * self.Wq
            self.n = (B * C - 1) * self.Hq * self.Wq + (Ho - 1) * self.Wq + Wo
            self.grid = (self.n,)
            self.X = None if fill is None else split_padded(geo.x, geo.stride, geo.pads, fill)
            self.taps = [
                (t, (phase, off)) for t, phase, off in phase_shifts(geo.kernel, geo.stride, self.Wq)
            ]

    def read(self, X: np.ndarray, where: tuple[int, int]) -> np.ndarray:
        """The values one tap reads, one per window (shaped like the output grid)."""
        if self.tiles:
            a, e = where
            return X[:, :, :, a, :, e]
        phase, off = where
        return X[phase, off : off + self.n]

    def empty(self) -> np.ndarray:
        """A fresh output array, flat (wide: scratch positions included)."""
        return np.empty(self.size, dtype=self.geo.x.dtype)

    def work(self, y: np.ndarray) -> np.ndarray:
        """The part of an output array the taps compute, shaped like what they read."""
        return y.reshape(self.grid) if self.tiles else y[: self.n]

    def real(self, y: np.ndarray) -> np.ndarray:
        """The real outputs (B, C, Ho, Wo) of an output array, as a view."""
        Ho, Wo = self.geo.out_hw
        if self.tiles:
            return y.reshape(self.grid)
        grid = y[: self.size].reshape(-1, self.Hq, self.Wq)[:, :Ho, :Wo]
        return grid.reshape(*self.geo.x.shape[:2], Ho, Wo)

    def grad_output(self, G: np.ndarray) -> np.ndarray:
        """G on the output grid (wide: zero at the scratch positions)."""
        if self.tiles:
            return G
        Ho, Wo = self.geo.out_hw
        g = np.zeros((self.size // (self.Hq * self.Wq), self.Hq, self.Wq), dtype=G.dtype)
        g[:, :Ho, :Wo] = G.reshape(-1, Ho, Wo)
        return g.reshape(-1)[: self.n]

    def scatter(self, terms, out: np.ndarray) -> None:
        """∂ℓ/∂X into ``out`` (like x) from one term per tap: the element tap t read for
        window n gets term_t[n] (summed over the taps that read it)."""
        geo = self.geo
        if self.tiles:  # every element of x is in exactly one window: write, don't add
            (B, C, Ho, Wo), (k1, k2) = self.grid, geo.kernel
            tiles = out.reshape(B, C, Ho, k1, Wo, k2)
            for (_, where), term in zip(self.taps, terms):
                np.copyto(self.read(tiles, where), term)
            return
        grad = np.zeros((geo.stride[0] * geo.stride[1], self.size), dtype=geo.x.dtype)
        overlapping = geo.stride[0] < geo.kernel[0] or geo.stride[1] < geo.kernel[1]
        for (_, where), term in zip(self.taps, terms):
            target = self.read(grad, where)
            if overlapping:  # windows share elements: their gradients add up
                target += term
            else:  # each element is in one window at most
                np.copyto(target, term)
        merge_phases(grad, geo.stride, geo.pads, out)


_BLOCK_BYTES = 1 << 21  # 2 MiB of input per block of planes


def _blocks(geo: _Geometry):
    """The (batch, channel) planes in blocks of about _BLOCK_BYTES, each as its own geometry
    (pooling treats planes independently): the temporaries of a block stay in cache and are
    reused from one block to the next, where fresh input-sized ones would fault in every
    page on every call. Yields (first plane, last plane + 1, geometry of the block)."""
    B, C, m, n = geo.x.shape
    planes = geo.x.reshape(1, B * C, m, n)
    count = max(1, _BLOCK_BYTES // (m * n * geo.x.itemsize))
    for p0 in range(0, B * C, count):
        p1 = min(B * C, p0 + count)
        yield p0, p1, geo._replace(x=planes[:, p0:p1])


def _by_planes(geo: _Geometry, hw: Pair) -> np.ndarray:
    """A fresh (B·C, h, w) array for per-plane results."""
    B, C = geo.x.shape[:2]
    return np.empty((B * C, *hw), dtype=geo.x.dtype)


def _as_batch(a: np.ndarray, geo: _Geometry) -> np.ndarray:
    """(B·C, h, w) back to (B, C, h, w), or (C, h, w) for unbatched input."""
    a = a.reshape(*geo.x.shape[:2], *a.shape[1:])
    return a[0] if geo.unbatched else a


# ---------------------------------------------------------------------------------------------
# Max pooling


def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """Max pooling, as ``torch.nn.functional.max_pool2d`` (no dilation, floor mode).

    Y[β,c,i,j] = max_{1<=a<=k1, 1<=b<=k2} X̃[β, c, s(i-1)+a, s(j-1)+b], X̃ padded with -∞.

    x : (B, C, m, n) or unbatched (C, m, n), float32/float64. kernel_size, stride (default:
    kernel_size), padding: int or pair; padding at most half the window.
    Returns (B, C, floor((m+2p-k1)/s)+1, floor((n+2p-k2)/s)+1), x's dtype. NaN in a window
    gives NaN.

    >>> import numpy as np
    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    geo = _geometry(x, kernel_size, stride, padding, func="max_pool2d")
    y = _by_planes(geo, geo.out_hw)
    for p0, p1, block in _blocks(geo):
        layout = _Layout(block, -np.inf)
        y[p0:p1] = layout.real(_max(layout))[0]
    return _as_batch(y, geo)


def _max(layout: _Layout) -> np.ndarray:
    """Y on the output grid: the elementwise maximum of the taps (np.maximum: NaN wins)."""
    y = layout.empty()
    out = layout.work(y)
    for k, (_, where) in enumerate(layout.taps):
        if k == 0:
            np.copyto(out, layout.read(layout.X, where))
        else:
            np.maximum(out, layout.read(layout.X, where), out=out)
    return y


def _max_hits(layout: _Layout, y: np.ndarray):
    """For each tap, which windows send their gradient to it, by PyTorch's CPU rule.

    Walking a window in row-major order, an element replaces the running choice if it is
    greater or NaN: the first maximum wins ties, the last NaN wins over everything, the
    padding is never chosen. Without NaN: tap t takes the windows where it equals Y and no
    earlier tap did ("claimed": boolean arithmetic, no branches). Where Y is NaN: the last
    tap holding a NaN, by the same walk backwards. Where Y is -inf (every real element is
    -inf) the padding, -inf too, must not tie: only real taps count there.

    Yields one boolean array per tap, shaped like the output grid.
    """
    geo, X = layout.geo, layout.X
    y_real, y = layout.real(y), layout.work(y)
    real = None
    if any(p for pair in geo.pads for p in pair) and np.isneginf(y_real).any():
        real = split_padded(np.ones(geo.x.shape, dtype=bool), geo.stride, geo.pads, False)
    nan_hits = {}
    if np.isnan(y_real).any():
        taken = np.zeros(y.shape, dtype=bool)
        for t, where in reversed(layout.taps):
            h = np.isnan(layout.read(X, where))
            np.greater(h, taken, out=h)
            taken |= h
            nan_hits[t] = h
    claimed = np.zeros(y.shape, dtype=bool)
    hit = np.empty(y.shape, dtype=bool)
    for t, where in layout.taps:
        np.equal(layout.read(X, where), y, out=hit)
        if real is not None:
            hit &= layout.read(real, where)
        np.greater(hit, claimed, out=hit)  # equal, and no earlier tap took the window
        claimed |= hit
        if nan_hits:
            hit |= nan_hits[t]
        yield hit


def _routed(g: np.ndarray, hit: np.ndarray, out: np.ndarray, g_finite: bool) -> np.ndarray:
    """g where hit, exactly 0 elsewhere. g·hit is that (and twice as fast as a masked copy)
    while g is finite; a NaN or ±inf in g would make g·0 NaN, so then copy through the mask."""
    if g_finite:
        return np.multiply(g, hit, out=out)
    out.fill(0)
    np.copyto(out, g, where=hit)
    return out


def max_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """∂ℓ/∂X for ``max_pool2d``: each G[β,c,i,j] is added to the one element of its window
    that attained the maximum (the first in row-major order when several tie, as PyTorch).

    ∂ℓ/∂X̃[β,c,u,v] = Σ_{i,j} G[β,c,i,j] · [ (u, v) is the arg-max of window (i, j) ]

    grad_output: (B, C, H_out, W_out) like ``max_pool2d``'s output; returns an array like x.
    """
    func = "max_pool2d_backward"
    geo = _geometry(x, kernel_size, stride, padding, func=func)
    G = _grad_output(grad_output, x, geo, func=func)
    grad_x = _by_planes(geo, geo.x.shape[2:])
    G_planes = G.reshape(1, -1, *geo.out_hw)
    for p0, p1, block in _blocks(geo):
        layout = _Layout(block, -np.inf)
        g = layout.grad_output(G_planes[:, p0:p1])
        term = np.empty(g.shape, dtype=g.dtype)  # one buffer for every tap's term
        g_finite = bool(np.isfinite(g).all())
        terms = (_routed(g, hit, term, g_finite) for hit in _max_hits(layout, _max(layout)))
        layout.scatter(terms, out=grad_x[None, p0:p1])
    return _as_batch(grad_x, geo)


# ---------------------------------------------------------------------------------------------
# Average pooling


def avg_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """Average pooling, as ``torch.nn.functional.avg_pool2d`` with its defaults.

    Y[β,c,i,j] = (1/(k1 k2)) Σ_{a=1..k1} Σ_{b=1..k2} X̃[β, c, s(i-1)+a, s(j-1)+b],
    X̃ zero-padded; the divisor is always k1·k2 (padding counted, count_include_pad=True).

    Shapes as ``max_pool2d``. With stride = kernel_size this equals the strided convolution
    of result 2 (``cnnmath.filters.average_pool_filter``).

    >>> import numpy as np
    >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    geo = _geometry(x, kernel_size, stride, padding, func="avg_pool2d")
    k1, k2 = geo.kernel
    y = _by_planes(geo, geo.out_hw)
    for p0, p1, block in _blocks(geo):
        layout = _Layout(block, 0.0)
        total = layout.empty()
        out = layout.work(total)
        for k, (_, where) in enumerate(layout.taps):
            if k == 0:
                np.copyto(out, layout.read(layout.X, where))
            else:
                out += layout.read(layout.X, where)
        np.multiply(layout.real(total)[0], np.asarray(1 / (k1 * k2), dtype=x.dtype), out=y[p0:p1])
    return _as_batch(y, geo)


def avg_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """∂ℓ/∂X for ``avg_pool2d``: every element of window (i, j) receives G[β,c,i,j]/(k1 k2).

    ∂ℓ/∂X̃[β,c,u,v] = (1/(k1 k2)) Σ_{(i,j): window (i,j) holds (u,v)} G[β,c,i,j]

    grad_output: (B, C, H_out, W_out); returns an array like x (padding cropped off).
    """
    func = "avg_pool2d_backward"
    geo = _geometry(x, kernel_size, stride, padding, func=func)
    G = _grad_output(grad_output, x, geo, func=func)
    k1, k2 = geo.kernel
    grad_x = _by_planes(geo, geo.x.shape[2:])
    G_planes = G.reshape(1, -1, *geo.out_hw)
    for p0, p1, block in _blocks(geo):
        layout = _Layout(block, None)  # the average's gradient needs no input values
        share = layout.grad_output(G_planes[:, p0:p1]) * np.asarray(1 / (k1 * k2), dtype=x.dtype)
        layout.scatter((share for _ in layout.taps), out=grad_x[None, p0:p1])
    return _as_batch(grad_x, geo)
