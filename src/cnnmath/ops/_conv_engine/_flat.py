"""The flat stride-phase layout that "planes" and "dots" read: the taps grouped into classes
that share a phase, one strided view of every shifted run of a class, and the phases
copied once where no view exists.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _threads
from .._geometry import Pair
from .._windows import flat_phases


def _tap_classes(
    kernel: Pair, stride: Pair, dilation: Pair, width: int
) -> list[tuple[slice, slice, int, int, int, int]]:
    """The taps of a kernel on the flat stride-phase layout, in classes that share a phase.

    Tap (a, e) reads phase ((d_h a) % s_h, (d_w e) % s_w) at offset
    (d_h a // s_h)·width + d_w e // s_w. The taps a = a0, a0 + t_h, ... (t_h = s_h/gcd(s_h, d_h))
    share a phase, their offsets a fixed distance apart; likewise along the width. Each class
    is (rows of taps, columns of taps, phase, offset of its first tap, distance between its
    tap rows, distance between its tap columns): a strided grid, one view for all its taps.
    """
    (f1, f2), (sh, sw), (dh, dw) = kernel, stride, dilation
    th, tw = sh // math.gcd(sh, dh), sw // math.gcd(sw, dw)
    return [
        (
            slice(a0, f1, th),
            slice(e0, f2, tw),
            (dh * a0 % sh) * sw + dw * e0 % sw,
            (dh * a0 // sh) * width + dw * e0 // sw,
            dh * th // sh * width,
            dw * tw // sw,
        )
        for a0 in range(min(f1, th))
        for e0 in range(min(f2, tw))
    ]


def _shift_views(
    X: np.ndarray, classes: list[tuple[slice, slice, int, int, int, int]], kernel: Pair, run: int
) -> list[np.ndarray]:
    """Per class of ``_tap_classes(kernel, ...)``, every shifted run of the flat phases X
    (..., phases, n) in one read-only view:

        V[..., a', e', n] = X[..., phase, off + a'·step_a + e'·step_e + n],   n < run.
    """
    unit = X.strides[-1]  # bytes between flat neighbours (the item size but in a view)
    out = []
    for taps_a, taps_e, phase, off, step_a, step_e in classes:
        base = X[..., phase, off:]
        n_a, n_e = len(range(kernel[0])[taps_a]), len(range(kernel[1])[taps_e])
        out.append(
            np.lib.stride_tricks.as_strided(
                base,
                shape=(*base.shape[:-1], n_a, n_e, run),
                strides=(*base.strides[:-1], step_a * unit, step_e * unit, unit),
                writeable=False,
            )
        )
    return out


#: glibc serves an allocation above its largest mmap threshold (32 MiB on 64-bit) with fresh
#: pages every time, each faulting on its first write; below it, freed memory is reused.
_FRESH_PAGES_BYTES = 32 << 20


def _phases_copied_once(
    x: np.ndarray,
    window: tuple[Pair, Pair] | None,
    step: Pair,
    shape: tuple[int, ...],
    name: str,
) -> np.ndarray | None:
    """x's flat phases (`flat_phases`, of this ``shape``) for a method that reads them by
    blocks: a view where one exists; else the copy, made once — into the calling thread's
    kept buffer "``name``, whole" when it fits (`_threads.scratch`) — up to
    _FRESH_PAGES_BYTES; else None, and each block copies its own phases into its thread's
    buffer (the method's ``name``): a larger copy
    lands on fresh pages, whose faults cost about as much as the copy
    (docs/performance.md, "Fresh pages")."""
    X = flat_phases(x, window, step)
    if X is not None:
        return X
    size = math.prod(shape) * x.itemsize
    if size <= _threads._SCRATCH_BYTES:  # read by the region's blocks: a name none uses
        return flat_phases(x, window, step, _threads.scratch(name + ", whole", shape, x.dtype))
    if size <= _FRESH_PAGES_BYTES:
        return flat_phases(x, window, step, np.empty(shape, dtype=x.dtype))
    return None
