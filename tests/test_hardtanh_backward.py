"""ops.hardtanh_backward: PyTorch's hardtanh (and relu6) backward bit for bit, a select
without branches, on any values of x and of the output gradient, at one thread and at two;
nn.ReLU6's backward runs it."""

import numpy as np
import pytest

from cnnmath import nn, ops
from cnnmath.ops import activations
from cnnmath.ops.activations.rectifiers import _SELECT_BLOCK
from threads_helper import assert_thread_invariant

SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 6.0, -1.0, 1.0, 0.5, 7.5, -2.25, 1e-45]
BOUNDS = [(-1.0, 1.0), (0.0, 6.0), (-0.5, 2.0)]


def _data(n, dtype, seed=0):
    """x and g of n values each, with every pair of special values among them."""
    rng = np.random.default_rng(seed)
    x = (4 * rng.standard_normal(n)).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    k = len(SPECIAL)
    x[: k * k] = np.repeat(SPECIAL, k)
    g[: k * k] = np.tile(SPECIAL, k)
    return x, g


def _torch_grad(torch, x, g, low, high):
    t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.hardtanh(t, low, high).backward(torch.tensor(g))
    return t.grad.numpy()


def _bits(a):
    return a.view(np.uint32 if a.itemsize == 4 else np.uint64)


@pytest.mark.parametrize("bounds", BOUNDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [200, 3 * _SELECT_BLOCK + 17])
def test_hardtanh_backward_is_pytorchs_bit_for_bit(bounds, dtype, n):
    torch = pytest.importorskip("torch")
    x, g = _data(n, dtype)
    low, high = bounds
    got = ops.hardtanh_backward(g, x, min_val=low, max_val=high)
    want = _torch_grad(torch, x, g, low, high)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_array_equal(_bits(got), _bits(want))  # NaN payloads and signed zeros too


def test_hardtanh_backward_keeps_g_strictly_inside_and_zeroes_the_rest():
    x = np.array([0.5, -1.0, 1.0, 3.0, np.nan, -0.0, -np.inf], np.float32)
    g = np.array([np.nan, np.inf, np.nan, -np.inf, 4.0, -2.0, np.inf], np.float32)
    got = ops.hardtanh_backward(g, x)
    want = np.array([np.nan, 0, 0, 0, 0, -2.0, 0], np.float32)
    np.testing.assert_array_equal(_bits(got), _bits(want))
    # the product g·σ′(x) that the select replaces gives NaN where an infinite g meets σ′ = 0
    with np.errstate(invalid="ignore"):
        assert np.isnan(g[1] * activations.hardtanh_grad(x)[1])


def test_hardtanh_backward_from_the_output_equals_from_the_input():
    """y lies strictly inside the bounds exactly where x does."""
    x, g = _data(5000, np.float32, seed=1)
    y = activations.relu6(x)
    np.testing.assert_array_equal(
        _bits(ops.hardtanh_backward(g, y, min_val=0, max_val=6)),
        _bits(ops.hardtanh_backward(g, x, min_val=0, max_val=6)),
    )


def test_hardtanh_backward_of_views_empty_and_0d_arrays():
    torch = pytest.importorskip("torch")
    x, g = _data(24 * 35, np.float64, seed=2)
    x2, g2 = x.reshape(24, 35).T, g.reshape(35, 24)[::-1]
    want = _torch_grad(torch, np.ascontiguousarray(x2), np.ascontiguousarray(g2), -1.0, 1.0)
    np.testing.assert_array_equal(_bits(ops.hardtanh_backward(g2, x2)), _bits(want))
    for shape in [(), (0,), (3, 0, 2)]:
        x0, g0 = np.full(shape, -1.5, np.float32), np.full(shape, 2.0, np.float32)
        got = ops.hardtanh_backward(g0, x0)
        assert got.shape == shape and got.dtype == np.float32 and not got.any()
    assert ops.hardtanh_backward(np.array(2.0), np.array(0.5)) == 2.0


def test_hardtanh_backward_is_thread_invariant():
    x, g = _data(1 << 21, np.float32, seed=3)  # 64 blocks
    assert_thread_invariant(lambda: ops.hardtanh_backward(g, x, min_val=0, max_val=6))


def test_nn_relu6_backward_is_pytorchs_with_inf_and_nan_gradients():
    torch = pytest.importorskip("torch")
    x, g = _data(3000, np.float32, seed=4)
    layer = nn.ReLU6()
    layer(x)
    want = _torch_grad(torch, x, g, 0.0, 6.0)
    np.testing.assert_array_equal(_bits(layer.backward(g)), _bits(want))


def test_hardtanh_backward_names_the_bad_argument():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"hardtanh_backward: grad_output: expected the shape"):
        ops.hardtanh_backward(np.zeros((3, 2), np.float32), x)
    with pytest.raises(TypeError, match="hardtanh_backward: .*dtype"):
        ops.hardtanh_backward(np.zeros((2, 3), np.float64), x)
    with pytest.raises(TypeError, match="hardtanh_backward: x"):
        ops.hardtanh_backward(x, np.zeros((2, 3), np.int64))
    with pytest.raises(ValueError, match="hardtanh_backward: min_val: expected min_val <= max_val"):
        ops.hardtanh_backward(x, x, min_val=2.0, max_val=1.0)
    with pytest.raises(TypeError, match="hardtanh_backward: max_val"):
        ops.hardtanh_backward(x, x, max_val="6")
