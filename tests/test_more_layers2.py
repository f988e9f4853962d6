"""The remaining everyday torch.nn layers: ChannelShuffle, Unflatten, UpsamplingNearest2d,
UpsamplingBilinear2d, the 1-D pads, Dropout1d, InstanceNorm1d and ConvTranspose1d — each
against torch's layer (repr, forward, and backward through autograd), ONNX both ways
(cnnmath's file in onnxruntime and back, PyTorch's export loaded), and refused by receptive
fields where it has none."""

import numpy as np
import pytest

from cnnmath import nn, receptive_field
from helpers import rel_error, torch_onnx_export

torch = pytest.importorskip("torch")
tnn = torch.nn


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _same(ours, theirs, x, *, exact=False, tol=1e-12):
    """repr, forward, ∂ℓ/∂x and every parameter's gradient of ⟨layer(x), G⟩, float64."""
    assert repr(ours) == repr(theirs)
    theirs = theirs.double()
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    tx = torch.from_numpy(x).requires_grad_()
    ty = theirs(tx)
    G = _x(ty.shape, seed=9)
    (ty * torch.from_numpy(G)).sum().backward()
    y = ours(x)
    if exact:
        np.testing.assert_array_equal(y, ty.detach().numpy())
    else:
        assert rel_error(y, ty.detach().numpy()) <= tol
    assert rel_error(ours.backward(G), tx.grad.numpy()) <= tol
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert rel_error(p.grad, grads[name].grad.numpy()) <= tol, name


def _f64(layer):
    return layer.to(np.float64)


CASES = [
    (
        "channel_shuffle",
        lambda: nn.ChannelShuffle(3),
        lambda: tnn.ChannelShuffle(3),
        (2, 6, 3, 4),
        True,
    ),
    (
        "channel_shuffle_3d",
        lambda: nn.ChannelShuffle(2),
        lambda: tnn.ChannelShuffle(2),
        (2, 8, 5),
        True,
    ),
    (
        "unflatten",
        lambda: nn.Unflatten(1, (2, 3, 4)),
        lambda: tnn.Unflatten(1, (2, 3, 4)),
        (5, 24),
        True,
    ),
    (
        "unflatten_inferred",
        lambda: nn.Unflatten(-1, (3, -1)),
        lambda: tnn.Unflatten(-1, (3, -1)),
        (2, 4, 12),
        True,
    ),
    (
        "nearest",
        lambda: nn.UpsamplingNearest2d(scale_factor=2),
        lambda: tnn.UpsamplingNearest2d(scale_factor=2),
        (2, 3, 4, 5),
        True,
    ),
    (
        "nearest_size",
        lambda: nn.UpsamplingNearest2d(size=(7, 9)),
        lambda: tnn.UpsamplingNearest2d(size=(7, 9)),
        (2, 3, 4, 5),
        True,
    ),
    (
        "bilinear",
        lambda: nn.UpsamplingBilinear2d(scale_factor=2),
        lambda: tnn.UpsamplingBilinear2d(scale_factor=2),
        (2, 3, 4, 5),
        False,
    ),
    (
        "bilinear_size",
        lambda: nn.UpsamplingBilinear2d(size=(7, 3)),
        lambda: tnn.UpsamplingBilinear2d(size=(7, 3)),
        (2, 3, 4, 5),
        False,
    ),
    ("zero_pad", lambda: nn.ZeroPad1d(2), lambda: tnn.ZeroPad1d(2), (2, 3, 5), True),
    (
        "constant_pad",
        lambda: nn.ConstantPad1d((1, 3), 2.5),
        lambda: tnn.ConstantPad1d((1, 3), 2.5),
        (2, 3, 5),
        True,
    ),
    (
        "reflection_pad",
        lambda: nn.ReflectionPad1d((3, 1)),
        lambda: tnn.ReflectionPad1d((3, 1)),
        (2, 3, 5),
        True,
    ),
    (
        "replication_pad",
        lambda: nn.ReplicationPad1d((0, 4)),
        lambda: tnn.ReplicationPad1d((0, 4)),
        (3, 5),
        True,
    ),
    ("circular_pad", lambda: nn.CircularPad1d(2), lambda: tnn.CircularPad1d(2), (2, 3, 5), True),
    ("crop", lambda: nn.ZeroPad1d((-1, 2)), lambda: tnn.ZeroPad1d((-1, 2)), (2, 3, 5), True),
    (
        "instance_norm",
        lambda: nn.InstanceNorm1d(3),
        lambda: tnn.InstanceNorm1d(3),
        (2, 3, 7),
        False,
    ),
    (
        "instance_norm_affine",
        lambda: _f64(nn.InstanceNorm1d(3, affine=True)),
        lambda: tnn.InstanceNorm1d(3, affine=True),
        (2, 3, 7),
        False,
    ),
    (
        "instance_norm_one",
        lambda: nn.InstanceNorm1d(3),
        lambda: tnn.InstanceNorm1d(3),
        (3, 7),
        False,
    ),
    (
        "conv_transpose",
        lambda: nn.ConvTranspose1d(
            4, 2, 3, stride=2, padding=1, output_padding=1, dtype=np.float64
        ),
        lambda: tnn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1),
        (2, 4, 6),
        False,
    ),
    (
        "conv_transpose_groups",
        lambda: nn.ConvTranspose1d(4, 6, 3, groups=2, bias=False, dilation=2, dtype=np.float64),
        lambda: tnn.ConvTranspose1d(4, 6, 3, groups=2, bias=False, dilation=2),
        (2, 4, 5),
        False,
    ),
    (
        "conv_transpose_one",
        lambda: nn.ConvTranspose1d(3, 2, 4, stride=3, dtype=np.float64),
        lambda: tnn.ConvTranspose1d(3, 2, 4, stride=3),
        (3, 5),
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "ours", "theirs", "shape", "exact"), CASES, ids=[c[0] for c in CASES]
)
def test_layer_is_torchs(name, ours, theirs, shape, exact):
    _same(ours(), theirs(), _x(shape), exact=exact)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (nn.Threshold(0.5, 7.0), tnn.Threshold(0.5, 7.0)),
        (nn.Hardshrink(0.5), tnn.Hardshrink(0.5)),
        (nn.Softshrink(0.5), tnn.Softshrink(0.5)),
        (nn.Tanhshrink(), tnn.Tanhshrink()),
    ],
)
def test_kinks_and_non_finite_values_are_torchs(ours, theirs):
    # 40 values: PyTorch's vectorised kernels (a short tensor's scalar tail treats NaN apart)
    x = np.resize(np.array([np.nan, np.inf, -np.inf, 0.5, -0.5, 0.2, 0.0, 3.0]), 40)
    tx = torch.from_numpy(x).requires_grad_()
    ty = theirs(tx)
    ty.sum().backward()
    if isinstance(ours, nn.Tanhshrink):  # tanh's last bit is the CPU's SIMD path's (SLEEF)
        np.testing.assert_allclose(ours(x), ty.detach().numpy(), rtol=1e-14, atol=0)
    else:
        np.testing.assert_array_equal(ours(x), ty.detach().numpy())
    np.testing.assert_allclose(ours.backward(np.ones_like(x)), tx.grad.numpy(), rtol=1e-15)


def test_instance_norm1d_tracks_running_statistics_as_torch():
    ours = nn.InstanceNorm1d(3, affine=True, track_running_stats=True, dtype=np.float64)
    theirs = tnn.InstanceNorm1d(3, affine=True, track_running_stats=True).double()
    for seed in range(2):
        x = _x((4, 3, 6), seed)
        ours(x)
        theirs(torch.from_numpy(x))
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    x = _x((2, 3, 6), 5)
    with torch.no_grad():
        assert rel_error(ours(x), theirs(torch.from_numpy(x)).numpy()) < 1e-12


def test_dropout1d_drops_whole_channels():
    layer = nn.Dropout1d(0.5, rng=0)
    assert repr(layer) == repr(tnn.Dropout1d(0.5))
    x = np.ones((8, 16, 10))
    y = layer(x)
    per_channel = y.reshape(8, 16, 10)
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2).all(axis=2))
    assert 0.2 < (per_channel[:, :, 0] == 0).mean() < 0.8
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)  # the same mask
    assert layer.eval()(x) is not None and np.array_equal(layer(x), x)
    assert layer.train()(np.ones((4, 5))).shape == (4, 5)  # one signal (C, L)


def test_conv_transpose1d_initialisation_is_torchs():
    layer = nn.ConvTranspose1d(64, 128, 5, groups=2, rng=0, dtype=np.float64)
    bound = 1 / np.sqrt(64 * 5)  # (C_out/G)·k
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.9 * bound
    assert layer.weight.shape == tnn.ConvTranspose1d(64, 128, 5, groups=2).weight.shape


SAVED = [
    (lambda: nn.Sequential(nn.Conv2d(6, 6, 1, rng=0), nn.ChannelShuffle(3)), (2, 6, 4, 5), 17),
    (lambda: nn.Sequential(nn.Linear(12, 24, rng=0), nn.Unflatten(1, (2, 3, 4))), (3, 12), 17),
    (lambda: nn.Sequential(nn.UpsamplingBilinear2d(scale_factor=2)), (2, 3, 4, 5), 17),
    (lambda: nn.Sequential(nn.UpsamplingNearest2d(size=(8, 10))), (2, 3, 4, 5), 17),
    (lambda: nn.Sequential(nn.ReflectionPad1d((2, 1)), nn.Conv1d(3, 4, 3, rng=0)), (2, 3, 7), 17),
    (lambda: nn.Sequential(nn.ConstantPad1d(1, 0.5), nn.CircularPad1d(2)), (2, 3, 7), 19),
    (lambda: nn.Sequential(nn.InstanceNorm1d(3, affine=True), nn.Dropout1d(0.3)), (2, 3, 7), 17),
    (
        lambda: nn.Sequential(
            nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1, rng=0)
        ),
        (2, 3, 7),
        17,
    ),
]


@pytest.mark.parametrize("i", range(len(SAVED)))
def test_saved_models_run_in_onnxruntime_and_load_back(i, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    build, shape, opset = SAVED[i]
    model = build().eval()
    x = _x(shape).astype(np.float32)
    path = tmp_path / "m.onnx"
    save(model, path, x, opset=opset)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = model(x)
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert rel_error(got, want) <= 1e-5
    assert rel_error(load(path)(x), want) <= 1e-6


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (
            lambda: tnn.Sequential(
                tnn.ReflectionPad1d(2), tnn.Conv1d(3, 2, 3), tnn.InstanceNorm1d(2)
            ),
            (2, 3, 8),
        ),
        (
            lambda: tnn.Sequential(tnn.ConvTranspose1d(3, 2, 4, stride=2, padding=1), tnn.ReLU()),
            (2, 3, 6),
        ),
        (
            lambda: tnn.Sequential(tnn.UpsamplingBilinear2d(scale_factor=2), tnn.Conv2d(2, 2, 3)),
            (1, 2, 5, 6),
        ),
    ],
)
def test_torchs_exports_load(build, shape):
    from cnnmath.onnx import load

    model = build().double().eval()
    x = torch.from_numpy(_x(shape))
    graph = load(torch_onnx_export(model, x, opset_version=17))
    with torch.no_grad():  # (the exporter writes InstanceNorm's ε in float32)
        assert rel_error(graph(x.numpy()), model(x).numpy()) <= 1e-10


def test_receptive_fields():
    # a channel shuffle is pointwise; the signal layers are refused by name
    shuffled = nn.Sequential(
        nn.Conv2d(6, 6, 3, rng=0), nn.ChannelShuffle(2), nn.Conv2d(6, 6, 3, rng=0)
    )
    plain = nn.Sequential(nn.Conv2d(6, 6, 3, rng=0), nn.Conv2d(6, 6, 3, rng=0))
    ours, want = receptive_field(shuffled, (6, 16, 16)), receptive_field(plain, (6, 16, 16))
    assert ours[-1].size == want[-1].size and ours[-1].jump == want[-1].jump
    for layer in (nn.ConvTranspose1d(2, 2, 3), nn.ZeroPad1d(1), nn.InstanceNorm1d(2)):
        with pytest.raises(ValueError, match="signals"):
            receptive_field(nn.Sequential(layer), (2, 8, 8))


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: nn.ChannelShuffle(0), ValueError, ["groups", "0"]),
        (
            lambda: nn.ChannelShuffle(4)(np.zeros((1, 6, 2, 2))),
            ValueError,
            ["channel_shuffle", "groups = 4", "6"],
        ),
        (lambda: nn.Unflatten(1, (2, 0)), ValueError, ["unflattened_size"]),
        (
            lambda: nn.Unflatten(1, (5, 5))(np.zeros((2, 24))),
            ValueError,
            ["Unflatten", "25", "(2, 24)"],
        ),
        (lambda: nn.ZeroPad1d((1, 2, 3)), ValueError, ["ZeroPad1d", "padding"]),
        (
            lambda: nn.ReflectionPad1d(1)(np.zeros((1, 2, 3, 4))),
            ValueError,
            ["ReflectionPad1d", "(N, C, L)"],
        ),
        (
            lambda: nn.ConvTranspose1d(3, 2, 3, stride=2, output_padding=2),
            ValueError,
            ["output_padding", "2"],
        ),
        (
            lambda: nn.ConvTranspose1d(3, 2, 3)(np.zeros((1, 4, 5), np.float32)),
            ValueError,
            ["in_channels", "3"],
        ),
        (
            lambda: nn.InstanceNorm1d(3)(np.zeros((1, 3, 2, 2))),
            ValueError,
            ["InstanceNorm1d", "(N, C, L)"],
        ),
        (lambda: nn.Dropout1d(0.5)(np.zeros((1, 3, 2, 2))), ValueError, ["Dropout1d", "(N, C, L)"]),
        (lambda: nn.Hardshrink(-1), ValueError, ["Hardshrink", "lambd", "-1"]),
        (lambda: nn.Threshold("a", 1), TypeError, ["Threshold", "threshold", "'a'"]),
        (lambda: nn.GLU()(np.zeros((2, 5))), ValueError, ["glu", "even", "(2, 5)"]),
        (lambda: nn.GLU(3)(np.zeros((2, 4))), ValueError, ["glu", "dim", "3"]),
        (lambda: nn.Softmax2d()(np.zeros((2, 4))), ValueError, ["Softmax2d", "(2, 4)"]),
    ],
)
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)
