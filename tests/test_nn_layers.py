"""The wave-2 layers (normalisation, grouped convolution, adaptive pooling, new activations,
PReLU) against their torch.nn twins: forward, input and parameter gradients, buffers after
training steps, state_dict keys and dtypes, repr, default initialisation; BatchNorm in
training mode against finite differences with a non-uniform upstream gradient."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn
from cnnmath.gradcheck import check_gradients
from helpers import rel_error

torch = pytest.importorskip("torch")


def _input(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# (id, our layer, torch layer, input shape): the torch layer is built with the same arguments;
# the parameters and buffers are copied from ours through state_dict (strict), which also
# checks that the keys agree.
CASES = [
    ("bn2d", lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (4, 3, 5, 5)),
    (
        "bn2d-momentum-none",
        lambda: nn.BatchNorm2d(3, momentum=None, eps=1e-3),
        lambda: torch.nn.BatchNorm2d(3, momentum=None, eps=1e-3),
        (4, 3, 3, 2),
    ),
    (
        "bn2d-no-affine",
        lambda: nn.BatchNorm2d(2, affine=False),
        lambda: torch.nn.BatchNorm2d(2, affine=False),
        (3, 2, 4, 4),
    ),
    (
        "bn2d-untracked",
        lambda: nn.BatchNorm2d(2, track_running_stats=False),
        lambda: torch.nn.BatchNorm2d(2, track_running_stats=False),
        (3, 2, 4, 4),
    ),
    (
        "bn1d",
        lambda: nn.BatchNorm1d(4, momentum=0.3),
        lambda: torch.nn.BatchNorm1d(4, momentum=0.3),
        (6, 4),
    ),
    ("bn1d-3d", lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (5, 3, 7)),
    ("groupnorm", lambda: nn.GroupNorm(2, 4), lambda: torch.nn.GroupNorm(2, 4), (3, 4, 3, 3)),
    ("layernorm", lambda: nn.LayerNorm((3, 4)), lambda: torch.nn.LayerNorm((3, 4)), (2, 5, 3, 4)),
    (
        "conv-groups",
        lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2, rng=0),
        lambda: torch.nn.Conv2d(4, 6, 3, padding=1, groups=2),
        (2, 4, 5, 5),
    ),
    (
        "conv-depthwise",
        lambda: nn.Conv2d(3, 3, 3, stride=2, groups=3, bias=False, rng=1),
        lambda: torch.nn.Conv2d(3, 3, 3, stride=2, groups=3, bias=False),
        (2, 3, 7, 6),
    ),
    (
        "adaptive-avg",
        lambda: nn.AdaptiveAvgPool2d((2, 3)),
        lambda: torch.nn.AdaptiveAvgPool2d((2, 3)),
        (2, 3, 5, 7),
    ),
    (
        "adaptive-avg-1",
        lambda: nn.AdaptiveAvgPool2d(1),
        lambda: torch.nn.AdaptiveAvgPool2d(1),
        (2, 3, 4, 4),
    ),
    (
        "adaptive-max",
        lambda: nn.AdaptiveMaxPool2d(2),
        lambda: torch.nn.AdaptiveMaxPool2d(2),
        (2, 3, 5, 5),
    ),
    ("prelu", lambda: nn.PReLU(), lambda: torch.nn.PReLU(), (3, 4, 2)),
    (
        "prelu-channels",
        lambda: nn.PReLU(4, init=0.1),
        lambda: torch.nn.PReLU(4, init=0.1),
        (3, 4, 2),
    ),
    (
        "gelu-tanh",
        lambda: nn.GELU(approximate="tanh"),
        lambda: torch.nn.GELU(approximate="tanh"),
        (3, 5),
    ),
    ("celu", lambda: nn.CELU(alpha=0.7), lambda: torch.nn.CELU(alpha=0.7), (3, 5)),
    (
        "conv-transpose-groups",
        lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, rng=0),
        lambda: torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        (2, 4, 5, 4),
    ),
    (
        "conv-transpose-dilated",
        lambda: nn.ConvTranspose2d(3, 2, (2, 3), stride=(1, 2), dilation=2, bias=False, rng=1),
        lambda: torch.nn.ConvTranspose2d(3, 2, (2, 3), stride=(1, 2), dilation=2, bias=False),
        (2, 3, 4, 5),
    ),
    (
        "maxpool-dilation-ceil",
        lambda: nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
        lambda: torch.nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
        (2, 3, 9, 8),
    ),
    (
        "maxpool-ceil",
        lambda: nn.MaxPool2d(2, ceil_mode=True),
        lambda: torch.nn.MaxPool2d(2, ceil_mode=True),
        (2, 2, 5, 7),
    ),
    (
        "avgpool-ceil-exclude-pad",
        lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        lambda: torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        (2, 3, 6, 7),
    ),
    (
        "avgpool-divisor",
        lambda: nn.AvgPool2d((2, 3), stride=(1, 2), padding=(1, 1), divisor_override=4),
        lambda: torch.nn.AvgPool2d((2, 3), stride=(1, 2), padding=(1, 1), divisor_override=4),
        (2, 2, 5, 6),
    ),
    (
        "upsample-2",
        lambda: nn.Upsample(scale_factor=2),
        lambda: torch.nn.Upsample(scale_factor=2),
        (2, 3, 4, 5),
    ),
    (
        "upsample-pair",
        lambda: nn.Upsample(scale_factor=(2, 3)),
        lambda: torch.nn.Upsample(scale_factor=(2, 3)),
        (2, 3, 3, 2),
    ),
    (
        "upsample-fractional",
        lambda: nn.Upsample(scale_factor=1.5),
        lambda: torch.nn.Upsample(scale_factor=1.5),
        (1, 2, 5, 7),
    ),
    (
        "upsample-size",
        lambda: nn.Upsample(size=(7, 3)),
        lambda: torch.nn.Upsample(size=(7, 3)),
        (2, 2, 4, 5),
    ),
] + [
    (name, (lambda n=name: getattr(nn, n)()), (lambda n=name: getattr(torch.nn, n)()), (3, 5))
    for name in ("ReLU6", "Hardsigmoid", "Hardswish", "SELU", "Softsign", "GELU")
]


def _pair(make, make_torch, dtype):
    ours = make().to(dtype)
    twin = make_torch().to(torch.float64 if dtype == np.float64 else torch.float32)
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    return ours, twin


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("name, make, make_torch, shape", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_torch_in_training_and_eval(name, make, make_torch, shape, dtype, tol):
    ours, twin = _pair(make, make_torch, dtype)
    assert repr(ours) == repr(twin)
    for step, training in enumerate([True, True, False]):
        ours.train(training)
        twin.train(training)
        ours.zero_grad()
        twin.zero_grad()
        x = _input(shape, seed=step, dtype=dtype) * 3 + 1
        y = ours(x)  # one forward each: a training forward updates the running statistics
        G = _input(y.shape, seed=10 + step, dtype=dtype)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        yt = twin(xt)
        yt.backward(torch.from_numpy(G))
        assert y.dtype == dtype
        assert rel_error(y, yt.detach().numpy()) <= tol, f"forward, step {step}"
        # torch's float64 backward is the inexact witness here: hardsigmoid's multiplies by 1/6
        # rounded to float32 (test_activations.py), and celu's with α = 0.7 is ~1e-8 off
        # exp(x/α) (at x = -0.3: 0.65143906387 against math.exp's 0.65143905753); both ops
        # are checked against exact references in test_activations.py
        grad_tol = 1e-7 if dtype == np.float64 and name in ("Hardsigmoid", "celu") else tol
        assert rel_error(ours.backward(G), xt.grad.numpy()) <= grad_tol, f"grad x, step {step}"
        theirs = dict(twin.named_parameters())
        for key, p in ours.named_parameters():
            assert rel_error(p.grad, theirs[key].grad.numpy()) <= tol, f"{key}, step {step}"
        their_state = twin.state_dict()
        for key, value in ours.state_dict().items():  # buffers after each step
            want = their_state[key].numpy()
            assert value.dtype == want.dtype, key
            if value.dtype.kind == "f":
                assert rel_error(value, want) <= tol, f"{key}, step {step}"
            else:
                assert value == want, f"{key}, step {step}"


def test_default_initialisation_matches_torch():
    bn = nn.BatchNorm2d(3)
    want = torch.nn.BatchNorm2d(3).state_dict()
    for key, value in bn.state_dict().items():
        np.testing.assert_array_equal(value, want[key].numpy())
        assert value.dtype == want[key].numpy().dtype
    conv = nn.Conv2d(8, 16, 3, groups=4, rng=0)
    assert conv.weight.shape == (16, 2, 3, 3)
    bound = 1 / np.sqrt(2 * 3 * 3)  # fan_in = C_in/groups · f1 · f2
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.weight.data).max() > 0.9 * bound
    assert np.all(nn.PReLU(3).weight.data == np.float32(0.25))
    ln = nn.LayerNorm(4, bias=False)
    assert list(ln.state_dict()) == list(torch.nn.LayerNorm(4, bias=False).state_dict())


def test_batchnorm_training_gradients_pass_gradcheck():
    """Every gradient of BatchNorm in training mode (input, γ, β) by finite differences; the
    random upstream gradient is not uniform (a uniform one gives Σ ∂/∂x = 0 whatever the
    code), and the layer sits before a nonlinearity so ∂ℓ/∂x is not trivially zero."""
    bn = nn.BatchNorm2d(3, dtype=np.float64)
    bn.weight.data[...] = [0.5, 1.5, -1.0]
    bn.bias.data[...] = [0.1, -0.2, 0.3]
    model = nn.Sequential(bn, nn.Tanh())
    params = model.parameters()

    def load(values):
        for p, v in zip(params, values, strict=True):
            p.data[...] = v

    def func(x, *values):
        load(values)
        return model(x)

    def backward(G, x, *values):
        load(values)
        model.zero_grad()
        model(x)
        return (model.backward(G), *(p.grad.copy() for p in params))

    x = _input((4, 3, 2, 3))
    errors = check_gradients(func, backward, [x, *(p.data.copy() for p in params)])
    assert max(errors) <= 1e-6


def test_batchnorm_counts_batches_and_eval_leaves_buffers():
    bn = nn.BatchNorm2d(2)
    x = _input((3, 2, 2, 2), dtype=np.float32)
    bn(x)
    bn(x)
    assert bn.num_batches_tracked == 2 and bn.num_batches_tracked.dtype == np.int64
    before = bn.state_dict()
    bn.eval()(x)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert bn.to(np.float64).num_batches_tracked.dtype == np.int64


LAYER_ERRORS = [
    (lambda: nn.BatchNorm2d(3)(np.zeros((2, 3, 4), np.float32)), ValueError, r"\(N, C, H, W\)"),
    (lambda: nn.BatchNorm2d(3)(np.zeros((2, 4, 2, 2), np.float32)), ValueError, "3 channels"),
    (lambda: nn.BatchNorm2d(3)(np.zeros((2, 3, 2, 2))), TypeError, "float32.*float64"),
    (lambda: nn.BatchNorm2d(3, momentum=2.0), ValueError, "momentum"),
    (lambda: nn.BatchNorm2d(0), ValueError, "num_features"),
    (lambda: nn.BatchNorm2d(3, affine=1), TypeError, "affine"),
    (lambda: nn.GroupNorm(3, 4), ValueError, "multiple of num_groups"),
    (lambda: nn.LayerNorm("4"), TypeError, "normalized_shape"),
    (lambda: nn.Conv2d(4, 6, 3, groups=3), ValueError, "in_channels.*groups=3"),
    (lambda: nn.AdaptiveAvgPool2d(0), ValueError, "output_size"),
    (lambda: nn.GELU(approximate="fast"), ValueError, "approximate"),
    (lambda: nn.PReLU(0), ValueError, "num_parameters"),
    (lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2), ValueError, "output_padding"),
    (lambda: nn.ConvTranspose2d(2, 3, 3, groups=2), ValueError, "out_channels.*groups=2"),
    (lambda: nn.MaxPool2d(2, return_indices=1), TypeError, "return_indices.*bool"),
    (lambda: nn.MaxPool2d(2, ceil_mode=1), TypeError, "ceil_mode"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: nn.Upsample(scale_factor=2, mode="area"), ValueError, "mode"),
    (lambda: nn.Upsample(size=4, scale_factor=2), ValueError, "exactly one"),
    (lambda: nn.Upsample(scale_factor=-1), ValueError, "scale_factor"),
    (lambda: nn.Upsample(scale_factor=0.1)(np.zeros((1, 1, 4, 4))), ValueError, "no output"),
]


def test_conv_transpose_default_initialisation_and_upsample_blocks():
    """ConvTranspose2d's weight (C_in, C_out/G, f1, f2) ~ U(±1/√fan_in) with PyTorch's fan_in
    = weight.shape[1]·f1·f2; Upsample's backward by an integer factor is the sum over each
    copied block, its forward a block copy (independent of the torch comparison)."""
    conv = nn.ConvTranspose2d(8, 6, 3, groups=2, rng=0)
    want = torch.nn.ConvTranspose2d(8, 6, 3, groups=2)
    assert conv.weight.shape == tuple(want.weight.shape) == (8, 3, 3, 3)
    bound = 1 / np.sqrt(3 * 3 * 3)
    for p in (conv.weight.data, conv.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound
    x = _input((2, 3, 4, 5))
    up = nn.Upsample(scale_factor=(2, 3))
    y = up(x)
    np.testing.assert_array_equal(y[:, :, 1::2, 2::3], x)
    G = _input(y.shape, seed=1)
    block_sums = G.reshape(2, 3, 4, 2, 5, 3).sum(axis=(3, 5))
    assert rel_error(up.backward(G), block_sums) <= 1e-15


@pytest.mark.parametrize("call, exc, pattern", LAYER_ERRORS)
def test_layer_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


@pytest.mark.parametrize("mode", ["scale_factor", "size"])
def test_upsample_reads_torchs_pixels_for_any_factor(mode):
    """Nearest upsampling by non-integer factors and sizes reads exactly the pixels
    torch.nn.Upsample reads (its float32 products decide some: 1.3 on 31 pixels, 2.2 on 3),
    and the backward sums G as torch's autograd does; widths 1–39, factors 0.3–4.9."""
    factors = [*np.round(np.arange(0.3, 5.0, 0.2), 2), 1.3, 2.2, 1 / 3, 7 / 3, 49.0]
    for s in factors:
        for n in range(1, 40):
            if mode == "scale_factor":
                if int(np.floor(n * s)) < 1:
                    continue
                kw = {"scale_factor": (float(s), 1.0)}
            else:
                kw = {"size": (max(1, round(n * s)), n)}
            x = np.arange(n * 2, dtype=np.float32).reshape(1, 1, n, 2)
            up, twin = nn.Upsample(**kw), torch.nn.Upsample(**kw)
            x_t = torch.from_numpy(x).requires_grad_()
            want = twin(x_t)
            got = up(x)
            assert got.shape == tuple(want.shape), (s, n)
            np.testing.assert_array_equal(got, want.detach().numpy(), err_msg=f"{s}, {n}")
            G = np.random.default_rng(n).standard_normal(got.shape).astype(np.float32)
            want.backward(torch.from_numpy(G))
            assert rel_error(up.backward(G), x_t.grad.numpy()) <= 1e-5, (s, n)  # float32 sums


@pytest.mark.parametrize(
    "kw", [{"scale_factor": (1, 2)}, {"size": (4, 6)}, {"scale_factor": 1}, {"scale_factor": 2}]
)
def test_upsample_output_is_a_writable_array_like_torchs(kw):
    """torch's output takes in-place updates for every factor; a height factor of 1 used to
    give a read-only broadcast view."""
    for shape in ((1, 2, 4, 3), (1, 2, 1, 3)):  # one row: the broadcast's view too
        x = _input(shape)
        y, want = nn.Upsample(**kw)(x), torch.nn.Upsample(**kw)(torch.from_numpy(x))
        y += 1.0
        assert np.array_equal(y, (want + 1.0).numpy())


def test_batchnorm_trains_on_an_empty_batch_as_torch():
    """N = 0 in training: an empty output and gradient, running statistics as they were
    (the count of batches still grows, as torch's); refused before with the one-value
    message meant for m = 1."""
    ours = nn.BatchNorm2d(3, momentum=None, dtype=np.float64)
    twin = torch.nn.BatchNorm2d(3, momentum=None).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.zeros((0, 3, 4, 4))
    y, want = ours(x), twin(torch.from_numpy(x))
    assert y.shape == tuple(want.shape) == x.shape
    assert ours.backward(np.zeros_like(y)).shape == x.shape
    for key, value in twin.state_dict().items():
        assert np.array_equal(ours.state_dict()[key], value.numpy()), key
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ours(np.zeros((1, 3, 1, 1)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Flatten(),
        lambda: nn.Dropout(0.5).eval(),
        lambda: nn.Dropout(0.0),
        lambda: nn.Dropout(0.5, rng=0),
        lambda: nn.Upsample(scale_factor=2),
    ],
)
def test_shape_free_layers_refuse_a_gradient_unlike_their_output(make):
    """G must have the output's shape and dtype, as for every other layer (torch's autograd
    refuses the rest): Flatten took any G of the right size (a transposed one was silently
    reshaped), Dropout in evaluation any G at all, and a float32 G for float64 values came
    back cast."""
    layer = make()
    x = _input((2, 3, 2, 2))
    y = layer(x)
    assert layer.backward(np.ones_like(y)).shape == x.shape
    wrong = [np.ones(y.shape[::-1]), np.ones(7), np.ones(y.shape, dtype=np.float32)]
    for G in wrong:
        with pytest.raises(ValueError, match=r"backward: grad_output: expected the forward"):
            layer.backward(G)


@pytest.mark.parametrize(
    "layer, attribute",
    [
        (lambda: nn.Conv2d(3, 4, 3), "in_channels=3"),
        (lambda: nn.Conv2d(4, 4, 3, groups=2), "in_channels=4"),
        (lambda: nn.ConvTranspose2d(3, 4, 3), "in_channels=3"),
        (lambda: nn.GroupNorm(1, 3), "num_channels=3"),
    ],
)
def test_input_with_other_channels_is_named_as_the_input(layer, attribute):
    """An input of 2 channels to a 3-channel layer names x and the layer's channels (torch:
    "expected input[1, 2, 5, 5] to have 3 channels"); it blamed the layer's own weight."""
    for shape in ((1, 2, 5, 5), (2, 5, 5)):
        with pytest.raises(ValueError, match=rf"forward: x: expected \d channels .*{attribute}"):
            layer()(np.zeros(shape, dtype=np.float32))


def test_sizes_given_as_lists_as_torch():
    x = _input((1, 2, 5, 4))
    for ours, theirs in (
        (nn.AdaptiveAvgPool2d([2, 3]), torch.nn.AdaptiveAvgPool2d([2, 3])),
        (nn.AdaptiveMaxPool2d([None, 3]), torch.nn.AdaptiveMaxPool2d([None, 3])),
        (nn.Upsample(size=[4, 6]), torch.nn.Upsample(size=[4, 6])),
    ):
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).numpy(), rtol=1e-12)
