"""Arguments pasted PyTorch code passes: ``inplace=`` on the activations and dropouts,
``F.interpolate`` and ``F.relu`` as functions, ``Upsample(recompute_scale_factor=)`` and the
transposed convolutions' ``padding_mode`` — each against torch.nn (float64)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import cnnmath
from cnnmath import nn, ops
from helpers import rel_error

torch = pytest.importorskip("torch")

# (cnnmath class, torch class, positional arguments both need)
INPLACE = [
    ("ReLU", ()),
    ("ReLU6", ()),
    ("LeakyReLU", (0.2,)),
    ("ELU", (0.5,)),
    ("CELU", (1.5,)),
    ("SELU", ()),
    ("SiLU", ()),
    ("Mish", ()),
    ("Hardswish", ()),
    ("Hardsigmoid", ()),
    ("Hardtanh", (-2.0, 3.0)),
    ("Threshold", (0.1, 20.0)),
    ("Dropout", (0.3,)),
    ("Dropout1d", (0.3,)),
    ("Dropout2d", (0.3,)),
    ("Dropout3d", (0.3,)),
    ("RReLU", (0.1, 0.3)),
    ("AlphaDropout", (0.3,)),
    ("FeatureAlphaDropout", (0.3,)),
]
IDS = [name for name, _ in INPLACE]

# torch parameters cnnmath leaves out on purpose: device placement, torch's dtype objects
# (cnnmath's dtype= takes NumPy's)
NOT_PORTED = {"device", "dtype"}
# (ConvTranspose3d and its Lazy form already took padding_mode: test_lazy and
# test_layers3d_norm_pad cover them)
SIGNATURES = [name for name, _ in INPLACE] + [
    "Upsample",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
]


@pytest.mark.parametrize("name", SIGNATURES)
def test_signature_takes_every_torch_argument(name):
    """Every argument torch.nn's class takes, cnnmath's takes, under the same name and, for
    the positional ones, at the same position."""
    theirs = list(inspect.signature(getattr(torch.nn, name)).parameters)
    ours = list(inspect.signature(getattr(nn, name)).parameters)
    for position, arg in enumerate(theirs):
        if arg in NOT_PORTED:
            continue
        assert arg in ours, f"{name}: no argument {arg!r}"
        assert ours.index(arg) == position, (
            f"{name}: {arg!r} at {ours.index(arg)}, torch {position}"
        )


@pytest.mark.parametrize("name, args", INPLACE, ids=IDS)
@pytest.mark.parametrize("inplace", [True, False])
def test_inplace_repr_as_torch(name, args, inplace):
    ours = getattr(nn, name)(*args, inplace=inplace)
    theirs = getattr(torch.nn, name)(*args, inplace=inplace)
    assert ours.inplace is inplace
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name, args", INPLACE, ids=IDS)
@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_inplace_must_be_a_bool(name, args, bad):
    with pytest.raises(TypeError, match=rf"^{name}: inplace: expected True or False, got"):
        getattr(nn, name)(*args, inplace=bad)


def test_inplace_model_matches_torch_and_keeps_its_input():
    """A float64 model written with inplace=True: outputs, input and weight gradients equal
    torch's, and x is left as it was (the flag changes nothing in the values)."""
    layers = [
        ("Conv2d", (3, 4, 3)),
        ("ReLU", (True,)),
        ("Conv2d", (4, 4, 1)),
        ("LeakyReLU", (0.1, True)),
        ("Conv2d", (4, 4, 1)),
        ("Hardswish", (True,)),
        ("ELU", (0.7, True)),
        ("Conv2d", (4, 4, 1)),  # torch's in-place ELU backward reads its output: keep it
        ("Hardtanh", (-0.5, 0.5, True)),
        ("Conv2d", (4, 2, 1)),
        ("ReLU6", (True,)),
        ("Threshold", (0.05, -1.0, True)),
        ("Dropout", (0.5, True)),
    ]
    ours = nn.Sequential(
        *[
            getattr(nn, cls)(*a, rng=i, dtype=np.float64)
            if cls == "Conv2d"
            else getattr(nn, cls)(*a)
            for i, (cls, a) in enumerate(layers)
        ]
    ).eval()
    theirs = torch.nn.Sequential(*[getattr(torch.nn, cls)(*a) for cls, a in layers]).double().eval()
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    x_before = x.copy()
    y = ours(x)
    G = rng.standard_normal(y.shape)
    grad_x = ours.backward(G)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = theirs(xt * 1.0)  # an in-place first layer may not overwrite a leaf
    yt.backward(torch.from_numpy(G))
    np.testing.assert_array_equal(x, x_before)
    assert rel_error(y, yt.detach().numpy()) <= 1e-12
    assert rel_error(grad_x, xt.grad.numpy()) <= 1e-12
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert rel_error(p.grad, q.grad.numpy()) <= 1e-12, name


@pytest.mark.parametrize("name, shape", [("Dropout", (4, 5)), ("Dropout2d", (2, 8, 3, 3))])
def test_inplace_dropout_leaves_x_alone(name, shape):
    """In training the output is x·mask/(1 − p) with a {0, 1} mask (per element, per map),
    and x is not overwritten, inplace=True or not."""
    x = np.random.default_rng(3).standard_normal(shape) + 5.0  # no zero entry
    before = x.copy()
    layer = getattr(nn, name)(0.5, inplace=True, rng=0)
    y = layer(x)
    np.testing.assert_array_equal(x, before)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 2 * x[kept], rtol=1e-15)
    assert 0 < kept.sum() < kept.size


def test_relu_is_exported_and_matches_torch():
    x = np.random.default_rng(1).standard_normal((3, 4, 5))
    x.flat[::7] = 0.0
    assert cnnmath.relu is ops.relu
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = torch.nn.functional.relu(xt)
    G = np.random.default_rng(2).standard_normal(x.shape)
    yt.backward(torch.from_numpy(G))
    np.testing.assert_array_equal(cnnmath.relu(x), yt.detach().numpy())
    np.testing.assert_array_equal(cnnmath.relu_backward(G, x), xt.grad.numpy())
    assert cnnmath.relu(x.astype(np.float32)).dtype == np.float32


def test_interpolate_is_a_function_and_the_submodule_still_imports():
    """``cnnmath.interpolate`` / ``ops.interpolate`` is the function; the helpers of the
    ops.interpolate submodule still import by their module path."""
    from cnnmath.ops.interpolate import linear_taps  # noqa: F401

    assert cnnmath.interpolate is ops.interpolate and callable(ops.interpolate)
    assert cnnmath.interpolate_backward is ops.interpolate_backward


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic"])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(scale_factor=2),
        dict(scale_factor=1.3),
        dict(scale_factor=(0.6, 2.2)),
        dict(scale_factor=1.7, recompute_scale_factor=True),
        dict(size=(9, 4)),
        dict(size=13),
    ],
    ids=["x2", "x1.3", "pair", "recompute", "size", "size-int"],
)
def test_interpolate_matches_torch(mode, kwargs):
    """Values and gradients (torch's autograd) in float64, for a spread of factors and sizes
    on 31×11 pixels (1.3 on 31 pixels is where float32 rounding picks another pixel)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 31, 11))
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = torch.nn.functional.interpolate(xt, mode=mode, **kwargs)
    y = ops.interpolate(x, mode=mode, **kwargs)
    G = rng.standard_normal(y.shape)
    yt.backward(torch.from_numpy(G))
    assert y.shape == tuple(yt.shape)
    assert rel_error(y, yt.detach().numpy()) <= 1e-13
    grad = ops.interpolate_backward(G, x.shape, mode=mode, **kwargs)
    assert rel_error(grad, xt.grad.numpy()) <= 1e-13


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_interpolate_align_corners_matches_torch(mode):
    x = np.random.default_rng(5).standard_normal((1, 2, 6, 5))
    for kwargs in (dict(scale_factor=1.5), dict(size=(11, 3))):
        want = torch.nn.functional.interpolate(
            torch.from_numpy(x), mode=mode, align_corners=True, **kwargs
        ).numpy()
        assert rel_error(ops.interpolate(x, mode=mode, align_corners=True, **kwargs), want) <= 1e-13


def test_interpolate_nearest_is_upsample():
    """The function and the layer read the same pixels."""
    x = np.random.default_rng(6).standard_normal((1, 2, 7, 9))
    for s in (2, 1.3, 0.5, (1.5, 2.5)):
        np.testing.assert_array_equal(
            ops.interpolate(x, scale_factor=s), nn.Upsample(scale_factor=s)(x)
        )


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("factor", [1.7, (0.6, 2.3)])
def test_upsample_recompute_scale_factor_matches_torch(mode, factor):
    """recompute_scale_factor=True: the coordinates from the output size, as torch's —
    values and gradients; the same factor without it reads other pixels (the test can fail)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 9, 7))
    ours = nn.Upsample(scale_factor=factor, mode=mode, recompute_scale_factor=True)
    theirs = torch.nn.Upsample(scale_factor=factor, mode=mode, recompute_scale_factor=True)
    assert repr(ours) == repr(theirs)
    y = ours(x)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = theirs(xt)
    G = rng.standard_normal(y.shape)
    yt.backward(torch.from_numpy(G))
    assert rel_error(y, yt.detach().numpy()) <= 1e-13
    assert rel_error(ours.backward(G), xt.grad.numpy()) <= 1e-13
    plain = nn.Upsample(scale_factor=factor, mode=mode)(x)
    assert rel_error(plain, yt.detach().numpy()) > 1e-6


def test_upsample_recompute_scale_factor_errors():
    assert nn.Upsample(scale_factor=2, recompute_scale_factor=False).recompute_scale_factor is False
    with pytest.raises(TypeError, match="Upsample: recompute_scale_factor: expected"):
        nn.Upsample(scale_factor=2, recompute_scale_factor="yes")
    with pytest.raises(
        ValueError, match="Upsample: recompute_scale_factor: expected None or False"
    ):
        nn.Upsample(size=4, recompute_scale_factor=True)
    with pytest.raises(ValueError, match="recompute_scale_factor"):  # torch refuses it too
        torch.nn.Upsample(size=4, recompute_scale_factor=True)(torch.zeros(1, 1, 2, 2))


CONV_T = [
    ("ConvTranspose1d", (2, 3, 3), (1, 2, 5)),
    ("ConvTranspose2d", (2, 3, 3), (1, 2, 4, 5)),
    ("LazyConvTranspose1d", (3, 3), (1, 2, 5)),
    ("LazyConvTranspose2d", (3, 3), (1, 2, 4, 5)),
]


@pytest.mark.parametrize("name, args, shape", CONV_T, ids=[c[0] for c in CONV_T])
def test_conv_transpose_padding_mode(name, args, shape):
    """ "zeros" is accepted (the layer is the default one); every other mode is refused, as
    torch refuses it."""
    x = np.random.default_rng(8).standard_normal(shape)
    a = getattr(nn, name)(*args, padding_mode="zeros", rng=0, dtype=np.float64)
    b = getattr(nn, name)(*args, rng=0, dtype=np.float64)
    np.testing.assert_array_equal(a(x), b(x))
    assert a.padding_mode == "zeros"
    for mode in ("reflect", "replicate", "circular"):
        with pytest.raises(ValueError, match=r"padding_mode: expected 'zeros'.*got '" + mode):
            getattr(nn, name)(*args, padding_mode=mode)
        with pytest.raises(ValueError, match="zeros"):
            getattr(torch.nn, name)(*args, padding_mode=mode)
