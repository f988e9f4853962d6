"""Regions of interest: RoIAlign as RoiAlign of the boxes split into rois and batch indices;
RoIPool as MaxRoiPool of the boxes as they are. ONNX holds ``spatial_scale`` as a float32
attribute: a scale float32 does not hold (0.7; not 1/16, 0.5) is rounded to it, which moves
a float64 graph's box edges where they fall within a rounding of a bin's edge."""

from __future__ import annotations

import numpy as np

from ... import nn
from ._writer import _needs, _Writer


def _roi_align(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """RoIAlign: RoiAlign (opset ≥ 16, for coordinate_transformation_mode) of X, rois =
    boxes[:, 1:5] and batch_indices = int64(boxes[:, 0]); sampling_ratio ≤ 0 as ONNX's 0."""
    m = node.module
    assert isinstance(m, nn.RoIAlign)
    _needs(w, node, "RoiAlign", 16)
    x, boxes = node.inputs
    b = node.name
    ends = [w.const(f"{b}/{k}", [v], np.int64) for k, v in (("start", 1), ("end", 5), ("axis", 1))]
    rois = w.node("Slice", [boxes, *ends], f"{b}/rois", f"{b}/rois")
    column = w.node(
        "Gather", [boxes, w.const(f"{b}/column", 0, np.int64)], f"{b}/n", f"{b}/n", axis=1
    )
    index = w.node("Cast", [column], f"{b}/batch_indices", f"{b}/cast", to=w.onnx.TensorProto.INT64)
    w.node(
        "RoiAlign",
        [x, rois, index],
        node.output,
        node.name,
        mode="avg",
        output_height=m.output_size[0],
        output_width=m.output_size[1],
        spatial_scale=float(m.spatial_scale),
        sampling_ratio=max(int(m.sampling_ratio), 0),
        coordinate_transformation_mode="half_pixel" if m.aligned else "output_half_pixel",
    )


def _roi_pool(w: _Writer, node: nn.Node, shapes: list, out: tuple) -> None:
    """RoIPool: MaxRoiPool (opset 1) of X and the boxes (K, 5) [n, x1, y1, x2, y2], its rois
    input as they are; the same rounded box and bins (onnxruntime runs float32 only)."""
    m = node.module
    assert isinstance(m, nn.RoIPool)
    x, boxes = node.inputs
    w.node(
        "MaxRoiPool",
        [x, boxes],
        node.output,
        node.name,
        pooled_shape=list(m.output_size),
        spatial_scale=float(m.spatial_scale),
    )
