"""Resizing and its converters: Resize in its nearest, linear and cubic modes (every
coordinate transformation, rounding and aspect policy), GridSample and AffineGrid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn
from ...ops.interpolate import (
    antialias_taps_at,
    cubic_taps_at,
    resample_along,
    resample_along_backward,
    sum_into_sources,
    taps_at,
)
from ._attributes import Attrs
from ._convert import Built, _const, _generic, _plain, _rank, _shape
from ._helpers import _axes, _guard, _memory_bytes, _TooLarge
from ._module import _Op
from ._node import Const, Node, Operand, Ref, refuse
from .shapes import _Shape

_TRANSFORMS = (
    "asymmetric",
    "half_pixel",
    "pytorch_half_pixel",
    "align_corners",
    "half_pixel_symmetric",
)
_ROUNDINGS = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
_POLICIES = ("stretch", "not_larger", "not_smaller")


_F32 = np.float32


def _linear_source(n: int, out: int, scale: float, transform: str, dtype: Any) -> np.ndarray:
    """ONNX Resize's source coordinate u of each of the ``out`` outputs along an axis of n
    values resized by s = ``scale``, in ``dtype`` (the data's: float32 as onnxruntime, float64
    for a float64 model): half_pixel u = (i + ½)/s − ½; pytorch_half_pixel the same, 0 when
    out = 1; align_corners u = i·(n − 1)/(out − 1), 0 when out = 1; asymmetric u = i/s.

    align_corners divides by the output's own length, as onnxruntime and PyTorch do; the
    ONNX specification's reference divides by n·s − 1 (n·s unrounded), which differs where
    n·s is not whole — a PyTorch export of ``align_corners=True`` with a scale factor means
    onnxruntime's."""
    dt = np.dtype(dtype)
    i = np.arange(out, dtype=dt)
    s = dt.type(scale)
    if transform == "align_corners":
        if out == 1:
            return np.zeros(1, dt)
        return i * (dt.type(n - 1) / dt.type(out - 1))
    if transform == "asymmetric":
        return i / s
    if transform == "pytorch_half_pixel" and out == 1:
        return np.zeros(1, dt)
    return (i + dt.type(0.5)) / s - dt.type(0.5)


def _nearest_source(n: int, out: int, scale: float, transform: str, rounding: str) -> np.ndarray:
    """ONNX Resize's nearest source index of each of the ``out`` outputs along an axis of n
    values resized by the factor s = ``scale``: output coordinate y mapped back to x by the
    coordinate_transformation_mode,

        asymmetric            x = y/s
        half_pixel            x = (y + ½)/s − ½
        pytorch_half_pixel    the same; x = 0 when out = 1
        align_corners         x = y·(n − 1)/(out − 1); x = 0 when out = 1

    then rounded by the nearest_mode (an integer x is its own index; otherwise ⌊x⌋, ⌈x⌉ or
    the nearer of the two, a tie (x − ⌊x⌋ = ½) going to the floor or the ceiling) and
    clipped to 0 … n − 1; s = 1 copies the axis unchanged. The arithmetic is onnxruntime's,
    float32 from s, y, out and n as float32, which is also what PyTorch computes for its
    exported ``interpolate(mode="nearest")``. (half_pixel_symmetric is refused at load: no
    order of its float32/float64 arithmetic tried here reproduced onnxruntime's indices.)"""
    if scale == 1:
        return np.minimum(np.arange(out), max(n - 1, 0)).astype(np.intp)
    y = np.arange(out, dtype=_F32)
    s, length, width = _F32(scale), _F32(out), _F32(n)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if transform == "asymmetric":
            x = y / s
        elif transform == "align_corners":
            x = np.zeros(out, _F32) if out == 1 else y * (width - _F32(1)) / (length - _F32(1))
        elif transform == "pytorch_half_pixel" and out <= 1:
            x = np.zeros(out, _F32)
        else:
            x = (y + _F32(0.5)) / s - _F32(0.5)
    if rounding.startswith("round") and transform != "align_corners" and out > 1:
        _refuse_near_ties(x, y, float(s), transform)
    low = np.floor(x)
    if rounding == "floor":
        index = low
    elif rounding == "ceil":
        index = np.ceil(x)
    elif rounding == "round_prefer_floor":
        index = np.where(x - low <= 0.5, low, low + 1)
    else:
        index = np.where(x - low < 0.5, low, low + 1)
    index = np.nan_to_num(index.astype(np.float64), nan=0.0)
    return np.clip(index, 0, max(n - 1, 0)).astype(np.intp)


class _NearTie(Exception):
    """A rounded coordinate within float32 error of a tie; ``_Resize`` names the node."""


def _refuse_near_ties(x: np.ndarray, y: np.ndarray, s: float, transform: str) -> None:
    """Refuse coordinates x that float32 rounded off a value within 1e-5·max(1, |x|) of a
    half: onnxruntime's round_prefer_* index there follows neither the float32 nor the
    float64 value (measured against onnxruntime 1.32 over lengths 1…39 and 1…49: outside
    these near-ties the float32 index is onnxruntime's every time). A tie computed exactly
    (scale ½, 2, …) is not near-tie: its float32 and float64 values are equal."""
    y64 = y.astype(np.float64)
    x64 = y64 / s if transform == "asymmetric" else (y64 + 0.5) / s - 0.5
    near = np.abs(x64 - (np.floor(x64) + 0.5)) <= 1e-5 * np.maximum(1.0, np.abs(x64))
    bad = near & (x.astype(np.float64) != x64)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise _NearTie(
            f"output index {i} maps to source coordinate {float(x64[i])!r}, within float32 "
            f"rounding of a tie between two source indices; onnxruntime's choice there is "
            f"not reproduced, so this scale and length are refused with a round_prefer_* "
            f"nearest_mode (nearest_mode 'floor' or 'ceil' has no such ties)"
        )


def _round_half_away(v: Any) -> int:
    """C's ``round`` of a float32 v ≥ 0: the nearer integer, a tie going up."""
    low = np.floor(v)
    return int(low + 1 if v - low >= 0.5 else low)


def _float32_size(node: Node, v: Any) -> int:
    """⌊v⌋ of a float32 output length s·n; a refusal naming the node where it is not finite."""
    if not np.isfinite(v):
        raise refuse(node, f"input 'scales': the output length s·n = {float(v)} is not finite")
    return int(v)


def _resize_axes(node: Node, axes: list[int] | None, rank: int) -> list[int]:
    """The axes Resize's scales or sizes name: all by default, else the distinct ``axes``."""
    if axes is None:
        return list(range(rank))
    checked = _axes(node, "attribute 'axes'", axes, rank)
    if len(set(checked)) != len(checked):
        raise refuse(node, f"attribute 'axes': expected distinct axes, got {axes}")
    return checked


def _guard_indices(node: Node, plan: Sequence[tuple[int, int, float]]) -> None:
    """Refuse, naming the node, a source-index array per resized axis (``out`` intp values)
    larger than this machine's memory."""
    for a, out, _ in plan:
        n = int(out) * np.dtype(np.intp).itemsize
        if n > _memory_bytes():
            raise refuse(
                node,
                f"axis {a}: the output length {out} needs a source index of "
                f"{n / 2**30:.3g} GiB, more than this machine's memory "
                f"({_memory_bytes() / 2**30:.3g} GiB)",
            )


class _Resize(_Op):
    """Resize, mode "nearest": along each resized axis y[…, i, …] = x[…, src(i), …], src by
    ``_nearest_source``; the output size ⌊s·n⌋ for scales, the given size for sizes (then
    s = size/n; keep_aspect_ratio_policy "not_larger" / "not_smaller" takes the least /
    greatest s over the axes and the size s·n rounded, a tie up), in float32 as onnxruntime
    computes them. Backward: the adjoint of the gather —
    G summed into the source each output copied (``src`` is non-decreasing).

    Mode "linear": along each resized axis, in turn, y[…, i, …] = λ0·x[…, i0, …] +
    λ1·x[…, i1, …] around the source coordinate u of ``_linear_source`` (clamped to the
    axis: past an edge the edge value, as onnxruntime; ``cnnmath.ops.interpolate.taps_at``),
    so on two axes the bilinear resize of PyTorch's ``interpolate``. Mode "cubic": the four
    values ⌊u⌋ − 1 … ⌊u⌋ + 2 (clipped to the axis), u unclamped, with the cubic convolution
    weights of ``cubic_coeff_a`` (``cubic_taps_at``; with ``exclude_outside`` the taps
    outside the axis get weight 0 and the rest are renormalised) — PyTorch's bicubic
    ``interpolate`` for a = −0.75 and "half_pixel". Backward of both: the adjoint, axis by
    axis (``resample_linear_backward``'s rule).

    ``antialias=1`` (opset ≥ 18), modes "linear" and "cubic": a shrinking axis's kernel is
    stretched by 1/s (``cnnmath.ops.interpolate.antialias_taps_at``: the kernel at s·(j − u)
    over every pixel it covers, normalised, edges padded — or with ``exclude_outside``
    renormalised over the pixels inside, which with "half_pixel" is PyTorch's
    ``interpolate(antialias=True)``, bicubic with cubic_coeff_a = −0.5). An axis that keeps
    its length is copied whatever its scale, as onnxruntime does (ONNX's reference resamples
    it by 1/s)."""

    roles = ("x", "roi", "scales", "sizes")

    def __init__(
        self,
        node: Node,
        operands: Sequence[Operand],
        axes: list[int] | None,
        transform: str,
        rounding: str,
        policy: str,
        mode: str = "nearest",
        cubic: tuple[float, bool] = (-0.75, False),
        antialias: bool = False,
    ) -> None:
        super().__init__(node, operands)
        self.axes, self.transform, self.rounding, self.policy = axes, transform, rounding, policy
        self.mode = mode
        self.cubic_coeff_a, self.exclude_outside = cubic
        self.antialias = antialias

    def plan(self, shape: Sequence[int], scales: Any, sizes: Any) -> list[tuple[int, int, float]]:
        """(axis, output size, scale) of every axis scales or sizes name, for an X of
        ``shape``; a ValueError naming the node for a bad scales or sizes."""
        node = self.onnx_node
        axes = _resize_axes(node, self.axes, len(shape))
        has_scales = scales is not None and np.size(scales) > 0
        has_sizes = sizes is not None and np.size(sizes) > 0
        if has_scales == has_sizes:
            raise refuse(
                node,
                "inputs 'scales' and 'sizes': expected exactly one of them, non-empty, got "
                + ("both" if has_scales else "neither"),
            )
        what = "input 'scales'" if has_scales else "input 'sizes'"
        values = np.ravel(np.asarray(scales if has_scales else sizes))
        if values.size != len(axes):
            per = "axis of X" if self.axes is None else "axis in attribute 'axes'"
            raise refuse(
                node, f"{what}: expected {len(axes)} values (one per {per}), got {values.size}"
            )
        if has_scales:
            s = values.astype(_F32)
            if not np.all(np.isfinite(s) & (s > 0)):
                raise refuse(node, f"{what}: expected finite values > 0, got {s.tolist()}")
            # onnxruntime: the size ⌊s·n⌋ in float32, s as given
            plan = [(a, _float32_size(node, f * _F32(shape[a])), float(f)) for a, f in zip(axes, s)]
        else:
            if not np.issubdtype(values.dtype, np.integer):
                raise refuse(node, f"{what}: expected int64 values, got dtype {values.dtype}")
            bad = [(a, int(v)) for a, v in zip(axes, values) if v < 0 or (shape[a] == 0 and v != 0)]
            if bad:
                raise refuse(
                    node,
                    f"{what}: expected sizes >= 0, 0 for an empty axis, got "
                    f"{values.tolist()} for X of shape {tuple(shape)}",
                )
            # onnxruntime: s = size/n in float32 (1 for an empty axis)
            f = [
                _F32(int(size)) / _F32(shape[a]) if shape[a] else _F32(1)
                for a, size in zip(axes, values)
            ]
            plan = [(a, int(size), float(g)) for a, size, g in zip(axes, values, f)]
            if self.policy != "stretch":
                g = min(f) if self.policy == "not_larger" else max(f)
                plan = [(a, _round_half_away(g * _F32(shape[a])), float(g)) for a in axes]
        return plan

    def sources(self, n: int, out: int, scale: float) -> np.ndarray:
        """``_nearest_source`` for this node's modes; a near-tie refused naming the node."""
        try:
            return _nearest_source(n, out, scale, self.transform, self.rounding)
        except _NearTie as e:
            raise refuse(self.onnx_node, str(e)) from None

    def compute(self, x: Any, roi: Any, scales: Any, sizes: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        plan = self.plan(x.shape, scales, sizes)
        out_shape = list(x.shape)
        for a, out, _ in plan:
            out_shape[a] = out
        _guard(out_shape, x.dtype.itemsize)
        _guard_indices(self.onnx_node, plan)  # even when X is empty
        y, gathers = x, list[tuple[int, np.ndarray]]()
        if tuple(out_shape) == x.shape:  # onnxruntime copies X whatever the scales
            return y, gathers
        if self.mode != "nearest":
            by_sizes = scales is None or np.size(scales) == 0
            return self._interpolated(x, plan, by_sizes and self.policy == "stretch")
        # shrinking axes first: every intermediate then holds at most max(|X|, |Y|) values
        for a, out, f in sorted(plan, key=lambda p: p[1] - x.shape[p[0]]):
            src = self.sources(x.shape[a], out, f)
            if out != x.shape[a] or not np.array_equal(src, np.arange(out)):
                _guard((*y.shape[:a], out, *y.shape[a + 1 :]), x.dtype.itemsize)
                y = np.take(y, src, axis=a)
                gathers.append((a, src))
        return y, gathers

    def _stencil(self, n: int, out: int, f: float, dtype: np.dtype) -> tuple[Any, Any]:
        """The (indices, weights) of the taps along an axis of n values resized to ``out``
        by the factor f, for this node's mode: two taps for "linear", four for "cubic", the
        widened band of ``antialias_taps_at`` with antialias."""
        u = _linear_source(n, out, f, self.transform, dtype)
        if self.antialias:
            band = antialias_taps_at(u, n, f, self.mode, self.cubic_coeff_a, self.exclude_outside)
            return band.source, band.weight
        if self.mode == "cubic":
            cubic = cubic_taps_at(u, n, self.cubic_coeff_a, self.exclude_outside)
            return cubic.source, cubic.weight
        taps = taps_at(u, n, dtype)
        return (taps.i0, taps.i1), (taps.lambda0, taps.lambda1)

    def _interpolated(
        self, x: np.ndarray, plan: list[tuple[int, int, float]], exact_ratio: bool
    ) -> tuple[np.ndarray, Any]:
        """Modes "linear" and "cubic": the taps of every resized axis applied in turn,
        shrinking axes first; the context lists (axis, taps, input size) for the backward. With
        ``exact_ratio`` (sizes given, stretched) the factor is out/n in x's dtype, not the
        plan's float32 one, so that a float64 model's coordinates are float64 throughout."""
        y, passes = x, list[tuple[int, Any, int]]()
        if not np.issubdtype(x.dtype, np.floating):
            raise refuse(self.onnx_node, f"input 'X': expected float values, got {x.dtype}")
        for a, out, f in sorted(plan, key=lambda p: p[1] - x.shape[p[0]]):
            n = y.shape[a]
            if n == 0 or out == 0:
                shape = list(y.shape)
                shape[a] = out
                y = np.zeros(shape, x.dtype)
                passes.append((a, None, n))
                continue
            if self.antialias and out == n:  # onnxruntime copies it, whatever the scale
                continue
            if exact_ratio:
                f = float(x.dtype.type(out) / x.dtype.type(n))
            index, weight = self._stencil(n, out, f, x.dtype)
            _guard((*y.shape[:a], out, *y.shape[a + 1 :]), x.dtype.itemsize)
            y = resample_along(y, index, weight, a)  # 0·inf is NaN, as onnxruntime
            passes.append((a, (index, weight), n))
        return y, ("interpolated", passes)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        shape = np.shape(args[0])
        if isinstance(ctx, tuple) and ctx and ctx[0] == "interpolated":
            for a, taps, n in reversed(ctx[1]):
                if taps is None:
                    g = np.zeros((*g.shape[:a], n, *g.shape[a + 1 :]), g.dtype)
                    continue
                index, weight = taps
                g = resample_along_backward(g, index, weight, n, a)
            return [g, None, None, None]
        for a, src in reversed(ctx):  # the growing axes summed back first
            if src.size == 0:
                g = np.zeros((*g.shape[:a], shape[a], *g.shape[a + 1 :]), g.dtype)
            else:
                g = sum_into_sources(g, src, shape[a], a)
        return [g, None, None, None]

    def extra_repr(self) -> str:
        """The op type and its rule."""
        aa = ", antialias=1" if self.antialias else ""
        if self.mode == "linear":
            excluded = f", exclude_outside={self.exclude_outside}" if self.antialias else ""
            return (
                f"onnx_op={self.onnx_op!r}, mode='linear', "
                f"coordinate_transformation_mode={self.transform!r}{excluded}{aa}"
            )
        if self.mode == "cubic":
            return (
                f"onnx_op={self.onnx_op!r}, mode='cubic', "
                f"coordinate_transformation_mode={self.transform!r}, "
                f"cubic_coeff_a={self.cubic_coeff_a!r}, exclude_outside={self.exclude_outside}"
                f"{aa}"
            )
        return (
            f"onnx_op={self.onnx_op!r}, mode='nearest', "
            f"coordinate_transformation_mode={self.transform!r}, nearest_mode={self.rounding!r}"
        )


# ---------------------------------------------------------------------------------------------
# Converters


#: GridSample's modes by their names before opset 20 and from 20 on (ONNX's cubic is
#: PyTorch's bicubic: A = −0.75, each tap padded on its own).
_GRID_MODES = {
    "bilinear": "bilinear",
    "linear": "bilinear",
    "nearest": "nearest",
    "bicubic": "bicubic",
    "cubic": "bicubic",
}


def grid_sample(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """GridSample on a 4-D image and a grid both computed at run time (a spatial
    transformer, as PyTorch exports ``F.grid_sample``): ``nn.GridSample``. Bilinear, nearest
    and bicubic ("bilinear" and "bicubic" before opset 20, "linear" and "cubic" from 20)."""
    x, grid = ins
    mode = attrs.get("mode", "linear" if node.opset >= 20 else "bilinear")
    padding_mode = attrs.get("padding_mode", "zeros")
    align_corners = attrs.get("align_corners", 0)
    renamed = ("bilinear", "bicubic") if node.opset >= 20 else ("linear", "cubic")  # the others'
    if mode not in _GRID_MODES or mode in renamed:
        names = (
            "'linear', 'nearest' or 'cubic'"
            if node.opset >= 20
            else "'bilinear', 'nearest' or 'bicubic'"
        )
        raise refuse(
            node, f"attribute 'mode': expected {names} at opset {node.opset}, got {mode!r}"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise refuse(
            node,
            f"attribute 'padding_mode': expected 'zeros', 'border' or 'reflection', got "
            f"{padding_mode!r}",
        )
    for role, operand, rank in (("X", x, 4), ("grid", grid, 4)):
        given = _rank(info, operand)
        if not isinstance(operand, Ref) or (given is not None and given != rank):
            raise refuse(
                node,
                f"input {role!r}: expected a 4-D value computed at run time (2-D sampling), "
                f"got {'rank ' + str(given) if given is not None else 'a constant'}",
            )
    assert isinstance(x, Ref) and isinstance(grid, Ref)
    layer = nn.GridSample(_GRID_MODES[mode], padding_mode, bool(align_corners))
    return layer, [x.name, grid.name]


def affine_grid(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """AffineGrid (opset 20) of θ computed at run time: for a ``size`` (N, C, H, W) known at
    load time, as PyTorch exports ``F.affine_grid(theta, x.size())``, ``nn.AffineGrid(size)``;
    for ``size = Shape(image)`` of a 4-D run-time value, as cnnmath saves it,
    ``nn.AffineGrid()`` reading that image's shape."""
    theta, size = ins
    if not isinstance(theta, Ref):
        raise refuse(node, "input 'theta': expected a value computed at run time")
    source = info["producers"].get(size.name) if isinstance(size, Ref) else None
    if (
        source is not None
        and isinstance(source[0], _Shape)
        and (source[0].start, source[0].end) == (0, None)
    ):
        image = source[1][0]  # size = Shape(image): the grid of the image's size, as saved
        if _rank(info, Ref(image)) in (None, 4):
            return nn.AffineGrid(align_corners=bool(attrs.get("align_corners", 0))), [
                theta.name,
                image,
            ]
    const = _const(node, size, "size")
    sizes = [int(v) for v in np.ravel(np.asarray(const))] if const is not None else []
    if len(sizes) != 4 or min(sizes) < 1:
        raise refuse(
            node,
            f"input 'size': expected (N, C, H, W), 4 sizes >= 1 known at load time (2-D "
            f"grids) or the Shape of a 4-D value, got {sizes or 'a value computed at run time'}",
        )
    return nn.AffineGrid(tuple(sizes), bool(attrs.get("align_corners", 0))), [theta.name]


def _power_of_two(f: float) -> bool:
    return f > 0 and math.frexp(f)[0] == 0.5


def resize(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    x, roi, scales, sizes = ins
    choices = (
        ("mode", "nearest", ("nearest", "linear", "cubic")),
        ("coordinate_transformation_mode", "half_pixel", _TRANSFORMS),
        ("nearest_mode", "round_prefer_floor", _ROUNDINGS),
        ("keep_aspect_ratio_policy", "stretch", _POLICIES),
    )
    chosen = []
    for name, default, allowed in choices:
        value = attrs.get(name, default)
        if value not in allowed:
            raise refuse(
                node,
                f"attribute {name!r}: expected {' or '.join(map(repr, allowed))}, got {value!r}",
            )
        chosen.append(value)
    mode, transform, rounding, policy = chosen
    if transform == "half_pixel_symmetric":
        raise refuse(
            node,
            "attribute 'coordinate_transformation_mode': 'half_pixel_symmetric' is not "
            "supported: its rounding is not reproduced exactly as onnxruntime computes it",
        )
    antialias = bool(attrs.get("antialias", 0))  # a kernel widened when shrinking
    if antialias and mode == "nearest":
        raise refuse(node, "attribute 'antialias': expected 0 with mode 'nearest', got 1")
    if antialias and node.opset < 18:
        raise refuse(
            node,
            f"attribute 'antialias': Resize has it from opset 18 on, this model's opset is "
            f"{node.opset}",
        )
    exclude_outside = attrs.get("exclude_outside", 0)
    # it changes the cubic weights and the antialiased ones only (plain linear clamps anyway)
    if exclude_outside and mode != "cubic" and not antialias:
        raise refuse(node, f"attribute 'exclude_outside': expected 0 with mode {mode!r}, got 1")
    a = float(attrs.get("cubic_coeff_a", -0.75))  # mode "cubic" only
    if not np.isfinite(a):
        raise refuse(node, f"attribute 'cubic_coeff_a': expected a finite number, got {a}")
    attrs.get("extrapolation_value")  # "tf_crop_and_resize" only, which is refused
    axes = attrs.ints("axes", None)
    static = _shape(info, x)
    if static is not None:
        _resize_axes(node, axes, len(static))
    operands = [x, _plain(roi), _plain(scales), _plain(sizes)]
    cubic = (a, bool(exclude_outside))
    module = _Resize(node, operands, axes, transform, rounding, policy, mode, cubic, antialias)
    if static is not None and not isinstance(scales, Ref) and not isinstance(sizes, Ref):
        known = tuple(1 if n is None else n for n in static)  # refused now, not when run
        plan = module.plan(known, getattr(scales, "value", None), getattr(sizes, "value", None))
        if None not in static and any(static[a] != out for a, out, _ in plan):
            out_shape = list(static)
            for a, out, _ in plan:
                out_shape[a] = out
            try:  # an output too large for this machine refused now, not when run
                _guard(out_shape, 1)
            except _TooLarge as e:
                raise refuse(node, str(e)) from None
            _guard_indices(node, plan)
            for a, out, f in plan:  # a near-tie refused now too
                if mode == "nearest":
                    module.sources(static[a], out, f)
    if (
        isinstance(x, Ref)
        and info["float"].get(x.name, False)
        and static is not None
        and len(static) == 4
        and (mode, transform, rounding, axes) == ("nearest", "asymmetric", "floor", None)
        and isinstance(scales, Const)
        and scales.value.size == 4
        and sizes is None
    ):
        s = [float(f) for f in np.ravel(scales.value)]
        # Upsample's source ⌊i·(1/s)⌋ is ONNX's ⌊i/s⌋ exactly when 1/s is exact: s = 2^k
        if s[:2] == [1.0, 1.0] and all(f >= 1 and _power_of_two(f) for f in s[2:]):
            factor = s[2] if s[2] == s[3] else (s[2], s[3])
            return nn.Upsample(scale_factor=factor), [x.name]
    return _generic(module, operands)
