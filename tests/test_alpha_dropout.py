"""nn.AlphaDropout, nn.FeatureAlphaDropout and their ops against PyTorch and the formula:

    y = a·(x·m + α′(1 − m)) + b,  a = ((1 − p)(1 + p α′²))^(−1/2),  b = −a α′ p,  α′ = −λα

written out here from SELU's published constants (not from cnnmath). Checked: the values given
the mask (the mask read back from the output), the backward a·m·G, the two values torch's
layer gives a constant input, mean and variance kept on SELU-distributed input (and torch's
kept alike), whole maps for the feature form, eval and p = 0 identity, p = 1 as torch (x·0),
repr, argument errors, seeding, training in a Sequential, ONNX export (Identity) and receptive
fields. The ops' generic checks are their records in tests/records/alpha_dropout.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cnnmath
from cnnmath import nn
from helpers import rel_error

torch = pytest.importorskip("torch")

# SELU's constants (Klambauer et al. 2017), as torch.nn.SELU documents them
LAMBDA, ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
SATURATION = -LAMBDA * ALPHA


def affine(p):
    a = ((1 - p) * (1 + p * SATURATION**2)) ** -0.5
    return a, -a * SATURATION * p


def expected(x, m, p):
    a, b = affine(p)
    return a * (x * m + SATURATION * (1 - m)) + b


def selu_input(shape, seed):
    """SELU of standard normal values: mean ≈ 0, variance ≈ 1, SELU's fixed point."""
    z = np.random.default_rng(seed).standard_normal(shape)
    return LAMBDA * np.where(z > 0, z, ALPHA * np.expm1(np.minimum(z, 0)))


LAYERS = [
    (nn.AlphaDropout, torch.nn.AlphaDropout),
    (nn.FeatureAlphaDropout, torch.nn.FeatureAlphaDropout),
]


def _mask_from_output(y, p):
    """m: 0 where y is the dropped value a·α′ + b exactly (x is continuous: a kept a·x + b
    never lands there), 1 elsewhere."""
    a, b = affine(p)
    return (~np.isclose(y, a * SATURATION + b, rtol=1e-12, atol=0)).astype(np.float64)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("feature", [False, True])
def test_values_and_gradient_follow_the_formula(p, feature):
    layer = (nn.FeatureAlphaDropout if feature else nn.AlphaDropout)(p, rng=1)
    x = np.random.default_rng(2).standard_normal((4, 6, 5, 3))
    y = layer(x)
    m = _mask_from_output(y, p)
    assert 0 < m.mean() < 1
    assert rel_error(y, expected(x, m, p)) <= 1e-15
    G = np.random.default_rng(3).standard_normal(x.shape)
    a, _ = affine(p)
    assert rel_error(layer.backward(G), a * m * G) <= 1e-15
    if feature:  # one draw per (n, c): each map all kept or all dropped
        per_map = m.reshape(4, 6, -1)
        assert (per_map == per_map[..., :1]).all()


@pytest.mark.parametrize("ours, theirs", LAYERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_constant_input_gives_torchs_two_values(ours, theirs, dtype):
    """Kept: a·c + b; dropped: a·α′ + b. torch's layer gives the same two values."""
    p, c = 0.3, 0.7
    x = np.full((40, 50, 2), c, dtype=dtype)
    y = ours(p, rng=4)(x)
    torch.manual_seed(0)
    yt = theirs(p)(torch.from_numpy(x)).numpy()
    mine, its = np.unique(y), np.unique(yt)
    assert y.dtype == dtype and mine.size == its.size == 2
    tol = 1e-15 if dtype == np.float64 else 2e-7
    assert rel_error(mine, its) <= tol
    a, b = affine(p)
    assert rel_error(mine, np.array([a * SATURATION + b, a * c + b])) <= tol


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5, 0.9])
def test_mean_and_variance_are_kept_as_torchs(p):
    x = selu_input(1_000_000, seed=5)
    ours = nn.AlphaDropout(p, rng=6)(x)
    torch.manual_seed(1)
    theirs = torch.nn.AlphaDropout(p)(torch.from_numpy(x)).numpy()
    for y in (ours, theirs):  # within 5 standard errors of the sample mean and variance
        c = y - y.mean()
        assert abs(y.mean() - x.mean()) < 5 * y.std() / math.sqrt(y.size)
        assert abs(y.var() - x.var()) < 5 * math.sqrt(np.mean(c**4) - y.var() ** 2) / math.sqrt(
            y.size
        )
    dropped = 1 - _mask_from_output(ours, p)
    assert abs(dropped.mean() - p) < 5 * math.sqrt(p * (1 - p) / x.size)


def test_feature_form_keeps_statistics_per_map():
    p = 0.3
    x = selu_input((2000, 16, 4, 4), seed=7)
    y = nn.FeatureAlphaDropout(p, rng=8)(x)
    assert abs(y.mean()) < 0.02 and abs(y.var() - x.var()) < 0.02
    dropped = 1 - _mask_from_output(y, p)[:, :, 0, 0]
    assert abs(dropped.mean() - p) < 5 * math.sqrt(p * (1 - p) / dropped.size)


@pytest.mark.parametrize("ours, theirs", LAYERS)
def test_eval_and_p0_are_the_identity(ours, theirs):
    x = np.random.default_rng(9).standard_normal((3, 4, 5))
    for layer in (ours(0.4).eval(), ours(0.0)):
        y = layer(x)
        assert np.array_equal(y, x) and y is not x
        G = np.random.default_rng(10).standard_normal(x.shape)
        assert np.array_equal(layer.backward(G), G)
    assert torch.equal(theirs(0.4).eval()(torch.from_numpy(x)), torch.from_numpy(x))


@pytest.mark.parametrize("ours, theirs", LAYERS)
def test_p1_is_torchs_x_times_zero(ours, theirs):
    x = np.random.default_rng(11).standard_normal((2, 3, 8))
    x[0, 0, :3] = [np.inf, -np.inf, np.nan]
    x[0, 1, 0] = -1.0
    layer = ours(1.0)
    y = layer(x)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(1.0)(xt)
    G = np.random.default_rng(12).standard_normal(x.shape)
    yt.backward(torch.from_numpy(G))
    np.testing.assert_array_equal(y, yt.detach().numpy())  # NaN at the non-finite ones
    np.testing.assert_array_equal(np.signbit(y), np.signbit(yt.detach().numpy()))  # −0
    np.testing.assert_array_equal(layer.backward(G), xt.grad.numpy())


@pytest.mark.parametrize("ours, theirs", LAYERS)
@pytest.mark.parametrize("args", [(), (0.2,), (0.3, True), (1.0,)])
def test_repr_and_state_dict_are_torchs(ours, theirs, args):
    assert repr(ours(*args)) == repr(theirs(*args))
    assert dict(ours(*args).state_dict()) == {} == dict(theirs(*args).state_dict())


@pytest.mark.parametrize("cls", [nn.AlphaDropout, nn.FeatureAlphaDropout])
def test_argument_errors(cls):
    name = cls.__name__
    with pytest.raises(
        ValueError, match=rf"^{name}: p: expected a probability in \[0, 1\], got 1.5"
    ):
        cls(1.5)
    with pytest.raises(ValueError, match=rf"^{name}: p: expected a probability"):
        cls(float("nan"))
    with pytest.raises(TypeError, match=rf"^{name}: p: expected a probability"):
        cls(True)
    with pytest.raises(TypeError, match=rf"^{name}: inplace: expected True or False"):
        cls(0.5, inplace=None)


def test_feature_form_needs_two_axes():
    with pytest.raises(ValueError, match=r"feature_alpha_dropout: x: expected at least 2 axes"):
        nn.FeatureAlphaDropout(0.5)(np.ones(5))
    with pytest.raises(RuntimeError):  # torch refuses it too
        torch.nn.FeatureAlphaDropout(0.5)(torch.ones(5))


def test_manual_seed_governs_the_masks():
    x = np.random.default_rng(13).standard_normal((8, 20))
    cnnmath.manual_seed(3)
    first = nn.AlphaDropout(0.5)(x)
    again = nn.FeatureAlphaDropout(0.5)(x)
    cnnmath.manual_seed(3)
    assert np.array_equal(nn.AlphaDropout(0.5)(x), first)
    assert np.array_equal(nn.FeatureAlphaDropout(0.5)(x), again)


def test_sequential_trains_through_it_and_evaluates_as_torch():
    """Linear → SELU → AlphaDropout → Linear (square, so the dropout's output is read back
    from y): the first layer's weight gradient is the chain rule's with a·m."""
    p = 0.25
    model = nn.Sequential(
        nn.Linear(6, 10, rng=0, dtype=np.float64),
        nn.SELU(),
        nn.AlphaDropout(p, rng=1),
        nn.Linear(10, 10, rng=2, dtype=np.float64),
    )
    x = np.random.default_rng(14).standard_normal((32, 6))
    G = np.random.default_rng(15).standard_normal((32, 10))
    W1, b1, W2 = model[0].weight.data, model[0].bias.data, model[3].weight.data
    h = x @ W1.T + b1
    s = LAMBDA * np.where(h > 0, h, ALPHA * np.expm1(np.minimum(h, 0)))
    ds = LAMBDA * np.where(h > 0, 1.0, ALPHA * np.exp(np.minimum(h, 0)))
    y = model(x)
    model.zero_grad()
    model.backward(G)
    d = np.linalg.solve(W2, (y - model[3].bias.data).T).T  # the dropout's output
    a, b = affine(p)
    m = ~np.isclose(d, a * SATURATION + b, rtol=1e-9, atol=0)
    assert 0 < m.mean() < 1
    assert rel_error(d, expected(s, m, p)) <= 1e-9
    want = ((G @ W2) * a * m * ds).T @ x
    assert rel_error(model[0].weight.grad, want) <= 1e-9
    twin = torch.nn.Sequential(
        torch.nn.Linear(6, 10), torch.nn.SELU(), torch.nn.AlphaDropout(p), torch.nn.Linear(10, 10)
    ).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    model.eval()
    twin.eval()
    assert rel_error(model(x), twin(torch.from_numpy(x)).detach().numpy()) <= 1e-14


def test_onnx_exports_it_as_identity(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx.save import save

    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, rng=0), nn.SELU(), nn.FeatureAlphaDropout(0.3), nn.AlphaDropout(0.2)
    )
    x = np.random.default_rng(16).standard_normal((2, 2, 6, 6)).astype(np.float32)
    save(model, tmp_path / "m.onnx", x)
    types = [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert types.count("Identity") == 2
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    assert rel_error(got, model.eval()(x)) <= 1e-5


def test_receptive_field_refuses_training_and_takes_eval():
    from cnnmath.receptive import receptive_field

    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.FeatureAlphaDropout(0.2))
    with pytest.raises(ValueError, match=r"FeatureAlphaDropout in training mode draws a random"):
        receptive_field(model, (1, 9, 9))
    assert receptive_field(model.eval(), (1, 9, 9))["1"].size == (3, 3)


def test_tiled_runs_them_in_eval_and_refuses_training():
    """Eval: pointwise, so tiles give the whole-image result; training: each tile would draw
    its own mask or slopes, refused."""
    da = pytest.importorskip("dask.array")
    from cnnmath import tiled

    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, rng=0),
        nn.RReLU(),
        nn.AlphaDropout(0.3),
        nn.FeatureAlphaDropout(0.2),
        nn.Conv2d(3, 2, 3, padding=1, rng=1),
    )
    x = np.random.default_rng(17).standard_normal((1, 2, 12, 12)).astype(np.float32)
    for i in (1, 2, 3):
        with pytest.raises(ValueError, match=rf"node '{i}' .*in training mode draws a random"):
            tiled.apply(net, da.from_array(x, chunks=(1, 2, 6, 6)))
        net[i].eval()
    y = tiled.apply(net, da.from_array(x, chunks=(1, 2, 6, 6))).compute(scheduler="synchronous")
    assert rel_error(y, net.eval()(x)) <= 1e-6
