"""nn.fold_batch_norm: each Conv2d → BatchNorm2d pair of a model folded into one Conv2d for
inference. Witnesses: PyTorch's own folding (``torch.nn.utils.fusion.fuse_conv_bn_eval``)
on torchvision's networks with the same weights, the unfolded model in evaluation, and the
cases where folding would change what the model computes (left alone)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import models, nn
from cnnmath.nn.module import Module
from helpers import rel_error
from torchvision_helper import import_torchvision


def _random_statistics(model, seed=1):
    """Running statistics and affine parameters far from BatchNorm's defaults (1, 0), so
    that a fold that forgot one of them shows."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.BatchNorm3d)):
            C = m.num_features
            if m.running_mean is not None:
                m.running_mean[...] = rng.standard_normal(C) * 0.2
                m.running_var[...] = rng.random(C) + 0.5
            if m.weight is not None:
                m.weight.data[...] = rng.random(C) + 0.5
            if m.bias is not None:
                m.bias.data[...] = rng.standard_normal(C) * 0.2
    return model


def _count(model, cls):
    return sum(type(m) is cls for m in model.modules())


def _pairs(model):
    """(conv path, batch-norm path) for each BatchNorm2d reading a Conv2d's output."""
    nodes = list(model.walk())
    by_output = {n.output: n for n in nodes}
    return [
        (by_output[n.inputs[0]].name, n.name)
        for n in nodes
        if type(n.module) is nn.BatchNorm2d
        and n.inputs[0] in by_output
        and type(by_output[n.inputs[0]].module) is nn.Conv2d
    ]


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_folded_filters_are_pytorchs_fuse_conv_bn_eval(name):
    torch = pytest.importorskip("torch")
    tv = import_torchvision()
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = _random_statistics(getattr(models, name)(seed=0)).eval()
    twin = getattr(tv.models, name)()
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    twin.eval()
    folded = nn.fold_batch_norm(model)
    folded_state = folded.state_dict()
    pairs = _pairs(model)
    assert len(pairs) == _count(model, nn.BatchNorm2d)  # every BatchNorm2d follows a conv
    for conv_path, bn_path in pairs:
        fused = fuse_conv_bn_eval(twin.get_submodule(conv_path), twin.get_submodule(bn_path))
        want_w = fused.weight.detach().numpy()
        want_b = fused.bias.detach().numpy()
        # PyTorch folds in float32, cnnmath in float64 rounded once: a few ulps apart
        np.testing.assert_allclose(
            folded_state[f"{conv_path}.weight"], want_w, rtol=2e-6, atol=1e-7
        )
        np.testing.assert_allclose(folded_state[f"{conv_path}.bias"], want_b, rtol=2e-6, atol=1e-6)
        assert not any(k.startswith(f"{bn_path}.") for k in folded_state)
    assert _count(folded, nn.BatchNorm2d) == 0
    x = np.random.default_rng(2).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
    assert rel_error(folded(x), want) < 1e-5
    assert rel_error(folded(x), model(x)) < 1e-5


@pytest.mark.parametrize("rank", [1, 3])
def test_conv1d_and_conv3d_pairs_fold_as_pytorchs_fuse_conv_bn_eval(rank):
    """Conv1d → BatchNorm1d and Conv3d → BatchNorm3d (grouped and strided without a bias,
    then with one): PyTorch's folded filters and biases, and the unfolded model's outputs."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    Conv, Norm = (nn.Conv1d, nn.BatchNorm1d) if rank == 1 else (nn.Conv3d, nn.BatchNorm3d)
    model = nn.Sequential(
        Conv(4, 6, 3, stride=2, groups=2, bias=False, rng=0),
        Norm(6),
        nn.ReLU(),
        Conv(6, 5, 3, padding=1, rng=1),
        Norm(5),
    )
    _random_statistics(model).eval()
    tConv, tNorm = (
        (torch.nn.Conv1d, torch.nn.BatchNorm1d)
        if rank == 1
        else (torch.nn.Conv3d, torch.nn.BatchNorm3d)
    )
    twin = torch.nn.Sequential(
        tConv(4, 6, 3, stride=2, groups=2, bias=False),
        tNorm(6),
        torch.nn.ReLU(),
        tConv(6, 5, 3, padding=1),
        tNorm(5),
    )
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    twin.eval()
    folded = nn.fold_batch_norm(model)
    assert [type(m).__name__ for m in folded] == [Conv.__name__, "Identity", "ReLU"] + [
        Conv.__name__,
        "Identity",
    ]
    state = folded.state_dict()
    assert list(state) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    for k in (0, 3):
        fused = fuse_conv_bn_eval(twin[k], twin[k + 1])
        np.testing.assert_allclose(
            state[f"{k}.weight"], fused.weight.detach().numpy(), rtol=2e-6, atol=1e-7
        )
        np.testing.assert_allclose(
            state[f"{k}.bias"], fused.bias.detach().numpy(), rtol=2e-6, atol=1e-6
        )
    x = np.random.default_rng(6).standard_normal((2, 4) + (9,) * rank).astype(np.float32)
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
    assert rel_error(folded(x), want) < 1e-5
    assert rel_error(folded(x), model(x)) < 1e-6


def test_video_networks_fold_their_subclassed_convolutions():
    """r3d_18's Conv3DSimple and r2plus1d_18's middle convolutions only change Conv3d's
    constructor: every BatchNorm3d that follows one folds, and the outputs stay."""
    for name in ("r3d_18", "mc3_18"):
        model = _random_statistics(getattr(models, name)(num_classes=5, seed=0)).eval()
        folded = nn.fold_batch_norm(model)
        assert _count(model, nn.BatchNorm3d) == 20 and _count(folded, nn.BatchNorm3d) == 0
        x = np.random.default_rng(7).standard_normal((1, 3, 4, 32, 32)).astype(np.float32)
        assert rel_error(folded(x), model(x)) < 1e-5


def test_a_conv_subclass_that_computes_otherwise_is_not_folded():
    class Doubled(nn.Conv2d):
        def forward_ctx(self, x):
            y, ctx = super().forward_ctx(x)
            return 2 * y, ctx

    model = nn.Sequential(Doubled(2, 3, 3, rng=0), nn.BatchNorm2d(3))
    _random_statistics(model).eval()
    folded = nn.fold_batch_norm(model)
    assert type(folded[1]) is nn.BatchNorm2d
    x = np.random.default_rng(8).standard_normal((2, 2, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(folded(x), model(x))


def test_float64_folding_matches_the_unfolded_model_to_rounding():
    model = _random_statistics(models.resnet18(seed=0, dtype=np.float64)).eval()
    x = np.random.default_rng(3).standard_normal((1, 3, 48, 48))
    folded = nn.fold_batch_norm(model)
    assert folded.conv1.weight.dtype == np.float64
    assert rel_error(folded(x), model(x)) < 1e-13


def test_the_model_itself_is_left_as_it_was():
    model = _random_statistics(models.resnet18(seed=0)).train()
    x = np.random.default_rng(4).standard_normal((2, 3, 32, 32)).astype(np.float32)
    model(x)  # a kept context, and one training step's statistics
    before = {k: v.copy() for k, v in model.state_dict().items()}
    context = model._last_ctx
    folded = nn.fold_batch_norm(model)
    assert model.training and not folded.training
    assert model._last_ctx is context and folded._last_ctx is None
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])
    assert _count(model, nn.BatchNorm2d) == 20 and _count(folded, nn.BatchNorm2d) == 0
    assert folded.conv1.weight.data is not model.conv1.weight.data


def test_a_conv_without_bias_gains_one_and_a_grouped_conv_folds_per_output_channel():
    model = nn.Sequential(
        nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False, rng=0),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, stride=2, groups=6, rng=1),  # depthwise, with a bias
        nn.BatchNorm2d(6),
    )
    _random_statistics(model).eval()
    folded = nn.fold_batch_norm(model)
    assert [type(m).__name__ for m in folded] == [
        "Conv2d",
        "Identity",
        "ReLU",
        "Conv2d",
        "Identity",
    ]
    assert model[0].bias is None and folded[0].bias is not None
    assert list(folded.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    # the fold by hand: s = γ/√(σ² + ε), w' = s w, b' = s (b − μ) + β
    bn, conv = model[4], model[3]
    s = bn.weight.data / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(
        folded[3].weight.data, conv.weight.data * s[:, None, None, None], rtol=1e-6
    )
    np.testing.assert_allclose(
        folded[3].bias.data,
        s * (conv.bias.data - bn.running_mean) + bn.bias.data,
        rtol=1e-6,
        atol=1e-7,
    )
    x = np.random.default_rng(5).standard_normal((3, 4, 9, 9)).astype(np.float32)
    assert rel_error(folded(x), model(x)) < 1e-6


def _graph_conv_read_twice():
    g = nn.Graph()
    g.add(nn.Conv2d(3, 3, 3, padding=1, rng=0), "x", name="conv")
    g.add(nn.BatchNorm2d(3), "conv", name="bn")
    g.set_output(g.add(nn.Add(), "bn", "conv"))  # the conv's own output is read again
    return g


def _graph_conv_is_output():
    g = nn.Graph()
    g.add(nn.Conv2d(3, 3, 3, padding=1, rng=0), "x", name="conv")
    g.add(nn.BatchNorm2d(3), "conv", name="bn")  # a dead branch
    g.set_output("conv")
    return g


def _shared_conv():
    conv = nn.Conv2d(3, 3, 3, padding=1, rng=0)
    return nn.Sequential(conv, nn.BatchNorm2d(3), conv)  # one filter used twice


def _shared_bn():
    bn = nn.BatchNorm2d(3)
    return nn.Sequential(nn.Conv2d(3, 3, 3, padding=1, rng=0), bn, bn)


def _passes_through():
    # an empty Sequential as the skip branch: walk has no node for it, so the Add reads a
    # value no node writes (the conv's own output)
    g = nn.Graph()
    g.add(nn.Conv2d(3, 3, 3, padding=1, rng=0), "x", name="conv")
    g.add(nn.BatchNorm2d(3), "conv", name="bn")
    g.add(nn.Sequential(), "conv", name="skip")
    g.set_output(g.add(nn.Add(), "bn", "skip"))
    return g


def _output_through_empty_sequential():
    g = nn.Graph()
    g.add(nn.Conv2d(3, 3, 3, padding=1, rng=0), "x", name="conv")
    g.add(nn.BatchNorm2d(3), "conv", name="bn")  # a dead branch
    g.set_output(g.add(nn.Sequential(), "conv", name="out"))
    return g


def _inner_output_not_last():
    # a Graph whose output is not its last node, inside a Sequential: the model's output is
    # the conv's value, though the walk's last node is the BN's reader
    g = nn.Graph()
    g.add(nn.Conv2d(3, 3, 3, padding=1, rng=0), "x", name="conv")
    g.add(nn.BatchNorm2d(3), "conv", name="bn")
    g.add(nn.ReLU(), "bn", name="aux")
    g.set_output("conv")
    return nn.Sequential(g)


class _HandWritten(Module):
    """A hand-written module applying a layer it shares with the rest of the model."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def _bn_also_inside_hand_written():
    bn = nn.BatchNorm2d(3)
    return nn.Sequential(nn.Conv2d(3, 3, 1, rng=0), bn, nn.ReLU(), _HandWritten(bn))


def _conv_also_inside_hand_written():
    conv = nn.Conv2d(3, 3, 1, rng=0)
    return nn.Sequential(conv, nn.BatchNorm2d(3), nn.ReLU(), _HandWritten(conv))


class _FrozenBatchNorm2d(nn.BatchNorm2d):
    """A subclass computes what it likes: here the identity."""

    def forward_ctx(self, x):
        return x, x


LEFT_ALONE = [
    ("passes_through", _passes_through),
    ("output_through_empty_sequential", _output_through_empty_sequential),
    ("inner_output_not_last", _inner_output_not_last),
    ("bn_also_inside_hand_written", _bn_also_inside_hand_written),
    ("conv_also_inside_hand_written", _conv_also_inside_hand_written),
    (
        "batch_norm_subclass",
        lambda: nn.Sequential(nn.Conv2d(3, 3, 3, rng=0), _FrozenBatchNorm2d(3)),
    ),
    ("conv_read_twice", _graph_conv_read_twice),
    ("conv_is_the_output", _graph_conv_is_output),
    ("shared_conv", _shared_conv),
    ("shared_bn", _shared_bn),
    (
        "batch_statistics",
        lambda: nn.Sequential(
            nn.Conv2d(3, 3, 3, rng=0), nn.BatchNorm2d(3, track_running_stats=False)
        ),
    ),
    (
        "relu_between",
        lambda: nn.Sequential(nn.Conv2d(3, 3, 3, rng=0), nn.ReLU(), nn.BatchNorm2d(3)),
    ),
    (
        "transposed",
        lambda: nn.Sequential(nn.ConvTranspose2d(3, 3, 2, stride=2, rng=0), nn.BatchNorm2d(3)),
    ),
    (
        "linear_bn1d",
        lambda: nn.Sequential(nn.Flatten(), nn.Linear(27, 4, rng=0), nn.BatchNorm1d(4)),
    ),
]


@pytest.mark.parametrize("build", [c[1] for c in LEFT_ALONE], ids=[c[0] for c in LEFT_ALONE])
def test_pairs_whose_fold_would_change_the_model_are_left_alone(build):
    model = _random_statistics(build()).eval()
    folded = nn.fold_batch_norm(model)
    for cls in (nn.BatchNorm2d, nn.BatchNorm1d):
        assert _count(folded, cls) == _count(model, cls)
    assert folded.state_dict().keys() == model.state_dict().keys()
    x = np.random.default_rng(6).standard_normal((2, 3, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(folded(x), model(x))


def test_only_the_foldable_pair_of_a_graph_is_folded():
    g = _graph_conv_read_twice()
    g.add(nn.Conv2d(3, 2, 1, rng=1), g.output, name="head")
    g.set_output(g.add(nn.BatchNorm2d(2), "head", name="head_bn"))
    _random_statistics(g).eval()
    folded = nn.fold_batch_norm(g)
    assert type(folded.bn) is nn.BatchNorm2d and type(folded.head_bn) is nn.Identity
    assert [n.module for n in folded.walk()][-1] is folded.head_bn
    x = np.random.default_rng(7).standard_normal((2, 3, 5, 5)).astype(np.float32)
    assert rel_error(folded(x), g(x)) < 1e-6


@pytest.mark.parametrize("holder", ["list", "dict"])
def test_a_pair_held_in_a_module_list_or_dict_folds_and_leaves_the_state_dict(holder):
    """A Graph whose conv and BatchNorm are members of a ModuleList (ModuleDict): the
    normalisation is replaced in the container itself, so the folded model's state_dict
    loses its keys, as for a pair held in attributes; the outputs are the model's."""
    g = nn.Graph()
    conv, bn = nn.Conv2d(3, 4, 3, padding=1, rng=0), nn.BatchNorm2d(4)
    if holder == "list":
        g.blocks = nn.ModuleList([conv, bn])
        first, second = g.blocks[0], g.blocks[1]
    else:
        g.blocks = nn.ModuleDict({"conv": conv, "bn": bn})
        first, second = g.blocks["conv"], g.blocks["bn"]
    g.set_output(g.add(nn.ReLU(), g.add(second, g.add(first, "x")), name="relu"))
    _random_statistics(g).eval()
    folded = nn.fold_batch_norm(g)
    assert not any("running_mean" in key for key in folded.state_dict())
    assert any("running_mean" in key for key in g.state_dict())  # the model is left as it was
    x = np.random.default_rng(8).standard_normal((2, 3, 5, 5)).astype(np.float32)
    assert rel_error(folded(x), g(x)) < 1e-6


def test_a_mismatched_pair_is_left_as_broken_as_it_was():
    model = nn.Sequential(nn.Conv2d(3, 6, 1, rng=0), nn.BatchNorm2d(5)).eval()
    x = np.zeros((1, 3, 4, 4), np.float32)
    folded = nn.fold_batch_norm(model)
    for m in (model, folded):
        with pytest.raises(ValueError, match="expected 5 channels on axis 1"):
            m(x)


def test_the_filter_is_scaled_in_float64_and_rounded_once():
    model = _random_statistics(nn.Sequential(nn.Conv2d(8, 16, 3, rng=0), nn.BatchNorm2d(16)))
    folded = nn.fold_batch_norm(model.eval())
    conv, bn = model
    s = bn.weight.data.astype(np.float64) / np.sqrt(bn.running_var.astype(np.float64) + bn.eps)
    want = (conv.weight.data.astype(np.float64) * s[:, None, None, None]).astype(np.float32)
    np.testing.assert_array_equal(folded[0].weight.data, want)
    in_float32 = (
        conv.weight.data
        * (bn.weight.data / np.sqrt(bn.running_var + np.float32(bn.eps)))[:, None, None, None]
    )
    assert not np.array_equal(in_float32, want)  # the two ways differ on these numbers


def test_a_loaded_onnx_graph_forgets_only_the_folded_initializers(tmp_path):
    pytest.importorskip("onnx")
    from cnnmath import onnx as cm_onnx

    model = _random_statistics(models.resnet20(seed=0)).eval()
    x = np.random.default_rng(8).standard_normal((2, 3, 16, 16)).astype(np.float32)
    cm_onnx.save(model, tmp_path / "m.onnx", x)
    graph = cm_onnx.load(tmp_path / "m.onnx")
    folded = nn.fold_batch_norm(graph)
    assert _count(graph, nn.BatchNorm2d) == 19 and _count(folded, nn.BatchNorm2d) == 0
    assert rel_error(folded(x), model(x)) < 1e-5
    kept = folded.initializer_names
    state = folded.state_dict()
    assert kept and set(kept.values()) <= set(state)
    assert "fc.weight" in kept.values()  # the classifier is held as the file has it
    for name, key in kept.items():
        np.testing.assert_array_equal(state[key], graph.state_dict()[key], err_msg=name)
    assert not any("conv" in key or "bn" in key for key in kept.values())


def test_a_module_that_skipped_its_base_init_is_copied():
    class NoInit(Module):
        def __init__(self):  # no super().__init__(): no _last_ctx attribute
            self.conv = nn.Conv2d(3, 3, 1, rng=0)

        def forward(self, x):
            return self.conv(x)

    model = nn.Sequential(nn.Conv2d(3, 3, 1, rng=1), nn.BatchNorm2d(3), NoInit())
    _random_statistics(model).eval()
    x = np.random.default_rng(9).standard_normal((1, 3, 4, 4)).astype(np.float32)
    assert rel_error(nn.fold_batch_norm(model)(x), model(x)) < 1e-6


def test_bad_model():
    with pytest.raises(
        TypeError, match=r"fold_batch_norm: model: expected a cnnmath.nn.Module, got dict"
    ):
        nn.fold_batch_norm({})
