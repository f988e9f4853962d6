"""linear / linear_backward against the reference loops, PyTorch and finite differences."""

import numpy as np
import pytest

from cnnmath import linear, linear_backward, reference
from cnnmath.gradcheck import check_gradients
from helpers import assert_close

SHAPES = [((4, 3), 5), ((2, 3, 4), 2), ((6,), 3), ((1, 1), 1)]


def _data(x_shape, out_features, dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((out_features, x_shape[-1])).astype(dtype)
    b = rng.standard_normal(out_features).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, out_features", SHAPES)
def test_matches_reference_and_pytorch(x_shape, out_features, dtype):
    x, w, b = _data(x_shape, out_features, dtype)
    y = linear(x, w, b)
    assert y.shape == (*x_shape[:-1], out_features) and y.dtype == dtype
    assert_close(y, reference.linear(x, w, b), dtype)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    grads = linear_backward(g, x, w)
    for got, want, like in zip(grads, reference.linear_backward(g, x, w), (x, w, b)):
        assert got.shape == like.shape and got.dtype == dtype
        assert_close(got, want, dtype)
    torch = pytest.importorskip("torch")
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.linear(tx, tw, tb).backward(torch.tensor(g))
    for got, t in zip(grads, (tx, tw, tb)):
        assert_close(got, t.grad.numpy(), dtype)


@pytest.mark.parametrize("x_shape, out_features", SHAPES)
def test_gradients_match_finite_differences(x_shape, out_features):
    x, w, b = _data(x_shape, out_features)
    check_gradients(linear, lambda g, x_, w_, b_: linear_backward(g, x_, w_), [x, w, b], rtol=1e-8)


def test_without_bias():
    x, w, _ = _data((3, 4), 2)
    np.testing.assert_allclose(linear(x, w), x @ w.T, rtol=1e-15)


@pytest.mark.parametrize("x_shape, out_features", [((0, 3), 4), ((2, 0, 3), 4), ((2, 0), 4)])
def test_empty_inputs_as_pytorch(x_shape, out_features):
    """No rows give no rows; in_features = 0 gives y = b and zero gradients (PyTorch's)."""
    torch = pytest.importorskip("torch")
    x, w, b = _data(x_shape, out_features)
    y = linear(x, w, b)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.linear(tx, tw, tb)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    g = np.ones(y.shape)
    ty.backward(torch.tensor(g))
    for got, t in zip(linear_backward(g, x, w), (tx, tw, tb)):
        assert got.shape == tuple(t.shape)
        np.testing.assert_array_equal(got, t.grad.numpy())


ERRORS = [
    (
        lambda: linear(np.zeros((2, 3)), np.zeros((4, 5))),
        ValueError,
        r"x: expected a last axis of in_features = 5",
    ),
    (lambda: linear(np.zeros((2, 3)), np.zeros(3)), ValueError, r"weight: expected a 2-D"),
    (
        lambda: linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(3)),
        ValueError,
        r"bias: expected shape \(4,\)",
    ),
    (
        lambda: linear(np.zeros((2, 3), np.int32), np.zeros((4, 3))),
        TypeError,
        r"x: expected dtype float32",
    ),
    (
        lambda: linear(np.zeros((2, 3), np.float32), np.zeros((4, 3))),
        TypeError,
        r"x is float32, weight is float64",
    ),
    (
        lambda: linear_backward(np.zeros((2, 5)), np.zeros((2, 3)), np.zeros((4, 3))),
        ValueError,
        r"grad_output: expected shape \(2, 4\)",
    ),
    # grad_output float32 against x float64: refused, not silently upcast; both dtypes named
    (
        lambda: linear_backward(np.zeros((2, 4), np.float32), np.zeros((2, 3)), np.zeros((4, 3))),
        TypeError,
        r"linear_backward: .*grad_output is float32, x is float64",
    ),
    (
        lambda: linear_backward(np.zeros((2, 4)), np.zeros((2, 3)), np.zeros((2, 4, 3))),
        ValueError,
        r"linear_backward: weight: expected a 2-D array \(out_features, in_features\), "
        r"got 3-D with shape \(2, 4, 3\)",
    ),
    (
        lambda: linear_backward(np.zeros((2, 4)), np.zeros((2, 3)), np.zeros(3)),
        ValueError,
        r"linear_backward: weight: expected a 2-D .* got 1-D",
    ),
    (
        lambda: linear_backward(np.zeros((2, 4), np.int64), np.zeros((2, 3)), np.zeros((4, 3))),
        TypeError,
        r"linear_backward: grad_output: expected dtype float32 or float64, got int64",
    ),
]


@pytest.mark.parametrize("call, exc, pattern", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        call()
    assert "linear" in str(info.value)
