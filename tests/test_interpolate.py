"""Bilinear resizing (``ops.interpolate_bilinear``, ``nn.Upsample(mode="bilinear")``) against
PyTorch's ``interpolate``/``Upsample`` forward and autograd, and the backward against the
adjoint identity ⟨resize(x), G⟩ = ⟨x, resize_backward(G)⟩ in float64.

PyTorch's kernel fuses its multiply-adds (FMA), NumPy does not: the two agree to a few
units of the last place, not bit for bit (tolerances below)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, ops
from cnnmath.ops.interpolate import interpolate_bilinear, interpolate_bilinear_backward
from helpers import rel_error

torch = pytest.importorskip("torch")

TOL = {np.float32: 2e-6, np.float64: 1e-14}

GEOMETRIES = [
    dict(size=(9, 14)),
    dict(size=(3, 2)),  # shrinking
    dict(size=(1, 1)),
    dict(size=7),
    dict(scale_factor=2),
    dict(scale_factor=(1, 0.7)),
    dict(scale_factor=(1.5, 3.3)),
    dict(scale_factor=(2.5, 0.5)),
    dict(scale_factor=1.1),  # ⌊n·1.1⌋ = n below 10 pixels: PyTorch copies such an axis
    dict(scale_factor=(1.3, 0.9)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("hw", [(5, 7), (2, 4), (1, 9), (8, 8)])
def test_bilinear_agrees_with_torch_forward_and_backward(dtype, align_corners, geometry, hw):
    rng = np.random.default_rng(hash((hw, align_corners)) % 2**32)
    x = rng.standard_normal((2, 3, *hw)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    want = torch.nn.functional.interpolate(
        xt, mode="bilinear", align_corners=align_corners, **geometry
    )
    y = interpolate_bilinear(x, **geometry, align_corners=align_corners)
    assert y.shape == tuple(want.shape) and y.dtype == dtype
    assert rel_error(y, want.detach().numpy()) <= TOL[dtype]
    G = rng.standard_normal(y.shape).astype(dtype)
    want.backward(torch.tensor(G))
    gx = interpolate_bilinear_backward(G, x.shape, **geometry, align_corners=align_corners)
    assert gx.shape == x.shape and gx.dtype == dtype
    assert rel_error(gx, xt.grad.numpy()) <= TOL[dtype]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_bilinear_backward_is_the_adjoint(geometry):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 6))  # unbatched (C, H, W)
    for align_corners in (False, True):
        y = interpolate_bilinear(x, **geometry, align_corners=align_corners)
        G = rng.standard_normal(y.shape)
        gx = interpolate_bilinear_backward(G, x.shape, **geometry, align_corners=align_corners)
        assert np.vdot(y, G) == pytest.approx(np.vdot(x, gx), rel=1e-12)


def test_bilinear_keeps_constants_and_the_corners():
    """A constant image stays constant (the weights of each output sum to 1), and with
    align_corners the four corner pixels are copied exactly."""
    x = np.full((1, 1, 4, 5), 2.5)
    np.testing.assert_allclose(interpolate_bilinear(x, size=(7, 3)), 2.5, rtol=1e-15)
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 5))
    y = interpolate_bilinear(x, size=(9, 11), align_corners=True)
    np.testing.assert_array_equal(
        y[..., [0, 0, -1, -1], [0, -1, 0, -1]], x[..., [0, 0, -1, -1], [0, -1, 0, -1]]
    )


@pytest.mark.parametrize("align_corners", [None, False, True])
@pytest.mark.parametrize(
    "geometry", [dict(scale_factor=2), dict(size=(6, 3)), dict(scale_factor=(1.3, 0.8))], ids=str
)
def test_upsample_bilinear_layer_is_torchs(align_corners, geometry):
    rng = np.random.default_rng(3)
    layer = nn.Upsample(**geometry, mode="bilinear", align_corners=align_corners)
    theirs = torch.nn.Upsample(**geometry, mode="bilinear", align_corners=align_corners)
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


def test_upsample_bilinear_trains_in_a_model_as_torch():
    """A conv → bilinear upsampling → conv stack: cnnmath's parameter gradients are
    PyTorch's (float64)."""
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1),
        torch.nn.Upsample(scale_factor=1.5, mode="bilinear"),
        torch.nn.Conv2d(3, 2, 3),
    ).double()
    ours = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64),
        nn.Upsample(scale_factor=1.5, mode="bilinear"),
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


def test_upsample_modes_and_align_corners_are_checked():
    with pytest.raises(
        ValueError, match=r"Upsample: mode: expected 'nearest' or 'bilinear', got 'bicubic'"
    ):
        nn.Upsample(scale_factor=2, mode="bicubic")
    with pytest.raises(
        ValueError, match=r"Upsample: align_corners: expected None with mode 'nearest'"
    ):
        nn.Upsample(scale_factor=2, align_corners=False)
    with pytest.raises(
        TypeError, match=r"Upsample: align_corners: expected True, False or None, got 1"
    ):
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=1)


def test_ops_exports_the_bilinear_pair():
    assert ops.interpolate_bilinear is interpolate_bilinear
    assert ops.interpolate_bilinear_backward is interpolate_bilinear_backward
