"""The training fast paths of cnnmath.nn, against PyTorch's autograd (float64) and against
the plain layer-by-layer computation they replace:

- a ReLU followed by a MaxPool2d inside a Sequential runs as one step (the pooling on x,
  the ReLU on the pooled output): same outputs and input gradients, ties and NaN included;
- ``backward(G, input_grad=False)`` skips the first layer's ∂ℓ/∂x (a Conv2d computes only
  ∂ℓ/∂w and ∂ℓ/∂b): same parameter gradients;
- ReLU's one-pass backward is PyTorch's (G passes at NaN, 0 where x <= 0);
- Adam's in-place update gives the formula's bits.
"""

import math

import numpy as np
import pytest

from cnnmath import nn, ops, optim
from helpers import rel_error

torch = pytest.importorskip("torch")
F = torch.nn.functional

POOLS = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": (2, 3), "stride": (1, 2), "dilation": 2},
    {"kernel_size": 3, "stride": 2, "ceil_mode": True},
    {"kernel_size": 1},
]


def tied_input(shape, seed=0):
    """Small integers: many windows all <= 0, many ties among positive maxima."""
    return np.random.default_rng(seed).integers(-3, 3, size=shape).astype(np.float64)


@pytest.mark.parametrize("pool", POOLS)
def test_relu_then_max_pool_is_torchs_with_ties(pool):
    x = tied_input((3, 4, 9, 10))
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(**pool))
    kept = x.copy()
    y = model(x)
    g = np.random.default_rng(1).standard_normal(y.shape)
    gx = model.backward(g)
    np.testing.assert_array_equal(x, kept)  # the input is never written
    tx = torch.from_numpy(x).requires_grad_()
    ty = F.max_pool2d(F.relu(tx), **pool)
    ty.backward(torch.from_numpy(g))
    assert y.shape == tuple(ty.shape) and y.dtype == x.dtype
    np.testing.assert_array_equal(y, ty.detach().numpy())
    assert rel_error(gx, tx.grad.numpy()) <= 1e-12


@pytest.mark.parametrize("pool", POOLS)
@pytest.mark.parametrize("relu", [False, True], ids=["pool", "relu-pool"])
def test_max_pool_keeps_its_choice_in_training_mode_only(pool, relu):
    """Training mode: the forward keeps each window's choice (the indices) and the backward
    routes G by it; eval mode: no indices kept, the backward finds the choice again from x.
    Both give PyTorch's gradient, ties included, with and without the fused ReLU."""
    x = tied_input((3, 4, 9, 10), seed=5)
    layer = nn.MaxPool2d(**pool)
    model = nn.Sequential(nn.ReLU(), layer) if relu else layer
    tx = torch.from_numpy(x).requires_grad_()
    ty = F.max_pool2d(F.relu(tx) if relu else tx, **pool)
    g = np.random.default_rng(6).standard_normal(ty.shape)
    ty.backward(torch.from_numpy(g))
    for training in (True, False):
        model.train(training)
        y, ctx = layer.forward_relu_ctx(x) if relu else layer.forward_ctx(x)
        assert (ctx.indices is not None) == training
        np.testing.assert_array_equal(y, ty.detach().numpy())
        assert rel_error(layer.backward_ctx(ctx, g), tx.grad.numpy()) <= 1e-12
        np.testing.assert_array_equal(model(x), y)
        assert rel_error(model.backward(g), tx.grad.numpy()) <= 1e-12
    # the backward routes G by the kept indices, not by x: indices all naming the
    # plane's first element send every (unmasked) G there
    model.train(True)
    y, ctx = layer.forward_relu_ctx(x) if relu else layer.forward_ctx(x)
    masked = np.where(y == 0, 0.0, g) if relu else g
    gx = layer.backward_ctx(ctx._replace(indices=np.zeros_like(ctx.indices)), g)
    np.testing.assert_allclose(gx[:, :, 0, 0], masked.sum(axis=(2, 3)), rtol=1e-12)
    gx[:, :, 0, 0] = 0
    assert not gx.any()


def test_fused_step_equals_the_two_layers_one_by_one_float32():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    relu, pool = nn.ReLU(), nn.MaxPool2d(2)
    fused = nn.Sequential(relu, pool)
    y = fused(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    gx = fused.backward(g)
    # the witness: each layer alone (no Sequential, so no fusion)
    y1 = relu(x)
    y2 = pool(y1)
    g1 = pool.backward(g)
    g0 = relu.backward(g1)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(gx, g0)
    assert y.dtype == gx.dtype == np.float32


def test_fused_step_passes_nan_as_torch_does():
    x = tied_input((2, 2, 6, 6), seed=3)
    x[0, 0, 1, 1] = np.nan  # a NaN is the window's maximum
    x[1, 1, 4, 5] = -np.inf
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    y = model(x)
    g = np.random.default_rng(4).standard_normal(y.shape)
    gx = model.backward(g)
    tx = torch.from_numpy(x).requires_grad_()
    F.max_pool2d(F.relu(tx), 2).backward(torch.from_numpy(g))
    np.testing.assert_array_equal(y, F.max_pool2d(F.relu(torch.from_numpy(x)), 2).numpy())
    np.testing.assert_array_equal(gx, tx.grad.numpy())


def test_relu_backward_is_torchs_at_nan_and_zero():
    x = np.array([[-1.0, 0.0, -0.0, np.nan, 2.0, np.inf, -np.inf]])
    g = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 7.0]])
    relu = nn.ReLU()
    y = relu(x)
    gx = relu.backward(g)
    tx = torch.from_numpy(x).requires_grad_()
    ty = F.relu(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(gx, tx.grad.numpy())


CONVS = [
    {"in_channels": 1, "out_channels": 6, "kernel_size": 3, "padding": 1},
    {"in_channels": 3, "out_channels": 4, "kernel_size": (3, 2), "stride": 2, "padding": (1, 0)},
    {"in_channels": 2, "out_channels": 5, "kernel_size": 3, "stride": (2, 3), "dilation": 2},
    {"in_channels": 2, "out_channels": 3, "kernel_size": 2, "stride": 3, "bias": False},
    {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "groups": 2, "padding": "same"},
]


@pytest.mark.parametrize("conv", CONVS)
def test_backward_without_input_grad_gives_the_same_parameter_gradients(conv):
    rng = np.random.default_rng(5)

    def model():
        return nn.Sequential(nn.Conv2d(**conv, rng=0, dtype=np.float64), nn.ReLU(), nn.Flatten())

    x = rng.standard_normal((3, conv["in_channels"], 11, 10))
    full, params_only = model(), model()
    y = full(x)
    np.testing.assert_array_equal(y, params_only(x))
    g = rng.standard_normal(y.shape)
    gx = full.backward(g)
    assert params_only.backward(g, input_grad=False) is None
    assert gx.shape == x.shape
    for (name, p), q in zip(full.named_parameters(), params_only.parameters(), strict=True):
        assert rel_error(q.grad, p.grad) <= 1e-12, name
    # and against PyTorch's weight gradient of the same convolution
    layer = full[0]
    tx = torch.from_numpy(x)
    tw = torch.from_numpy(layer.weight.data).requires_grad_()
    tb = None if layer.bias is None else torch.from_numpy(layer.bias.data)
    geometry = {k: conv[k] for k in ("stride", "padding", "dilation", "groups") if k in conv}
    ty = F.conv2d(tx, tw, tb, **geometry)
    F.relu(ty).flatten(1).backward(torch.from_numpy(g))
    assert rel_error(params_only[0].weight.grad, tw.grad.numpy()) <= 1e-12


def test_backward_without_input_grad_refuses_a_wrong_gradient_shape():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0))
    model(np.zeros((2, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match="grad_output"):
        model.backward(np.zeros((2, 2, 4, 4), np.float32), input_grad=False)


def test_adam_in_place_update_keeps_the_formulas_bits():
    rng = np.random.default_rng(6)
    p = nn.Parameter(rng.standard_normal((5, 7)).astype(np.float32))
    theta = p.data.copy()
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    adam = optim.Adam([p], lr=3e-3, betas=(0.8, 0.99), eps=1e-6)
    for t in range(1, 6):
        g = rng.standard_normal(theta.shape).astype(np.float32)
        p.grad[...] = g
        adam.step()
        m = m + (1 - 0.8) * (g - m)
        v = v * 0.99 + (1 - 0.99) * (g * g)
        denom = np.sqrt(v) / math.sqrt(1 - 0.99**t) + 1e-6
        theta = theta - (3e-3 / (1 - 0.8**t)) * m / denom
        np.testing.assert_array_equal(p.data, theta)
    assert set(adam.state_dict()) >= {"0.exp_avg", "0.exp_avg_sq"}
    assert not any("scratch" in k for k in adam.state_dict())


def test_max_pool_op_still_pools_the_relu_output():
    """The fused step's premise, stated on the ops: pooling then ReLU is ReLU then pooling."""
    x = tied_input((2, 3, 7, 7), seed=7)
    for pool in POOLS:
        a = np.maximum(ops.max_pool2d(x, **pool), 0)
        b = ops.max_pool2d(np.maximum(x, 0), **pool)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["resnet18", "resnet20"])
def test_graph_backward_without_input_grad_gives_the_same_parameter_gradients(name):
    """A Graph (a ResNet): the stem reads only the input and computes no input gradient;
    every parameter's gradient equals the full backward pass's (float64, training mode)."""
    from cnnmath import models

    def model():
        return getattr(models, name)(10, seed=0, dtype=np.float64).train()

    x = np.random.default_rng(8).standard_normal((2, 3, 16, 16))
    full, params_only = model(), model()
    y = full(x)
    np.testing.assert_array_equal(y, params_only(x))
    g = np.random.default_rng(9).standard_normal(y.shape)
    assert full.backward(g).shape == x.shape
    assert params_only.backward(g, input_grad=False) is None
    for (key, p), q in zip(full.named_parameters(), params_only.parameters(), strict=True):
        assert rel_error(q.grad, p.grad) <= 1e-12, key
