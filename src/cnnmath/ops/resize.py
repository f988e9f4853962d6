"""``interpolate``: PyTorch's ``torch.nn.functional.interpolate`` as one function, every mode
a resampling of each spatial axis in turn.

An input of d = 1, 2 or 3 spatial axes (N, C, L), (N, C, H, W) or (N, C, D, H, W) is resized
to n_out pixels per axis, n_out = ``size`` or ⌊n_in·s⌋ for a ``scale_factor`` s. Each mode is
separable: output pixel i of an axis reads source pixels of that axis only, so the whole
resize is one resampling per axis (the last axis first, PyTorch's order):

- ``"nearest"``: y_i = x[⌊i·r⌋] (clipped to n_in − 1), r = 1/s (or n_in/n_out for ``size``),
  the product rounded to float32 as PyTorch's kernel rounds it (``nearest_index``);
- ``"nearest-exact"``: y_i = x[⌊(i + ½)·r⌋], pixel centres mapped to pixel centres;
- ``"linear"`` / ``"bilinear"`` / ``"trilinear"`` (d = 1, 2, 3): the two taps around the source
  coordinate u_i (``interpolate.linear_taps``);
- ``"bicubic"`` (d = 2): the four taps of the cubic convolution kernel (``cubic_taps``).

The backward pass is the adjoint axis by axis: each source pixel receives the weighted sum
of the output gradients that read it (``sum_into_sources``), the first axis first.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._checks import check_float_array
from .interpolate import (
    cubic_taps,
    interpolate_bicubic,
    interpolate_bicubic_backward,
    interpolate_bilinear,
    interpolate_bilinear_backward,
    linear_taps,
    resample_along,
    resample_along_backward,
    sum_into_sources,
)

__all__ = ["interpolate", "interpolate_backward"]

#: mode -> the number of spatial axes it takes (None: any of 1, 2, 3).
MODES: dict[str, int | None] = {
    "nearest": None,
    "nearest-exact": None,
    "linear": 1,
    "bilinear": 2,
    "bicubic": 2,
    "trilinear": 3,
}
_LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def nearest_index(n_in: int, n_out: int, ratio: np.float32, exact: bool = False) -> np.ndarray:
    """PyTorch's nearest source pixel of each output pixel i of an axis, in float32 as its
    kernel computes it: ⌊i·r⌋ (``exact``: ⌊(i + ½)·r⌋, the product rounded to float32),
    clipped to n_in − 1, r = float32(1/scale_factor) when a factor is given, else
    float32(n_in)/n_out. The plain rule takes n_out = n_in as a copy and n_out = 2·n_in as
    i // 2 exactly, as PyTorch does. The float32 rounding decides some pixels: a factor of
    1.3 on 31 pixels reads pixel 30 for output 39, where exact arithmetic gives 29.

    >>> nearest_index(3, 7, np.float32(3 / 7)), nearest_index(3, 7, np.float32(3 / 7), True)
    (array([0, 0, 0, 1, 1, 2, 2]), array([0, 0, 1, 1, 1, 2, 2]))
    """
    i = np.arange(n_out)
    if exact:  # (i + 0.5) in double times the float scale, rounded to float before the floor
        product = (i + 0.5) * np.float64(np.float32(ratio))
        return np.minimum(np.floor(product.astype(np.float32)).astype(np.intp), n_in - 1)
    if n_out == n_in:
        return i
    if n_out == 2 * n_in:
        return i // 2
    product = i.astype(np.float32) * np.float32(ratio)  # float32 rounding, as floorf(i·r)
    return np.minimum(np.floor(product).astype(np.intp), n_in - 1)


class _Plan(NamedTuple):
    """A checked resize: its mode, spatial axes d, the input's and output's sizes per axis,
    the factors the coordinates use (None: n_in/n_out) and align_corners."""

    mode: str
    d: int
    n_in: tuple[int, ...]
    n_out: tuple[int, ...]
    factors: tuple[float | None, ...]
    align_corners: bool
    antialias: bool


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def _plan(
    func: str,
    shape: tuple[int, ...],
    size: Any,
    scale_factor: Any,
    mode: Any,
    align_corners: Any,
    recompute_scale_factor: Any,
    antialias: Any,
) -> _Plan:
    """Every argument checked (a ValueError or TypeError naming it, as PyTorch refuses the
    same calls) and the output size per axis worked out."""
    if not isinstance(mode, str) or mode not in MODES:
        hint = ""
        if mode == "area":
            hint = " ('area' is adaptive average pooling: use adaptive_avg_pool2d)"
        raise ValueError(
            f"{func}: mode: expected one of {', '.join(map(repr, MODES))}{hint}, got {mode!r}"
        )
    if len(shape) not in (3, 4, 5):
        raise ValueError(
            f"{func}: x: expected shape (N, C, L), (N, C, H, W) or (N, C, D, H, W) (a batch "
            f"axis first, as PyTorch's interpolate: x[None] for one image), got {shape}"
        )
    d = len(shape) - 2
    wants = MODES[mode]
    if wants is not None and wants != d:
        raise ValueError(
            f"{func}: x: mode {mode!r} expected shape {_LAYOUTS[wants]}, got {shape} "
            f"({d} spatial axes)"
        )
    if not isinstance(antialias, (bool, np.bool_)):
        raise TypeError(f"{func}: antialias: expected True or False, got {antialias!r}")
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError(
            f"{func}: antialias: expected False with mode {mode!r} (antialiasing is for the "
            f"'bilinear' and 'bicubic' modes, as in PyTorch), got True"
        )
    if align_corners is not None and not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError(
            f"{func}: align_corners: expected True, False or None, got {align_corners!r}"
        )
    if align_corners is not None and mode in ("nearest", "nearest-exact"):
        raise ValueError(
            f"{func}: align_corners: expected None with mode {mode!r} (it concerns the "
            f"interpolating modes linear, bilinear, bicubic, trilinear), got {align_corners!r}"
        )
    if recompute_scale_factor is not None and not isinstance(
        recompute_scale_factor, (bool, np.bool_)
    ):
        raise TypeError(
            f"{func}: recompute_scale_factor: expected True, False or None, got "
            f"{recompute_scale_factor!r}"
        )
    if (size is None) == (scale_factor is None):
        raise ValueError(
            f"{func}: expected exactly one of size and scale_factor, got size={size!r}, "
            f"scale_factor={scale_factor!r}"
        )
    n_in = tuple(int(v) for v in shape[2:])
    factors: tuple[float | None, ...] = (None,) * d
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(
                f"{func}: recompute_scale_factor: expected None or False with a size (there "
                "is no factor to recompute), got True"
            )
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * d
        if len(sizes) != d or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1
            for v in sizes
        ):
            raise ValueError(
                f"{func}: size: expected a positive int or {d} of them (one per spatial axis), "
                f"got {size!r}"
            )
        n_out = tuple(int(v) for v in sizes)
    else:
        many = isinstance(scale_factor, (tuple, list))
        pair = tuple(scale_factor) if many else (scale_factor,) * d
        if len(pair) != d or not all(_is_number(f) and np.isfinite(f) and f > 0 for f in pair):
            raise ValueError(
                f"{func}: scale_factor: expected a positive finite number or {d} of them (one "
                f"per spatial axis), got {scale_factor!r}"
            )
        n_out = tuple(int(np.floor(n * float(f))) for n, f in zip(n_in, pair))
        if min(n_out) < 1:
            raise ValueError(
                f"{func}: scale_factor: an input of {'×'.join(map(str, n_in))} pixels scaled "
                f"by {scale_factor!r} has no output pixel"
            )
        if not recompute_scale_factor:  # True: the coordinates use n_in/n_out, as for size
            factors = tuple(float(f) for f in pair)
    return _Plan(mode, d, n_in, n_out, factors, bool(align_corners), bool(antialias))


def _taps(plan: _Plan, dtype: np.dtype) -> list[tuple[Any, Any]]:
    """Per spatial axis, the (indices, weights) that ``resample_along`` reads: one tap of
    weight 1 for the nearest modes, two for linear, four for bicubic."""
    out: list[tuple[Any, Any]] = []
    for n_in, n_out, s in zip(plan.n_in, plan.n_out, plan.factors):
        if plan.mode in ("nearest", "nearest-exact"):
            ratio = np.float32(1.0 / s) if s is not None else np.float32(n_in) / np.float32(n_out)
            index = nearest_index(n_in, n_out, ratio, exact=plan.mode == "nearest-exact")
            out.append(((index,), None))
        elif plan.mode == "bicubic":
            cubic = cubic_taps(n_in, n_out, s, plan.align_corners, dtype)
            out.append((cubic.source, cubic.weight))
        else:
            t = linear_taps(n_in, n_out, s, plan.align_corners, dtype)
            out.append(((t.i0, t.i1), (t.lambda0, t.lambda1)))
    return out


def _two_d(plan: _Plan) -> dict[str, Any]:
    """The arguments of ``interpolate_bilinear``/``_bicubic`` for an antialiased resize."""
    if all(s is not None for s in plan.factors):
        return {"scale_factor": plan.factors, "align_corners": plan.align_corners}
    return {"size": plan.n_out, "align_corners": plan.align_corners}


def interpolate(
    x: np.ndarray,
    size: int | tuple[int, ...] | None = None,
    scale_factor: float | tuple[float, ...] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> np.ndarray:
    """Resizing as ``torch.nn.functional.interpolate(x, size, scale_factor, mode,
    align_corners, recompute_scale_factor, antialias)``: x (N, C, L), (N, C, H, W) or
    (N, C, D, H, W), float32/float64, resized to Y (N, C, *n_out) in x's dtype, each spatial
    axis in turn,

        Y[β, c, i] = Σ_k w_k(i) · X[β, c, src_k(i)]   (per axis; see the module docstring)

    Give exactly one of ``size`` (an int, or one per spatial axis) and ``scale_factor`` (a
    positive number, or one per axis; n_out = ⌊n_in·s⌋, and the coordinates use r = 1/s as
    PyTorch's — or n_in/n_out with ``recompute_scale_factor=True``).

    Modes: ``"nearest"`` (default; PyTorch's legacy rule ⌊i·r⌋, in float32),
    ``"nearest-exact"`` (⌊(i + ½)·r⌋), ``"linear"`` (3-D x), ``"bilinear"`` and ``"bicubic"``
    (4-D x; as ``interpolate_bilinear`` / ``interpolate_bicubic``), ``"trilinear"`` (5-D x).
    ``align_corners``: None (False) or a bool for the interpolating modes, None for the
    nearest ones. ``antialias=True``: bilinear and bicubic only, as in PyTorch. ``"area"`` is
    refused: it is ``adaptive_avg_pool2d`` (or 1d/3d) to the output size.
    As in PyTorch, a 3-D x is a batch of signals (N, C, L), not one image; use x[None] for
    an unbatched image (C, H, W).

    >>> interpolate(np.array([[[0.0, 1.0, 2.0]]]), scale_factor=2)
    array([[[0., 0., 1., 1., 2., 2.]]])
    >>> interpolate(np.array([[[0.0, 1.0]]]), size=4, mode="linear")
    array([[[0.  , 0.25, 0.75, 1.  ]]])
    """
    func = "interpolate"
    x = check_float_array("x", x, func=func)
    plan = _plan(
        func, x.shape, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )
    if plan.antialias:
        resize = interpolate_bilinear if plan.mode == "bilinear" else interpolate_bicubic
        return resize(x, antialias=True, **_two_d(plan))
    y, taps = x, _taps(plan, x.dtype)
    for axis in reversed(range(plan.d)):  # the last axis first, as PyTorch's kernels
        index, weight = taps[axis]
        if weight is None:
            y = np.take(y, index[0], axis=2 + axis)
        else:
            y = resample_along(y, index, weight, 2 + axis)
    return y


def interpolate_backward(
    grad_output: np.ndarray,
    input_shape: tuple[int, ...],
    size: int | tuple[int, ...] | None = None,
    scale_factor: float | tuple[float, ...] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> np.ndarray:
    """∂ℓ/∂X of ``interpolate(X, size, scale_factor, mode, align_corners,
    recompute_scale_factor, antialias)`` for X of ``input_shape``, given G = ∂ℓ/∂Y of Y's
    shape: ∂ℓ/∂X[β, c, u] = Σ_i G[β, c, i]·w(i → u), each source pixel receiving what every
    output took from it — the adjoint of each axis's resampling, the first axis first. For
    the nearest modes that is G summed over the outputs copied from u. Returns
    ``input_shape`` in G's dtype."""
    func = "interpolate_backward"
    G = check_float_array("grad_output", grad_output, func=func)
    shape = tuple(int(v) for v in input_shape)
    plan = _plan(
        func, shape, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )
    if plan.antialias:
        back = (
            interpolate_bilinear_backward
            if plan.mode == "bilinear"
            else interpolate_bicubic_backward
        )
        return back(G, shape, antialias=True, **_two_d(plan))
    expected = (*shape[:2], *plan.n_out)
    if G.shape != expected:
        raise ValueError(f"{func}: grad_output: expected shape {expected}, got {G.shape}")
    g = G
    taps = _taps(plan, G.dtype)
    for axis in range(plan.d):
        index, weight = taps[axis]
        if weight is None:
            g = sum_into_sources(g, index[0], plan.n_in[axis], 2 + axis)
        else:
            g = resample_along_backward(g, index, weight, plan.n_in[axis], 2 + axis)
    return g
