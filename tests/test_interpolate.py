"""Bilinear and bicubic resizing (``ops.interpolate_bilinear`` / ``interpolate_bicubic``,
``nn.Upsample(mode="bilinear" / "bicubic")``) against PyTorch's ``interpolate``/``Upsample``
forward and autograd, and the backward against the adjoint identity
⟨resize(x), G⟩ = ⟨x, resize_backward(G)⟩ in float64.

PyTorch's kernel fuses its multiply-adds (FMA), NumPy does not: the two agree to a few
units of the last place, not bit for bit (tolerances below)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, ops
from cnnmath.ops.interpolate import (
    cubic_weights,
    interpolate_bicubic,
    interpolate_bicubic_backward,
    interpolate_bilinear,
    interpolate_bilinear_backward,
)
from helpers import rel_error

torch = pytest.importorskip("torch")

TOL = {np.float32: 2e-6, np.float64: 1e-14}

#: mode → (forward, backward)
OPS = {
    "bilinear": (interpolate_bilinear, interpolate_bilinear_backward),
    "bicubic": (interpolate_bicubic, interpolate_bicubic_backward),
}

GEOMETRIES = [
    dict(size=(9, 14)),
    dict(size=(3, 2)),  # shrinking
    dict(size=(1, 1)),
    dict(size=7),
    dict(scale_factor=2),
    dict(scale_factor=(1, 0.7)),
    dict(scale_factor=(1.5, 3.3)),
    dict(scale_factor=(2.5, 0.5)),
    dict(scale_factor=1.1),  # ⌊n·1.1⌋ = n below 10 pixels: bilinear copies such an axis
    dict(scale_factor=(1.3, 0.9)),
]


@pytest.mark.parametrize("mode", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("hw", [(5, 7), (2, 4), (1, 9), (8, 8)])
def test_agrees_with_torch_forward_and_backward(dtype, align_corners, geometry, hw, mode):
    forward, backward = OPS[mode]
    rng = np.random.default_rng(hash((hw, align_corners)) % 2**32)
    x = rng.standard_normal((2, 3, *hw)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.interpolate(xt, mode=mode, align_corners=align_corners, **geometry)
    y = forward(x, **geometry, align_corners=align_corners)
    assert y.shape == tuple(want.shape) and y.dtype == dtype
    assert rel_error(y, want.detach().numpy()) <= TOL[dtype]
    G = rng.standard_normal(y.shape).astype(dtype)
    want.backward(torch.tensor(G))
    gx = backward(G, x.shape, **geometry, align_corners=align_corners)
    assert gx.shape == x.shape and gx.dtype == dtype
    if mode == "bicubic" and y.shape == x.shape and rel_error(y, x) > 1e-3:
        # PyTorch's bicubic forward resamples by 1/1.1 here, its backward copies G (the
        # output has the input's shape): not the adjoint of its forward. cnnmath's is the
        # adjoint (test_backward_is_the_adjoint) — the gradient of what the forward computes.
        np.testing.assert_array_equal(xt.grad.numpy(), G)
        assert rel_error(gx, G) > 1e-3
        return
    assert rel_error(gx, xt.grad.numpy()) <= TOL[dtype]


@pytest.mark.parametrize("mode", OPS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_backward_is_the_adjoint(geometry, mode):
    forward, backward = OPS[mode]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 6))  # unbatched (C, H, W)
    for align_corners in (False, True):
        y = forward(x, **geometry, align_corners=align_corners)
        G = rng.standard_normal(y.shape)
        gx = backward(G, x.shape, **geometry, align_corners=align_corners)
        assert np.vdot(y, G) == pytest.approx(np.vdot(x, gx), rel=1e-12)


@pytest.mark.parametrize("mode", OPS)
def test_keeps_constants_and_the_corners(mode):
    """A constant image stays constant (the weights of each output sum to 1), and with
    align_corners the four corner pixels are copied exactly."""
    forward, _ = OPS[mode]
    x = np.full((1, 1, 4, 5), 2.5)
    np.testing.assert_allclose(forward(x, size=(7, 3)), 2.5, rtol=1e-14)
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 5))
    y = forward(x, size=(9, 11), align_corners=True)
    np.testing.assert_array_equal(
        y[..., [0, 0, -1, -1], [0, -1, 0, -1]], x[..., [0, 0, -1, -1], [0, -1, 0, -1]]
    )


def test_cubic_weights_are_the_kernel_at_the_four_distances():
    """The weights are Keys' kernel W(d) at d = 1 + t, t, 1 − t, 2 − t (written here from
    its two pieces), sum to 1, reproduce a pixel at t = 0, and with a = −0.5 (Catmull–Rom)
    interpolate a quadratic's samples exactly at t = ½ (the cubic through four points)."""

    def W(d, a):
        d = abs(d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a if d < 2 else 0.0

    t = np.linspace(0, 1, 11)
    for a in (-0.75, -0.5):
        w = cubic_weights(t, a)
        want = [[W(d, a) for d in (1 + s, s, 1 - s, 2 - s)] for s in t]
        np.testing.assert_allclose(w.T, want, rtol=0, atol=1e-14)
        np.testing.assert_allclose(w.sum(axis=0), 1, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(cubic_weights(np.zeros(1))[:, 0], [0, 1, 0, 0])
    samples = np.array([-1.0, 0.0, 1.0, 2.0]) ** 2  # x² at the taps around 0.5
    assert cubic_weights(np.array([0.5]), -0.5)[:, 0] @ samples == pytest.approx(0.25 - 0.0)


@pytest.mark.parametrize("mode", OPS)
@pytest.mark.parametrize("align_corners", [None, False, True])
@pytest.mark.parametrize(
    "geometry", [dict(scale_factor=2), dict(size=(6, 3)), dict(scale_factor=(1.3, 0.8))], ids=str
)
def test_upsample_interpolating_layer_is_torchs(align_corners, geometry, mode):
    rng = np.random.default_rng(3)
    layer = nn.Upsample(**geometry, mode=mode, align_corners=align_corners)
    theirs = torch.nn.Upsample(**geometry, mode=mode, align_corners=align_corners)
    assert repr(layer) == repr(theirs)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    want = theirs(xt)
    y, ctx = layer.forward_ctx(x)
    assert rel_error(y, want.detach().numpy()) <= TOL[np.float32]
    G = rng.standard_normal(y.shape).astype(np.float32)
    want.backward(torch.tensor(G))
    assert rel_error(layer.backward_ctx(ctx, G), xt.grad.numpy()) <= TOL[np.float32]
    with pytest.raises(ValueError, match=r"Upsample.backward: grad_output"):
        layer.backward_ctx(ctx, G[..., :-1])


@pytest.mark.parametrize("mode", OPS)
def test_upsample_trains_in_a_model_as_torch(mode):
    """A conv → bilinear / bicubic upsampling → conv stack: cnnmath's parameter gradients
    are PyTorch's (float64)."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1),
        torch.nn.Upsample(scale_factor=1.5, mode=mode),
        torch.nn.Conv2d(3, 2, 3),
    ).double()
    ours = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64),
        nn.Upsample(scale_factor=1.5, mode=mode),
        nn.Conv2d(3, 2, 3, dtype=np.float64),
    )
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((2, 2, 6, 5))
    y = ours(x)
    G = np.random.default_rng(5).standard_normal(y.shape)
    (theirs(torch.tensor(x)) * torch.tensor(G)).sum().backward()
    ours.backward(G)
    for name, p in ours.named_parameters():
        assert rel_error(p.grad, dict(theirs.named_parameters())[name].grad.numpy()) <= 1e-12


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(), r"interpolate_bilinear: expected exactly one of size and scale_factor"),
        (dict(size=3, scale_factor=2), r"expected exactly one of size and scale_factor"),
        (dict(size=(0, 3)), r"interpolate_bilinear: size: expected a positive int"),
        (dict(size=(2, 3, 4)), r"size: expected a positive int or a pair"),
        (dict(scale_factor=-1), r"scale_factor: expected a positive finite number"),
        (dict(scale_factor=float("nan")), r"scale_factor: expected a positive finite number"),
        (
            dict(scale_factor=0.1),
            r"scale_factor: an input of 5×6 pixels scaled by 0.1 has no output",
        ),
    ],
)
def test_bilinear_refuses_bad_geometry_naming_it(kwargs, message):
    with pytest.raises(ValueError, match=message):
        interpolate_bilinear(np.zeros((1, 1, 5, 6)), **kwargs)
    with pytest.raises(ValueError, match=message.replace("bilinear", "bicubic")):
        interpolate_bicubic(np.zeros((1, 1, 5, 6)), **kwargs)


def test_bilinear_refuses_bad_arrays_naming_them():
    with pytest.raises(TypeError, match=r"interpolate_bilinear: x"):
        interpolate_bilinear(np.zeros((1, 1, 5, 6), dtype=np.int64), size=3)
    with pytest.raises(ValueError, match=r"interpolate_bilinear: x: expected shape \(B, C, H, W\)"):
        interpolate_bilinear(np.zeros((5, 6)), size=3)
    with pytest.raises(
        ValueError,
        match=r"interpolate_bilinear_backward: grad_output: expected shape \(1, 1, 3, 3\)",
    ):
        interpolate_bilinear_backward(np.zeros((1, 1, 3, 4)), (1, 1, 5, 6), size=3)
    with pytest.raises(TypeError, match=r"interpolate_bicubic: x"):
        interpolate_bicubic(np.zeros((1, 1, 5, 6), dtype=np.int64), size=3)
    with pytest.raises(
        ValueError,
        match=r"interpolate_bicubic_backward: grad_output: expected shape \(1, 1, 3, 3\)",
    ):
        interpolate_bicubic_backward(np.zeros((1, 1, 3, 4)), (1, 1, 5, 6), size=3)


def test_upsample_modes_and_align_corners_are_checked():
    with pytest.raises(
        ValueError,
        match=r"Upsample: mode: expected 'nearest', 'bilinear' or 'bicubic', got 'area'",
    ):
        nn.Upsample(scale_factor=2, mode="area")
    with pytest.raises(
        ValueError, match=r"Upsample: align_corners: expected None with mode 'nearest'"
    ):
        nn.Upsample(scale_factor=2, align_corners=False)
    with pytest.raises(
        TypeError, match=r"Upsample: align_corners: expected True, False or None, got 1"
    ):
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=1)


def test_ops_exports_the_pairs():
    assert ops.interpolate_bilinear is interpolate_bilinear
    assert ops.interpolate_bilinear_backward is interpolate_bilinear_backward
    assert ops.interpolate_bicubic is interpolate_bicubic
    assert ops.interpolate_bicubic_backward is interpolate_bicubic_backward
