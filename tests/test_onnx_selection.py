"""cnnmath.onnx.load on ScatterElements, GatherND, NonZero, Compress and OneHot: outputs against
onnxruntime's (negative, duplicate and out-of-range indices, empty selections, batch_dims),
gradients against PyTorch's autograd (scatter, scatter_reduce with include_self, indexing) and
central finite differences (float64), and the refusals of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.onnx import load
from helpers import check_input_gradients
from onnx_node_case import both, node_model

torch = pytest.importorskip("torch")

_TORCH_REDUCE = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


def _scatter_case(dtype, shape=(4, 5), axis=1, seed=0, ties=False, zeros=False):
    """data, indices (negative ones among them, places listed more than once) and updates for
    ScatterElements along ``axis``: updates of shape (3, 4) (no longer than data elsewhere)."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape).astype(dtype)
    n = shape[axis]
    idx_shape = (3, 4)
    indices = rng.integers(-n, n, idx_shape).astype(np.int64)
    updates = rng.standard_normal(idx_shape).astype(dtype)
    if ties:  # small integers: maxima and minima tie between data and updates
        data = rng.integers(-2, 3, shape).astype(dtype)
        updates = rng.integers(-2, 3, idx_shape).astype(dtype)
    if zeros:
        data.flat[::3] = 0
        updates.flat[::4] = 0
    return data, indices, updates


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_scatter_elements_matches_onnxruntime(reduction, dtype, axis):
    data, indices, updates = _scatter_case(dtype, axis=axis, ties=dtype == np.int64)
    if reduction == "none":  # onnxruntime keeps the last write to a place, as cnnmath
        indices[1:] = indices[0]
    feeds = {"data": data, "indices": indices, "updates": updates}
    got, want, _ = both("ScatterElements", feeds, {"axis": axis, "reduction": reduction})
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
@pytest.mark.parametrize("case", ["random", "ties", "zeros"])
def test_scatter_elements_gradients_are_torch_scatter_reduce(reduction, case):
    """PyTorch's scatter_reduce(include_self=True) gradients: a product's factors without
    dividing by a zero (one zero, two zeros at a place), ties sharing max and min evenly."""
    data, indices, updates = _scatter_case(
        np.float64, seed=1, ties=case == "ties", zeros=case == "zeros"
    )
    data_b = node_model(
        "ScatterElements",
        {"data": data, "indices": indices, "updates": updates},
        {"axis": 1, "reduction": reduction},
    )
    graph = load(data_b)
    graph.train()
    G = np.random.default_rng(2).standard_normal(data.shape)
    y = graph(data, indices, updates)
    g_data, _, g_updates = graph.backward(G)
    d, u = (torch.tensor(a, requires_grad=True) for a in (data, updates))
    index = torch.from_numpy(np.where(indices < 0, indices + data.shape[1], indices))
    t = d.scatter_reduce(1, index, u, _TORCH_REDUCE[reduction], include_self=True)
    (t * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(y, t.detach().numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(g_data, d.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_updates, u.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_scatter_elements_none_gradient_is_torch_scatter_on_distinct_places():
    data, _, updates = _scatter_case(np.float64, seed=3)
    indices = np.array([[0, 2, -1, 1], [1, 0, 2, -1], [3, -4, 4, 0]])  # distinct per row
    graph = load(
        node_model(
            "ScatterElements", {"data": data, "indices": indices, "updates": updates}, {"axis": 1}
        )
    )
    G = np.random.default_rng(4).standard_normal(data.shape)
    graph(data, indices, updates)
    g_data, _, g_updates = graph.backward(G)
    d, u = (torch.tensor(a, requires_grad=True) for a in (data, updates))
    t = d.scatter(1, torch.from_numpy(indices % 5), u)
    (t * torch.from_numpy(G)).sum().backward()
    np.testing.assert_array_equal(g_data, d.grad.numpy())
    np.testing.assert_array_equal(g_updates, u.grad.numpy())


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_elements_gradients_match_finite_differences(reduction):
    """Duplicate places included: for "none" only the update kept (the last) gets G."""
    data, indices, updates = _scatter_case(np.float64, axis=0, seed=5)
    graph = load(
        node_model(
            "ScatterElements",
            {"data": data, "indices": indices, "updates": updates},
            {"axis": 0, "reduction": reduction},
        )
    )
    check_input_gradients(graph, [data, indices, updates])


@pytest.mark.parametrize(
    ("change", "opset", "message"),
    [
        ({"indices": np.array([[0, 5]])}, 18, r"input 'indices': expected values in \[-5, 4\]"),
        ({"indices": np.array([[-6, 0]])}, 18, r"expected values in \[-5, 4\].*got -6"),
        ({"updates": np.zeros((1, 3))}, 18, "input 'updates': expected indices' shape"),
        ({"indices": np.zeros((1, 2, 1), np.int64)}, 18, "expected data's rank 2"),
        ({"reduction": "max"}, 16, "'max' is defined from opset 18, the file's opset is 16"),
        ({"reduction": "add"}, 13, "'add' is defined from opset 16"),
        ({"reduction": "mean"}, 18, "attribute 'reduction': expected one of"),
        ({"axis": 2}, 18, r"attribute 'axis': expected an axis in \[-2, 1\], got 2"),
    ],
)
def test_scatter_elements_refuses_bad_input_naming_it(change, opset, message):
    feeds = {
        "data": np.zeros((2, 5)),
        "indices": np.array([[0, 1]]),
        "updates": np.ones((1, 2)),
    }
    attrs = {"axis": 1}
    for k, v in change.items():
        (feeds if k in feeds else attrs)[k] = v
    with pytest.raises(ValueError, match=r"node 'n' \(ScatterElements\): .*" + message):
        load(node_model("ScatterElements", feeds, attrs, opset=opset))(*feeds.values())


@pytest.mark.parametrize(
    ("data_shape", "indices", "batch_dims"),
    [
        ((3, 4), [[0, 1], [2, -1], [-3, 3]], 0),  # elements, negative indices
        ((3, 4, 2), [[1], [-1], [1]], 0),  # slices
        ((2, 3, 4), [[[0, 1], [1, -1]], [[1, 0], [-2, 2]]], 0),
        ((2, 3, 4), [[[1], [2]], [[-1], [0]]], 1),  # batch_dims 1
        ((2, 3, 4), [[2, 3], [0, -4]], 1),
        ((2, 3, 4, 2), [[[1, 3]], [[-2, 0]]], 1),
        ((2, 3, 4), [[[1], [0], [3]], [[2], [2], [-1]]], 2),  # batch_dims 2
        ((2, 3), np.zeros((0, 2), np.int64), 0),  # no rows: empty
        ((2, 3), [1, -1], 0),  # one row: a scalar
        ((2, 3), [-2], 0),  # one row, a slice
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_gather_nd_matches_onnxruntime(data_shape, indices, batch_dims, dtype):
    data = np.arange(np.prod(data_shape)).reshape(data_shape).astype(dtype)
    feeds = {"data": data, "indices": np.asarray(indices, np.int64)}
    got, want, _ = both("GatherND", feeds, {"batch_dims": batch_dims}, opset=13)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype and got.shape == want.shape


def test_gather_nd_gradient_is_torch_indexing_duplicates_added():
    rng = np.random.default_rng(6)
    data = rng.standard_normal((2, 3, 4))
    indices = np.array([[[1, 3], [1, 3], [-1, 0]], [[0, 0], [2, -4], [0, 0]]])  # repeats
    graph = load(node_model("GatherND", {"data": data, "indices": indices}, {"batch_dims": 1}))
    G = rng.standard_normal((2, 3))
    graph(data, indices)
    g_data = graph.backward(G)[0]
    d = torch.tensor(data, requires_grad=True)
    wrapped = np.where(indices < 0, indices + np.array([3, 4]), indices)
    t = d[
        torch.arange(2)[:, None],
        torch.from_numpy(wrapped[..., 0]),
        torch.from_numpy(wrapped[..., 1]),
    ]
    (t * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(g_data, d.grad.numpy(), rtol=1e-15)
    check_input_gradients(graph, [data, indices])


@pytest.mark.parametrize(
    ("data_shape", "indices", "batch_dims", "message"),
    [
        ((3, 4), [[0, 4]], 0, r"input 'indices': expected values in \[-4, 3\] \(axis 1"),
        ((3, 4), [[-4, 0]], 0, r"expected values in \[-3, 2\] \(axis 0.*got -4"),
        ((3, 4), [[0, 1, 2]], 0, "expected a last axis of 1 to 2"),
        ((2, 4), [[1], [0], [1]], 1, r"first 1 axes equal to data's \(2,\)"),
        ((2, 4), [[1], [0]], 2, "attribute 'batch_dims': expected 0 ≤ b < min"),
        ((2, 4), [[1.0]], 0, "input 'indices': expected int32 or int64, got float64"),
    ],
)
def test_gather_nd_refuses_bad_input_naming_it(data_shape, indices, batch_dims, message):
    feeds = {"data": np.zeros(data_shape), "indices": np.asarray(indices)}
    with pytest.raises(ValueError, match=r"node 'n' \(GatherND\): .*" + message):
        load(node_model("GatherND", feeds, {"batch_dims": batch_dims}))(*feeds.values())


@pytest.mark.parametrize(
    "x",
    [
        np.array([[1, 0, 3], [0, 0, 7]], np.float32),
        np.random.default_rng(7).random((3, 4, 2)) > 0.6,
        np.array([[0, -1], [2, 0]], np.int64),
        np.zeros((2, 3), np.float32),  # none: (2, 0)
        np.zeros((0, 3), np.int32),
        np.array(5.0, np.float32),  # a scalar: onnxruntime's (1, 1)
        np.array(0.0, np.float32),
    ],
)
def test_non_zero_matches_onnxruntime(x):
    got, want, _ = both("NonZero", {"x": x}, opset=13, out_type=np.int64)
    assert got.dtype == np.int64 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("condition", "axis"),
    [
        ([True, False, True], 1),
        ([False, True], 0),  # shorter than the axis
        ([True, False, True, True, True], 1),  # longer: the extra entries ignored
        ([False, False, False], -1),  # nothing selected
        ([True, False, False, True, True, False, True], None),  # x flattened
        ([], 0),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.int32])
def test_compress_matches_onnxruntime(condition, axis, dtype):
    x = np.arange(12).reshape(3, 4).astype(dtype)
    attrs = {} if axis is None else {"axis": axis}
    feeds = {"x": x, "condition": np.array(condition, bool)}
    got, want, _ = both("Compress", feeds, attrs)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype and got.shape == want.shape


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_compress_gradient_matches_finite_differences(axis):
    x = np.random.default_rng(8).standard_normal((3, 4))
    condition = np.array([True, False, True, True])
    attrs = {} if axis is None else {"axis": axis}
    graph = load(node_model("Compress", {"x": x, "condition": condition}, attrs))
    check_input_gradients(graph, [x, condition])


def test_compress_refuses_a_condition_not_bool_and_1d():
    feeds = {"x": np.zeros((2, 3)), "condition": np.ones((2, 3), bool)}
    with pytest.raises(
        ValueError,
        match=r"input 'condition': expected a 1-D bool tensor, got bool of shape \(2, 3\)",
    ):
        load(node_model("Compress", feeds, {"axis": 0}))(*feeds.values())


@pytest.mark.parametrize(
    ("indices", "axis"),
    [
        ([0, 3, -1, -4], -1),
        ([[1, 4], [-5, 9]], 0),  # out of range: a row of off values
        ([[1, 2], [0, -2]], 1),
        ([[1, 2], [0, -2]], -3),
        (np.zeros((0, 2), np.int64), -1),
    ],
)
@pytest.mark.parametrize("values", [np.array([0.5, 2.0], np.float32), np.array([3, -1], np.int64)])
def test_one_hot_matches_onnxruntime(indices, axis, values):
    feeds = {"indices": np.asarray(indices, np.int64)}
    inits = {"depth": np.array(4, np.int64), "values": values}
    got, want, _ = both(
        "OneHot", feeds, {"axis": axis}, opset=11, inits=inits, out_type=values.dtype
    )
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype and got.shape == want.shape


@pytest.mark.parametrize("depth", [5.0, 3.7])
def test_one_hot_reads_float_indices_and_depth_as_onnxruntime(depth):
    """Float indices and depth cast to int64 as the spec says: truncated (3.7 → 3, 1.5 → 1,
    −0.5 → 0, −2.9 → −2)."""
    feeds = {"indices": np.array([[1.0, -2.0, 1.5], [3.0, 7.0, -0.5], [2.9, -2.9, 0]], np.float32)}
    inits = {"depth": np.array([depth], np.float32), "values": np.array([0.0, 1.0], np.float32)}
    got, want, _ = both("OneHot", feeds, {"axis": 1}, opset=11, inits=inits)
    np.testing.assert_array_equal(got, want)
    assert got.shape[1] == int(depth)


def test_one_hot_gradient_of_its_values():
    """∂ℓ/∂[off, on] = [Σ G off the hot places, Σ G on them], against finite differences."""
    indices = np.array([[0, 2], [-1, 5]])
    values = np.array([0.25, -1.5])
    graph = load(
        node_model(
            "OneHot",
            {"indices": indices, "depth": np.array(3), "values": values},
            {"axis": 0},
        )
    )
    check_input_gradients(graph, [indices, np.array(3), values])


@pytest.mark.parametrize(
    ("depth", "values", "message"),
    [
        (
            np.array(0),
            np.array([0.0, 1.0]),
            r"input 'depth': expected a number ≥ 1 \(truncated\), got 0",
        ),
        (
            np.array(0.5),
            np.array([0.0, 1.0]),
            r"input 'depth': expected a number ≥ 1 \(truncated\), got 0.5",
        ),
        (np.array([2, 3]), np.array([0.0, 1.0]), "input 'depth': expected one number"),
        (
            np.array(np.nan),
            np.array([0.0, 1.0]),
            "input 'depth': expected a number ≥ 1 .*, got nan",
        ),
        (
            np.array(-np.inf),
            np.array([0.0, 1.0]),
            "input 'depth': expected a number ≥ 1 .*, got -inf",
        ),
        (np.array(3), np.array([0.0, 1.0, 2.0]), r"input 'values': expected shape \(2,\)"),
        (np.array(1 << 40), np.array([0.0, 1.0]), "input 'depth' .*more than this machine"),
    ],
)
def test_one_hot_refuses_bad_input_naming_it(depth, values, message):
    feeds = {"indices": np.array([1, 2]), "depth": depth, "values": values}
    with pytest.raises(ValueError, match=r"node 'n' \(OneHot\): .*" + message):
        load(node_model("OneHot", feeds, opset=11))(*feeds.values())
    not_finite = {"indices": np.array([1.0, np.nan]), "depth": np.array(3), "values": values[:2]}
    with pytest.raises(ValueError, match="input 'indices': expected finite numbers, got nan"):
        load(node_model("OneHot", not_finite, opset=11))(*not_finite.values())
