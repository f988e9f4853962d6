"""What the volumetric ops share: the (depth, height, width) triples and their checks, the
depth taps that reduce a 3-D window to 2-D ones (``_depth_taps``), and the folds of depth into
the batch axis."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..._checks import (
    batched_volume,
    check_float_array,
    check_same_dtype,
    check_shape,
    int_triple,
)
from ..conv._arguments import _MAX_INDEX

Triple = tuple[int, int, int]


_AXES = ("depth", "height", "width")


class _DepthTap(NamedTuple):
    """Depth tap e: outputs t = lo .. lo+n-1 read input depths u0, u0 + s0, ... (all inside x)."""

    e: int
    lo: int
    n: int
    u0: int

    def rows(self, s: int) -> slice:
        """The input depths this tap reads, as a slice of the depth axis."""
        return slice(self.u0, self.u0 + s * (self.n - 1) + 1, s)


def _depth_taps(D: int, D_out: int, f: int, s: int, d: int, p_before: int) -> list[_DepthTap]:
    """For each of the f depth taps, the run of outputs whose input depth u = s·t + d·e - p
    lies inside [0, D) (u grows with t, so the run is contiguous)."""
    taps = []
    for e in range(f):
        offset = d * e - p_before
        lo = max(0, (-offset + s - 1) // s)  # the first t with s·t + offset >= 0
        hi = min(D_out, (D - 1 - offset) // s + 1) if D - 1 - offset >= 0 else 0
        n = max(0, hi - lo)
        taps.append(_DepthTap(e, lo, n, s * lo + offset))
    return taps


def _volume(name: str, x: Any, *, func: str) -> tuple[np.ndarray, bool]:
    check_float_array(name, x, func=func)
    return batched_volume(name, x, func=func)


def _index_triple(name: str, value: Any, *, minimum: int, func: str) -> Triple:
    """``int_triple``, also refusing values no array index can hold."""
    triple = int_triple(name, value, minimum=minimum, func=func)
    if max(triple) > _MAX_INDEX:
        raise ValueError(
            f"{func}: {name}: expected values at most {_MAX_INDEX} (the largest array index), "
            f"got {value!r}"
        )
    return triple


def _grad_output(
    grad_output: Any, x: np.ndarray, out: Triple, *, func: str, channels: int | None = None
) -> np.ndarray:
    """grad_output checked against the forward's output shape, as 5-D: x's batch, ``channels``
    (x's when None) and the output size ``out``."""
    check_float_array("grad_output", grad_output, func=func)
    check_same_dtype(func, grad_output=grad_output, x=x)
    C = x.shape[-4] if channels is None else channels
    check_shape("grad_output", grad_output, (*x.shape[:-4], C, *out), func=func)
    return grad_output[None] if x.ndim == 4 else grad_output


def _depth_last(a: np.ndarray) -> np.ndarray:
    """(B, C, D, H, W) -> a contiguous (B, D, C, H, W): each depth slice is a 2-D batch."""
    return np.ascontiguousarray(a.transpose(0, 2, 1, 3, 4))


def _fold(a: np.ndarray) -> np.ndarray:
    """(B, n, C, H, W) -> (B·n, C, H, W): the depth positions folded into the batch."""
    return a.reshape(a.shape[0] * a.shape[1], *a.shape[2:])
