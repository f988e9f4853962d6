"""ONNX's RoiAlign, MaxRoiPool and NonMaxSuppression, on cnnmath.ops.roi.

RoiAlign (opsets 10, 16): X (N, C, H, W), rois (K, 4) [x1, y1, x2, y2], batch_indices (K,)
int64; Y (K, C, output_height, output_width) = ``ops.roi_align`` with the rows
[batch_indices, rois]. ``coordinate_transformation_mode`` "half_pixel" (opset 16's default)
is ``aligned=True``, "output_half_pixel" (opset 10's only behaviour) ``aligned=False``;
``sampling_ratio`` 0 is adaptive (⌈roi size/output size⌉), as torchvision's ≤ 0. Mode "avg"
only: onnxruntime's "max" takes, per bin, the largest of the samples' *weighted corner
values* (each of the four bilinear terms w·X separately, not the interpolated value) — a
quantity neither torchvision nor the ONNX reference shares — so it is refused by name.
Gradient: ∂ℓ/∂X from ``ops.roi_align_backward``; none for the rois and indices.

MaxRoiPool (opset 1): X (N, C, H, W), rois (K, 5) [batch_index, x1, y1, x2, y2] in X's type;
Y (K, C, pooled_shape[0], pooled_shape[1]) = ``ops.roi_pool(X, rois, pooled_shape,
spatial_scale)``: the max over each bin of the box rounded to whole pixels (0 for an empty
bin), the rounding and bins of onnxruntime's MaxRoiPool and torchvision's roi_pool alike.
NaN in X never wins a bin, as in torchvision; onnxruntime's running max restarts at a NaN,
so where X holds NaN its bins depend on the order it reads them in, and may differ. Any float
type runs (onnxruntime has float32 only). Gradient: each output's to its argmax
(``ops.roi_pool_backward``); none for the rois.

NonMaxSuppression (opsets 10, 11): boxes (B, N, 4), scores (B, C, N); for every batch b and
class c, the boxes with score > ``score_threshold`` (all when absent) by score descending
(ties by index, as onnxruntime and ONNX's reference), each selected unless its IoU with a box
already selected for (b, c) exceeds ``iou_threshold`` (default 0), at most
``max_output_boxes_per_class`` (default 0: none) per class. Boxes are corners [y1, x1, y2, x2]
in either diagonal order (``center_point_box`` 0) or [x_c, y_c, w, h] (1); pairs that do not
overlap, or of which one has no area, never suppress. Output (num_selected, 3) int64
[b, c, box], in (b, c) order then selection order. A loop over the B·C classes and, inside,
over the selected boxes with one vectorised IoU row each: O(N²) time per class at worst.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops
from ._ops import Attrs, Built, Node, Operand, _generic, _Op, _plain, refuse

__all__ = ["max_roi_pool", "non_max_suppression", "roi_align"]


def _rows(node: Node, x: np.ndarray, rois: Any, batch_indices: Any) -> np.ndarray:
    """The (K, 5) rows [n, x1, y1, x2, y2], or a refusal naming the input at fault."""
    rois, index = np.asarray(rois), np.asarray(batch_indices)
    if rois.ndim != 2 or rois.shape[1] != 4:
        raise refuse(node, f"input 'rois': expected shape (num_rois, 4), got {rois.shape}")
    if not np.issubdtype(index.dtype, np.integer) or index.shape != (len(rois),):
        raise refuse(
            node,
            f"input 'batch_indices': expected an integer array of shape (num_rois,) = "
            f"({len(rois)},), got {index.dtype} of shape {index.shape}",
        )
    N = x.shape[0]
    if np.any((index < 0) | (index >= N)):
        bad = int(index[(index < 0) | (index >= N)][0])
        raise refuse(node, f"input 'batch_indices': expected values in [0, {N}) (X's N), got {bad}")
    if not np.all(np.isfinite(rois)):
        raise refuse(node, "input 'rois': expected finite coordinates, got NaN or infinity")
    return np.concatenate([index[:, None].astype(rois.dtype), rois], axis=1)


class _RoiAlign(_Op):
    """RoiAlign (mode "avg"): ``ops.roi_align`` on X and the rows [batch_indices, rois];
    gradient for X only."""

    roles = ("X", "rois", "batch_indices")

    def __init__(self, node: Node, operands: Sequence[Operand], options: dict[str, Any]) -> None:
        super().__init__(node, operands)
        self.options = options

    def compute(self, x: Any, rois: Any, batch_indices: Any) -> tuple[np.ndarray, Any]:
        x = np.asarray(x)
        if x.ndim != 4:
            raise refuse(self.onnx_node, f"input 'X': expected (N, C, H, W), got shape {x.shape}")
        rows = _rows(self.onnx_node, x, rois, batch_indices)
        try:
            return ops.roi_align(x, rows.astype(x.dtype), **self.options), (x.shape, rows)
        except (TypeError, ValueError) as e:
            raise refuse(self.onnx_node, str(e)) from None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        shape, rows = ctx
        grad = ops.roi_align_backward(g, shape, rows.astype(g.dtype), **self.options)
        return [grad, None, None]

    def extra_repr(self) -> str:
        """The op type and its geometry."""
        return f"onnx_op={self.onnx_op!r}, {self.options}"


_MODES = {"half_pixel": True, "output_half_pixel": False}


def roi_align(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """RoiAlign, mode "avg", either coordinate transformation; "max" refused by name."""
    mode = attrs.get("mode", "avg")
    if mode != "avg":
        raise refuse(
            node,
            f"attribute 'mode': expected 'avg', got {mode!r} (onnxruntime's max over weighted "
            "corner values has no counterpart here)",
        )
    default = "half_pixel" if node.opset >= 16 else "output_half_pixel"
    transform = attrs.get("coordinate_transformation_mode", default)
    if transform not in _MODES:
        raise refuse(
            node,
            "attribute 'coordinate_transformation_mode': expected 'half_pixel' or "
            f"'output_half_pixel', got {transform!r}",
        )
    options: dict[str, Any] = {
        "output_size": (int(attrs.get("output_height", 1)), int(attrs.get("output_width", 1))),
        "spatial_scale": float(attrs.get("spatial_scale", 1.0)),
        "sampling_ratio": int(attrs.get("sampling_ratio", 0)),
        "aligned": _MODES[transform],
    }
    try:  # the attributes checked now, by the op's own checks
        ops.roi_align(np.zeros((1, 1, 1, 1)), np.zeros((0, 5)), **options)
    except (TypeError, ValueError) as e:
        raise refuse(node, str(e).replace("roi_align: ", "attribute ")) from None
    x, rois, index = (ins + [None] * 3)[:3]
    operands = [x, _plain(rois), _plain(index)]
    return _generic(_RoiAlign(node, operands, options), operands)


class _MaxRoiPool(_Op):
    """MaxRoiPool: ``ops.roi_pool`` on X and the rows; gradient for X only."""

    roles = ("X", "rois")

    def __init__(self, node: Node, operands: Sequence[Operand], options: dict[str, Any]) -> None:
        super().__init__(node, operands)
        self.options = options

    def compute(self, x: Any, rois: Any) -> tuple[np.ndarray, Any]:
        x, rois = np.asarray(x), np.asarray(rois)
        if x.ndim != 4:
            raise refuse(self.onnx_node, f"input 'X': expected (N, C, H, W), got shape {x.shape}")
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise refuse(
                self.onnx_node,
                "input 'rois': expected shape (num_rois, 5) [batch_index, x1, y1, x2, y2], got "
                f"{rois.shape}",
            )
        try:
            y, argmax = ops.roi_pool(x, rois, **self.options)
        except (TypeError, ValueError) as e:
            message = str(e).replace("roi_pool: boxes", "input 'rois'")
            message = message.replace("roi_pool: expected boxes", "input 'rois': expected rois")
            raise refuse(self.onnx_node, message) from None
        return y, (x.shape, rois, argmax)

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        shape, rois, argmax = ctx
        return [ops.roi_pool_backward(g, shape, rois, argmax), None]

    def extra_repr(self) -> str:
        """The op type and its geometry."""
        return f"onnx_op={self.onnx_op!r}, {self.options}"


def max_roi_pool(node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]) -> Built:
    """MaxRoiPool: pooled_shape (required, two sizes ≥ 1) and spatial_scale (default 1)."""
    shape = attrs.get("pooled_shape")
    if shape is None or len(shape) != 2:
        raise refuse(
            node, f"attribute 'pooled_shape': expected two sizes (height, width), got {shape!r}"
        )
    options: dict[str, Any] = {
        "output_size": (int(shape[0]), int(shape[1])),
        "spatial_scale": float(attrs.get("spatial_scale", 1.0)),
    }
    try:  # the attributes checked now, by the op's own checks
        ops.roi_pool(np.zeros((1, 1, 1, 1)), np.zeros((0, 5)), **options)
    except (TypeError, ValueError) as e:
        message = str(e).replace("roi_pool: ", "attribute ").replace("output_size", "pooled_shape")
        raise refuse(node, message) from None
    x, rois = (ins + [None] * 2)[:2]
    operands = [x, _plain(rois)]
    return _generic(_MaxRoiPool(node, operands, options), operands)


# --------------------------------------------------------------------------- NMS
def _scalar(node: Node, name: str, v: Any, kind: str) -> Any:
    if v is None:
        return None
    v = np.asarray(v)
    if v.size == 0:
        return None
    integer = np.issubdtype(v.dtype, np.integer)
    if v.size != 1 or (kind == "int") != integer:
        raise refuse(node, f"input {name!r}: expected one {kind}, got {v.dtype} of shape {v.shape}")
    return v.reshape(-1)[0]


def _corners(boxes: np.ndarray, center_point_box: int) -> np.ndarray:
    """(…, 4) as (x_min, y_min, x_max, y_max)."""
    if center_point_box:
        half_w, half_h = boxes[..., 2] / 2, boxes[..., 3] / 2
        return np.stack(
            [
                boxes[..., 0] - half_w,
                boxes[..., 1] - half_h,
                boxes[..., 0] + half_w,
                boxes[..., 1] + half_h,
            ],
            axis=-1,
        )
    y1, x1, y2, x2 = (boxes[..., i] for i in range(4))
    return np.stack(
        [np.minimum(x1, x2), np.minimum(y1, y2), np.maximum(x1, x2), np.maximum(y1, y2)], axis=-1
    )


def _select(corners: np.ndarray, scores: np.ndarray, limit: int, iou: Any, low: Any) -> list[int]:
    """Greedy selection for one class (module docstring)."""
    candidates = np.arange(len(scores)) if low is None else np.flatnonzero(scores > low)
    order = candidates[np.argsort(-scores[candidates].astype(np.float64), kind="stable")]
    b = corners[order]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    alive = np.ones(len(order), dtype=bool)
    selected: list[int] = []
    for i in range(len(order)):
        if len(selected) >= limit:
            break
        if not alive[i]:
            continue
        selected.append(int(order[i]))
        rest = b[i + 1 :]
        w = np.minimum(b[i, 2], rest[:, 2]) - np.maximum(b[i, 0], rest[:, 0])
        h = np.minimum(b[i, 3], rest[:, 3]) - np.maximum(b[i, 1], rest[:, 1])
        inter = w * h
        union = area[i] + area[i + 1 :] - inter
        overlap = (w > 0) & (h > 0) & (area[i] > 0) & (area[i + 1 :] > 0) & (union > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            alive[i + 1 :] &= ~(overlap & (inter / union > iou))
    return selected


class _NonMaxSuppression(_Op):
    """NonMaxSuppression: the selected [batch, class, box] rows (int64); no gradient."""

    roles = ("boxes", "scores", "max_output_boxes_per_class", "iou_threshold", "score_threshold")

    def __init__(self, node: Node, operands: Sequence[Operand], center_point_box: int) -> None:
        super().__init__(node, operands)
        self.center_point_box = center_point_box

    def compute(
        self, boxes: Any, scores: Any, limit: Any, iou: Any, low: Any
    ) -> tuple[np.ndarray, Any]:
        node = self.onnx_node
        boxes, scores = np.asarray(boxes), np.asarray(scores)
        if boxes.ndim != 3 or boxes.shape[2] != 4:
            raise refuse(node, f"input 'boxes': expected shape (B, N, 4), got {boxes.shape}")
        B, N = boxes.shape[:2]
        if scores.ndim != 3 or scores.shape[0] != B or scores.shape[2] != N:
            raise refuse(
                node,
                f"input 'scores': expected shape (B, C, N) with (B, N) = {(B, N)}, got "
                f"{scores.shape}",
            )
        if not (np.all(np.isfinite(boxes)) and not np.any(np.isnan(scores))):
            raise refuse(node, "inputs 'boxes', 'scores': expected no NaN (boxes finite)")
        max_per_class = _scalar(node, "max_output_boxes_per_class", limit, "int")
        threshold = _scalar(node, "iou_threshold", iou, "float")
        low = _scalar(node, "score_threshold", low, "float")
        per_class = 0 if max_per_class is None else max(int(max_per_class), 0)
        iou_t = boxes.dtype.type(0 if threshold is None else threshold)
        corners = _corners(boxes, self.center_point_box)
        rows = [
            (b, c, i)
            for b in range(B)
            for c in range(scores.shape[1])
            for i in _select(corners[b], scores[b, c], per_class, iou_t, low)
        ]
        return np.array(rows, dtype=np.int64).reshape(-1, 3), None

    def gradients(self, ctx: Any, args: list[Any], g: np.ndarray) -> list[Any]:
        return [None] * 5

    def extra_repr(self) -> str:
        """The op type and the box format."""
        return f"onnx_op={self.onnx_op!r}, center_point_box={self.center_point_box}"


def non_max_suppression(
    node: Node, attrs: Attrs, ins: list[Operand], info: dict[str, Any]
) -> Built:
    """NonMaxSuppression, both box formats."""
    center = attrs.get("center_point_box", 0)
    if center not in (0, 1):
        raise refuse(node, f"attribute 'center_point_box': expected 0 or 1, got {center!r}")
    operands = [None if o is None else _plain(o) for o in (ins + [None] * 5)[:5]]
    return _generic(_NonMaxSuppression(node, operands, int(center)), operands)
