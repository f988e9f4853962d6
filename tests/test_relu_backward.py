"""ops.relu_backward: PyTorch's ReLU backward bit for bit (a select without branches), on any
values of x and of the output gradient, at one thread and at two."""

import numpy as np
import pytest

from cnnmath import nn, ops
from cnnmath.ops.activations.rectifiers import _SELECT_BLOCK
from threads_helper import assert_thread_invariant

SPECIAL = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-45, -1e-45, 3.5, -2.25]


def _data(n, dtype, seed=0):
    """x and g of n values each, random signs, with every special value in both."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    k = len(SPECIAL)
    x[: k * k] = np.repeat(SPECIAL, k)  # every pair (x special, g special)
    g[: k * k] = np.tile(SPECIAL, k)
    return x, g


def _torch_grad(torch, x, g):
    t = torch.tensor(x, requires_grad=True)
    torch.relu(t).backward(torch.tensor(g))
    return t.grad.numpy()


def _bits(a):
    return a.view(np.uint32 if a.itemsize == 4 else np.uint64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [100, 3 * _SELECT_BLOCK + 17])
def test_relu_backward_is_pytorchs_bit_for_bit(dtype, n):
    torch = pytest.importorskip("torch")
    x, g = _data(n, dtype)
    got = ops.relu_backward(g, x)
    want = _torch_grad(torch, x, g)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_array_equal(_bits(got), _bits(want))  # NaN payloads and signed zeros too


def test_relu_backward_keeps_g_where_x_is_positive_or_nan_and_zeroes_the_rest():
    x = np.array([2.0, 0.0, -0.0, -1.0, np.nan, -np.nan, np.inf, -np.inf], np.float32)
    g = np.array([-0.0, np.inf, np.nan, 5.0, -7.0, np.inf, np.nan, -np.inf], np.float32)
    got = ops.relu_backward(g, x)
    np.testing.assert_array_equal(
        _bits(got), _bits(np.array([-0.0, 0, 0, 0, -7.0, np.inf, np.nan, 0], np.float32))
    )
    assert not np.signbit(got[1:4]).any()  # the zeros written are +0


def test_relu_backward_from_the_output_equals_from_the_input():
    """y <= 0 exactly where x <= 0, so the fused ReLU + max pooling may mask by the output."""
    x, g = _data(5000, np.float32, seed=1)
    np.testing.assert_array_equal(
        _bits(ops.relu_backward(g, np.maximum(x, 0))), _bits(ops.relu_backward(g, x))
    )


def test_relu_backward_of_strided_views_empty_and_0d_arrays():
    torch = pytest.importorskip("torch")
    x, g = _data(24 * 35, np.float64, seed=2)
    x2, g2 = x.reshape(24, 35).T, g.reshape(35, 24)[::-1]  # a transposed and a reversed view
    want = _torch_grad(torch, np.ascontiguousarray(x2), np.ascontiguousarray(g2))
    np.testing.assert_array_equal(_bits(ops.relu_backward(g2, x2)), _bits(want))
    for shape in [(), (0,), (3, 0, 2)]:
        x0, g0 = np.full(shape, -1.5, np.float32), np.full(shape, 2.0, np.float32)
        got = ops.relu_backward(g0, x0)
        assert got.shape == shape and got.dtype == np.float32 and not got.any()
    assert ops.relu_backward(np.array(2.0), np.array(1.0)) == 2.0


def test_relu_backward_is_thread_invariant():
    x, g = _data(1 << 21, np.float32, seed=3)  # 64 blocks
    assert_thread_invariant(lambda: ops.relu_backward(g, x))


def test_nn_relu_and_the_fused_pooling_backward_mask_inf_and_nan_gradients():
    """The layers' backward is relu_backward's: a non-finite G where x <= 0 gives 0 (G·σ′
    would give NaN), in the ReLU layer and in ReLU + MaxPool2d run as one fused step."""
    x = np.array([[[[-1.0, -2.0], [-3.0, -4.0]], [[1.0, -2.0], [0.5, 0.25]]]], np.float32)
    relu = nn.ReLU()
    relu(x)
    g = np.full(x.shape, np.inf, np.float32)
    np.testing.assert_array_equal(relu.backward(g), np.where(x > 0, np.inf, 0).astype(np.float32))
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    y = model(x)
    assert y.ravel().tolist() == [0.0, 1.0]
    got = model.backward(np.full(y.shape, np.nan, np.float32))
    assert (
        (got[0, 0] == 0).all() and np.isnan(got[0, 1, 0, 0]) and (got[0, 1].ravel()[1:] == 0).all()
    )


def test_relu_backward_names_the_bad_argument():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"relu_backward: grad_output: expected the shape of x"):
        ops.relu_backward(np.zeros((3, 2), np.float32), x)
    with pytest.raises((TypeError, ValueError), match="relu_backward"):
        ops.relu_backward(np.zeros((2, 3), np.float64), x)
    with pytest.raises(TypeError, match="relu_backward: x"):
        ops.relu_backward(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.int64))
