"""ONNX's RoiAlign and NonMaxSuppression (cnnmath/onnx/_roi.py) against onnxruntime, and
onnxruntime's MaxRoiPool as a witness for ops.roi_pool; ONNX's own node tests run in
test_onnx_backend.py."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import ops, reference

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from cnnmath.onnx import load  # noqa: E402
from helpers import check_input_gradients  # noqa: E402

_TYPES = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE}


def _model(op, inputs, attrs, opset, dtype=np.float32, out_type=None):
    """A one-node model: inputs [(name, elem type, shape)], output 'Y'."""
    node = helper.make_node(op, [n for n, _, _ in inputs], ["Y"], **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info("Y", out_type or _TYPES[dtype], None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _ort(model, *arrays):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, arrays)))[0]


X = np.random.default_rng(0).standard_normal((2, 3, 9, 11))
ROIS = np.array(
    [
        [1.0, 1.0, 6.0, 5.0],
        [0.3, 2.2, 10.5, 8.7],
        [-3.0, -2.0, 4.0, 5.0],  # partly outside
        [8.0, 6.0, 15.0, 12.0],
        [-9.0, -9.0, -4.0, -3.0],  # wholly outside
        [2.0, 2.0, 2.0, 2.0],  # zero size
        [5.0, 5.0, 3.0, 4.0],  # reversed
    ]
)
INDEX = np.array([0, 1, 1, 0, 0, 1, 0], dtype=np.int64)


def _roi_align_model(dtype, opset, **attrs):
    t = _TYPES[dtype]
    inputs = [("X", t, None), ("rois", t, None), ("batch_indices", TensorProto.INT64, None)]
    return _model("RoiAlign", inputs, attrs, opset, dtype)


@pytest.mark.parametrize(
    "opset, attrs, aligned",
    [
        (16, dict(coordinate_transformation_mode="half_pixel"), True),
        (16, dict(coordinate_transformation_mode="output_half_pixel"), False),
        (16, dict(), True),  # opset 16's default
        (15, dict(), False),  # opsets 10-15: output_half_pixel only
    ],
)
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_roi_align_matches_onnxruntime(opset, attrs, aligned, sampling_ratio):
    attrs = dict(
        attrs, output_height=3, output_width=2, spatial_scale=0.5, sampling_ratio=sampling_ratio
    )
    model = _roi_align_model(np.float64, opset, **attrs)
    rois = ROIS * 2  # image units at spatial_scale 0.5
    graph = load(model.SerializeToString())
    y = graph(X, rois, INDEX)
    np.testing.assert_allclose(y, _ort(model, X, rois, INDEX), atol=1e-12)
    rows = np.c_[INDEX, rois]
    kw = dict(output_size=(3, 2), spatial_scale=0.5, sampling_ratio=sampling_ratio, aligned=aligned)
    np.testing.assert_array_equal(y, ops.roi_align(X, rows, **kw))
    G = np.random.default_rng(1).standard_normal(y.shape)
    graph.zero_grad()
    graph(X, rois, INDEX)
    grads = graph.backward(G)
    np.testing.assert_allclose(grads[0], ops.roi_align_backward(G, X.shape, rows, **kw), atol=1e-12)


def test_roi_align_float32_matches_onnxruntime():
    model = _roi_align_model(np.float32, 16, output_height=7, output_width=7)
    x, rois = X.astype(np.float32), ROIS.astype(np.float32)
    got = load(model.SerializeToString())(x, rois, INDEX)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _ort(model, x, rois, INDEX), atol=1e-5)


@pytest.mark.parametrize(
    "rois, index, pattern",
    [
        (ROIS, np.array([0, 1, 2, 0, 0, 1, 0]), r"batch_indices.*\[0, 2\).*got 2"),
        (ROIS[:, :3], INDEX, r"'rois': expected shape \(num_rois, 4\)"),
        (np.where(ROIS == 1.0, np.nan, ROIS), INDEX, "'rois': expected finite"),
        (ROIS, INDEX[:3], r"'batch_indices'.*\(7,\)"),
    ],
)
def test_roi_align_bad_inputs_are_named(rois, index, pattern):
    graph = load(_roi_align_model(np.float64, 16).SerializeToString())
    with pytest.raises(ValueError, match=pattern):
        graph(X, rois, index)


def test_roi_align_refusals_at_load():
    with pytest.raises(ValueError, match="attribute 'mode'.*'max'"):
        load(_roi_align_model(np.float64, 16, mode="max").SerializeToString())
    model = _roi_align_model(np.float64, 16, coordinate_transformation_mode="asymmetric")
    with pytest.raises(ValueError, match="coordinate_transformation_mode"):
        load(model.SerializeToString())
    with pytest.raises(ValueError, match="output_size"):
        load(_roi_align_model(np.float64, 16, output_height=0).SerializeToString())


def test_roi_pool_matches_onnxruntime_max_roi_pool():
    """MaxRoiPool (float32 in onnxruntime): the same rounding of box and bins as torchvision's
    roi_pool; a max is exact."""
    t = TensorProto.FLOAT
    model = _model(
        "MaxRoiPool",
        [("X", t, None), ("rois", t, None)],
        dict(pooled_shape=[3, 2], spatial_scale=0.5),
        12,
        np.float32,
    )
    rows = np.c_[INDEX, ROIS * 2][[0, 1, 2, 3]].astype(np.float32)  # bins not empty
    x = X.astype(np.float32)
    y, _ = ops.roi_pool(x, rows, (3, 2), 0.5)
    np.testing.assert_array_equal(y, _ort(model, x, rows))


def _max_roi_pool_model(dtype=np.float32, opset=17, **attrs):
    t = _TYPES[dtype]
    return _model("MaxRoiPool", [("X", t, None), ("rois", t, None)], attrs, opset, dtype)


@pytest.mark.parametrize("pooled, scale", [((3, 2), 0.5), ((7, 7), 1.0), ((2, 4), 0.25)])
def test_loaded_max_roi_pool_matches_onnxruntime(pooled, scale):
    """Every box of ROIS (partly and wholly outside, zero size, reversed: empty bins give 0),
    float32 (onnxruntime's only type); float64 against the literal loop."""
    model = _max_roi_pool_model(pooled_shape=list(pooled), spatial_scale=scale)
    graph = load(model.SerializeToString())
    rows = np.c_[INDEX, ROIS * 2]
    x = X.astype(np.float32)
    got = graph(x, rows.astype(np.float32))
    assert got.dtype == np.float32 and got.shape == (len(ROIS), 3, *pooled)
    np.testing.assert_array_equal(got, _ort(model, x, rows.astype(np.float32)))
    graph64 = load(
        _max_roi_pool_model(
            np.float64, pooled_shape=list(pooled), spatial_scale=scale
        ).SerializeToString()
    )
    want, _ = reference.roi_pool(X, rows, pooled, scale)
    np.testing.assert_array_equal(graph64(X, rows), want)


def test_loaded_max_roi_pool_gradient():
    """∂ℓ/∂X to each bin's argmax: the literal loop's, and central finite differences (random
    X: no ties); the rois get none (zeros)."""
    model = _max_roi_pool_model(np.float64, pooled_shape=[3, 2], spatial_scale=0.5)
    graph = load(model.SerializeToString())
    rows = np.c_[INDEX, ROIS * 2][:4]
    y = graph(X, rows)
    G = np.random.default_rng(1).standard_normal(y.shape)
    grad_x, grad_rois = graph.backward(G)
    _, argmax = reference.roi_pool(X, rows, (3, 2), 0.5)
    np.testing.assert_allclose(grad_x, reference.roi_pool_backward(G, X.shape, rows, argmax))
    assert not np.any(grad_rois)
    check_input_gradients(graph, (X, rows), wrt=[0])


@pytest.mark.parametrize(
    "attrs, inputs, pattern",
    [
        ({}, None, r"attribute 'pooled_shape': expected two sizes"),
        ({"pooled_shape": [3]}, None, r"attribute 'pooled_shape': expected two sizes"),
        ({"pooled_shape": [0, 2]}, None, r"pooled_shape"),
        ({"pooled_shape": [2, 2]}, (X, ROIS), r"input 'rois': expected shape \(num_rois, 5\)"),
        ({"pooled_shape": [2, 2]}, (X[0], np.c_[INDEX, ROIS]), r"input 'X': expected \(N, C"),
        (
            {"pooled_shape": [2, 2]},
            (X, np.c_[INDEX + 1, ROIS]),
            r"input 'rois'.*batch indices.*\[0, 2\)",
        ),
        (
            {"pooled_shape": [2, 2]},
            (X, np.c_[INDEX, ROIS].astype(np.float32)),
            r"input 'rois': expected rois in the input's dtype float64, got float32",
        ),
    ],
)
def test_max_roi_pool_bad_attributes_and_inputs_are_named(attrs, inputs, pattern):
    with pytest.raises(ValueError, match=pattern):
        graph = load(_max_roi_pool_model(np.float64, **attrs).SerializeToString())
        graph(*inputs)


# --------------------------------------------------------------------------- NMS
def _nms_model(center_point_box=0, with_threshold=True):
    names = ["boxes", "scores", "max_output_boxes_per_class", "iou_threshold"]
    names += ["score_threshold"] if with_threshold else []
    node = helper.make_node("NonMaxSuppression", names, ["Y"], center_point_box=center_point_box)
    types = [
        TensorProto.FLOAT,
        TensorProto.FLOAT,
        TensorProto.INT64,
        TensorProto.FLOAT,
        TensorProto.FLOAT,
    ]
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, t, None) for n, t in zip(names, types)],
        [helper.make_tensor_value_info("Y", TensorProto.INT64, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])


def _random_boxes(B, N, seed, center):
    r = np.random.default_rng(seed)
    xy, wh = r.uniform(0, 20, (B, N, 2)), r.uniform(1, 10, (B, N, 2))
    if center:
        return np.concatenate([xy, wh], axis=2).astype(np.float32)
    corners = np.concatenate([xy, xy + wh], axis=2)[..., [1, 0, 3, 2]]  # [y1, x1, y2, x2]
    corners[:, ::3] = corners[:, ::3][..., [2, 3, 0, 1]]  # some flipped diagonals
    return np.round(corners).astype(np.float32)


@pytest.mark.parametrize("center", [0, 1])
@pytest.mark.parametrize("limit, iou, low", [(100, 0.5, 0.2), (3, 0.3, 0.0), (50, 0.0, 0.9)])
def test_nms_matches_onnxruntime(center, limit, iou, low):
    boxes = _random_boxes(2, 40, center + limit, center)
    scores = np.round(np.random.default_rng(limit).uniform(size=(2, 3, 40)), 2).astype(
        np.float32
    )  # ties
    model = _nms_model(center)
    args = (
        boxes,
        scores,
        np.array([limit]),
        np.array([iou], np.float32),
        np.array([low], np.float32),
    )
    got = load(model.SerializeToString())(*args)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _ort(model, *args))


def test_nms_without_score_threshold_and_limit_zero():
    boxes, scores = (
        _random_boxes(1, 12, 3, 0),
        np.random.default_rng(4).uniform(size=(1, 2, 12)).astype(np.float32),
    )
    model = _nms_model(0, with_threshold=False)
    for limit in (0, 5):
        args = (boxes, scores, np.array([limit]), np.array([0.4], np.float32))
        got = load(model.SerializeToString())(*args)
        np.testing.assert_array_equal(got, _ort(model, *args))
    assert load(model.SerializeToString())(
        boxes, scores, np.array([0]), np.array([0.4], np.float32)
    ).shape == (0, 3)


@pytest.mark.parametrize(
    "boxes, scores, pattern",
    [
        (np.zeros((1, 4, 3), np.float32), np.zeros((1, 1, 4), np.float32), r"'boxes'.*\(B, N, 4\)"),
        (
            np.zeros((1, 4, 4), np.float32),
            np.zeros((1, 1, 5), np.float32),
            r"'scores'.*\(B, C, N\)",
        ),
        (np.full((1, 4, 4), np.nan, np.float32), np.zeros((1, 1, 4), np.float32), "NaN"),
    ],
)
def test_nms_bad_inputs_are_named(boxes, scores, pattern):
    graph = load(_nms_model(0).SerializeToString())
    with pytest.raises(ValueError, match=pattern):
        graph(
            boxes, scores, np.array([3]), np.array([0.5], np.float32), np.array([0.0], np.float32)
        )


def test_saved_roi_align_graph_runs_in_onnxruntime_and_loads_back(tmp_path):
    """conv → RoIAlign(boxes) → flatten → linear saved (RoiAlign at opset 16, the boxes split
    by Slice, Gather, Cast) runs in onnxruntime as in cnnmath and loads back; so does the
    same head with RoIPool, saved as MaxRoiPool."""
    from cnnmath import nn
    from cnnmath.onnx import save

    def head(layer):
        g = nn.Graph(inputs=["x", "boxes"])
        conv = g.add(nn.Conv2d(3, 4, 3, padding=1, rng=1), "x", name="conv")
        roi = g.add(layer, conv, "boxes", name="roi")
        flat = g.add(nn.Flatten(), roi, name="flat")
        g.set_output(g.add(nn.Linear(4 * 2 * 3, 5, rng=2), flat, name="fc"))
        return g

    x = X.astype(np.float32)
    boxes = np.c_[INDEX, ROIS * 2].astype(np.float32)
    for aligned, ratio in ((True, -1), (False, 2)):
        g = head(nn.RoIAlign((2, 3), 0.5, ratio, aligned))
        path = tmp_path / f"roi_{aligned}.onnx"
        save(g, path, (x, boxes), opset=17)
        model = onnx.load(str(path))
        assert "RoiAlign" in {n.op_type for n in model.graph.node}
        np.testing.assert_allclose(_ort(model, x, boxes), g(x, boxes), atol=1e-5)
        np.testing.assert_allclose(load(path)(x, boxes), g(x, boxes), atol=1e-6)
    g = head(nn.RoIPool((2, 3), 0.5))
    save(g, tmp_path / "pool.onnx", (x, boxes), opset=14)
    model = onnx.load(str(tmp_path / "pool.onnx"))
    assert [n.op_type for n in model.graph.node].count("MaxRoiPool") == 1
    np.testing.assert_allclose(_ort(model, x, boxes), g(x, boxes), atol=1e-5)
    loaded = load(tmp_path / "pool.onnx")
    np.testing.assert_array_equal(loaded(x, boxes), g(x, boxes))
    G = np.random.default_rng(3).standard_normal((len(boxes), 5)).astype(np.float32)
    np.testing.assert_array_equal(loaded.backward(G)[0], g.backward(G)[0])
