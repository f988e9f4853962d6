"""cnnmath.nn.init against torch.nn.init: the gains and fans exactly, the deterministic fills
bit for bit, the random ones by their distribution (a large sample's spread and range beside
torch's own sample of the same scheme), and the bad arguments named."""

import math

import numpy as np
import pytest

from cnnmath import nn
from cnnmath.nn import init

torch = pytest.importorskip("torch")
tinit = torch.nn.init

NONLINEARITIES = [
    ("linear", None),
    ("conv2d", None),
    ("conv_transpose3d", None),
    ("sigmoid", None),
    ("tanh", None),
    ("relu", None),
    ("leaky_relu", None),
    ("leaky_relu", 0.2),
    ("leaky_relu", 3),
    ("selu", None),
]


@pytest.mark.parametrize(("nonlinearity", "param"), NONLINEARITIES)
def test_gain_is_torchs(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        tinit.calculate_gain(nonlinearity, param), rel=1e-15
    )


# (shape, mode): weights of Linear, Conv1d, Conv2d (grouped: C/g in the shape), Conv3d
SHAPES = [(300, 200), (64, 16, 5), (128, 64, 3, 3), (96, 8, 3, 3), (16, 8, 3, 3, 3)]


def _torch_sample(shape, fill, *args, seed=0, **kwargs):
    t = torch.empty(shape, dtype=torch.float64)
    torch.manual_seed(seed)
    fill(t, *args, **kwargs)
    return t.numpy()


def _samples(shape, ours, theirs, *args, **kwargs):
    """≥ 2·10⁵ draws of each library's initialisation of a weight of ``shape``, as repeated
    weights (the fans, hence the scale, are the shape's own)."""
    reps = -(-200_000 // math.prod(shape))
    a = np.stack([ours(np.empty(shape), *args, **kwargs, rng=seed) for seed in range(reps)])
    b = np.stack([_torch_sample(shape, theirs, *args, **kwargs, seed=s) for s in range(reps)])
    return a, b


def _spread_matches(ours, theirs):
    """The same distribution, judged on ≥ 2·10⁵ draws: standard deviations within 1 %
    (the estimate's own error is about 0.16 %), means within 1 % of that spread."""
    assert ours.std() == pytest.approx(theirs.std(), rel=0.01)
    assert abs(ours.mean()) < 0.01 * theirs.std()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize(("nonlinearity", "a"), [("relu", 0), ("leaky_relu", math.sqrt(5))])
def test_kaiming_matches_torchs_distribution(shape, mode, nonlinearity, a):
    ours, theirs = _samples(
        shape, init.kaiming_uniform_, tinit.kaiming_uniform_, a, mode, nonlinearity
    )
    _spread_matches(ours, theirs)
    # the uniform's bound: both largest draws are within a hair of it
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=1e-3)
    ours, theirs = _samples(
        shape, init.kaiming_normal_, tinit.kaiming_normal_, a, mode, nonlinearity
    )
    _spread_matches(ours, theirs)


@pytest.mark.parametrize("shape", SHAPES)
def test_xavier_matches_torchs_distribution(shape):
    ours, theirs = _samples(shape, init.xavier_uniform_, tinit.xavier_uniform_, 1.7)
    _spread_matches(ours, theirs)
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=1e-3)
    ours, theirs = _samples(shape, init.xavier_normal_, tinit.xavier_normal_, 1.7)
    _spread_matches(ours, theirs)


def test_uniform_normal_and_truncated_normal_match_torchs():
    shape = (500, 500)
    ours = init.uniform_(np.empty(shape), -3.0, 5.0, rng=1)
    theirs = _torch_sample(shape, tinit.uniform_, -3.0, 5.0)
    assert ours.min() >= -3 and ours.max() < 5
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.01)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.01)
    ours = init.normal_(np.empty(shape), 2.0, 0.5, rng=2)
    theirs = _torch_sample(shape, tinit.normal_, 2.0, 0.5)
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.005)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.01)
    # truncated far off-centre: [0.5, 3] around mean 1 with std 2 keeps a skewed slice
    ours = init.trunc_normal_(np.empty(shape), 1.0, 2.0, 0.5, 3.0, rng=3)
    theirs = _torch_sample(shape, tinit.trunc_normal_, 1.0, 2.0, 0.5, 3.0)
    assert ours.min() >= 0.5 and ours.max() <= 3.0
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.005)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.01)
    # the default bounds ±2 (values, not std) with std 0.02 (ViT, ConvNeXt): nothing cut
    ours = init.trunc_normal_(np.empty(shape), std=0.02, rng=4)
    assert ours.std() == pytest.approx(0.02, rel=0.01)


@pytest.mark.parametrize("shape", [(4, 2, 3), (6, 4, 3, 3), (4, 6, 3, 5), (8, 2, 3, 3, 3)])
@pytest.mark.parametrize("groups", [1, 2])
def test_dirac_is_torchs_and_copies_the_input(shape, groups):
    ours = init.dirac_(np.full(shape, 7.0), groups)
    theirs = tinit.dirac_(torch.full(shape, 7.0, dtype=torch.float64), groups).numpy()
    np.testing.assert_array_equal(ours, theirs)
    if len(shape) == 4 and shape[2] == 3 == shape[3] and shape[0] >= shape[1] * groups:
        conv = nn.Conv2d(
            shape[1] * groups, shape[0], 3, padding=1, groups=groups, rng=0, dtype=np.float64
        )
        init.dirac_(conv.weight, groups)
        init.zeros_(conv.bias)
        x = np.random.default_rng(0).normal(size=(2, shape[1] * groups, 5, 6))
        y = conv(x)
        per_group = shape[0] // groups
        for g in range(groups):
            got = y[:, g * per_group : g * per_group + shape[1]]
            np.testing.assert_array_equal(got, x[:, g * shape[1] : (g + 1) * shape[1]])


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4)])
def test_eye_constant_ones_zeros_are_torchs(shape):
    t = torch.empty(shape, dtype=torch.float64)
    np.testing.assert_array_equal(init.eye_(np.empty(shape)), tinit.eye_(t).numpy())
    np.testing.assert_array_equal(
        init.constant_(np.empty(shape), -2.5), tinit.constant_(t, -2.5).numpy()
    )
    np.testing.assert_array_equal(init.ones_(np.empty(shape)), tinit.ones_(t).numpy())
    np.testing.assert_array_equal(init.zeros_(np.empty(shape)), tinit.zeros_(t).numpy())


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 4, 3, 3), (3, 40, 2)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    w = init.orthogonal_(np.empty(shape), gain=1.5, rng=0).reshape(shape[0], -1)
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(gram, 2.25 * np.eye(len(gram)), atol=1e-12)
    theirs = _torch_sample(shape, tinit.orthogonal_, gain=1.5).reshape(shape[0], -1)
    assert np.linalg.norm(w) == pytest.approx(np.linalg.norm(theirs), rel=1e-12)


def test_fills_a_parameter_and_keeps_float32():
    conv = nn.Conv2d(3, 8, 3, rng=0, dtype=np.float32)
    out = init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu", rng=0)
    assert out is conv.weight.data and out.dtype == np.float32
    # drawn in float32 (NumPy's float32 ziggurat), not in float64 and rounded
    z = np.random.default_rng(0).standard_normal((8, 3, 3, 3), dtype=np.float32)
    np.testing.assert_array_equal(out, z * np.float32(math.sqrt(2 / (8 * 9))))
    w64 = init.kaiming_normal_(np.empty((8, 3, 3, 3)), mode="fan_out", nonlinearity="relu", rng=0)
    expected = np.random.default_rng(0).normal(0, math.sqrt(2 / (8 * 9)), size=(8, 3, 3, 3))
    np.testing.assert_allclose(w64, expected, rtol=1e-15)  # float64: rng.normal's draws


def test_float32_uniform_stays_within_its_bounds_rounded_to_float32():
    """float32 arithmetic on the draws may round one step past a bound: clipped to the
    bounds as float32 rounds them (a pair and seed where the step past b happened)."""
    a, b = 0.6923106688875231, 0.8831370694455005
    w = init.uniform_(np.empty((512, 1024), np.float32), a, b, rng=0)
    assert w.min() >= np.float32(a) and w.max() <= np.float32(b)
    rng = np.random.default_rng(1)
    for _ in range(50):
        a, b = np.sort(rng.uniform(-3, 3, 2))
        w = init.uniform_(np.empty(20000, np.float32), a, b, rng=rng)
        assert w.min() >= np.float32(a) and w.max() <= np.float32(b)


def test_layers_default_is_kaiming_uniform_with_a_sqrt5():
    # the docstring of cnnmath.nn: the layers' own draw is kaiming_uniform_(a=√5)
    conv = nn.Conv2d(5, 7, 3, rng=11, dtype=np.float64)
    again = init.kaiming_uniform_(np.empty((7, 5, 3, 3)), a=math.sqrt(5), rng=11)
    np.testing.assert_allclose(conv.weight.data, again, rtol=1e-14)


def test_same_seed_same_weights():
    a = init.xavier_uniform_(np.empty((4, 5)), rng=3)
    b = init.xavier_uniform_(np.empty((4, 5)), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init.xavier_uniform_(np.empty((4, 5)), rng=4))


def test_empty_arrays_are_left_alone():
    for fill in (init.kaiming_uniform_, init.kaiming_normal_, init.xavier_normal_):
        assert fill(np.empty((0, 3, 3, 3)), rng=0).shape == (0, 3, 3, 3)
    assert init.orthogonal_(np.empty((0, 4)), rng=0).shape == (0, 4)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: init.calculate_gain("swish"), ValueError, ["nonlinearity", "'swish'"]),
        (lambda: init.calculate_gain("leaky_relu", "a"), TypeError, ["param", "'a'"]),
        (lambda: init.kaiming_uniform_(np.empty(5)), ValueError, ["tensor", "(5,)"]),
        (lambda: init.kaiming_normal_(np.empty((2, 2)), mode="in"), ValueError, ["mode", "'in'"]),
        (lambda: init.xavier_uniform_(np.empty((2, 2), np.int64)), TypeError, ["tensor", "int64"]),
        (lambda: init.xavier_normal_(np.empty((2, 2)), gain=np.nan), ValueError, ["gain", "nan"]),
        (lambda: init.uniform_(np.empty(3), 2, 1), ValueError, ["a, b", "a = 2"]),
        (lambda: init.normal_(np.empty(3), std=-1), ValueError, ["std", "-1"]),
        (lambda: init.trunc_normal_(np.empty(3), a=1, b=1), ValueError, ["a < b"]),
        (lambda: init.trunc_normal_(np.empty(3), a=20, b=30), ValueError, ["within 8 std"]),
        (lambda: init.eye_(np.empty((2, 2, 2))), ValueError, ["tensor", "2 dimensions"]),
        (lambda: init.dirac_(np.empty((4, 4))), ValueError, ["tensor", "3, 4 or 5"]),
        (lambda: init.dirac_(np.empty((6, 2, 3)), groups=4), ValueError, ["groups", "6", "4"]),
        (lambda: init.dirac_(np.empty((6, 2, 3)), groups=2.0), TypeError, ["groups", "2.0"]),
        (lambda: init.orthogonal_(np.empty(4)), ValueError, ["tensor", "(4,)"]),
        (lambda: init.normal_(np.empty(3), rng=-1), ValueError, ["rng", "-1"]),
        (lambda: init.constant_(np.empty(3), "1"), TypeError, ["val", "'1'"]),
    ],
)
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)
