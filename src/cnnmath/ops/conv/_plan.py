"""The plans: every correlation of a pass (its band of rows or stride phase, the window it
reads, its method), decided from the shapes once and memoized; the passes run exactly
their plan.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, ParamSpec, TypeVar

from .. import _conv_engine
from .._conv_engine._dispatch import _data_size
from .._geometry import Pads, Pair, PhaseTaps, phase_taps

# The backward works in bands of output rows, each band one correlation through `_correlate`,
# so that its copies (the padded input, the shifted output gradient) stay within
# _BAND_BYTES whatever the image size. Typical layers are one band.

_BAND_BYTES = 1 << 26  # 64 MiB


def _bands(total: int, bytes_per_row: int) -> list[Pair]:
    """[start, stop) blocks of ``total`` rows of about _BAND_BYTES each (at least one row)."""
    rows = max(1, _BAND_BYTES // max(1, bytes_per_row))
    return [(r0, min(total, r0 + rows)) for r0 in range(0, total, rows)]


def _row_bands(
    x_shape: tuple[int, ...],
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
    pads: Pads,
    out_hw: Pair,
    itemsize: int,
) -> list[tuple[Pair, Pair, Pair]]:
    """Per band of output rows [i0, i1): ((i0, i1), start, length), the (row, column) start
    in x (negative: in the padding) and the size of the part of X̃ the band's windows read,
    as ``crop_or_pad`` takes them."""
    B, C, _, _ = x_shape
    (f1, f2), (sh, sw), (dh, dw), ((pt, _), (pl, _)), (H_out, W_out) = (
        kernel,
        stride,
        dilation,
        pads,
        out_hw,
    )
    reach_w = sw * (W_out - 1) + dw * (f2 - 1) + 1
    out = []
    for i0, i1 in _bands(H_out, B * C * reach_w * itemsize * sh):
        rows = sh * (i1 - 1 - i0) + dh * (f1 - 1) + 1
        out.append(((i0, i1), (sh * i0 - pt, -pl), (rows, reach_w)))
    return out


# ---------------------------------------------------------------------------------------------
# Plans: every correlation of a pass (its band or stride phase, the window it reads, and its
# method), decided from the shapes once; the passes execute exactly their plan, and
# `dispatch_plan` reports it.


class _Band(NamedTuple):
    """One correlation of a pass: rows [r0, r1) of its output (of one stride phase, for the
    input gradient), the window (start, length) of its input it reads, and its method."""

    rows: Pair
    start: Pair
    length: Pair
    method: str


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _memoized_plan(make: Callable[_P, _T]) -> Callable[_P, _T]:
    """``make`` (a plan, from shapes and arguments that are all hashable) memoized: the
    ops plan a shape once, then look the plan up (a few microseconds on a small call saved
    many times over). The key adds what else decides a plan: the band budget and the
    engine's selection rule, both module attributes that may be replaced (tests do)."""

    @functools.lru_cache(maxsize=256)
    def cached(band_bytes: int, select: object, *args: Any) -> _T:
        return make(*args)  # type: ignore[call-arg]

    @functools.wraps(make)
    def plan(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        assert not kwargs
        return cached(_BAND_BYTES, _conv_engine.select_method, *args)

    return plan


def _select(
    groups: int,
    xp: tuple[int, ...],
    w: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    data_hw: Pair | None = None,
    filter_gradient: bool = False,
) -> str:
    """The engine's method for one group's shapes (the group axis added in front)."""
    return _conv_engine.select_method(
        (groups, *xp), (groups, *w), stride, dilation, data_hw, filter_gradient
    )


@_memoized_plan
def _forward_plan(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    pads: Pads,
    out_hw: Pair,
    groups: int,
    itemsize: int,
) -> tuple[_Band, ...]:
    """conv2d's correlations: X̃'s bands of output rows, each with w."""
    B = x_shape[0]
    C_out, C_g, f1, f2 = w_shape
    w_g = (C_out // groups, C_g, f1, f2)
    return tuple(
        _Band(rows, start, length, _select(groups, (B, C_g, *length), w_g, stride, dilation))
        for rows, start, length in _row_bands(
            x_shape, (f1, f2), stride, dilation, pads, out_hw, itemsize
        )
    )


@_memoized_plan
def _grad_weight_plan(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    pads: Pads,
    out_hw: Pair,
    groups: int,
    itemsize: int,
) -> tuple[_Band, ...]:
    """The filter gradient's correlations, per band of rows: X̃'s rows as C_in/G images of B
    channels, G's as C_out/G filters, stride and dilation swapped (see `_grad_weight`)."""
    B = x_shape[0]
    C_out, C_g, f1, f2 = w_shape
    return tuple(
        _Band(
            (i0, i1),
            start,
            length,
            _select(
                groups,
                (C_g, B, *length),
                (C_out // groups, B, i1 - i0, out_hw[1]),
                dilation,
                stride,
                filter_gradient=True,
            ),
        )
        for (i0, i1), start, length in _row_bands(
            x_shape, (f1, f2), stride, dilation, pads, out_hw, itemsize
        )
    )


_DEPTH_TO_SPACE = "depth_to_space"  # the input gradient's method where the windows tile X


def _tiles(
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
    pads_before: Pair,
    g_hw: tuple[int, ...],
    out_hw: Pair,
    groups: int,
) -> bool:
    """Whether the windows tile X (``_conv_engine.depth_to_space`` applies): stride =
    kernel (not 1 × 1, where X is already the one product's result), no dilation, nothing
    padded before X and every window inside X, one group (a product per group would be one
    BLAS call per image and group)."""
    return (
        groups == 1
        and stride == kernel != (1, 1)
        and dilation == (1, 1)
        and pads_before == (0, 0)
        and all(f * h <= m for f, h, m in zip(kernel, g_hw, out_hw))
    )


@_memoized_plan
def _input_plan(
    g_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    pads_before: Pair,
    out_hw: Pair,
    groups: int,
    itemsize: int,
) -> tuple[tuple[_Phase | None, tuple[_Band, ...]], ...]:
    """The adjoint's correlations (`_conv_transpose`): per stride phase of X some tap reaches,
    its bands of rows, each a stride-1 correlation of a window of g (zero outside g) with the
    phase's taps. Where the windows tile X (`_tiles`) instead one band of no phase (None),
    "depth_to_space": all taps in one product, each value of X written once."""
    B = g_shape[0]
    C_out, C_g, f1, f2 = w_shape
    if _tiles((f1, f2), stride, dilation, pads_before, g_shape[2:], out_hw, groups):
        Ho, Wo = g_shape[2:]
        return ((None, (_Band((0, Ho), (0, 0), (Ho, Wo), _DEPTH_TO_SPACE),)),)
    x_shape = (B, C_g * groups, *out_hw)
    plan = []
    for phase, bands in _input_bands(x_shape, w_shape, stride, dilation, pads_before, itemsize):
        taps = (C_g, C_out // groups, phase.h.n_taps, phase.w.n_taps)
        plan.append(
            (
                phase,
                tuple(
                    _Band(
                        rows,
                        start,
                        length,
                        _select(
                            groups,
                            (B, C_out // groups, *length),
                            taps,
                            (1, 1),
                            (phase.h.dilation, phase.w.dilation),
                            _data_size(g_shape, start, length),
                        ),
                    )
                    for rows, start, length in bands
                ),
            )
        )
    return tuple(plan)


class _Phase(NamedTuple):
    """One stride phase of the input gradient: rows rh::s_h, columns rw::s_w of X."""

    rh: int
    rw: int
    h: PhaseTaps
    w: PhaseTaps

    def g_window(self) -> tuple[Pair, Pair]:
        """The (start, length) of G the phase's correlation reads, per axis (zero outside G)."""
        h, w = self.h, self.w
        return (
            (-h.t_last, -w.t_last),
            (h.positions + (h.n_taps - 1) * h.dilation, w.positions + (w.n_taps - 1) * w.dilation),
        )


def _reached(size: int, f: int, s: int, d: int, p_before: int) -> list[int]:
    """The phases r < min(s, size) along one axis that some tap a reaches: r ≡ d a - p (mod s).

    At most f of them, however large the stride: the cost of the transposed convolution
    follows the kernel, not s (the other phases hold zeros)."""
    return sorted({r for r in ((d * a - p_before) % s for a in range(f)) if r < size})


@functools.lru_cache(maxsize=256)
def _tiled(x_hw: Pair, kernel: Pair, stride: Pair, dilation: Pair, pads_before: Pair) -> bool:
    """Whether the phases some tap reaches cover all of X (else the rest of X is zero)."""
    return all(
        len(_reached(*axis)) == min(axis[2], axis[0])
        for axis in zip(x_hw, kernel, stride, dilation, pads_before)
    )


def _phases(
    x_hw: Pair, kernel: Pair, stride: Pair, dilation: Pair, pads_before: Pair
) -> list[_Phase]:
    """The stride phases of X that hold input positions and that at least one tap reaches
    (at most f1·f2 of them, whatever the stride; a phase no tap reaches is zero)."""
    (m, n), (f1, f2), (sh, sw), (dh, dw), (pt, pl) = x_hw, kernel, stride, dilation, pads_before
    out = []
    for rh in _reached(m, f1, sh, dh, pt):
        for rw in _reached(n, f2, sw, dw, pl):
            ph, pw = phase_taps(m, f1, sh, dh, pt, rh), phase_taps(n, f2, sw, dw, pl, rw)
            out.append(_Phase(rh, rw, ph, pw))
    return out


def _input_bands(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    dilation: Pair,
    pads_before: Pair,
    itemsize: int,
) -> Iterator[tuple[_Phase, list[tuple[Pair, Pair, Pair]]]]:
    """Per stride phase, its bands of rows [q0, q1) with the (start, length) of the window
    of G each band's correlation reads (zero outside G)."""
    B, _, m, n = x_shape
    C_out = w_shape[0]
    for phase in _phases((m, n), (w_shape[2], w_shape[3]), stride, dilation, pads_before):
        (h0, w0), (_, len_w) = phase.g_window()
        halo = (phase.h.n_taps - 1) * phase.h.dilation if phase.h.n_taps else 0
        bands = [
            ((q0, q1), (h0 + q0, w0), (q1 - q0 + halo, len_w))
            for q0, q1 in _bands(phase.h.positions, B * C_out * len_w * itemsize)
        ]
        yield phase, bands
