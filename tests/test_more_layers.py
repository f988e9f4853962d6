"""Softmax, LogSoftmax, Hardtanh, LogSigmoid and Dropout2d against PyTorch's layers: repr,
forward, backward (autograd), and where they sit in a network (receptive fields, losses).
Their ONNX forms are checked with the other layers in tests/test_onnx_save.py."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn
from helpers import rel_error

torch = pytest.importorskip("torch")

PAIRS = [
    (lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    (lambda: nn.Softmax(dim=-1), lambda: torch.nn.Softmax(dim=-1)),
    (lambda: nn.LogSoftmax(dim=1), lambda: torch.nn.LogSoftmax(dim=1)),
    (lambda: nn.LogSoftmax(dim=2), lambda: torch.nn.LogSoftmax(dim=2)),
    (lambda: nn.Hardtanh(), lambda: torch.nn.Hardtanh()),
    (lambda: nn.Hardtanh(-2, 3), lambda: torch.nn.Hardtanh(-2, 3)),
    (lambda: nn.Hardtanh(0.0, 0.5), lambda: torch.nn.Hardtanh(0.0, 0.5)),
    (lambda: nn.LogSigmoid(), lambda: torch.nn.LogSigmoid()),
]


@pytest.mark.parametrize("index", range(len(PAIRS)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_are_torchs(index, dtype):
    ours, theirs = PAIRS[index][0](), PAIRS[index][1]()
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(index)
    x = (3.0 * rng.standard_normal((2, 4, 3, 5))).astype(dtype)
    x[0, 0, 0, :3] = [-1.0, 1.0, 3.0]  # Hardtanh's kinks: a zero gradient there, as torch
    x[1, 1, 1, :2] = [-200.0, 200.0]  # LogSigmoid's tails
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert y.dtype == dtype
    assert rel_error(y, yt.detach().numpy()) <= tol
    G = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(G))
    assert rel_error(ours.backward(G), xt.grad.numpy()) <= tol


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_softmax_without_dim_takes_torchs_implicit_axis(ndim):
    x = np.random.default_rng(ndim).standard_normal((2, 3, 4, 5)[:ndim])
    with pytest.warns(UserWarning):  # torch warns that the choice is implicit
        want = torch.nn.Softmax()(torch.from_numpy(x)).numpy()
    assert rel_error(nn.Softmax()(x), want) <= 1e-14


def test_log_softmax_layer_feeds_nll_loss_as_cross_entropy():
    from cnnmath import losses

    logits = np.random.default_rng(1).standard_normal((5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    layer = nn.LogSoftmax(dim=1)
    loss, _ = losses.nll_loss(layer(logits), labels)
    want = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels))
    assert abs(float(loss) - want.item()) <= 1e-14


def test_dropout2d_zeroes_whole_maps_and_scales_the_rest():
    """Per (n, c) one draw: each map is all zeros or x/(1 − p); about p of them are dropped;
    the backward applies the same maps; evaluation is the identity; repr as torch's."""
    assert repr(nn.Dropout2d(0.3)) == repr(torch.nn.Dropout2d(0.3))
    p = 0.3
    layer = nn.Dropout2d(p, rng=0)
    x = np.random.default_rng(2).standard_normal((40, 50, 3, 4)) + 5.0  # never zero
    y = layer(x)
    kept = (y != 0).reshape(40, 50, -1)
    assert np.all(kept.all(axis=2) | (~kept).all(axis=2))  # whole maps only
    k = kept[:, :, 0]
    np.testing.assert_allclose(y[k], x[k] / (1 - p), rtol=1e-15)
    assert abs((~k).mean() - p) < 0.03  # 2000 draws: σ ≈ 0.01
    G = np.ones_like(y)
    np.testing.assert_array_equal(layer.backward(G) != 0, y != 0)
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)
    layer.train()
    z = layer(x[:, :, 0])  # (N, C, L): a map per (n, c), as torch takes a 3-D input
    assert np.all((z == 0).all(axis=2) | (z != 0).all(axis=2))
    with pytest.raises(ValueError, match=r"Dropout2d.forward: x: expected shape"):
        layer(x[0, 0])


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_drops_whole_examples_or_the_whole_batch(mode):
    """torchvision.ops.StochasticDepth's law: "row" keeps each example whole with
    probability 1 − p, scaled by 1/(1 − p), "batch" keeps or drops all at once; the backward
    applies the same scale; evaluation, and p = 0, are the identity; p = 1 drops all."""
    from torchvision_helper import import_torchvision

    torchvision = import_torchvision()
    p = 0.25
    assert repr(nn.StochasticDepth(p, mode)) == repr(torchvision.ops.StochasticDepth(p, mode))
    layer = nn.StochasticDepth(p, mode, rng=1)
    x = np.random.default_rng(3).standard_normal((400, 2, 3, 3)) + 5.0  # never zero
    draws = []
    for _ in range(1 if mode == "row" else 400):
        y = layer(x)
        kept = (y != 0).reshape(len(x), -1)
        assert np.all(kept.all(axis=1) | (~kept).all(axis=1))  # whole examples only
        np.testing.assert_allclose(y[kept[:, 0]], x[kept[:, 0]] / (1 - p), rtol=1e-15)
        np.testing.assert_array_equal(layer.backward(np.ones_like(y)) != 0, y != 0)
        if mode == "batch":
            assert kept.all() or not kept.any()
            draws.append(kept.all())
        else:
            draws = list(kept[:, 0])
    assert abs(1 - np.mean(draws) - p) < 0.07  # 400 draws: σ ≈ 0.02
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(nn.StochasticDepth(0.0, mode)(x), x)
    np.testing.assert_array_equal(nn.StochasticDepth(1.0, mode)(x), 0)
    with pytest.raises(ValueError, match=r"StochasticDepth: mode: expected 'row' or 'batch'"):
        nn.StochasticDepth(0.1, "column")


def test_layer_arguments_are_checked_naming_them():
    with pytest.raises(ValueError, match=r"Hardtanh: max_val: expected a number above"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(TypeError, match=r"Softmax: dim: expected an int or None"):
        nn.Softmax(dim=1.5)
    with pytest.raises(ValueError, match=r"Dropout2d: p: expected a probability"):
        nn.Dropout2d(1.5)


def test_receptive_field_softmax_over_channels_is_pointwise_over_space_global():
    from cnnmath.receptive import layer_geometry

    assert layer_geometry(nn.Softmax(dim=1)).kind == "pointwise"
    assert layer_geometry(nn.LogSoftmax()).kind == "pointwise"
    assert layer_geometry(nn.Softmax(dim=-1)).kind == "global"
    assert layer_geometry(nn.Hardtanh()).kind == "pointwise"


def _concat_net(dim):
    g = nn.Graph()
    conv = g.add(nn.Conv2d(2, 3, 3, padding=1, rng=0), "x", name="conv")
    relu = g.add(nn.ReLU(), conv, name="relu")
    g.set_output(g.add(nn.Concat(dim), relu, conv, name="cat"))
    return g


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda d: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, rng=0), nn.Softmax(dim=d)), "1"),
        (_concat_net, "cat"),
    ],
    ids=["softmax", "concat"],
)
def test_tiled_refuses_an_axis_counted_from_the_front_on_one_image(make, name):
    """dim=1 is the channels of a batch but H of a (C, H, W) image, which tiles would read
    as the channels (a softmax normalising each tile's rows alone, a concat along H whose
    shape the plan gets wrong): an unbatched array is refused, naming the node; a batch,
    or dim=-3, tiles exactly."""
    pytest.importorskip("dask")
    import dask.array as da

    from cnnmath import tiled

    x = np.random.default_rng(3).standard_normal((2, 12, 16)).astype(np.float32)
    net = make(1)
    with pytest.raises(ValueError, match=rf"node '{name}' .*\(dim=1\)\) means axis 1 of an "
                       r"unbatched \(C, H, W\) image, H, .* or the layer dim=-3"):  # fmt: skip
        tiled.apply(net, da.from_array(x, chunks=(2, 4, 8)))
    got = tiled.apply(net, da.from_array(x[None], chunks=(1, 2, 4, 8))).compute()
    np.testing.assert_allclose(got, net(x[None]), rtol=1e-6, atol=1e-7)
    net = make(-3)
    got = tiled.apply(net, da.from_array(x, chunks=(2, 4, 8))).compute()
    np.testing.assert_allclose(got, net(x), rtol=1e-6, atol=1e-7)


def test_layer_norm_2d_and_permute_are_torchvisions():
    """LayerNorm2d (ConvNeXt's, over each pixel's channels) and Permute against torchvision's
    classes: repr, forward and autograd gradients of x, γ and β."""
    from torchvision_helper import import_torchvision

    torchvision = import_torchvision()
    from torchvision.models.convnext import LayerNorm2d as TorchLayerNorm2d

    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 3, 4))
    ours = nn.LayerNorm2d(5, eps=1e-6, dtype=np.float64)
    ours.weight.data[...] = rng.standard_normal(5)
    ours.bias.data[...] = rng.standard_normal(5)
    theirs = TorchLayerNorm2d(5, eps=1e-6).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert repr(ours) == repr(theirs)
    G = rng.standard_normal(x.shape)
    xt = torch.from_numpy(x).requires_grad_()
    y = theirs(xt)
    (y * torch.from_numpy(G)).sum().backward()
    ours.zero_grad()
    np.testing.assert_allclose(ours(x), y.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.backward(G), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10)

    permute = nn.Permute((0, 2, 3, 1))
    assert repr(permute) == repr(torchvision.ops.Permute([0, 2, 3, 1])) == "Permute()"
    np.testing.assert_array_equal(permute(x), x.transpose(0, 2, 3, 1))
    back = permute.backward(G.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(back, G)
    with pytest.raises(ValueError, match=r"Permute: dims: expected a permutation"):
        nn.Permute((0, 2, 2, 1))
