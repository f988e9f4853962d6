"""Pooling over 2-D windows — max, average, power-average (Lp), max-unpooling, adaptive — and
the backward passes.

Window k = (k1, k2), stride s (default k), padding p on both sides of each axis, dilation d
(max pooling only); indices 1-based, as in docs/results.md:

    max:  Y[β,c,i,j] = max_{a,b} X̃[β, c, s(i-1) + d(a-1) + 1, s(j-1) + d(b-1) + 1],
          X̃ padded with -∞
    avg:  Y[β,c,i,j] = (1/D[i,j]) Σ_{a,b} X̃[β, c, s(i-1) + a, s(j-1) + b],   X̃ padded with 0
    Lp:   Y[β,c,i,j] = (K/D[i,j] · Σ_{a,b} X[β, c, s(i-1) + a, s(j-1) + b]^p)^(1/p),  no padding,
          K = k1·k2 (PyTorch's avg_pool2d of X^p times K; also 1-D and 3-D)

Output size per axis floor((m + 2p - d(k-1) - 1)/s) + 1; with ``ceil_mode`` the ceiling, less
one where the last window would start past the input and its left padding (PyTorch's rule:
every window starts inside the input or its left padding). A ceil_mode window that runs past
the right padding reads -∞ / 0 there. Padding is at most half the window (k // 2 per axis,
dilation not counted, as PyTorch checks it); a dilated window that reads padding only is
refused (PyTorch returns -∞ and an index outside the plane there).

The divisor D of the average, PyTorch's rules: ``divisor_override`` if given; else with
``count_include_pad=True`` the taps inside the padded input [-p, m+p) per axis (k1·k2 unless a
ceil_mode window runs past the padding); with ``count_include_pad=False`` the taps on elements
of x only.

Adaptive pooling: output cell i of n over a length m reads the indices
[floor(i·m/n), ceil((i+1)·m/n)); global pooling is n = 1.

The code, one concern a module: ``_common`` (arguments, output sizes, where the window taps
read, blocks of planes), ``max_pool`` with ``_max_choice`` (which element each window
chooses), ``avg_pool``, ``lp_pool`` (built on the average and max ops, 1-D to 3-D), ``unpool``,
``adaptive_pool`` and ``fractional`` (fractional max pooling, 2-D and 3-D: windows of a fixed
size at pseudo-random starts); this package re-exports their public
functions.
"""

from .adaptive_pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
)
from .avg_pool import avg_pool2d, avg_pool2d_backward
from .fractional import (
    fractional_max_pool2d,
    fractional_max_pool2d_backward,
    fractional_max_pool3d,
    fractional_max_pool3d_backward,
)
from .lp_pool import (
    lp_pool1d,
    lp_pool1d_backward,
    lp_pool2d,
    lp_pool2d_backward,
    lp_pool3d,
    lp_pool3d_backward,
)
from .max_pool import max_pool2d, max_pool2d_backward
from .unpool import max_unpool1d, max_unpool1d_backward, max_unpool2d, max_unpool2d_backward

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "fractional_max_pool2d",
    "fractional_max_pool2d_backward",
    "fractional_max_pool3d",
    "fractional_max_pool3d_backward",
    "lp_pool1d",
    "lp_pool1d_backward",
    "lp_pool2d",
    "lp_pool2d_backward",
    "lp_pool3d",
    "lp_pool3d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_unpool1d",
    "max_unpool1d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
]
