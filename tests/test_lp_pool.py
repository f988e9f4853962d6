"""Power-average pooling: ops.lp_pool1d/2d/3d where PyTorch's composition is delicate (zeros,
negative elements, ceil_mode windows past x), nn.LPPool1d/2d/3d against torch.nn's layers,
and the ONNX writer's LpPool / composition against onnxruntime (the generic op checks are the
records in tests/records/pool.py)."""

import numpy as np
import pytest
import torch

from cnnmath import nn, ops
from cnnmath.onnx import load, save
from helpers import assert_close, loads_as_onnxruntime, rel_error, run_onnxruntime

onnx = pytest.importorskip("onnx")

RANK_SHAPES = {1: (2, 3, 9), 2: (2, 3, 7, 8), 3: (2, 2, 5, 6, 5)}


def _torch_grad(rank, x, g, *args, **kwargs):
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.nn.functional, f"lp_pool{rank}d")(xt, *args, **kwargs)
    yt.backward(torch.tensor(g))
    return yt.detach().numpy(), xt.grad.numpy()


def _same_with_nans(got, want, dtype):
    """The same NaNs and infinities, and equal (to the dtype's tolerance) elsewhere."""
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    np.testing.assert_array_equal(got[~np.isfinite(want)], want[~np.isfinite(want)])
    ok = np.isfinite(want)
    assert ok.any()
    assert_close(got[ok], want[ok], dtype, factor=10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("p", [2, 1, 3, 0.5, 1.5, np.inf])
def test_zeros_and_negative_elements_as_in_torch(p, rank, dtype):
    """Windows of zeros (the sum's root has no derivative there: PyTorch's relu passes 0 back,
    and for p < 1 the factor X^(p-1) is inf at 0, so the gradient is NaN) and negative elements
    (NaN for a fractional p): forward and gradient equal torch autograd's, NaNs included."""
    rng = np.random.default_rng(rank)
    x = rng.standard_normal(RANK_SHAPES[rank])
    x[:, 0] = 0.0  # whole windows of zeros
    x[..., :1] = 0.0  # zeros beside non-zero elements
    x = x.astype(dtype)
    y = getattr(ops, f"lp_pool{rank}d")(x, p, 2, None, True)
    g = rng.standard_normal(y.shape).astype(dtype)
    grad = getattr(ops, f"lp_pool{rank}d_backward")(g, x, p, 2, None, True)
    want_y, want_grad = _torch_grad(rank, x, g, p, 2, None, True)
    assert y.dtype == grad.dtype == dtype
    _same_with_nans(y, want_y, dtype)
    _same_with_nans(grad, want_grad, dtype)
    window_zero = np.zeros(y.shape, bool)
    window_zero[:, 0] = True
    assert (y[window_zero] == 0).all()
    if p < 1:  # the zeros' gradient is NaN, as PyTorch's
        assert np.isnan(grad[:, 0]).all()
    elif p != np.inf:
        assert (grad[:, 0] == 0).all()


def test_ceil_mode_window_past_x_is_scaled_as_torch():
    """A ceil_mode window that runs past x: PyTorch's avg_pool divides its sum by its taps in
    x, then multiplies by the whole window, so the last output is (3/1 · x[6]^2)^(1/2)."""
    x = np.arange(1.0, 8.0).reshape(1, 1, 7)
    y = ops.lp_pool1d(x, 2, 3, ceil_mode=True)
    np.testing.assert_allclose(y[0, 0, -1], np.sqrt(3 * 7.0**2), rtol=1e-15)
    np.testing.assert_allclose(y[0, 0, 0], np.sqrt(1 + 4 + 9), rtol=1e-15)
    want, _ = _torch_grad(1, x, np.ones_like(y), 2, 3, ceil_mode=True)
    np.testing.assert_allclose(y, want, rtol=1e-14)


def test_norm_type_zero_or_negative_is_refused():
    """PyTorch divides by zero at p = 0 (ZeroDivisionError) and takes a negative p as a
    power mean; the op refuses both, naming norm_type."""
    x = np.ones((1, 2, 4, 4))
    with pytest.raises(ZeroDivisionError):
        torch.nn.functional.lp_pool2d(torch.tensor(x), 0, 2)
    for p in (0, -2.0, -np.inf):
        with pytest.raises(ValueError, match=r"lp_pool2d: norm_type: expected a number > 0"):
            ops.lp_pool2d(x, p, 2)
    with pytest.raises(ValueError, match=r"LPPool3d: norm_type"):
        nn.LPPool3d(-1, 2)
    with pytest.raises(ValueError, match=r"LPPool1d: kernel_size"):
        nn.LPPool1d(2, 0)
    with pytest.raises(TypeError, match=r"LPPool2d: ceil_mode"):
        nn.LPPool2d(2, 2, ceil_mode=1)


# -- layers ----------------------------------------------------------------------------------

LAYERS = [
    (1, (2.0, 3), {}),
    (1, (1.5, 2), {"stride": 1, "ceil_mode": True}),
    (1, (np.inf, 2), {}),
    (2, (2, 2), {}),
    (2, (3, (3, 2)), {"stride": (2, 1), "ceil_mode": True}),
    (2, (0.75, 3), {"stride": 2}),
    (3, (2, 2), {}),
    (3, (1.5, (2, 3, 2)), {"stride": 2, "ceil_mode": True}),
    (3, (float("inf"), 2), {"stride": 1}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rank, args, kwargs", LAYERS)
@pytest.mark.parametrize("unbatched", [False, True])
def test_layers_match_torch_nn(rank, args, kwargs, dtype, unbatched):
    """Repr, forward and input gradient of nn.LPPool{1,2,3}d equal torch.nn's on positive
    inputs (X^p is real for every p there)."""
    ours = getattr(nn, f"LPPool{rank}d")(*args, **kwargs)
    theirs = getattr(torch.nn, f"LPPool{rank}d")(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    shape = RANK_SHAPES[rank][unbatched:]
    rng = np.random.default_rng(7)
    x = (np.abs(rng.standard_normal(shape)) + 0.1).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    want = theirs(xt)
    y, ctx = ours.forward_ctx(x)
    assert y.dtype == dtype and y.shape == tuple(want.shape)
    assert_close(y, want.detach().numpy(), dtype, factor=10)
    g = rng.standard_normal(y.shape).astype(dtype)
    want.backward(torch.tensor(g))
    grad = ours.backward_ctx(ctx, g)
    assert grad.dtype == dtype
    assert_close(grad, xt.grad.numpy(), dtype, factor=10)


def test_layer_in_a_model_trains_as_torch_gradient():
    """Inside a Sequential (Conv2d → LPPool2d → Flatten), model.backward gives the input
    gradient torch autograd gives for the same weights."""
    rng = np.random.default_rng(3)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, rng=0, dtype=np.float64), nn.LPPool2d(2, 2), nn.Flatten()
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3).double(), torch.nn.LPPool2d(2, 2), torch.nn.Flatten()
    )
    with torch.no_grad():
        theirs[0].weight.copy_(torch.tensor(model[0].weight.data))
        theirs[0].bias.copy_(torch.tensor(model[0].bias.data))
    x = rng.standard_normal((2, 2, 8, 8))
    xt = torch.tensor(x, requires_grad=True)
    want = theirs(xt)
    y = model(x)
    assert_close(y, want.detach().numpy())
    g = rng.standard_normal(y.shape)
    want.backward(torch.tensor(g))
    assert_close(model.backward(g), xt.grad.numpy())


# -- ONNX ------------------------------------------------------------------------------------

SAVED = [
    # (layer, input shape, positive input, the op types written)
    (lambda: nn.LPPool2d(2, 2), (2, 3, 6, 6), False, ["LpPool"]),
    (lambda: nn.LPPool2d(4.0, (3, 2), stride=(1, 2)), (2, 3, 7, 6), False, ["LpPool"]),
    (lambda: nn.LPPool1d(2, 3, stride=2), (2, 3, 9), False, ["LpPool"]),
    (lambda: nn.LPPool3d(2, 2), (1, 2, 4, 4, 6), False, ["LpPool"]),
    # even p, but a ceil_mode window past x: PyTorch's K/D scaling, so the composition
    (lambda: nn.LPPool2d(2, 3, 2, ceil_mode=True), (1, 2, 8, 8), False, ["Pow", "AveragePool"]),
    # ceil_mode with no window past x: the floor-mode windows, LpPool
    (lambda: nn.LPPool2d(2, 3, 2, ceil_mode=True), (1, 2, 7, 7), False, ["LpPool"]),
    # odd p: x^p of a negative x is not LpPool's |x|^p
    (lambda: nn.LPPool2d(1, 2), (2, 3, 6, 6), False, ["Pow", "AveragePool"]),
    (lambda: nn.LPPool2d(3, 2), (2, 3, 6, 6), False, ["Pow", "AveragePool"]),
    (lambda: nn.LPPool2d(1.5, 3, 2), (2, 3, 7, 7), True, ["Pow", "AveragePool"]),
    (lambda: nn.LPPool1d(0.5, 2, 1, ceil_mode=True), (2, 3, 7), True, ["Pow", "AveragePool"]),
    (lambda: nn.LPPool3d(2.5, (2, 2, 3)), (1, 2, 4, 5, 6), True, ["Pow", "AveragePool"]),
    (lambda: nn.LPPool2d(np.inf, 2), (2, 3, 6, 6), False, ["Abs", "MaxPool"]),
]


@pytest.mark.parametrize("build, shape, positive, written", SAVED)
def test_saved_lp_pool_runs_in_onnxruntime_as_in_cnnmath(build, shape, positive, written, tmp_path):
    """save writes LpPool where its integer p gives the layer's sums (even p, no window past
    x), else Abs + MaxPool (p = inf) or Pow, AveragePool, Mul, Pow; onnxruntime computes the
    layer's output on float32, and cnnmath's load reads the file back to the same."""
    model = nn.Sequential(build())
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    if positive:
        x = np.abs(x) + 0.1
    path = tmp_path / "m.onnx"
    save(model, path, x)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    ops_written = [n.op_type for n in proto.graph.node if n.op_type != "Constant"]
    assert ops_written[: len(written)] == written
    (got,) = run_onnxruntime(path.read_bytes(), {"x": x})
    want = model(x)
    back = load(path)(x)
    real = ~np.isnan(want)  # p = 3: a window of negative sum has no real cube root
    assert real.mean() >= 0.5
    np.testing.assert_array_equal(np.isnan(got), ~real)
    np.testing.assert_array_equal(np.isnan(back), ~real)
    assert rel_error(got[real], want[real]) <= 1e-5
    assert rel_error(back[real], want[real]) <= 1e-5


def test_torch_export_of_lp_pool_loads_and_agrees_with_onnxruntime():
    """PyTorch writes LPPool2d as Pow, AveragePool, Sign·Relu(Abs), Mul, Pow (and p = inf as
    Abs, MaxPool): cnnmath's load of its file gives onnxruntime's output, and the layer's."""
    rng = np.random.default_rng(9)
    x = torch.tensor(np.abs(rng.standard_normal((2, 3, 7, 7))) + 0.1)
    for layer in (
        torch.nn.LPPool2d(2, 2),
        torch.nn.LPPool2d(1.5, 3, 2, ceil_mode=True),
        torch.nn.LPPool2d(float("inf"), 2),
        torch.nn.LPPool1d(3, 2),
    ):
        xi = x[:, 0] if isinstance(layer, torch.nn.LPPool1d) else x
        loads_as_onnxruntime(layer, xi)
        ours = getattr(nn, type(layer).__name__)(
            layer.norm_type, layer.kernel_size, layer.stride, layer.ceil_mode
        )
        assert_close(ours(xi.numpy()), layer(xi).numpy())


# -- receptive fields and tiled execution ----------------------------------------------------


def test_tiled_execution_of_lp_pool2d_equals_the_whole_image():
    """LPPool2d is a window of its kernel and stride for receptive fields: run tile by tile
    with cnnmath.tiled (ceil_mode windows past the image's edge included), the output equals
    the layer's on the whole image."""
    da = pytest.importorskip("dask.array")
    from cnnmath.tiled import apply

    x = np.random.default_rng(4).standard_normal((1, 1, 16, 18))
    for pool in (nn.LPPool2d(2, 3, 2, ceil_mode=True), nn.LPPool2d(np.inf, (3, 2), (2, 1))):
        net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=0, dtype=np.float64), pool)
        y = apply(net, da.from_array(x, chunks=(1, 1, 8, 6))).compute()
        np.testing.assert_allclose(y, net(x), rtol=1e-13, atol=0)


def test_receptive_field_refuses_lp_pool1d_and_3d_by_their_rank():
    from cnnmath.receptive import receptive_field

    with pytest.raises(ValueError, match="LPPool1d works on signals"):
        receptive_field(nn.Sequential(nn.LPPool1d(2, 3)), (1, 8, 8))
    with pytest.raises(ValueError, match="LPPool3d works on volumes"):
        receptive_field(nn.Sequential(nn.LPPool3d(2, 2)), (1, 8, 8))
