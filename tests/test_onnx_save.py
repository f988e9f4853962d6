"""cnnmath.onnx.save: the written file passes ONNX's full checker and onnxruntime (an outside
implementation of every op) computes what cnnmath computes, for each model and each layer."""

import os
import sys

import numpy as np
import pytest

from cnnmath import models, nn
from cnnmath.onnx.save import MIN_OPSET, save

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

RTOL = 1e-4  # float32, relative to the output's scale (the bound)


def rel_error(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = np.abs(want).max(initial=0.0)
    diff = np.abs(got - want).max(initial=0.0)
    return diff if scale == 0 else diff / scale


def run_ort(path, *xs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), xs, strict=True)}
    (y,) = session.run(None, feeds)
    return y


def randomise_statistics(model, rng):
    """BatchNorm's γ, β and running statistics drawn at random, so eval mode is exercised."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            C = m.num_features
            m.weight.data[...] = rng.uniform(0.5, 1.5, C)
            m.bias.data[...] = rng.normal(0, 0.1, C)
            m.running_mean[...] = rng.normal(0, 0.1, C)
            m.running_var[...] = rng.uniform(0.5, 2.0, C)
    return model


def check_against_ort(model, x, tmp_path, opset=17, batch_too=True):
    path = tmp_path / "model.onnx"
    save(model, path, x, opset=opset)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    model.eval()
    assert rel_error(run_ort(path, x), model(x)) <= RTOL
    if batch_too:  # axis 0 is symbolic: another batch size runs too
        x3 = np.concatenate([x, x[:1] * 0.5, -x[:1]])[:3]
        assert rel_error(run_ort(path, x3), model(x3)) <= RTOL
    return proto


# -- the models ------------------------------------------------------------------------------

MODELS = [
    ("lenet", lambda: models.lenet(0), (2, 1, 8, 8)),
    ("resnet20", lambda: models.resnet20(seed=1), (2, 3, 16, 16)),
    ("resnet18", lambda: models.resnet18(7, seed=2), (1, 3, 32, 32)),
    ("mobilenet_v2", lambda: models.mobilenet_v2(5, seed=3), (1, 3, 32, 32)),
]


@pytest.mark.parametrize("build, shape", [m[1:] for m in MODELS], ids=[m[0] for m in MODELS])
def test_models_run_in_onnxruntime_as_in_cnnmath(build, shape, tmp_path):
    rng = np.random.default_rng(0)
    model = randomise_statistics(build(), rng)
    state = model.state_dict()
    assert model.training
    x = rng.standard_normal(shape).astype(np.float32)
    save(model, tmp_path / "m.onnx", x)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    # the model comes back as it was: still training, its statistics not updated by the run
    assert model.training and all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(np.array_equal(after[k], v) for k, v in state.items())
    # every weight is an initializer under its state_dict key, holding the same numbers
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    weights = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert set(weights) <= set(inits)
    assert all(np.array_equal(inits[k], v) for k, v in weights.items())
    assert [i.name for i in proto.graph.input] == ["x"]
    check_against_ort(model, x, tmp_path)  # puts the model in eval mode
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == model(x).shape[1]


@pytest.mark.parametrize("build, shape", [m[1:] for m in MODELS], ids=[m[0] for m in MODELS])
def test_round_trip_through_cnnmath_onnx_load(build, shape, tmp_path):
    load = pytest.importorskip("cnnmath.onnx.load").load  # the import side's module
    rng = np.random.default_rng(6)
    model = randomise_statistics(build(), rng).eval()
    x = rng.standard_normal(shape).astype(np.float32)
    save(model, tmp_path / "m.onnx", x)
    loaded = load(tmp_path / "m.onnx")
    assert rel_error(loaded(x), model(x)) <= RTOL

    # every weight comes back, the same numbers (under names the import side chooses)
    def arrays(m):
        items = m.state_dict().items()
        return sorted((v.shape, v.tobytes()) for k, v in items if "num_batches" not in k)

    assert arrays(loaded) == arrays(model)
    assert loaded.num_parameters() == model.num_parameters()


# -- every layer ------------------------------------------------------------------------------


def _prelu(n):
    p = nn.PReLU(n)
    p.weight.data[...] = np.linspace(-0.5, 0.7, n)
    return p


def _norm(layer):
    rng = np.random.default_rng(5)
    for attr in ("weight", "bias"):
        p = getattr(layer, attr, None)
        if p is not None:
            p.data[...] = rng.normal(0.5, 0.5, p.shape)
    return layer


def _graph():
    g = nn.Graph()
    c = g.add(nn.Conv2d(4, 4, 1, rng=0), "x", name="conv")
    s = g.add(nn.Add(), c, "x", c)  # three inputs: Sum
    t = g.add(nn.Add(), s, "x")
    g.add(nn.ReLU(), "x", name="unused")  # a dead branch is left out
    g.set_output(g.add(nn.Concat(), t, "x"))
    return g


def _shared():
    conv = nn.Conv2d(4, 4, 3, padding=1, rng=0)
    return nn.Sequential(conv, nn.ReLU(), conv)


LAYERS = [
    ("conv", lambda: nn.Conv2d(4, 6, 3, stride=2, padding=2, groups=2, rng=0), (2, 4, 9, 9)),
    (
        "conv_same",
        lambda: nn.Conv2d(4, 6, (3, 2), padding="same", dilation=(1, 3), rng=0),
        (2, 4, 9, 9),
    ),
    ("conv_nobias", lambda: nn.Conv2d(4, 4, 3, groups=4, bias=False, rng=0), (2, 4, 9, 9)),
    (
        "conv_transpose",
        lambda: nn.ConvTranspose2d(4, 6, 3, 2, 1, 1, groups=2, dilation=2, rng=0),
        (2, 4, 5, 5),
    ),
    ("linear", lambda: nn.Linear(9, 5, rng=0), (2, 4, 9)),
    ("linear_nobias", lambda: nn.Linear(9, 5, bias=False, rng=0), (2, 4, 9)),
    ("linear_2d", lambda: nn.Linear(9, 5, rng=0), (3, 9)),
    (
        "batchnorm1d",
        lambda: randomise_statistics(nn.Sequential(nn.BatchNorm1d(9)), np.random.default_rng(1)),
        (3, 9),
    ),
    (
        "batchnorm1d_3d",
        lambda: randomise_statistics(nn.Sequential(nn.BatchNorm1d(4)), np.random.default_rng(1)),
        (3, 4, 9),
    ),
    ("batchnorm_noaffine", lambda: nn.BatchNorm2d(4, affine=False), (2, 4, 5, 5)),
    ("layernorm", lambda: _norm(nn.LayerNorm((9, 9))), (2, 4, 9, 9)),
    ("layernorm_plain", lambda: nn.LayerNorm(9, elementwise_affine=False), (2, 4, 9, 9)),
    ("groupnorm", lambda: _norm(nn.GroupNorm(2, 4)), (2, 4, 9, 9)),
    ("groupnorm_nobias", lambda: _norm(nn.GroupNorm(4, 4, bias=False)), (2, 4, 9, 9)),
    ("groupnorm_plain", lambda: nn.GroupNorm(2, 4, affine=False), (2, 4, 9, 9)),
    ("maxpool", lambda: nn.MaxPool2d(3, 2, 1), (2, 4, 9, 9)),
    (
        "maxpool_dilated_ceil",
        lambda: nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
        (2, 4, 9, 9),
    ),
    # ceil mode whose last window would start in the right padding: PyTorch drops it
    ("maxpool_ceil_dropped", lambda: nn.MaxPool2d(2, 2, 1, ceil_mode=True), (2, 4, 5, 5)),
    ("maxpool_ceil", lambda: nn.MaxPool2d((2, 3), (2, 1), ceil_mode=True), (2, 4, 9, 8)),
    ("avgpool", lambda: nn.AvgPool2d(3, 2, 1), (2, 4, 9, 9)),
    ("avgpool_exclude_pad", lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 4, 9, 9)),
    ("avgpool_ceil", lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True), (2, 4, 8, 8)),
    ("avgpool_ceil_dropped", lambda: nn.AvgPool2d(2, 2, 1, ceil_mode=True), (2, 4, 5, 5)),
    (
        "avgpool_ceil_exclude",
        lambda: nn.AvgPool2d(2, 2, 1, ceil_mode=True, count_include_pad=False),
        (2, 4, 5, 5),
    ),
    ("avgpool_divisor", lambda: nn.AvgPool2d(3, 2, 1, divisor_override=5), (2, 4, 9, 9)),
    ("adaptive_avg_1", lambda: nn.AdaptiveAvgPool2d(1), (2, 4, 7, 5)),
    ("adaptive_avg_3", lambda: nn.AdaptiveAvgPool2d(3), (2, 4, 9, 6)),
    ("adaptive_max_1", lambda: nn.AdaptiveMaxPool2d((1, 1)), (2, 4, 7, 5)),
    ("adaptive_max_none", lambda: nn.AdaptiveMaxPool2d((3, None)), (2, 4, 9, 5)),
    ("flatten", lambda: nn.Flatten(), (2, 4, 3, 3)),
    ("flatten_2", lambda: nn.Flatten(2), (2, 4, 3, 5)),
    ("flatten_1_2", lambda: nn.Flatten(1, 2), (2, 4, 3, 5)),
    (
        "dropout_identity",
        lambda: nn.Sequential(nn.Dropout(0.5, rng=0), nn.Identity()),
        (2, 4, 3, 3),
    ),
    ("upsample_2", lambda: nn.Upsample(scale_factor=2), (2, 4, 3, 5)),
    ("upsample_1.5", lambda: nn.Upsample(scale_factor=(1.5, 2.5)), (2, 4, 4, 6)),
    ("upsample_size", lambda: nn.Upsample(size=(7, 23)), (2, 4, 3, 9)),
    ("shortcut_a", lambda: models.resnet.ShortcutA(2), (2, 4, 5, 6)),
    ("graph", _graph, (2, 4, 5, 5)),
    ("shared_conv", _shared, (2, 4, 5, 5)),
    ("identity_graph", lambda: (lambda g: (g.set_output("x"), g)[1])(nn.Graph()), (2, 3)),
    ("prelu", lambda: _prelu(4), (2, 4, 3, 3)),
    ("prelu_one", lambda: _prelu(1), (2, 4, 3, 3)),
    ("prelu_2d", lambda: _prelu(5), (3, 5)),
    ("relu6", lambda: nn.ReLU6(), (2, 4, 3, 3)),
    ("leaky", lambda: nn.LeakyReLU(0.2), (2, 4, 3, 3)),
    ("elu", lambda: nn.ELU(0.5), (2, 4, 3, 3)),
    ("celu", lambda: nn.CELU(2.0), (2, 4, 3, 3)),
    ("softplus", lambda: nn.Softplus(), (2, 4, 3, 3)),
    ("softplus_beta", lambda: nn.Softplus(beta=2.0, threshold=3.0), (2, 4, 3, 3)),
    ("gelu_tanh", lambda: nn.GELU("tanh"), (2, 4, 3, 3)),
    ("pixel_shuffle", lambda: nn.PixelShuffle(2), (2, 8, 3, 5)),
    ("pixel_shuffle_5d", lambda: nn.PixelShuffle(2), (2, 3, 8, 2, 3)),
    ("pixel_unshuffle", lambda: nn.PixelUnshuffle(2), (2, 3, 4, 6)),
    ("pixel_unshuffle_5d", lambda: nn.PixelUnshuffle(3), (2, 2, 1, 3, 6)),
    # an axis that keeps its length (⌊3·1.3⌋ = 3) is copied, by PyTorch and by the file
    ("bilinear_keeps_rows", lambda: nn.Upsample(scale_factor=1.3, mode="bilinear"), (2, 4, 3, 4)),
    ("bilinear_keeps_both", lambda: nn.Upsample(scale_factor=1.1, mode="bilinear"), (2, 4, 4, 4)),
    # bicubic resamples such an axis by 1/1.3 (PyTorch), and so does the file's Resize
    (
        "bicubic_keeps_rows",
        lambda: nn.Upsample(scale_factor=(1.3, 2.0), mode="bicubic"),
        (2, 4, 3, 4),
    ),
    # recompute_scale_factor: the coordinates come from the sizes, and so do the file's
    (
        "bilinear_recomputed",
        lambda: nn.Upsample(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
        (2, 4, 5, 7),
    ),
    (
        "bicubic_recomputed",
        lambda: nn.Upsample(scale_factor=1.7, mode="bicubic", recompute_scale_factor=True),
        (2, 4, 5, 7),
    ),
    ("softmax_channels", lambda: nn.Softmax(dim=1), (2, 4, 3, 3)),
    ("softmax_implicit", lambda: nn.Softmax(), (2, 4, 3, 3)),
    ("log_softmax_last", lambda: nn.LogSoftmax(dim=-1), (2, 4, 3, 5)),
    ("dropout2d", lambda: nn.Sequential(nn.Dropout2d(0.5, rng=0), nn.ReLU()), (2, 4, 3, 3)),
    ("hardtanh_wide", lambda: nn.Hardtanh(-2, 3), (2, 4, 3, 3)),
    ("glu", lambda: nn.GLU(), (2, 4, 3, 6)),
    ("glu_channels", lambda: nn.GLU(dim=1), (2, 4, 3, 3)),
] + [(name, cls, (2, 4, 3, 3)) for name, cls in nn.ACTIVATION_LAYERS.items()]


# -- an empty model ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build", [nn.Sequential, lambda: nn.Sequential(nn.Sequential())], ids=["empty", "nested"]
)
def test_an_empty_sequential_saves_as_the_identity(build, tmp_path):
    model = build()
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 5)).astype(np.float32)
    proto = check_against_ort(model, x, tmp_path)
    assert [n.op_type for n in proto.graph.node] == ["Identity"]
    np.testing.assert_array_equal(run_ort(tmp_path / "model.onnx", x), x)
    load = pytest.importorskip("cnnmath.onnx.load").load
    np.testing.assert_array_equal(load(tmp_path / "model.onnx")(x), x)


# -- read back by cnnmath's own loader: forward and backward -------------------------------------


def _sum_graph():
    g = nn.Graph()
    g.set_output(g.add(nn.Add(), "x", "x", "x"))  # three inputs: Sum
    return g


# (id, the model, an ONNX op its file holds, the layer the loader makes of it or None)
ROUND_TRIPS = [
    ("layer_norm", lambda: _norm(nn.LayerNorm((4, 3, 3))), "LayerNormalization", nn.LayerNorm),
    ("layer_norm_last_axis", lambda: _norm(nn.LayerNorm(3)), "LayerNormalization", nn.LayerNorm),
    (
        "layer_norm_plain",
        lambda: nn.LayerNorm((3, 3), elementwise_affine=False),
        "LayerNormalization",
        nn.LayerNorm,
    ),
    ("group_norm", lambda: _norm(nn.GroupNorm(2, 4)), "InstanceNormalization", nn.GroupNorm),
    (
        "group_norm_nobias",
        lambda: _norm(nn.GroupNorm(4, 4, bias=False)),
        "InstanceNormalization",
        nn.GroupNorm,
    ),
    ("upsample", lambda: nn.Upsample(scale_factor=2), "Resize", nn.Upsample),
    ("upsample_3", lambda: nn.Upsample(scale_factor=3), "Resize", None),
    ("upsample_1.5", lambda: nn.Upsample(scale_factor=(1.5, 2.5)), "Resize", None),
    ("upsample_size", lambda: nn.Upsample(size=(7, 23)), "Resize", None),
    ("softplus", lambda: nn.Softplus(), "Greater", None),
    ("softplus_beta", lambda: nn.Softplus(beta=2.0, threshold=3.0), "Where", None),
    ("add_three", _sum_graph, "Sum", None),  # the batch axis is symbolic: no nn.Add
    (
        "pixel_shuffle",
        lambda: nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, rng=0), nn.PixelShuffle(2)),
        "DepthToSpace",
        nn.PixelShuffle,
    ),
    (  # opset 17: SpaceToDepth has no channel order of PyTorch's yet
        "pixel_unshuffle",
        lambda: nn.Sequential(nn.Conv2d(4, 2, 3, padding=1, rng=0), nn.PixelUnshuffle(3)),
        "Transpose",
        None,
    ),
]


@pytest.mark.parametrize(
    "build, op, layer", [c[1:] for c in ROUND_TRIPS], ids=[c[0] for c in ROUND_TRIPS]
)
def test_layers_read_back_by_cnnmath_onnx_load_run_and_train_as_the_original(
    build, op, layer, tmp_path
):
    """save, then cnnmath's own load: the same output as the model and as onnxruntime (float32),
    and, in float64, the same input gradient and the same gradient of every parameter the
    model has (found by its state_dict key through ``initializer_names``)."""
    load = pytest.importorskip("cnnmath.onnx.load").load
    rng = np.random.default_rng(3)
    x = (4 * rng.standard_normal((2, 4, 3, 3))).astype(np.float32)  # Softplus' threshold crossed
    model = _as_model(build())
    proto = check_against_ort(model, x, tmp_path, batch_too=False)
    assert op in {n.op_type for n in proto.graph.node}
    loaded = load(tmp_path / "model.onnx")
    if layer is not None:
        assert layer in {type(n.module) for n in loaded.walk()}
    assert rel_error(loaded(x), model(x)) <= RTOL
    assert rel_error(loaded(x), run_ort(tmp_path / "model.onnx", x)) <= RTOL

    model = model.to(np.float64)
    x64 = x.astype(np.float64)
    save(model, tmp_path / "model64.onnx", x64)
    loaded = load(tmp_path / "model64.onnx")
    x3 = np.concatenate([x64, -x64[:1]])  # the batch axis is symbolic: three images run too
    assert rel_error(loaded(x3), model(x3)) <= 1e-12
    G = rng.standard_normal(model(x3).shape)
    model.zero_grad()
    loaded.zero_grad()
    model(x3)
    want = model.backward(G)
    loaded(x3)
    assert rel_error(loaded.backward(G), want) <= 1e-10
    params = dict(loaded.named_parameters())
    for key, p in model.named_parameters():
        got = params[loaded.initializer_names[key]].grad
        assert rel_error(got.reshape(p.shape), p.grad) <= 1e-10, key


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(scale_factor=0.6),
        dict(scale_factor=49),
        dict(scale_factor=1.5),
        dict(scale_factor=(2, 3)),
        dict(scale_factor=2.5),
        dict(scale_factor=0.7),
        dict(size=(7, 11)),
        dict(size=(3, 2)),
    ],
    ids=str,
)
def test_upsample_round_trips_exactly_through_load_and_onnxruntime(kwargs, tmp_path):
    """Regression: Upsample(scale_factor=0.6) on 9 rows read row 4 where a Resize of the
    float32 factor reads row 5 (and 49 read row 0 at output row 49), so the saved file
    computed something else than the layer. Every factor and size: the file's output in
    onnxruntime and through load is the layer's, bit for bit."""
    load = pytest.importorskip("cnnmath.onnx.load").load
    rng = np.random.default_rng(5)
    for H in (4, 5, 9, 10):
        layer = nn.Upsample(**kwargs)
        x = rng.standard_normal((1, 2, H, 6)).astype(np.float32)
        want = layer(x)
        save(nn.Sequential(layer), tmp_path / "u.onnx", x)
        got = load(tmp_path / "u.onnx")(x)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(run_ort(tmp_path / "u.onnx", x), want)


@pytest.mark.parametrize(
    "build",
    [
        lambda: nn.GroupNorm(2, 4),
        lambda: nn.GroupNorm(4, 4, affine=False),
        lambda: nn.LayerNorm((3, 3), elementwise_affine=False),
        lambda: nn.LayerNorm(3),
    ],
    ids=["group_norm", "group_norm_fixed", "layer_norm_fixed", "layer_norm"],
)
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-10)])
def test_a_round_trip_has_the_originals_parameters_and_trains_as_it_does(
    build, dtype, tol, tmp_path
):
    """Regression: GroupNorm's fixed InstanceNormalization ones/zeros and LayerNorm's
    fixed ones were written as initializers and came back as trainable parameters, which
    SGD then moved. Written as Constant nodes, the loaded model has exactly the original's
    parameters (count and state_dict keys) and, after SGD steps side by side, the same
    outputs."""
    from cnnmath import optim

    load = pytest.importorskip("cnnmath.onnx.load").load
    rng = np.random.default_rng(7)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, rng=0), build()).to(dtype)
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    x = rng.standard_normal((2, 2, 3, 3)).astype(dtype)
    save(model, tmp_path / "m.onnx", x)
    loaded = load(tmp_path / "m.onnx")
    assert loaded.num_parameters() == model.num_parameters()
    assert sorted(loaded.initializer_names) == sorted(k for k, _ in model.named_parameters())
    params = dict(loaded.named_parameters())
    assert sorted(params) == sorted(
        loaded.initializer_names[k] for k, _ in model.named_parameters()
    )
    G = rng.standard_normal(model(x).shape).astype(dtype)
    steps = [(model, optim.SGD(model.parameters(), lr=0.1))]
    steps.append((loaded, optim.SGD(loaded.parameters(), lr=0.1)))
    for _ in range(3):
        for m, opt in steps:
            m.train()
            m.zero_grad()
            m(x)
            m.backward(G)
            opt.step()
    model.eval()
    loaded.eval()
    assert rel_error(loaded(x), model(x)) <= tol


def _as_model(layer):
    return layer if isinstance(layer, (nn.Sequential, nn.Graph)) else nn.Sequential(layer)


@pytest.mark.parametrize("build, shape", [c[1:] for c in LAYERS], ids=[c[0] for c in LAYERS])
def test_each_layer_runs_in_onnxruntime_as_in_cnnmath(build, shape, tmp_path):
    # inputs up to ±8: the activations' curved parts and Softplus' threshold are both crossed
    x = (4 * np.random.default_rng(1).standard_normal(shape)).astype(np.float32)
    check_against_ort(_as_model(build()), x, tmp_path)


@pytest.mark.parametrize("build, shape", [c[1:] for c in LAYERS], ids=[c[0] for c in LAYERS])
def test_each_layer_reads_back_through_cnnmath_onnx_load(build, shape, tmp_path):
    """save's docstring says cnnmath's own loader reads every file back: each layer's file
    loads and computes what the layer computes."""
    load = pytest.importorskip("cnnmath.onnx.load").load
    x = (4 * np.random.default_rng(1).standard_normal(shape)).astype(np.float32)
    model = _as_model(build()).eval()
    save(model, tmp_path / "m.onnx", x)
    assert rel_error(load(tmp_path / "m.onnx")(x), model(x)) <= RTOL


@pytest.mark.parametrize(
    "layer", [nn.GELU(), nn.GELU("tanh"), nn.Mish()], ids=["gelu", "gelu_tanh", "mish"]
)
def test_newer_opsets_write_the_native_ops(layer, tmp_path):
    x = (4 * np.random.default_rng(2).standard_normal((2, 3, 4))).astype(np.float32)
    proto = check_against_ort(nn.Sequential(layer), x, tmp_path, opset=20)
    assert {n.op_type for n in proto.graph.node} == {"Gelu" if "GELU" in repr(layer) else "Mish"}
    old = check_against_ort(nn.Sequential(layer), x, tmp_path, opset=17)
    assert {"Gelu", "Mish"}.isdisjoint(n.op_type for n in old.graph.node)


def test_glu_over_the_batch_axis_is_refused(tmp_path):
    """The batch axis is symbolic in the file: a GLU that halves it has no fixed Slice."""
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"node '0' \(GLU\): dim: expected an axis other than"):
        save(nn.Sequential(nn.GLU(dim=0)), tmp_path / "m.onnx", x)
    assert not (tmp_path / "m.onnx").exists()


def test_pixel_unshuffle_is_space_to_depth_from_opset_28(tmp_path):
    """SpaceToDepth gained PyTorch's channel order (mode "CRD") in opset 28: from there the
    layer is that one node, which onnxruntime runs and load reads back as the layer."""
    load = pytest.importorskip("cnnmath.onnx.load").load
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 6)).astype(np.float32)
    model = nn.Sequential(nn.PixelUnshuffle(2))
    proto = check_against_ort(model, x, tmp_path, opset=28)
    (node,) = proto.graph.node
    assert node.op_type == "SpaceToDepth"
    assert {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute} == {
        "blocksize": 2,
        "mode": b"CRD",
    }
    loaded = load(tmp_path / "model.onnx")
    assert [type(n.module) for n in loaded.walk()] == [nn.PixelUnshuffle]
    np.testing.assert_array_equal(loaded(x), run_ort(tmp_path / "model.onnx", x))


def test_float64_models_are_written_in_double(tmp_path):
    model = models.lenet(0, dtype=np.float64)
    x = np.random.default_rng(3).standard_normal((2, 1, 8, 8))
    save(model, tmp_path / "m.onnx", x)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    # onnx's own reference evaluator as the witness (onnxruntime's Conv is float32 only)
    from onnx.reference import ReferenceEvaluator

    (y,) = ReferenceEvaluator(proto).run(None, {"x": x})
    assert rel_error(y, model(x)) <= 1e-12


def test_two_input_graph(tmp_path):
    g = nn.Graph(inputs=("a", "b"))
    conv = g.add(nn.Conv2d(3, 3, 3, padding=1, rng=0), "a", name="conv")
    g.set_output(g.add(nn.Add(), conv, "b"))
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal((2, 3, 5, 5)).astype(np.float32) for _ in range(2))
    save(g, tmp_path / "g.onnx", (a, b))
    assert rel_error(run_ort(tmp_path / "g.onnx", a, b), g(a, b)) <= RTOL


# -- refusals ---------------------------------------------------------------------------------


class HandWritten(nn.Module):
    def forward(self, x):
        return 2 * x

    def backward(self, g):
        return 2 * g


class Doubler(nn.Module):
    def forward_ctx(self, x):
        return 2 * x, None

    def backward_ctx(self, ctx, g):
        return 2 * g


class ReLUWithATwist(nn.ReLU):
    def forward_ctx(self, x):
        return np.maximum(x, 1), x


X = np.zeros((2, 4, 6, 6), np.float32)
ERRORS = [
    (
        lambda: nn.Sequential(nn.ReLU(), HandWritten()),
        X,
        {},
        ValueError,
        r"node '1' is a hand-written module \(HandWritten",
    ),
    (
        lambda: nn.Sequential(Doubler()),
        X,
        {},
        ValueError,
        r"node '0' \(Doubler\) has no ONNX export; supported layers: .*Conv2d",
    ),
    (
        lambda: nn.Sequential(ReLUWithATwist()),
        X,
        {},
        ValueError,
        r"node '0' \(ReLUWithATwist\) has no ONNX export",
    ),
    (
        lambda: nn.BatchNorm2d(4, track_running_stats=False),
        X,
        {},
        ValueError,
        r"track_running_stats=False",
    ),
    (
        lambda: nn.AdaptiveAvgPool2d(4),
        X,
        {},
        ValueError,
        r"AdaptiveAvgPool2d\(4\)\) on a 6×6 input has cells of unequal sizes",
    ),
    (
        lambda: nn.AvgPool2d(2, ceil_mode=True, divisor_override=3),
        X,
        {},
        ValueError,
        r"divisor_override with ceil_mode",
    ),
    (lambda: nn.LayerNorm(6), X, {"opset": 16}, ValueError, r"LayerNorm .* needs opset 17"),
    (
        lambda: nn.ReLU(),
        X,
        {"opset": MIN_OPSET - 1},
        ValueError,
        r"opset: expected an int from 14 to \d+ .*, got 13",
    ),
    (lambda: nn.ReLU(), X, {"opset": 99}, ValueError, r"opset: expected an int from 14"),
    (lambda: nn.ReLU(), X, {"opset": True}, ValueError, r"opset: expected an int"),
    (
        lambda: nn.ReLU(),
        X.astype(np.int32),
        {},
        TypeError,
        r"example_input: expected a float32 or float64 numpy.ndarray for input 'x', got dtype int32",
    ),
    (
        lambda: nn.ReLU(),
        [[1.0]],
        {},
        TypeError,
        r"example_input: expected a float32 or float64 numpy.ndarray for input 'x', got list",
    ),
    (
        lambda: nn.ReLU(),
        np.zeros(3, np.float32),
        {},
        ValueError,
        r"expected a batch \(B, …\) with B ≥ 1 .* got shape \(3,\)",
    ),
    (
        lambda: nn.ReLU(),
        (X, X),
        {},
        ValueError,
        r"expected 1 array\(s\), one per model input \('x',\), got 2",
    ),
    (lambda: "not a model", X, {}, TypeError, r"model: expected a cnnmath.nn.Module, got str"),
    (
        lambda: nn.Sequential(nn.ReLU(), nn.CELU()),
        X.astype(np.float64),
        {},
        ValueError,
        r"node '1' \(CELU\): ONNX's Celu is defined for float32 only, got a float64 model",
    ),
]


@pytest.mark.parametrize("build, x, kwargs, exc, pattern", ERRORS)
def test_refusals_name_the_node_and_write_nothing(build, x, kwargs, exc, pattern, tmp_path):
    target = tmp_path / "m.onnx"
    with pytest.raises(exc, match=pattern):
        save(_as_model(build()) if not isinstance(build(), str) else build(), target, x, **kwargs)
    assert os.listdir(tmp_path) == []


def test_a_refused_save_leaves_an_existing_file_untouched(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="hand-written"):
        save(nn.Sequential(HandWritten()), target, X)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


def test_the_output_path_is_checked_before_any_work(tmp_path):
    # a model that cannot be exported: the path's error comes first
    with pytest.raises(FileNotFoundError, match=r"save: path: .*no_such_folder"):
        save(nn.Sequential(HandWritten()), tmp_path / "no_such_folder" / "m.onnx", X)
    with pytest.raises(IsADirectoryError, match=r"save: path: .* is a directory"):
        save(nn.ReLU(), tmp_path, X)


def test_a_file_over_protobufs_limit_is_refused(tmp_path, monkeypatch):
    module = sys.modules["cnnmath.onnx.save"]  # the package's `save` is the function
    monkeypatch.setattr(module, "_MAX_BYTES", 1000)
    with pytest.raises(ValueError, match=r"the ONNX file would take \d+ bytes; protobuf holds"):
        save(nn.Linear(20, 20, rng=0), tmp_path / "m.onnx", np.zeros((1, 20), np.float32))
    assert os.listdir(tmp_path) == []
    save(nn.Linear(5, 5, rng=0), tmp_path / "m.onnx", np.zeros((1, 5), np.float32))  # 100 floats


def test_missing_onnx_names_the_extra(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "onnx" or m.startswith("onnx.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "cnnmath\[onnx\]"'):
        save(nn.ReLU(), tmp_path / "m.onnx", X)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(scale_factor=2),
        dict(scale_factor=1.5),
        dict(scale_factor=(0.5, 2.5)),
        dict(size=(7, 11)),
        dict(size=1),
    ],
    ids=str,
)
def test_interpolating_upsample_round_trips_through_load_and_onnxruntime(
    kwargs, align_corners, mode, tmp_path
):
    """Upsample(mode="bilinear" / "bicubic") is written as a linear / cubic Resize:
    onnxruntime and load compute the layer's output (float32, to a few units of the last
    place: onnxruntime divides by the factor where the layer multiplies by its inverse), and
    a float64 file loads to the layer's output and gradient."""
    load = pytest.importorskip("cnnmath.onnx.load").load
    rng = np.random.default_rng(6)
    layer = nn.Upsample(**kwargs, mode=mode, align_corners=align_corners)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=0), layer)
    x = rng.standard_normal((2, 2, 6, 8)).astype(np.float32)
    want = model(x)
    save(model, tmp_path / "u.onnx", x)
    assert rel_error(run_ort(tmp_path / "u.onnx", x), want) <= 2e-6
    assert rel_error(load(tmp_path / "u.onnx")(x), want) <= 2e-6
    model64, x64 = model.to(np.float64), x.astype(np.float64)
    save(model64, tmp_path / "u64.onnx", x64)
    loaded = load(tmp_path / "u64.onnx")
    assert rel_error(loaded(x64), model64(x64)) <= 1e-12
    G = rng.standard_normal(want.shape)
    model64(x64)
    loaded(x64)
    assert rel_error(loaded.backward(G), model64.backward(G)) <= 1e-12


def test_bicubic_upsample_that_keeps_the_shape_is_refused(tmp_path):
    """Bicubic by 1.1 on 4×4 pixels keeps the shape but resamples (PyTorch's rule);
    onnxruntime copies a Resize to X's own shape, so nothing is written."""
    layer = nn.Upsample(scale_factor=1.1, mode="bicubic")
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4)).astype(np.float32)
    assert layer(x).shape == x.shape and not np.allclose(layer(x), x)
    with pytest.raises(
        ValueError,
        match=r"save: model: node '0' \(Upsample\): bicubic by scale_factor 1.1 keeps the "
        r"4×4 pixels and resamples them by 1/s; a Resize to X's own shape copies X",
    ):
        save(nn.Sequential(layer), tmp_path / "u.onnx", x)
    assert not (tmp_path / "u.onnx").exists()


def test_bilinear_upsample_whose_float32_size_differs_is_refused(tmp_path):
    """2.3 on 50 rows: the layer has ⌊114.99999999999999⌋ = 114 rows, onnxruntime's float32
    product rounds to 115: the file would compute another size, so nothing is written."""
    layer = nn.Upsample(scale_factor=2.3, mode="bilinear")
    x = np.zeros((1, 1, 50, 50), np.float32)
    assert layer(x).shape == (1, 1, 114, 114)
    with pytest.raises(
        ValueError,
        match=r"save: model: node '0' \(Upsample\): a Resize by scale_factor 2.3 gives "
        r"115×115 pixels .*the layer 114×114; give the layer size=\(114, 114\)",
    ):
        save(nn.Sequential(layer), tmp_path / "u.onnx", x)
    assert not (tmp_path / "u.onnx").exists()


def _antialiased_resize_like(align_corners=False):
    g = nn.Graph(("x", "like"))
    conv = g.add(nn.Conv2d(2, 3, 3, padding=1, rng=0), "x", name="conv")
    layer = nn.ResizeLike(align_corners=align_corners, antialias=True)
    g.set_output(g.add(layer, conv, "like", name="resize"))
    return g


def test_antialiased_resize_like_saves_as_resize_antialias_and_round_trips(tmp_path):
    """ResizeLike(antialias=True) — F.interpolate(antialias=True) to another input's size —
    is written as Resize(linear, antialias=1, exclude_outside=1): onnxruntime and load compute
    the layer's output, shrinking one axis by a non-integer factor and growing the other, at
    another batch size too, and a float64 file loads to the layer's output and gradient."""
    load = pytest.importorskip("cnnmath.onnx.load").load
    rng = np.random.default_rng(9)
    g = _antialiased_resize_like()
    x = rng.standard_normal((2, 2, 17, 6)).astype(np.float32)
    like = rng.standard_normal((2, 1, 5, 11)).astype(np.float32)
    path = tmp_path / "aa.onnx"
    save(g, path, (x, like), opset=18)
    (resize,) = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Resize"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in resize.attribute}
    assert attrs["antialias"] == 1 and attrs["exclude_outside"] == 1
    assert attrs["coordinate_transformation_mode"] == b"half_pixel"
    for batch in (2, 1):
        want = g(x[:batch], like[:batch])
        assert rel_error(run_ort(path, x[:batch], like[:batch]), want) <= 2e-6
        assert rel_error(load(path)(x[:batch], like[:batch]), want) <= 2e-6
    g64, x64, like64 = g.to(np.float64), x.astype(np.float64), like.astype(np.float64)
    save(g64, tmp_path / "aa64.onnx", (x64, like64), opset=18)
    loaded = load(tmp_path / "aa64.onnx")
    assert rel_error(loaded(x64, like64), g64(x64, like64)) <= 1e-12
    G = rng.standard_normal(g64(x64, like64).shape)
    loaded(x64, like64)
    assert rel_error(loaded.backward(G)[0], g64.backward(G)[0]) <= 1e-12


def test_antialiased_resize_like_refused_before_opset_18_and_with_align_corners(tmp_path):
    x = np.zeros((1, 2, 8, 8), np.float32)
    like = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(
        ValueError,
        match=r"save: opset: ResizeLike \(node 'resize'\) needs opset 18 or later \(Resize's "
        r"antialias\), got 17",
    ):
        save(_antialiased_resize_like(), tmp_path / "a.onnx", (x, like), opset=17)
    with pytest.raises(
        ValueError,
        match=r"save: model: node 'resize' \(ResizeLike\): antialias with align_corners .* no "
        r"coordinate_transformation_mode",
    ):
        save(_antialiased_resize_like(True), tmp_path / "a.onnx", (x, like), opset=18)
    assert os.listdir(tmp_path) == []
