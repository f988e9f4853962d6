"""cnnmath.onnx.load on torchvision's object-detection models exported to ONNX, against
onnxruntime's run of the same file: boxes, scores and labels.

torchvision's C++ operators do not load beside the CPU torch (torchvision_helper.py), and
eval-mode detection calls ``torchvision::nms`` and ``torchvision::roi_align``. This file
defines both with ``torch.library`` (a plain PyTorch implementation: greedy suppression over
boxes sorted by score; bilinear sampling averaged over a grid of points per bin), so that the
legacy tracer records each as one node and torchvision's ONNX symbolics, registered when
torchvision imports, write NonMaxSuppression and RoiAlign. The witness is onnxruntime; the
PyTorch implementations only have to give the trace its shapes.

Random weights give tied scores, and the order among ties is up to each runtime, so every
weight is redrawn from N(0, 1/fan_in) and every bias from N(0, 0.25): the scores come out
(nearly all) distinct and the outputs can be compared row by row. Also here: Split along an axis whose
length is known only at run time (detection splits its run-time count of boxes), against
onnxruntime on a hand-built graph.
"""

from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import pytest

from helpers import onnx_model_bytes, rel_error, run_onnxruntime
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnmath.onnx import load  # noqa: E402


def _has_ops() -> bool:
    return True


def _nms(dets, scores, iou_threshold: float):
    """Indices of the kept boxes, by decreasing score: a box is dropped when its IoU with
    an already kept one exceeds ``iou_threshold``. dets (n, 4) as x1, y1, x2, y2."""
    order = torch.argsort(scores, descending=True, stable=True)
    area = (dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])
    dropped = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):  # greedy, one kept box a step (witness code only)
        if dropped[i]:
            continue
        a, rest = order[i], order[i + 1 :]
        lo = torch.maximum(dets[a, :2], dets[rest, :2])
        hi = torch.minimum(dets[a, 2:], dets[rest, 2:])
        inter = (hi - lo).clamp(min=0).prod(1)
        dropped[i + 1 :] |= inter / (area[a] + area[rest] - inter) > iou_threshold
        keep.append(int(a))
    return torch.tensor(keep, dtype=torch.int64)


def _roi_align(feat, rois, scale: float, ph: int, pw: int, ratio: int, aligned: bool):
    """(k, c, ph, pw): each bin of each roi (batch index, x1, y1, x2, y2) the mean of
    ratio × ratio bilinear samples of ``feat`` (n, c, h, w) at evenly spaced points, zero
    for points more than one pixel outside the map."""
    k, (c, h, w) = rois.shape[0], feat.shape[1:]
    s = ratio if ratio > 0 else 2  # adaptive counts vary per roi; the trace needs shapes only
    x1, y1, x2, y2 = (rois[:, 1:] * scale - (0.5 if aligned else 0.0)).unbind(1)
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = rw.clamp(min=1), rh.clamp(min=1)

    def points(start, length, bins, size):
        frac = (torch.arange(bins)[:, None] + (torch.arange(s)[None, :] + 0.5) / s).reshape(-1)
        p = start[:, None] + frac[None] * (length / bins)[:, None]
        inside = (p >= -1) & (p <= size)
        p = p.clamp(min=0)
        lo = p.floor().long().clamp(max=size - 1)
        p = torch.where(lo >= size - 1, lo.to(p.dtype), p)
        return lo, (lo + 1).clamp(max=size - 1), p - lo, inside

    y0, y1i, ly, iny = points(y1, rh, ph, h)
    x0, x1i, lx, inx = points(x1, rw, pw, w)
    maps = feat[rois[:, 0].long()]
    r = torch.arange(k)[:, None, None]

    def at(yi, xi):  # (k, Y, X, c)
        return maps[r, :, yi[:, :, None], xi[:, None, :]]

    wy0, wy1 = (1 - ly)[:, :, None, None], ly[:, :, None, None]
    wx0, wx1 = (1 - lx)[:, None, :, None], lx[:, None, :, None]
    val = (
        at(y0, x0) * wy0 * wx0
        + at(y0, x1i) * wy0 * wx1
        + at(y1i, x0) * wy1 * wx0
        + at(y1i, x1i) * wy1 * wx1
    )
    val = val * (iny[:, :, None] & inx[:, None, :])[..., None]
    val = val.reshape(k, ph, s, pw, s, c).mean((2, 4))
    return val.permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def tv():
    """torchvision, its two operators defined here and its ops check answering yes."""
    tv = import_torchvision()
    import torchvision.extension
    import torchvision.ops._register_onnx_ops  # noqa: F401  (the symbolics)

    torchvision.extension._has_ops = _has_ops
    # torchvision.ops.roi_align is the function; its module holds its own binding
    sys.modules["torchvision.ops.roi_align"]._has_ops = _has_ops
    if not hasattr(torch.ops.torchvision, "nms"):
        lib = torch.library.Library("torchvision", "FRAGMENT")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define(
            "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
            "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor"
        )
        lib.impl("nms", _nms, "CompositeExplicitAutograd")
        lib.impl("roi_align", _roi_align, "CompositeExplicitAutograd")
        tv._cnnmath_test_lib = lib  # kept alive for the module's tests
    return tv


def _model(tv, name):
    torch.manual_seed(0)
    d = tv.models.detection
    common = dict(weights=None, weights_backbone=None)
    small = dict(min_size=128, max_size=128)
    one_stage = dict(score_thresh=0.0, detections_per_img=20, topk_candidates=50)
    if name == "ssdlite320_mobilenet_v3_large":
        model = d.ssdlite320_mobilenet_v3_large(**common, **one_stage)
    elif "rcnn" in name:  # two stages: Faster, Mask (its masks pasted by a Loop), Keypoint
        model = getattr(d, name)(
            **common,
            **small,
            box_score_thresh=0.0,
            box_detections_per_img=20,
            rpn_pre_nms_top_n_test=100,
            rpn_post_nms_top_n_test=50,
        )
    else:
        model = getattr(d, name)(**common, **small, **one_stage)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, p[0].numel() ** -0.5 if p.ndim > 1 else 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tv):
    cache = {}

    def get(name):
        if name not in cache:
            model = _model(tv, name)
            side = 320 if name.startswith("ssdlite") else 128
            x = torch.rand(3, side, side, generator=torch.Generator().manual_seed(1))
            buf = io.BytesIO()
            # the witness's tracer warns about torchvision's Python-side shape logic (and
            # that the TorchScript exporter is legacy); the exported graph is what is tested
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, ([x],), buf, dynamo=False, opset_version=17)
            cache[name] = buf.getvalue(), x.numpy()
        return cache[name]

    return get


@pytest.mark.parametrize(
    "name",
    [
        "ssdlite320_mobilenet_v3_large",
        "retinanet_resnet50_fpn",
        "fcos_resnet50_fpn",
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "maskrcnn_resnet50_fpn",
        "keypointrcnn_resnet50_fpn",
    ],
)
def test_detection_model_gives_onnxruntimes_boxes_scores_and_labels(exported, name):
    data, x = exported(name)
    want = run_onnxruntime(data, {onnx.load_from_string(data).graph.input[0].name: x})
    got = load(data)(x)
    assert len(got) == len(want) == {"mask": 4, "keyp": 5}.get(name[:4], 3)
    for g, w in zip(got, want):
        g = np.asarray(g)
        assert g.shape == w.shape and g.shape[0] > 0
        if w.dtype.kind == "f":
            assert g.dtype == w.dtype and rel_error(g, w) <= 1e-5
        else:
            np.testing.assert_array_equal(g, w)
    scores = next(w for w in want if w.ndim == 1 and w.dtype.kind == "f")
    # not all tied (random weights' failure mode), so the row order means something
    assert len(np.unique(scores)) > len(scores) // 2


def _split_graph(split, outputs):
    nodes, inits = [], []
    ins = ["x"]
    if split is not None:
        inits.append(numpy_helper.from_array(np.array(split, np.int64), "s"))
        ins.append("s")
    nodes.append(helper.make_node("Split", ins, outputs, axis=0))
    return onnx_model_bytes(
        nodes,
        [("x", TensorProto.FLOAT, ["n", 3])],
        [(o, TensorProto.FLOAT) for o in outputs],
        inits,
        opset=17,
    )


@pytest.mark.parametrize(
    ("split", "outputs"), [([2, 3], ["a", "b"]), ([5], ["a"]), (None, ["a"]), ([0, 5], ["a", "b"])]
)
def test_split_along_a_run_time_length(split, outputs):
    data = _split_graph(split, outputs)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    want = run_onnxruntime(data, {"x": x})
    got = load(data)(x)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.asarray(g), w)


def test_split_into_equal_parts_along_a_run_time_length():
    """Equal parts of a length known only when the graph runs: sized then, as onnxruntime."""
    data = _split_graph(None, ["a", "b", "c"])
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    got = load(data)(x)
    want = run_onnxruntime(data, {"x": x})
    assert [g.shape for g in got] == [(2, 3)] * 3
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
