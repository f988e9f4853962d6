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


# ---------------------------------------------------------------------------------------------
# antialias=True: PyTorch's _upsample_bilinear2d_aa / _upsample_bicubic2d_aa

#: (input H, W) → geometries: shrinking by 2 and 3, non-integer factors (7 → 3, 100 → 33),
#: one axis up and one down, sizes and factors, wide windows
AA_CASES = [
    ((8, 12), dict(scale_factor=0.5)),
    ((9, 12), dict(scale_factor=(1 / 3, 0.25))),
    ((7, 7), dict(size=(3, 3))),
    ((100, 33), dict(size=(33, 10))),
    ((100, 66), dict(scale_factor=(0.33, 0.5))),
    ((6, 20), dict(size=(13, 7))),  # height grows, width shrinks
    ((20, 6), dict(scale_factor=(0.35, 2.5))),  # height shrinks, width grows
    ((9, 8), dict(size=(4, 8))),  # the width kept
    ((5, 6), dict(size=(11, 13))),  # both grow
    ((31, 17), dict(size=(2, 3))),
    ((12, 13), dict(scale_factor=0.7)),
    ((6, 7), dict(size=(1, 3))),  # one output row
]


def _aa_torch(x, mode, align_corners, geometry):
    xt = torch.tensor(x, requires_grad=True)
    y = torch.nn.functional.interpolate(
        xt, mode=mode, align_corners=align_corners, antialias=True, **geometry
    )
    return xt, y


@pytest.mark.parametrize("mode", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("hw, geometry", AA_CASES, ids=str)
def test_antialias_agrees_with_torch_forward_and_backward(mode, dtype, align_corners, hw, geometry):
    forward, backward = OPS[mode]
    rng = np.random.default_rng(sum(hw))
    x = rng.standard_normal((2, 3, *hw)).astype(dtype)
    xt, want = _aa_torch(x, mode, align_corners, geometry)
    kw = dict(geometry, align_corners=align_corners, antialias=True)
    y = forward(x, **kw)
    assert y.shape == tuple(want.shape) and y.dtype == dtype
    tol = {np.float32: 1e-5, np.float64: 1e-13}[dtype]  # float32: PyTorch's float32 weights
    assert rel_error(y, want.detach().numpy()) <= tol
    G = rng.standard_normal(y.shape).astype(dtype)
    want.backward(torch.tensor(G))
    gx = backward(G, x.shape, **kw)
    assert gx.shape == x.shape and gx.dtype == dtype
    assert rel_error(gx, xt.grad.numpy()) <= tol


@pytest.mark.parametrize("mode", OPS)
@pytest.mark.parametrize("hw, geometry", AA_CASES, ids=str)
def test_antialias_matches_the_reference_loops_and_is_the_adjoint(mode, hw, geometry):
    from cnnmath import reference

    forward, backward = OPS[mode]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, *hw))
    for align_corners in (False, True):
        kw = dict(geometry, align_corners=align_corners, antialias=True)
        y = forward(x, **kw)
        assert rel_error(y, getattr(reference, f"interpolate_{mode}")(x, **kw)) <= 1e-13
        G = rng.standard_normal(y.shape)
        gx = backward(G, x.shape, **kw)
        ref = getattr(reference, f"interpolate_{mode}_backward")(G, x.shape, **kw)
        assert rel_error(gx, ref) <= 1e-13
        assert np.vdot(y, G) == pytest.approx(np.vdot(x, gx), rel=1e-12)


@pytest.mark.parametrize("mode", OPS)
def test_antialias_gradient_is_the_finite_difference_one(mode):
    from cnnmath.gradcheck import check_gradients

    forward, backward = OPS[mode]
    x = np.random.default_rng(8).standard_normal((1, 2, 9, 7))
    for geometry in (dict(size=(4, 3)), dict(size=(13, 2), align_corners=True)):
        kw = dict(geometry, antialias=True)
        errors = check_gradients(
            lambda a, kw=kw: forward(a, **kw),
            lambda g, a, kw=kw: backward(g, a.shape, **kw),
            [x],
        )
        assert max(errors) <= 1e-6


@pytest.mark.parametrize("mode", OPS)
@pytest.mark.parametrize("hw, size", [((7, 3), (3, 1)), ((9, 1), (4, 1)), ((8, 5), (16, 1))])
def test_antialias_width_one_is_torchs_transposed(mode, hw, size):
    """PyTorch 2.13's CPU forward repeats its first output row when its vertical pass has
    width 1 (a wrong number, its backward is right): cnnmath's result there is PyTorch's on
    the transposed image, where the same filters run in the other order, and the adjoint of
    the backward PyTorch computes."""
    forward, backward = OPS[mode]
    x = np.random.default_rng(9).standard_normal((1, 2, *hw))
    y = forward(x, size=size, antialias=True)
    xt, theirs = _aa_torch(x, mode, False, dict(size=size))
    transposed = torch.nn.functional.interpolate(
        torch.tensor(x.transpose(0, 1, 3, 2)), size=size[::-1], mode=mode, antialias=True
    )
    assert rel_error(y, transposed.numpy().transpose(0, 1, 3, 2)) <= 1e-13
    rows = theirs.detach().numpy()
    assert np.all(rows == rows[..., :1, :])  # the bug this test works around
    assert rel_error(y, rows) > 1e-3
    G = np.random.default_rng(10).standard_normal(y.shape)
    theirs.backward(torch.tensor(G))
    assert rel_error(backward(G, x.shape, size=size, antialias=True), xt.grad.numpy()) <= 1e-13


@pytest.mark.parametrize("mode", OPS)
def test_antialias_kept_length_under_a_factor_is_copied_and_its_gradient_the_adjoint(mode):
    """A factor of 1.1 keeps 8 pixels: PyTorch's forward copies that axis (as cnnmath's),
    but its backward resamples it by 1/1.1 — not the adjoint of its forward. cnnmath's
    backward is (the gradient of what the forward computes)."""
    forward, backward = OPS[mode]
    x = np.random.default_rng(11).standard_normal((1, 1, 8, 8))
    geometry = dict(scale_factor=(0.5, 1.1), antialias=True)
    y = forward(x, **geometry)
    xt, theirs = _aa_torch(x, mode, False, dict(scale_factor=(0.5, 1.1)))
    assert rel_error(y, theirs.detach().numpy()) <= 1e-13
    np.testing.assert_array_equal(y, forward(x, size=(4, 8), antialias=True))
    G = np.random.default_rng(12).standard_normal(y.shape)
    gx = backward(G, x.shape, **geometry)
    assert np.vdot(y, G) == pytest.approx(np.vdot(x, gx), rel=1e-12)
    theirs.backward(torch.tensor(G))
    assert rel_error(gx, xt.grad.numpy()) > 1e-3


def test_antialias_filters_are_pytorchs_kernels():
    """Shrinking by 2 averages 4 pixels with triangle weights (¼, ¾, ¾, ¼)/2 — plain bilinear
    reads 2 — and the bicubic filter is Keys' with a = −0.5 (PyTorch's), stretched by 2; a
    growing axis keeps plain bilinear's weights, not plain bicubic's (a = −0.75, clamped)."""
    from cnnmath.ops.interpolate import antialias_kernel, antialias_taps

    taps = antialias_taps(8, 4, dtype=np.float64)
    M = np.zeros((4, 8))
    np.add.at(M, (np.broadcast_to(np.arange(4), taps.source.shape), taps.source), taps.weight)
    np.testing.assert_allclose(M[1, 1:5], np.array([1, 3, 3, 1]) / 8, rtol=1e-15)
    np.testing.assert_allclose(M[0, :3], np.array([3, 3, 1]) / 7, rtol=1e-15)  # the edge
    d = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    a = -0.5
    keys = [
        (a + 2) * t**3 - (a + 3) * t**2 + 1
        if t < 1
        else a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
        if t < 2
        else 0
        for t in d
    ]
    np.testing.assert_allclose(antialias_kernel(d, "bicubic"), keys, atol=1e-15)
    np.testing.assert_allclose(antialias_kernel(-d, "bilinear"), [1, 0.5, 0, 0, 0, 0])
    x = np.random.default_rng(13).standard_normal((1, 2, 5, 6))
    for align_corners, bilinear_same in ((False, True), (True, False)):
        kw = dict(size=(11, 13), align_corners=align_corners)
        plain = interpolate_bilinear(x, **kw)
        same = rel_error(interpolate_bilinear(x, **kw, antialias=True), plain) < 1e-14
        assert bool(same) is bilinear_same
        assert (
            rel_error(interpolate_bicubic(x, **kw, antialias=True), interpolate_bicubic(x, **kw))
            > 1e-3
        )


@pytest.mark.parametrize("mode", OPS)
def test_antialias_keeps_constants_and_removes_what_the_grid_cannot_hold(mode):
    """The weights of each output sum to 1 (a constant stays); a stripe pattern of period 2
    shrunk by 2 becomes its mean under antialiasing, where plain resampling keeps stripes."""
    forward, _ = OPS[mode]
    x = np.full((1, 1, 9, 14), -1.5)
    np.testing.assert_allclose(forward(x, size=(4, 5), antialias=True), -1.5, rtol=1e-14)
    stripes = np.tile([0.0, 1.0], 16)[None, None, None, :].repeat(4, axis=2)
    y = forward(stripes, size=(4, 8), antialias=True)
    np.testing.assert_allclose(y[..., 2:-2], 0.5, atol=1e-12)  # away from the edges


def test_antialias_is_checked():
    for forward, backward in OPS.values():
        with pytest.raises(
            TypeError, match=r"interpolate_bi\w+: antialias: expected True or False"
        ):
            forward(np.zeros((1, 1, 4, 4)), size=2, antialias="yes")
        with pytest.raises(TypeError, match=r"_backward: antialias: expected True or False"):
            backward(np.zeros((1, 1, 2, 2)), (1, 1, 4, 4), size=2, antialias=None)


@pytest.mark.parametrize("mode", OPS)
def test_antialias_nonfinite_gradients_as_in_torch(mode):
    """An infinite or NaN upstream gradient reaches the pixels of its output's window only
    (the band's padding taps stay out, as PyTorch's loop over the window): the NaN pattern
    and the finite values equal PyTorch's autograd."""
    forward, backward = OPS[mode]
    x = np.random.default_rng(14).standard_normal((1, 2, 13, 11))
    size = (4, 5)  # windows of unequal length: padded bands
    y = forward(x, size=size, antialias=True)
    for value in (np.inf, -np.inf, np.nan):
        G = np.random.default_rng(15).standard_normal(y.shape)
        G[0, 0, 1, 2] = G[0, 1, 3, 4] = G[0, 1, 0, 0] = value
        xt, theirs = _aa_torch(x, mode, False, dict(size=size))
        theirs.backward(torch.tensor(G))
        want, got = xt.grad.numpy(), backward(G, x.shape, size=size, antialias=True)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-13, atol=1e-13)
