"""nn.RReLU and ops.activations.rrelu against PyTorch's: eval values and gradients (float64),
the training rule (y/x ∈ [lower, upper] on x ≤ 0, gradient y/x there), the slopes'
distribution beside torch's, seeding, repr, state_dict, argument errors, training in a
Sequential and a Graph, eval mode, ONNX export (LeakyRelu) and receptive fields. The op's
generic checks (reference, finite differences, errors) are its records in
tests/records/activations.py."""

from __future__ import annotations

import numpy as np
import pytest

import cnnmath
from cnnmath import nn
from cnnmath.ops import activations as act
from helpers import rel_error

torch = pytest.importorskip("torch")

RANGES = [(1 / 8, 1 / 3), (0.1, 0.3), (-0.5, 1.5), (0.2, 0.2), (0, 1)]


def _x(shape, seed=0, dtype=np.float64):
    return (3 * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lower, upper", RANGES)
def test_eval_layer_matches_torch(lower, upper, dtype):
    ours, theirs = nn.RReLU(lower, upper).eval(), torch.nn.RReLU(lower, upper).eval()
    assert repr(ours) == repr(theirs)
    x = _x((2, 3, 4, 5), dtype=dtype)
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(np.isnan(y), np.isnan(yt.detach().numpy()))
    tol = 1e-14 if dtype == np.float64 else 1e-6
    ok = ~np.isnan(y)
    assert rel_error(y[ok], yt.detach().numpy()[ok]) <= tol
    G = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    yt.backward(torch.from_numpy(G))
    assert rel_error(ours.backward(G), xt.grad.numpy()) <= tol  # NaN's gradient included


@pytest.mark.parametrize("lower, upper", RANGES)
def test_training_rule_and_gradient(lower, upper):
    """y = x on x > 0; on x < 0, y/x ∈ [lower, upper], and the gradient there is y/x."""
    layer = nn.RReLU(lower, upper, rng=3)
    x = _x(20000, seed=2)
    y = layer(x)
    G = np.random.default_rng(4).standard_normal(x.shape)
    grad = layer.backward(G)
    pos, neg = x > 0, x < 0
    np.testing.assert_array_equal(y[pos], x[pos])
    np.testing.assert_array_equal(grad[pos], G[pos])
    ratio = y[neg] / x[neg]
    assert ratio.min() >= lower - 1e-15 and ratio.max() <= upper + 1e-15
    assert rel_error(grad[neg], ratio * G[neg]) <= 1e-14
    if upper > lower:  # a fresh slope per element: many distinct ones
        assert np.unique(ratio).size > 0.99 * ratio.size


def test_slopes_are_uniform_as_torchs():
    """The slopes' mean, variance and quantiles are those of U(lower, upper), and torch's."""
    lower, upper, n = 0.1, 0.4, 400_000
    x = -np.abs(_x(n, seed=5)) - 0.1
    ours = nn.RReLU(lower, upper, rng=6)(x) / x
    torch.manual_seed(0)
    theirs = (torch.nn.RReLU(lower, upper)(torch.from_numpy(x)) / torch.from_numpy(x)).numpy()
    width = upper - lower
    for a in (ours, theirs):
        assert abs(a.mean() - (lower + upper) / 2) < 5 * width / np.sqrt(12 * n)
        assert abs(a.var() - width**2 / 12) < 0.01 * width**2 / 12
    q = np.linspace(0.05, 0.95, 19)
    assert np.abs(np.quantile(ours, q) - np.quantile(theirs, q)).max() < 0.01 * width


@pytest.mark.parametrize("lower, upper", [(0.2, 0.3), (-0.5, -0.25)])
def test_zero_and_nonfinite_in_training_as_torch(lower, upper):
    """Training: x = ±0 takes a slope (gradient a·g, a in range; a negative a turns the
    zero's sign, as torch's), NaN passes with gradient g, −inf gives a·(−inf) with a slope,
    +inf passes: torch's pattern."""
    x = np.array([0.0, -0.0, np.nan, -np.inf, np.inf, -1.0] * 8)
    layer = nn.RReLU(lower, upper, rng=0)
    y, grad = layer(x), layer.backward(np.ones_like(x))
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.rrelu(xt, lower, upper, training=True)
    yt.backward(torch.ones_like(xt))
    yt, gt = yt.detach().numpy(), xt.grad.numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(yt))
    fixed = np.isin(x, [0.0, np.inf, -np.inf])  # 0, −0, ±inf: values and signs
    np.testing.assert_array_equal(y[fixed], yt[fixed])
    np.testing.assert_array_equal(np.signbit(y[fixed]), np.signbit(yt[fixed]))
    random = (x == 0) | (x == -np.inf) | (x == -1)
    assert ((grad[random] >= lower) & (grad[random] <= upper)).all()
    assert ((gt[random] >= lower) & (gt[random] <= upper)).all()
    np.testing.assert_array_equal(grad[~random], gt[~random])  # 1 at NaN and +inf


def test_manual_seed_governs_the_default_generator():
    x = _x((4, 50), seed=7)
    cnnmath.manual_seed(11)
    first = nn.RReLU()(x)
    again = nn.RReLU()(x)
    cnnmath.manual_seed(11)
    assert np.array_equal(nn.RReLU()(x), first)
    assert not np.array_equal(again, first)  # a new draw at every forward
    assert np.array_equal(nn.RReLU(rng=5)(x), nn.RReLU(rng=5)(x))


@pytest.mark.parametrize(
    "args, kwargs", [((), {}), ((0.1, 0.2, True), {}), ((0, 1), {}), ((), {"upper": 0.5})]
)
def test_repr_and_state_dict_are_torchs(args, kwargs):
    ours, theirs = nn.RReLU(*args, **kwargs), torch.nn.RReLU(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert dict(ours.state_dict()) == {} == dict(theirs.state_dict())
    assert ours.parameters() == [] and ours.num_parameters() == 0


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: nn.RReLU(0.5, 0.25), ValueError, r"^RReLU: upper: expected a number >= lower=0.5"),
        (lambda: nn.RReLU(float("nan")), ValueError, r"^RReLU: lower: expected a finite number"),
        (lambda: nn.RReLU(0.1, float("inf")), ValueError, r"^RReLU: upper: expected a finite"),
        (lambda: nn.RReLU("0.1"), TypeError, r"^RReLU: lower: expected a real number, got '0.1'"),
        (lambda: nn.RReLU(inplace=1), TypeError, r"^RReLU: inplace: expected True or False"),
        (lambda: nn.RReLU(rng="a"), TypeError, r"^RReLU: rng: expected a numpy.random.Generator"),
        (lambda: act.rrelu(np.ones(3), 0.4, 0.3), ValueError, r"^rrelu: lower: expected lower <="),
    ],
)
def test_argument_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _twin(model, lower, upper):
    """torch's Sequential(Linear, RReLU, Linear) with the same weights."""
    l1, l2 = model[0], model[2]
    twin = torch.nn.Sequential(
        torch.nn.Linear(l1.in_features, l1.out_features),
        torch.nn.RReLU(lower, upper),
        torch.nn.Linear(l2.in_features, l2.out_features),
    ).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return twin


def test_sequential_trains_with_the_drawn_slopes_and_evaluates_as_torch():
    lower, upper = 0.1, 0.5
    model = nn.Sequential(
        nn.Linear(5, 8, rng=0, dtype=np.float64),
        nn.RReLU(lower, upper, rng=1),
        nn.Linear(8, 8, rng=2, dtype=np.float64),
    )
    x = np.random.default_rng(3).standard_normal((16, 5))
    G = np.random.default_rng(4).standard_normal((16, 8))
    W1, b1, W2 = model[0].weight.data, model[0].bias.data, model[2].weight.data
    h = x @ W1.T + b1
    y = model(x)  # training: the slopes follow from the output of the RReLU
    model.zero_grad()
    model.backward(G)
    # the slopes the forward used, recovered from y = W2·rrelu(h) + b2 (W2 square)
    rrelu_out = np.linalg.solve(W2, (y - model[2].bias.data).T).T
    slopes = np.where(h > 0, 1.0, rrelu_out / h)
    assert ((slopes[h < 0] >= lower - 1e-9) & (slopes[h < 0] <= upper + 1e-9)).all()
    want_W1 = ((G @ W2) * slopes).T @ x
    assert rel_error(model[0].weight.grad, want_W1) <= 1e-9
    model.eval()
    twin = _twin(model, lower, upper).eval()
    assert rel_error(model(x), twin(torch.from_numpy(x)).detach().numpy()) <= 1e-14


def test_graph_trains_through_rrelu():
    """In a Graph, training: the input gradient is the rule's, G·a with a = y/x on x < 0."""
    g = nn.Graph()
    g.add(nn.RReLU(0.2, 0.4, rng=0), "x", name="act")
    g.add(nn.Add(), "act", "x", name="sum")
    g.set_output("sum")
    x = _x((3, 40), seed=8)
    y = g(x)
    G = np.random.default_rng(9).standard_normal(x.shape)
    grad = g.backward(G)
    a = np.where(x > 0, 1.0, (y - x) / x)
    assert rel_error(grad, G * a + G) <= 1e-13
    g.eval()
    assert rel_error(g(x), np.where(x > 0, x, 0.3 * x) + x) <= 1e-15


def test_onnx_exports_eval_rrelu_as_leaky_relu(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx.save import save

    model = nn.Sequential(nn.Conv2d(2, 3, 3, rng=0), nn.RReLU(0.1, 0.3))  # in training mode
    x = _x((2, 2, 6, 6), seed=10, dtype=np.float32)
    save(model, tmp_path / "m.onnx", x)
    assert model.training  # the mode is put back
    proto = onnx.load(str(tmp_path / "m.onnx"))
    (leaky,) = [n for n in proto.graph.node if n.op_type == "LeakyRelu"]
    assert abs(onnx.helper.get_attribute_value(leaky.attribute[0]) - 0.2) < 1e-7
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    assert rel_error(got, model.eval()(x)) <= 1e-5


def test_receptive_field_refuses_training_and_takes_eval():
    from cnnmath.receptive import receptive_field

    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.RReLU(), nn.Conv2d(2, 2, 3, rng=1))
    with pytest.raises(ValueError, match=r"RReLU in training mode draws a random slope"):
        receptive_field(model, (1, 9, 9))
    fields = receptive_field(model.eval(), (1, 9, 9))
    assert fields["1"].size == fields["0"].size == (3, 3)  # RReLU is pointwise
    assert fields["2"].size == (5, 5)
