"""Resampling: Upsample (nearest, bilinear, bicubic) as Resize or, where Resize's float32
coordinates would read other pixels, as Gathers of the layer's own; ResizeLike, GridSample
and AffineGrid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import nn
from ._writer import _INT64_MAX, _needs, _Writer


def _upsample_sources(m: nn.Upsample, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns of an h×w input that Upsample ``m`` copies: it run on the
    pixels' numbers."""
    numbers = m(np.arange(h * w, dtype=np.float64).reshape(1, 1, h, w))[0, 0].astype(np.int64)
    return numbers[:, 0] // w, numbers[0, :] % w


def _resize_sources(scales: Sequence[float] | None, out: Sequence[int], hw: Sequence[int]) -> Any:
    """What Resize (asymmetric, floor) reads along H and W as onnxruntime and ``load``
    compute it (float32): the rows and columns, or None where it copies X unchanged."""
    from .._ops import _nearest_source

    picked = []
    for i, n in enumerate(hw):
        f = np.float32(scales[i]) if scales is not None else np.float32(out[i]) / np.float32(n)
        size = int(f * np.float32(n)) if scales is not None else out[i]
        if size != out[i]:
            return "size differs"
        picked.append(_nearest_source(n, size, float(f), "asymmetric", "floor"))
    return None if tuple(out) == tuple(hw) else picked


def _upsample_interpolated(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """Upsample(mode="bilinear" or "bicubic") as a linear or cubic Resize (a = −0.75, as
    PyTorch's): align_corners's coordinates depend only on the sizes; half_pixel's use the
    factor when the layer has one (1/s, where sizes would give n/out) — so that onnxruntime
    computes the same output size ⌊s·n⌋ is checked."""
    m = node.module
    assert isinstance(m, nn.Upsample)
    attrs: dict[str, Any] = {
        "mode": "linear" if m.mode == "bilinear" else "cubic",
        "coordinate_transformation_mode": "align_corners" if m.align_corners else "half_pixel",
    }
    if m.mode == "bicubic":
        attrs["cubic_coeff_a"] = -0.75
    if m.scale_factor is None or m.align_corners or m.recompute_scale_factor:
        # recompute_scale_factor: the layer's coordinates come from the sizes, as Resize's do
        _resize_by_sizes(w, node, out, attrs)
        return
    sh, sw = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor,) * 2
    in_hw = tuple(shapes[0][-2:])
    if m.mode == "bilinear":
        # an axis that keeps its length is copied by the layer (as PyTorch), by Resize at scale 1
        sh, sw = (1.0 if n == o else f for f, n, o in zip((sh, sw), in_hw, out[-2:]))
    elif in_hw == tuple(out[-2:]) and (sh, sw) != (1.0, 1.0):
        raise ValueError(
            f"save: model: node {node.name!r} (Upsample): bicubic by scale_factor "
            f"{m.scale_factor!r} keeps the {in_hw[0]}×{in_hw[1]} pixels and resamples them by "
            f"1/s; a Resize to X's own shape copies X (onnxruntime)"
        )
    sizes = [int(np.float32(f) * np.float32(n)) for f, n in zip((sh, sw), in_hw)]
    if sizes != list(out[-2:]):
        raise ValueError(
            f"save: model: node {node.name!r} (Upsample): a Resize by scale_factor "
            f"{m.scale_factor!r} gives {sizes[0]}×{sizes[1]} pixels in float32 (onnxruntime), "
            f"the layer {out[-2]}×{out[-1]}; give the layer size=({out[-2]}, {out[-1]})"
        )
    scales = w.const(f"{node.name}/scales", [1.0, 1.0, sh, sw], np.float32)
    w.node("Resize", [node.inputs[0], "", scales], node.output, node.name, **attrs)


def _upsample(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.Upsample)
    if m.mode != "nearest":
        _upsample_interpolated(w, node, shapes, out)
        return
    base = node.name
    attrs = {
        "mode": "nearest",
        "coordinate_transformation_mode": "asymmetric",
        "nearest_mode": "floor",
    }
    in_hw = tuple(shapes[0][-2:])
    rows, cols = _upsample_sources(m, *in_hw)
    factors = None
    if m.scale_factor is not None:
        factors = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor,) * 2
    resize = _resize_sources(factors, out[-2:], in_hw)
    identity = resize is None and np.array_equal(rows, np.arange(in_hw[0]))
    identity = identity and np.array_equal(cols, np.arange(in_hw[1]))
    if isinstance(resize, str) or not (
        identity
        or (
            resize is not None
            and np.array_equal(resize[0], rows)
            and np.array_equal(resize[1], cols)
        )
    ):
        # Resize's float32 coordinates would read other pixels than Upsample's float64
        # ones (a factor such as 0.6 or 49): the same copy as two Gathers of its indices
        source = node.inputs[0]
        for axis, index in ((2, rows), (3, cols)):
            source = w.node(
                "Gather",
                [source, w.const(f"{base}/index{axis}", index, np.int64)],
                node.output if axis == 3 else f"{base}/rows",
                f"{base}/gather{axis}",
                axis=axis,
            )
        return
    if m.scale_factor is not None:
        sh, sw = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor,) * 2
        scales = w.const(f"{base}/scales", [1.0, 1.0, sh, sw], np.float32)
        w.node("Resize", [node.inputs[0], "", scales], node.output, base, **attrs)
        return
    _resize_by_sizes(w, node, out, attrs)


def _resize_by_sizes(w: _Writer, node: nn.Node, out: tuple, attrs: dict[str, Any]) -> None:
    """A Resize to the output's (h, w) by its ``sizes`` input: before opset 18 sizes name
    every axis, so (B, C) are read from the input's shape (B is symbolic)."""
    base = node.name
    shape = w.node("Shape", [node.inputs[0]], f"{base}/shape", f"{base}/shape")
    lead = w.node(
        "Slice",
        [
            shape,
            w.const(f"{base}/zero", [0], np.int64),
            w.const(f"{base}/two", [2], np.int64),
        ],
        f"{base}/batch_channels",
        f"{base}/slice",
    )
    hw = w.const(f"{base}/size", list(out[-2:]), np.int64)
    sizes = w.node("Concat", [lead, hw], f"{base}/sizes", f"{base}/sizes", axis=0)
    w.node("Resize", [node.inputs[0], "", "", sizes], node.output, base, **attrs)


def _grid_sample(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.GridSample)
    _needs(w, node, "GridSample", 16)
    names = {"bilinear": ("bilinear", "linear"), "bicubic": ("bicubic", "cubic")}  # (< 20, ≥ 20)
    mode = m.mode if m.mode == "nearest" else names[m.mode][w.opset >= 20]
    attrs = {"mode": mode, "padding_mode": m.padding_mode, "align_corners": int(m.align_corners)}
    w.node("GridSample", node.inputs, node.output, node.name, **attrs)


def _affine_grid(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    m = node.module
    assert isinstance(m, nn.AffineGrid)
    _needs(w, node, "AffineGrid", 20)
    base = node.name
    if m.size is None:  # the size of the image read: Shape(image), whatever its batch
        size = w.node("Shape", [node.inputs[1]], f"{base}/size", f"{base}/size")
    else:
        size = w.const(f"{base}/size", list(m.size), np.int64)
    attrs = {"align_corners": int(m.align_corners)}
    w.node("AffineGrid", [node.inputs[0], size], node.output, base, **attrs)


def _resize_like(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """ResizeLike as a linear Resize by ``sizes``, x's leading axes and like's last two read
    from their shapes when the model runs (a segmentation model's logits follow the image's
    size, whatever it is)."""
    m = node.module
    assert isinstance(m, nn.ResizeLike)
    if m.antialias:
        _needs(w, node, "Resize's antialias", 18)
        if m.align_corners:
            raise ValueError(
                f"save: model: node {node.name!r} (ResizeLike): antialias with align_corners "
                "centres output i at r·(i + ½), r = (n − 1)/(N − 1) (PyTorch's rule), which no "
                "coordinate_transformation_mode of ONNX's Resize gives"
            )
    base = node.name
    x, like = node.inputs
    x_shape = w.node("Shape", [x], f"{base}/x_shape", f"{base}/x_shape")
    like_shape = w.node("Shape", [like], f"{base}/like_shape", f"{base}/like_shape")
    minus_two = w.const(f"{base}/minus_two", [-2], np.int64)
    lead = w.node(
        "Slice",
        [x_shape, w.const(f"{base}/zero", [0], np.int64), minus_two],
        f"{base}/lead",
        f"{base}/lead",
    )
    hw = w.node(
        "Slice",
        [like_shape, minus_two, w.const(f"{base}/end", [_INT64_MAX], np.int64)],
        f"{base}/hw",
        f"{base}/hw",
    )
    sizes = w.node("Concat", [lead, hw], f"{base}/sizes", f"{base}/sizes", axis=0)
    transform = "align_corners" if m.align_corners else "half_pixel"
    attrs: dict[str, Any] = {"mode": "linear", "coordinate_transformation_mode": transform}
    if m.antialias:
        # ONNX's antialiased weights renormalised over the pixels inside: PyTorch's
        attrs.update(antialias=1, exclude_outside=1)
    w.node("Resize", [x, "", "", sizes], node.output, base, **attrs)
