"""cnnmath.onnx.load on RandomNormal, RandomUniform, RandomNormalLike, RandomUniformLike,
Bernoulli and Multinomial: the draws' statistics (means and variances within 5σ, SciPy's
Kolmogorov–Smirnov test, Bernoulli's frequencies), shapes and dtypes against onnxruntime's
(its values come from another generator), reproducibility from the seed attribute, a fresh
draw per call, a PyTorch export (torch.randn_like, torch.rand, torch.bernoulli) with its
gradient against autograd's, refusals of bad attributes, and a save round trip onnxruntime runs.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from cnnmath.onnx import load, save
from onnx_node_case import node_model, ort_run

onnx = pytest.importorskip("onnx")
from onnx import helper, numpy_helper  # noqa: E402

N = 100_000


def _source_model(op, attrs, out_type=np.float32, opset=22):
    """A model of one input-less ``op`` node (RandomNormal, RandomUniform) writing y; the
    graph's input x (the loader needs one) is not read by it."""
    t = helper.np_dtype_to_tensor_dtype(np.dtype(out_type))
    graph = helper.make_graph(
        [helper.make_node(op, [], ["y"], name="n", **attrs)],
        "g",
        [helper.make_tensor_value_info("x", 1, [1])],
        [helper.make_tensor_value_info("y", t, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model.SerializeToString()


_X = np.zeros(1, np.float32)


def _mean_var_within_5_sigma(y, mean, var, fourth):
    """The sample mean within 5σ of ``mean`` (σ² = var/n) and the sample variance within 5σ
    of ``var`` (σ² ≈ (μ₄ − var²)/n, μ₄ the fourth central moment)."""
    y = np.asarray(y, np.float64).ravel()
    n = y.size
    assert abs(y.mean() - mean) <= 5 * np.sqrt(var / n), (y.mean(), mean)
    assert abs(y.var(ddof=1) - var) <= 5 * np.sqrt((fourth - var**2) / n), (y.var(), var)


@pytest.mark.parametrize(("mean", "scale"), [(0.0, 1.0), (3.0, 0.5), (-2.0, 7.0), (1.0, 0.0)])
@pytest.mark.parametrize("dtype", [1, 11])
def test_random_normal_mean_and_variance(mean, scale, dtype):
    graph = load(
        _source_model("RandomNormal", {"shape": [N], "mean": mean, "scale": scale, "dtype": dtype})
    )
    y = graph(_X)
    assert y.shape == (N,) and y.dtype == (np.float32 if dtype == 1 else np.float64)
    if scale == 0:
        np.testing.assert_array_equal(y, np.full(N, mean))
        return
    _mean_var_within_5_sigma(y, mean, scale**2, 3 * scale**4)


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-3.0, 5.0), (10.0, 10.5)])
@pytest.mark.parametrize("dtype", [1, 11])
def test_random_uniform_mean_variance_and_range(low, high, dtype):
    graph = load(
        _source_model("RandomUniform", {"shape": [N], "low": low, "high": high, "dtype": dtype})
    )
    y = graph(_X)
    assert y.shape == (N,) and y.dtype == (np.float32 if dtype == 1 else np.float64)
    assert y.min() >= low and y.max() <= high
    w = high - low
    _mean_var_within_5_sigma(y, (low + high) / 2, w**2 / 12, w**4 / 80)


def test_kolmogorov_smirnov_against_normal_and_uniform_cdfs():
    from scipy import stats

    normal = load(
        _source_model(
            "RandomNormal", {"shape": [N], "mean": 2.0, "scale": 3.0, "seed": 7.0, "dtype": 11}
        )
    )(_X)
    uniform = load(
        _source_model(
            "RandomUniform", {"shape": [N], "low": -1.0, "high": 4.0, "seed": 7.0, "dtype": 11}
        )
    )(_X)
    assert stats.kstest(normal, "norm", args=(2.0, 3.0)).pvalue > 1e-3
    assert stats.kstest(uniform, "uniform", args=(-1.0, 5.0)).pvalue > 1e-3
    # the test has the power to tell: against a slightly wrong scale or range it rejects
    assert stats.kstest(normal, "norm", args=(2.0, 3.1)).pvalue < 1e-6
    assert stats.kstest(uniform, "uniform", args=(-1.0, 5.1)).pvalue < 1e-6


@pytest.mark.parametrize("op", ["RandomNormalLike", "RandomUniformLike"])
@pytest.mark.parametrize("dtype", [None, 1, 11])
@pytest.mark.parametrize("x_dtype", [np.float32, np.float64])
def test_like_ops_take_the_input_shape_and_type_and_their_statistics(op, dtype, x_dtype):
    x = np.full((4, N // 4), 123.0, x_dtype)  # its values play no part
    attrs = {} if dtype is None else {"dtype": dtype}
    attrs |= {"mean": -1.0, "scale": 2.0} if op == "RandomNormalLike" else {"low": 2.0, "high": 6.0}
    want = x_dtype if dtype is None else (np.float32 if dtype == 1 else np.float64)
    y = load(node_model(op, {"x": x}, attrs, opset=22, out_type=want))(x)
    assert y.shape == x.shape and y.dtype == want
    if op == "RandomNormalLike":
        _mean_var_within_5_sigma(y, -1.0, 4.0, 3 * 16.0)
    else:
        _mean_var_within_5_sigma(y, 4.0, 16 / 12, 4**4 / 80)


@pytest.mark.parametrize("p", [0.0, 0.03, 0.5, 0.8, 1.0])
@pytest.mark.parametrize("p_dtype", [np.float32, np.float64])
def test_bernoulli_frequency(p, p_dtype):
    probs = np.full((10, N // 10), p, p_dtype)
    y = load(node_model("Bernoulli", {"p": probs}, opset=22))(probs)
    assert y.shape == probs.shape and y.dtype == p_dtype
    assert set(np.unique(y)) <= {0, 1}
    if p in (0.0, 1.0):  # exactly never and always
        np.testing.assert_array_equal(y, np.full_like(probs, p))
    else:
        assert abs(y.mean() - p) <= 5 * np.sqrt(p * (1 - p) / N), (y.mean(), p)


def test_bernoulli_of_mixed_probabilities_and_output_types():
    probs = np.tile(np.array([0.0, 1.0, 0.25], np.float64), N // 3)
    for code, want in ((9, np.bool_), (7, np.int64), (6, np.int32), (1, np.float32)):
        y = load(node_model("Bernoulli", {"p": probs}, {"dtype": code}, opset=22, out_type=want))(
            probs
        )
        assert y.dtype == want and y.shape == probs.shape
        assert not y[0::3].any() and y[1::3].all()
        quarter = y[2::3].astype(np.float64)
        assert abs(quarter.mean() - 0.25) <= 5 * np.sqrt(0.25 * 0.75 / quarter.size)


def test_multinomial_frequencies_follow_the_softmax():
    logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 1e-30]]))
    graph = load(
        node_model("Multinomial", {"x": logits}, {"sample_size": N}, opset=22, out_type=np.int32)
    )
    y = graph(logits)
    assert y.shape == (2, N) and y.dtype == np.int32
    for row, probs in zip(y, np.exp(logits)):
        freq = np.bincount(row, minlength=3) / N
        assert np.all(np.abs(freq - probs) <= 5 * np.sqrt(probs * (1 - probs) / N) + 1e-12), freq


def _cases():
    x = np.ones((3, 4), np.float32)
    p = np.full((2, 5), 0.5, np.float32)
    return [
        ("RandomNormal", {}, {"shape": [2, 3]}, np.float32),
        ("RandomNormal", {}, {"shape": [4], "dtype": 11}, np.float64),
        ("RandomUniform", {}, {"shape": [2, 1, 3], "low": -2.0, "high": 2.0}, np.float32),
        ("RandomUniform", {}, {"shape": [0, 3], "dtype": 11}, np.float64),
        ("RandomNormalLike", {"x": x}, {}, np.float32),
        ("RandomNormalLike", {"x": x}, {"dtype": 11}, np.float64),
        ("RandomUniformLike", {"x": x.astype(np.float64)}, {}, np.float64),
        ("RandomUniformLike", {"x": x}, {"dtype": 1, "seed": 3.0}, np.float32),
        ("Bernoulli", {"p": p}, {}, np.float32),
        ("Bernoulli", {"p": p}, {"dtype": 9}, np.bool_),
        ("Bernoulli", {"p": p.astype(np.float64)}, {"dtype": 7}, np.int64),
        ("Multinomial", {"x": p}, {"sample_size": 4}, np.int32),
        ("Multinomial", {"x": p}, {"sample_size": 2, "dtype": 7}, np.int64),
    ]


@pytest.mark.parametrize(("op", "feeds", "attrs", "out"), _cases())
def test_shapes_and_dtypes_are_onnxruntimes(op, feeds, attrs, out):
    if feeds:
        data = node_model(op, feeds, attrs, opset=17, out_type=out)
    else:
        data = _source_model(op, attrs, out_type=out, opset=17)
        feeds = {"x": _X}
    got = load(data)(*feeds.values())
    want = ort_run(data, feeds)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape)


def test_a_seed_gives_the_same_sequence_at_every_load():
    data = _source_model("RandomNormal", {"shape": [5], "seed": 1.5})
    a, b = load(data), load(data)
    first, second = a(_X), a(_X)
    assert not np.array_equal(first, second)  # successive calls draw afresh
    np.testing.assert_array_equal(b(_X), first)
    np.testing.assert_array_equal(b(_X), second)
    other = load(_source_model("RandomNormal", {"shape": [5], "seed": 2.5}))(_X)
    assert not np.array_equal(other, first)
    unseeded = _source_model("RandomNormal", {"shape": [5]})
    assert not np.array_equal(load(unseeded)(_X), load(unseeded)(_X))  # fresh entropy


def test_reseeding_the_op():
    seeded = load(_source_model("RandomUniform", {"shape": [6], "seed": 4.0}))
    graph = load(_source_model("RandomUniform", {"shape": [6]}))
    (op,) = [m for m in graph.modules() if hasattr(m, "reseed")]
    assert [name for name, _ in graph.named_generators()] == ["n.rng"]
    op.reseed(4.0)
    np.testing.assert_array_equal(graph(_X), seeded(_X))
    op.rng = np.random.default_rng(0)  # the generator as an attribute
    np.testing.assert_array_equal(graph(_X), np.random.default_rng(0).random(6, np.float32))


def test_never_folded_at_load_time():
    p = numpy_helper.from_array(np.full(1000, 0.5), "p")
    c = numpy_helper.from_array(np.zeros((10, 10), np.float32), "c")
    graph = helper.make_graph(
        [
            helper.make_node("RandomNormal", [], ["a"], shape=[10]),
            helper.make_node("RandomUniformLike", ["c"], ["b"]),
            helper.make_node("Bernoulli", ["p"], ["d"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", 1, [1])],
        [helper.make_tensor_value_info(n, t, None) for n, t in (("a", 1), ("b", 1), ("d", 11))],
        initializer=[p, c],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    loaded = load(model.SerializeToString())
    first, second = loaded(_X), loaded(_X)
    for u, v in zip(first, second, strict=True):
        assert not np.array_equal(u, v)
    assert [u.shape for u in first] == [(10,), (10, 10), (1000,)]


def _torch_module():
    torch = pytest.importorskip("torch")

    class Noisy(torch.nn.Module):
        def forward(self, x):
            y = 2 * x + 0.1 * torch.randn_like(x)
            u = torch.rand(x.shape[0], 3)
            v = torch.rand(5, 3)
            b = torch.bernoulli(torch.sigmoid(x))
            return y, u, v, b

    return torch, Noisy()


def test_a_pytorch_export_loads_runs_and_trains():
    torch, model = _torch_module()
    x = np.random.default_rng(0).standard_normal((50, 2000)).astype(np.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.from_numpy(x),), buffer, dynamo=False, input_names=["x"], opset_version=17
        )
    data = buffer.getvalue()
    ops = {n.op_type for n in onnx.load_from_string(data).graph.node}
    # torch.rand of a shape read from x: ConstantOfShape and RandomUniformLike
    assert {"RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli"} <= ops, ops
    graph = load(data)
    y, u, v, b = graph(x)
    assert (y.shape, u.shape, v.shape, b.shape) == ((50, 2000), (50, 3), (5, 3), (50, 2000))
    assert y.dtype == u.dtype == v.dtype == b.dtype == np.float32
    _mean_var_within_5_sigma((y - 2 * x) / 0.1, 0.0, 1.0, 3.0)
    assert u.min() >= 0 and u.max() < 1 and v.min() >= 0 and v.max() < 1
    assert not np.array_equal(v, graph(x)[2])
    p = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert abs((b - p).mean()) <= 5 * np.sqrt((p * (1 - p)).sum()) / p.size
    # the deterministic part keeps its gradient: ∂y/∂x = 2, as autograd says
    G = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    graph(x)
    gx = graph.backward((G, np.zeros_like(u), np.zeros_like(v), np.zeros_like(b)))
    gx = gx[0] if isinstance(gx, tuple) else gx
    t = torch.tensor(x, requires_grad=True)
    (model(t)[0] * torch.from_numpy(G)).sum().backward()
    np.testing.assert_allclose(gx, t.grad.numpy(), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("op", "attrs", "message"),
    [
        (
            "RandomUniform",
            {"shape": [2], "low": 1.0, "high": 0.0},
            r"attributes 'low', 'high': expected finite low <= high",
        ),
        (
            "RandomNormal",
            {"shape": [2], "scale": -1.0},
            r"attributes 'mean', 'scale': expected .* scale >= 0",
        ),
        (
            "RandomNormal",
            {"shape": [2], "dtype": 5},
            r"attribute 'dtype': expected one of 1 \(float\), 11 \(double\), got 5",
        ),
        (
            "RandomNormal",
            {"shape": [2], "dtype": 10},
            r"attribute 'dtype': float16 \(10\) is not supported",
        ),
        (
            "RandomUniform",
            {"shape": [2], "dtype": 16},
            r"attribute 'dtype': bfloat16 \(16\) is not supported",
        ),
        ("RandomUniform", {"shape": [2, -1]}, r"attribute 'shape': expected sizes >= 0"),
        ("RandomUniform", {}, r"attribute 'shape': expected a list of sizes"),
        ("RandomNormal", {"shape": [2], "seed": 3}, r"attribute 'seed': expected type FLOAT"),
        ("RandomNormal", {"shape": [2], "bogus": 1}, r"attribute 'bogus' is not supported"),
    ],
)
def test_bad_attributes_are_refused_by_name(op, attrs, message):
    with pytest.raises(ValueError, match=rf"\({op}\): {message}"):
        load(_source_model(op, attrs))


def test_bad_like_and_bernoulli_input_types_are_refused():
    x = np.zeros((2, 2), np.int64)
    with pytest.raises(
        ValueError,
        match=r"\(RandomNormalLike\): input 'input': expected float32 or float64 when attribute 'dtype' is absent",
    ):
        load(node_model("RandomNormalLike", {"x": x}, opset=22, out_type=np.float32))
    y = load(
        node_model("RandomNormalLike", {"x": x}, {"dtype": 11}, opset=22, out_type=np.float64)
    )(x)
    assert y.shape == (2, 2) and y.dtype == np.float64
    with pytest.raises(ValueError, match=r"\(Bernoulli\): attribute 'dtype': expected one of"):
        load(node_model("Bernoulli", {"p": np.zeros(2)}, {"dtype": 3}, opset=22))
    with pytest.raises(
        ValueError, match=r"\(Multinomial\): attribute 'sample_size': expected >= 1"
    ):
        load(node_model("Multinomial", {"x": np.zeros((1, 2))}, {"sample_size": 0}, opset=22))


def test_saved_as_read_and_run_by_onnxruntime(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("RandomNormalLike", ["x"], ["n"], scale=0.5, seed=2.0),
            helper.make_node("Add", ["x", "n"], ["y"]),
            helper.make_node("Sigmoid", ["x"], ["p"]),
            helper.make_node("Bernoulli", ["p"], ["b"]),
            helper.make_node("RandomUniform", [], ["u"], shape=[3, 2], low=1.0, high=2.0),
        ],
        "g",
        [helper.make_tensor_value_info("x", 1, ["batch", 6])],
        [helper.make_tensor_value_info(n, 1, None) for n in ("y", "b", "u")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    loaded = load(model.SerializeToString())
    path = tmp_path / "random.onnx"
    save(loaded, path, x)
    written = onnx.load(str(path))
    assert {"RandomNormalLike", "Bernoulli", "RandomUniform"} <= {
        n.op_type for n in written.graph.node
    }
    theirs = ort_run_all(path.read_bytes(), {written.graph.input[0].name: x})
    ours = loaded(x)
    assert [(a.shape, a.dtype) for a in theirs] == [(a.shape, a.dtype) for a in ours]
    again = load(path)(x)
    assert [(a.shape, a.dtype) for a in again] == [(a.shape, a.dtype) for a in ours]
    # the seed was written back: the file read again draws the same first noise as a fresh load
    np.testing.assert_array_equal(again[0], load(model.SerializeToString())(x)[0])


def ort_run_all(data, feeds):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_an_input_less_op_next_to_an_integer_first_input_trains():
    """RandomNormal reads the graph's first input (here int64) only to be drawn at each call:
    that input gets a zero gradient, x the one of y = x + noise (∂y/∂x = 1)."""
    graph = helper.make_graph(
        [
            helper.make_node("RandomNormal", [], ["r"], shape=[3]),
            helper.make_node("Add", ["x", "r"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("n", 7, [2]), helper.make_tensor_value_info("x", 1, [3])],
        [helper.make_tensor_value_info("y", 1, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    loaded = load(model.SerializeToString()).train()
    n, x = np.array([1, 2]), np.arange(3, dtype=np.float32)
    y1, y2 = loaded(n, x), loaded(n, x)
    assert not np.array_equal(y1, y2)
    G = np.array([0.5, -1.0, 2.0], np.float32)
    gn, gx = loaded.backward(G)
    np.testing.assert_array_equal(gn, np.zeros(2, np.int64))
    np.testing.assert_array_equal(gx, G)
