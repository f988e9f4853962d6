"""cnnmath.onnx.load on Trilu, EyeLike, CumProd, ReverseSequence and CenterCropPad: outputs
against onnxruntime's, gradients against PyTorch's autograd (tril/triu, cumprod with zeros)
and central finite differences (float64), and the refusals of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.onnx import load
from helpers import check_input_gradients
from onnx_node_case import both, node_model

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, 0, 2, -1, -7, 9])
@pytest.mark.parametrize(("shape", "dtype"), [((3, 5), np.float32), ((2, 4, 3), np.int64)])
def test_trilu_matches_onnxruntime(upper, k, shape, dtype):
    x = np.arange(1, np.prod(shape) + 1).reshape(shape).astype(dtype)
    feeds = {"x": x} if k is None else {"x": x, "k": np.array(k, np.int64)}
    got, want, _ = both("Trilu", feeds, {"upper": upper}, opset=14)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


@pytest.mark.parametrize("upper", [0, 1])
def test_trilu_gradient_is_torchs(upper):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    G = np.random.default_rng(1).standard_normal((2, 3, 4))
    graph = load(node_model("Trilu", {"x": x, "k": np.array(1)}, {"upper": upper}, opset=14))
    graph(x, np.array(1))
    gx = graph.backward(G)[0]
    t = torch.tensor(x, requires_grad=True)
    y = torch.triu(t, 1) if upper else torch.tril(t, 1)
    (y * torch.from_numpy(G)).sum().backward()
    np.testing.assert_array_equal(gx, t.grad.numpy())


def test_trilu_refuses_a_vector_and_a_k_of_two_values():
    with pytest.raises(ValueError, match=r"\(Trilu\): input 'input': expected at least 2 axes"):
        load(node_model("Trilu", {"x": np.zeros(3)}, opset=14))(np.zeros(3))
    feeds = {"x": np.zeros((2, 2)), "k": np.array([1, 2])}
    with pytest.raises(ValueError, match=r"\(Trilu\): input 'k': expected one integer"):
        load(node_model("Trilu", feeds, opset=14))(*feeds.values())


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (4, 2)])
@pytest.mark.parametrize("k", [0, 1, -2, 6])
@pytest.mark.parametrize("dtype", [None, np.int32, np.float64])
def test_eye_like_matches_onnxruntime(shape, k, dtype):
    from onnx import helper

    x = np.ones(shape, np.float32)
    attrs = {"k": k} | (
        {} if dtype is None else {"dtype": helper.np_dtype_to_tensor_dtype(np.dtype(dtype))}
    )
    got, want, _ = both("EyeLike", {"x": x}, attrs, opset=22, out_type=dtype or np.float32)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


def test_eye_like_refuses_a_type_cnnmath_does_not_hold():
    with pytest.raises(ValueError, match=r"\(EyeLike\): attribute 'dtype': expected one of"):
        load(node_model("EyeLike", {"x": np.ones((2, 2))}, {"dtype": 10}, opset=22))


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_cum_prod_matches_onnxruntime(exclusive, reverse, axis, dtype):
    x = np.random.default_rng(2).integers(-3, 4, (3, 4)).astype(dtype)
    feeds = {"x": x, "axis": np.array(axis, np.int64)}
    got, want, _ = both("CumProd", feeds, {"exclusive": exclusive, "reverse": reverse}, opset=26)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.dtype == want.dtype


@pytest.mark.parametrize(
    "row",
    [
        [1.5, -2.0, 0.5, 3.0, -0.25],
        [1.5, 0.0, 0.5, 3.0, -0.25],  # one zero
        [1.5, 0.0, 0.5, 0.0, -0.25],  # two zeros
        [0.0, 2.0, 0.5, 3.0, -0.25],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ],
)
def test_cum_prod_gradient_is_torchs_zeros_included(row):
    x = np.array([row, row[::-1]])
    G = np.random.default_rng(3).standard_normal(x.shape)
    graph = load(node_model("CumProd", {"x": x, "axis": np.array(1)}, opset=26))
    graph(x, np.array(1))
    gx = graph.backward(G)[0]
    assert np.all(np.isfinite(gx))
    t = torch.tensor(x, requires_grad=True)
    (torch.cumprod(t, 1) * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(gx, t.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("zero", [False, True])
def test_cum_prod_gradient_matches_finite_differences(exclusive, reverse, zero):
    x = np.random.default_rng(4).standard_normal((3, 5))
    if zero:
        x[:, 2] = 0
        x[1, 3] = 0
    graph = load(
        node_model(
            "CumProd",
            {"x": x, "axis": np.array(-1)},
            {"exclusive": exclusive, "reverse": reverse},
            opset=26,
        )
    )
    check_input_gradients(graph, [x, np.array(-1)])


@pytest.mark.parametrize(("time_axis", "batch_axis"), [(0, 1), (1, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_reverse_sequence_matches_onnxruntime(time_axis, batch_axis, dtype):
    shape = [0, 0, 2]
    shape[time_axis], shape[batch_axis] = 5, 4
    x = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    lens = np.array([0, 5, 1, 3], np.int64)  # none, all, one, some
    feeds = {"x": x, "sequence_lens": lens}
    attrs = {"time_axis": time_axis, "batch_axis": batch_axis}
    got, want, _ = both("ReverseSequence", feeds, attrs, opset=11)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


def test_reverse_sequence_gradient_matches_finite_differences():
    x = np.random.default_rng(5).standard_normal((3, 4, 2))
    lens = np.array([2, 4, 0])
    graph = load(
        node_model(
            "ReverseSequence",
            {"x": x, "sequence_lens": lens},
            {"time_axis": 1, "batch_axis": 0},
            opset=11,
        )
    )
    check_input_gradients(graph, [x, lens])


@pytest.mark.parametrize(
    ("lens", "attrs", "message"),
    [
        ([1, 6, 2], {}, r"input 'sequence_lens': expected values in \[0, 5\].*got 6"),
        ([1, -1, 2], {}, r"expected values in \[0, 5\].*got -1"),
        ([1, 2], {}, r"input 'sequence_lens': expected shape \(3,\)"),
        ([1, 2, 3], {"time_axis": 0, "batch_axis": 0}, "expected 0 and 1 .*got 0 and 0"),
    ],
)
def test_reverse_sequence_refuses_bad_input_naming_it(lens, attrs, message):
    feeds = {"x": np.zeros((5, 3)), "sequence_lens": np.array(lens)}
    with pytest.raises(ValueError, match=r"\(ReverseSequence\): .*" + message):
        load(node_model("ReverseSequence", feeds, attrs, opset=11))(*feeds.values())


@pytest.mark.parametrize(
    ("shape", "axes"),
    [
        ([3, 4, 5], None),  # crop, crop, keep
        ([7, 9, 2], None),  # pad by odd and even amounts, crop
        ([4, 8], [1, 2]),
        ([6, 1], [-1, 0]),
        ([0], [2]),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_center_crop_pad_matches_onnxruntime(shape, axes, dtype):
    x = np.arange(1, 1 + 5 * 6 * 5).reshape(5, 6, 5).astype(dtype)
    attrs = {} if axes is None else {"axes": axes}
    got, want, _ = both("CenterCropPad", {"x": x, "shape": np.array(shape)}, attrs)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


def test_center_crop_pad_gradient_matches_finite_differences():
    x = np.random.default_rng(6).standard_normal((5, 4, 3))
    shape = np.array([2, 7])
    graph = load(node_model("CenterCropPad", {"x": x, "shape": shape}, {"axes": [0, -1]}))
    check_input_gradients(graph, [x, shape])


@pytest.mark.parametrize(
    ("shape", "axes", "message"),
    [
        ([2, 3], [0], r"input 'shape': expected 1 sizes ≥ 0"),
        ([-1], [0], r"input 'shape': expected 1 sizes ≥ 0 .*got \[-1\]"),
        ([2, 2], [0, -2], r"attribute 'axes': expected distinct axes"),
        ([2], [2], r"attribute 'axes': expected an axis in \[-2, 1\], got 2"),
    ],
)
def test_center_crop_pad_refuses_bad_input_naming_it(shape, axes, message):
    feeds = {"x": np.zeros((4, 4)), "shape": np.array(shape)}
    with pytest.raises(ValueError, match=r"\(CenterCropPad\): .*" + message):
        load(node_model("CenterCropPad", feeds, {"axes": axes}))(*feeds.values())
