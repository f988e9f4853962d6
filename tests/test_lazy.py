"""Lazy modules (LazyConv2d, LazyLinear, LazyBatchNorm2d, …) and ParameterList/ParameterDict,
against PyTorch's: d2l.ai-style models materialised by a dry run, their weights copied in,
then forward, backward and training compared in float64; the eager classes' own weights for
the same rng; what a lazy module refuses before its first forward."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from cnnmath import nn, optim
from helpers import rel_error

torch = pytest.importorskip("torch")
tnn = torch.nn
F64 = np.float64


# -- d2l.ai's models, in both libraries --------------------------------------------------------
def lenet_torch():
    """d2l.ai's LeNet (chapter 7.6), as the book writes it."""
    return tnn.Sequential(
        tnn.LazyConv2d(6, kernel_size=5, padding=2), tnn.Sigmoid(),
        tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.LazyConv2d(16, kernel_size=5), tnn.Sigmoid(),
        tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.Flatten(),
        tnn.LazyLinear(120), tnn.Sigmoid(),
        tnn.LazyLinear(84), tnn.Sigmoid(),
        tnn.LazyLinear(10),
    )  # fmt: skip


def lenet(dtype=F64):
    return nn.Sequential(
        nn.LazyConv2d(6, kernel_size=5, padding=2, dtype=dtype), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.LazyConv2d(16, kernel_size=5, dtype=dtype), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.LazyLinear(120, dtype=dtype), nn.Sigmoid(),
        nn.LazyLinear(84, dtype=dtype), nn.Sigmoid(),
        nn.LazyLinear(10, dtype=dtype),
    )  # fmt: skip


class ResidualTorch(tnn.Module):
    """d2l.ai's Residual block (chapter 8.6)."""

    def __init__(self, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = tnn.LazyConv2d(num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = tnn.LazyConv2d(num_channels, kernel_size=3, padding=1)
        self.conv3 = (
            tnn.LazyConv2d(num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        )
        self.bn1 = tnn.LazyBatchNorm2d()
        self.bn2 = tnn.LazyBatchNorm2d()

    def forward(self, X):
        Y = torch.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        return torch.relu(Y + X)


class Residual(nn.Graph):
    """The same block as a cnnmath Graph, with the book's attribute names."""

    def __init__(self, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.LazyConv2d(num_channels, 3, padding=1, stride=strides, dtype=F64)
        self.conv2 = nn.LazyConv2d(num_channels, 3, padding=1, dtype=F64)
        if use_1x1conv:
            self.conv3 = nn.LazyConv2d(num_channels, 1, stride=strides, dtype=F64)
        self.bn1 = nn.LazyBatchNorm2d(dtype=F64)
        self.bn2 = nn.LazyBatchNorm2d(dtype=F64)
        self.add(self.conv1, "x", name="conv1")
        self.add(self.bn1, "conv1", name="bn1")
        self.add(nn.ReLU(), "bn1", name="relu1")
        self.add(self.conv2, "relu1", name="conv2")
        self.add(self.bn2, "conv2", name="bn2")
        skip = self.add(self.conv3, "x", name="conv3") if use_1x1conv else "x"
        self.add(nn.Add(), "bn2", skip, name="sum")
        self.add(nn.ReLU(), "sum", name="relu2")
        self.set_output("relu2")


def resnet_torch():
    return tnn.Sequential(
        tnn.LazyConv2d(8, kernel_size=3, padding=1), tnn.LazyBatchNorm2d(), tnn.ReLU(),
        ResidualTorch(16, use_1x1conv=True, strides=2), ResidualTorch(16),
        tnn.AdaptiveAvgPool2d((1, 1)), tnn.Flatten(), tnn.LazyLinear(10),
    )  # fmt: skip


def resnet():
    return nn.Sequential(
        nn.LazyConv2d(8, 3, padding=1, dtype=F64), nn.LazyBatchNorm2d(dtype=F64), nn.ReLU(),
        Residual(16, use_1x1conv=True, strides=2), Residual(16),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.LazyLinear(10, dtype=F64),
    )  # fmt: skip


def torch_state(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def dry_run_torch(build, shape, seed=0):
    torch.manual_seed(seed)
    model = build().double()
    with torch.no_grad():
        model(torch.zeros(shape, dtype=torch.float64))
    return model


MODELS = {
    "lenet": (lenet_torch, lenet, (4, 1, 28, 28)),
    "resnet": (resnet_torch, resnet, (4, 3, 12, 12)),
}


def _eager_types(model):
    return [type(m) for m in model.modules()]


@pytest.mark.parametrize("name", list(MODELS))
def test_a_d2l_model_after_its_dry_run_computes_as_torch(name):
    build_torch, build, shape = MODELS[name]
    reference = dry_run_torch(build_torch, shape)
    model = build()
    model(np.zeros(shape, F64))  # our own dry run
    assert not any(type(m).__name__.startswith("Lazy") for m in model.modules())
    assert all(type(p) is nn.Parameter for p in model.parameters())
    state = torch_state(reference)
    assert list(model.state_dict()) == list(state)
    model.load_state_dict(state)

    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = reference(xt)
    y = model(x)
    assert rel_error(y, yt.detach().numpy()) <= 1e-12
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    assert rel_error(model.backward(g), xt.grad.numpy()) <= 1e-12
    ours, theirs = dict(model.named_parameters()), dict(reference.named_parameters())
    assert list(ours) == list(theirs)
    # all gradients at once: a conv bias before a BatchNorm has ∂ℓ/∂b = 0 up to rounding
    got = np.concatenate([p.grad.ravel() for p in ours.values()])
    want = np.concatenate([p.grad.numpy().ravel() for p in theirs.values()])
    assert rel_error(got, want) <= 1e-12
    for key, value in model.state_dict().items():  # running statistics updated alike
        assert rel_error(value, reference.state_dict()[key].numpy()) <= 1e-12, key


def test_the_classes_become_the_eager_ones_as_torchs_do():
    reference = dry_run_torch(lenet_torch, (1, 1, 28, 28))
    model = lenet()
    assert repr(model) == repr(lenet_torch())  # before: Lazy…(0, …), PyTorch's repr
    model(np.zeros((1, 1, 28, 28), F64))
    assert [type(m).__name__ for m in model.modules()] == [
        type(m).__name__ for m in reference.modules()
    ]
    assert type(model[0]) is nn.Conv2d and type(model[7]) is nn.Linear
    assert repr(model) == repr(reference)
    assert model[7].in_features == 400 and model[3].in_channels == 6


def test_a_materialised_lazy_model_exports_and_sums_up_as_the_eager_one(tmp_path):
    from cnnmath import summary

    model = lenet(np.float32)
    x = np.random.default_rng(2).standard_normal((2, 1, 28, 28)).astype(np.float32)
    model(x)
    reference = dry_run_torch(lenet_torch, (1, 1, 28, 28))
    count = sum(p.numel() for p in reference.parameters())
    assert summary(model, (1, 28, 28)).total_parameters == count == 61706  # d2l's count
    pytest.importorskip("onnx")
    from cnnmath import onnx as cm_onnx

    cm_onnx.save(model, tmp_path / "lenet.onnx", x)
    assert rel_error(cm_onnx.load(tmp_path / "lenet.onnx")(x), model(x)) < 1e-6


# -- each lazy class against its eager class -----------------------------------------------------
CASES = [  # (lazy, eager with the inferred size, input shape)
    (lambda: nn.LazyLinear(5, rng=0), lambda: nn.Linear(7, 5, rng=0), (3, 7)),
    (lambda: nn.LazyLinear(5, False, rng=0), lambda: nn.Linear(7, 5, False, rng=0), (2, 4, 7)),
    (lambda: nn.LazyConv1d(4, 3, rng=0), lambda: nn.Conv1d(3, 4, 3, rng=0), (2, 3, 9)),
    (lambda: nn.LazyConv1d(4, 3, rng=0), lambda: nn.Conv1d(3, 4, 3, rng=0), (3, 9)),
    (lambda: nn.LazyConv2d(6, 5, rng=0), lambda: nn.Conv2d(1, 6, 5, rng=0), (2, 1, 12, 12)),
    (
        lambda: nn.LazyConv2d(4, 3, groups=2, padding="same", rng=3),
        lambda: nn.Conv2d(6, 4, 3, groups=2, padding="same", rng=3),
        (6, 7, 7),
    ),
    (
        lambda: nn.LazyConv3d(4, 3, groups=2, bias=False, rng=0),
        lambda: nn.Conv3d(2, 4, 3, groups=2, bias=False, rng=0),
        (1, 2, 5, 5, 5),
    ),
    (
        lambda: nn.LazyConvTranspose1d(4, 3, stride=2, rng=0),
        lambda: nn.ConvTranspose1d(3, 4, 3, stride=2, rng=0),
        (2, 3, 5),
    ),
    (
        lambda: nn.LazyConvTranspose2d(4, 3, stride=2, output_padding=1, groups=2, rng=1),
        lambda: nn.ConvTranspose2d(6, 4, 3, stride=2, output_padding=1, groups=2, rng=1),
        (2, 6, 4, 4),
    ),
    (
        lambda: nn.LazyConvTranspose3d(2, 2, stride=2, rng=0),
        lambda: nn.ConvTranspose3d(3, 2, 2, stride=2, rng=0),
        (1, 3, 2, 3, 2),
    ),
    (lambda: nn.LazyBatchNorm1d(), lambda: nn.BatchNorm1d(5), (4, 5)),
    (
        lambda: nn.LazyBatchNorm1d(momentum=None),
        lambda: nn.BatchNorm1d(5, momentum=None),
        (4, 5, 3),
    ),
    (
        lambda: nn.LazyBatchNorm2d(affine=False),
        lambda: nn.BatchNorm2d(3, affine=False),
        (2, 3, 4, 4),
    ),
    (lambda: nn.LazyBatchNorm3d(), lambda: nn.BatchNorm3d(2), (2, 2, 3, 3, 3)),
    (
        lambda: nn.LazyInstanceNorm1d(),
        lambda: nn.InstanceNorm1d(3, affine=True, track_running_stats=True),
        (3, 6),  # one unbatched signal: C on axis 0
    ),
    (
        lambda: nn.LazyInstanceNorm2d(),
        lambda: nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
        (2, 4, 3, 3),
    ),
    (
        lambda: nn.LazyInstanceNorm2d(affine=False, track_running_stats=False),
        lambda: nn.InstanceNorm2d(4),
        (4, 3, 3),
    ),
    (
        lambda: nn.LazyInstanceNorm3d(),
        lambda: nn.InstanceNorm3d(2, affine=True, track_running_stats=True),
        (1, 2, 3, 3, 3),
    ),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_a_lazy_layer_becomes_its_eager_twin_with_the_same_rng(case):
    make_lazy, make_eager, shape = CASES[case]
    lazy, eager = make_lazy(), make_eager()
    x = np.random.default_rng(case).standard_normal(shape).astype(np.float32)
    y = lazy(x)
    assert type(lazy) is type(eager)
    assert repr(lazy) == repr(eager)
    assert lazy.state_dict().keys() == eager.state_dict().keys()
    for p, q in zip(lazy.parameters(), eager.parameters(), strict=True):
        assert np.array_equal(p.data, q.data) and p.dtype == q.dtype  # drawn alike
    y_eager = eager(x)  # (buffers compared after the same call)
    assert np.array_equal(y, y_eager)
    assert all(np.array_equal(a, b) for a, b in zip(lazy.buffers(), eager.buffers(), strict=True))
    g = np.random.default_rng(9).standard_normal(y.shape).astype(np.float32)
    assert np.array_equal(lazy.backward(g), eager.backward(g))
    for p, q in zip(lazy.parameters(), eager.parameters(), strict=True):
        assert np.array_equal(p.grad, q.grad)


LAZY_CLASSES = [
    ("LazyLinear", (10,)),
    ("LazyConv1d", (4, 3)),
    ("LazyConv2d", (6, 5, 1, 2)),
    ("LazyConv3d", (8, 3)),
    ("LazyConvTranspose1d", (4, 3, 2)),
    ("LazyConvTranspose2d", (8, 2, 2, 0, 1)),
    ("LazyConvTranspose3d", (8, 2)),
    ("LazyBatchNorm1d", ()),
    ("LazyBatchNorm2d", (1e-3, None)),
    ("LazyBatchNorm3d", ()),
    ("LazyInstanceNorm1d", ()),
    ("LazyInstanceNorm2d", (1e-5, 0.1, False)),
    ("LazyInstanceNorm3d", ()),
]


@pytest.mark.parametrize(("name", "args"), LAZY_CLASSES)
def test_before_its_first_forward_a_lazy_module_is_as_torchs(name, args):
    ours, theirs = getattr(nn, name)(*args), getattr(tnn, name)(*args)
    assert repr(ours) == repr(theirs)
    names = [key for key, _ in theirs.named_parameters()]
    assert [key for key, _ in ours.named_parameters()] == names
    assert all(type(p) is nn.UninitializedParameter for p in ours.parameters())
    if not names:  # (with parameters, our state_dict refuses: no values yet)
        assert list(ours.state_dict()) == list(theirs.state_dict())


# -- what a lazy module refuses, and what it keeps -------------------------------------------------
def test_materialisation_keeps_the_parameter_objects_yielded_before():
    model = lenet()
    before = model.parameters()
    assert len(before) == 10 and all(isinstance(p, nn.UninitializedParameter) for p in before)
    model(np.zeros((1, 1, 28, 28), F64))
    after = model.parameters()
    assert all(a is b for a, b in zip(before, after, strict=True))
    assert all(type(p) is nn.Parameter and p.dtype == F64 for p in before)
    assert before[0].shape == (6, 1, 5, 5) and before[-2].shape == (10, 84)


def test_an_uninitialised_parameter_says_to_run_a_forward_first():
    model = lenet()
    p = model.parameters()[0]
    for read in (lambda: p.data, lambda: p.grad, lambda: p.shape, lambda: p.size):
        with pytest.raises(RuntimeError, match="run one forward pass first"):
            read()
    with pytest.raises(RuntimeError, match="run one forward pass first"):
        model.state_dict()
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.zeros((1, 10)))
    model.zero_grad()  # nothing to zero: no error
    assert repr(p) == "UninitializedParameter(dtype=float64)"


def test_an_optimiser_made_before_the_dry_run_is_refused():
    model = lenet()
    for make in (
        lambda: optim.SGD(model.parameters(), lr=0.1),
        lambda: optim.Adam([{"params": model[0].parameters()}], lr=0.1),
    ):
        with pytest.raises(ValueError, match=r"params.*\[0\].*run one forward pass first"):
            make()
    model(np.zeros((1, 1, 28, 28), F64))
    opt = optim.SGD(model[0].parameters(), lr=0.1)
    with pytest.raises(ValueError, match="run one forward pass first"):
        opt.add_param_group({"params": nn.LazyLinear(3).parameters()})
    assert len(opt.param_groups) == 1


def test_an_optimiser_made_after_the_dry_run_trains_as_torchs():
    shape = (4, 1, 28, 28)
    reference = dry_run_torch(lenet_torch, shape)
    model = lenet()
    model(np.zeros(shape, F64))
    model.load_state_dict(torch_state(reference))
    ours = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    x = np.random.default_rng(3).standard_normal(shape)
    for _ in range(3):
        ours.zero_grad()
        theirs.zero_grad()
        y = model(x)
        model.backward(y, input_grad=False)  # ℓ = ½ Σ y²: G = y
        yt = reference(torch.tensor(x))
        (0.5 * (yt**2).sum()).backward()
        ours.step()
        theirs.step()
    for key, value in model.state_dict().items():
        assert rel_error(value, reference.state_dict()[key].numpy()) <= 1e-12, key


def test_load_state_dict_materialises_an_unrun_model():
    for build_torch, build, shape in MODELS.values():
        reference = dry_run_torch(build_torch, shape, seed=4)
        model = build()
        model.load_state_dict(torch_state(reference))
        assert not any(type(m).__name__.startswith("Lazy") for m in model.modules())
        assert model[-1].in_features == reference[-1].in_features
        x = np.random.default_rng(5).standard_normal(shape)
        assert rel_error(model(x), reference(torch.tensor(x)).detach().numpy()) <= 1e-12


def test_a_failed_load_leaves_the_model_lazy():
    reference = dry_run_torch(lenet_torch, (1, 1, 28, 28))
    state = torch_state(reference)
    model = lenet()
    params = model.parameters()
    wrong_dtype = {k: v.astype(np.float32) if k == "9.bias" else v for k, v in state.items()}
    wrong_rank = {k: v[0] if k == "7.weight" else v for k, v in state.items()}
    for bad, match in ((wrong_dtype, "9.bias.*dtype"), (wrong_rank, "7.weight.*axes")):
        with pytest.raises(nn.StateDictError, match=match):
            model.load_state_dict(bad)
        assert repr(model) == repr(lenet_torch())
        assert all(type(p) is nn.UninitializedParameter for p in params)
        assert all(a is b for a, b in zip(params, model.parameters(), strict=True))
    model.load_state_dict(state)  # and it still loads
    assert type(model[9]) is nn.Linear and type(params[0]) is nn.Parameter


def test_a_wrong_first_input_leaves_the_module_lazy_and_its_generator_untouched():
    rng = np.random.default_rng(7)
    layer = nn.LazyConv2d(4, 3, groups=2, rng=rng)
    drawn = rng.bit_generator.state
    weight = layer.weight
    with pytest.raises(
        ValueError, match=r"expected shape \(N, C, H, W\) or \(C, H, W\).*stays lazy"
    ):
        layer(np.ones((5, 5), np.float32))
    with pytest.raises(ValueError, match="in_channels=3 from x.*multiple of groups=2"):
        layer(np.ones((1, 3, 5, 5), np.float32))
    with pytest.raises(TypeError, match="expected dtype float32"):
        layer(np.ones((1, 4, 5, 5), np.float64))  # fails in Conv2d's own forward
    assert type(layer) is nn.LazyConv2d and layer.in_channels == 0
    assert type(weight) is nn.UninitializedParameter and layer.weight is weight
    assert rng.bit_generator.state == drawn
    layer(np.ones((1, 4, 5, 5), np.float32))
    twin = nn.Conv2d(4, 4, 3, groups=2, rng=np.random.default_rng(7))
    assert np.array_equal(layer.weight.data, twin.weight.data)
    with pytest.raises(ValueError, match=r"stays lazy"):
        nn.LazyLinear(3)(np.ones((), np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*stays lazy"):
        nn.LazyBatchNorm2d()(np.ones((2, 3, 4), np.float32))


def test_to_before_the_dry_run_sets_the_dtype_it_materialises_with():
    model = lenet(np.float32).to(np.float64)
    bn = nn.LazyBatchNorm2d(affine=False).double()
    assert model(np.zeros((1, 1, 28, 28))).dtype == F64
    assert all(p.dtype == F64 for p in model.parameters())
    bn(np.ones((2, 3, 2, 2)))
    assert bn.running_mean.dtype == F64 and bn.running_mean.shape == (3,)


def test_bad_constructor_arguments_are_refused_at_once():
    with pytest.raises(ValueError, match="LazyConv2d.*padding_mode"):
        nn.LazyConv2d(4, 3, padding_mode="mirror")
    with pytest.raises(TypeError, match="LazyLinear.*rng"):
        nn.LazyLinear(4, rng="zero")
    with pytest.raises(ValueError, match="LazyBatchNorm2d.*momentum"):
        nn.LazyBatchNorm2d(momentum=2.0)


# -- ParameterList / ParameterDict -----------------------------------------------------------------
class HeadsTorch(tnn.Module):
    def __init__(self):
        super().__init__()
        self.scale = tnn.Parameter(torch.ones(1, dtype=torch.float64))
        self.stages = tnn.ParameterList(
            [torch.ones(3, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)]
        )
        self.heads = tnn.ParameterDict(
            {"cls": torch.ones(4, dtype=torch.float64), "box": torch.zeros(2, dtype=torch.float64)}
        )
        self.ordered = tnn.ParameterDict(
            OrderedDict(z=torch.ones(1, dtype=torch.float64), a=torch.ones(2, dtype=torch.float64))
        )
        self.fc = tnn.Linear(2, 2).double()


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(1))
        self.stages = nn.ParameterList([np.ones(3), nn.Parameter(np.zeros((2, 2)))])
        self.heads = nn.ParameterDict({"cls": np.ones(4), "box": np.zeros(2)})
        self.ordered = nn.ParameterDict(OrderedDict(z=np.ones(1), a=np.ones(2)))
        self.fc = nn.Linear(2, 2, dtype=F64, rng=0)


def test_parameter_containers_name_their_parameters_as_torchs():
    ours, theirs = Heads(), HeadsTorch()
    names = [(k, tuple(p.shape)) for k, p in theirs.named_parameters()]
    assert [(k, p.shape) for k, p in ours.named_parameters()] == names
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "heads.box" in dict(ours.named_parameters())  # a plain dict: sorted, as torch's
    ours.load_state_dict(torch_state(theirs))
    assert ours.stages[1] is dict(ours.named_parameters())["stages.1"]
    assert len(ours.stages) == 2 and list(ours.heads) == ["box", "cls"]
    ours.to(np.float32)
    assert ours.heads["cls"].dtype == np.float32


def test_an_optimiser_steps_the_contained_parameters_as_torchs():
    ours, theirs = Heads(), HeadsTorch()
    ours.load_state_dict(torch_state(theirs))
    opt = optim.Adam(ours.parameters(), lr=0.1)
    topt = torch.optim.Adam(theirs.parameters(), lr=0.1)
    rng = np.random.default_rng(6)
    for _ in range(2):
        for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
            g = rng.standard_normal(p.shape)
            p.grad = g
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
    for key, value in ours.state_dict().items():
        assert rel_error(value, theirs.state_dict()[key].numpy()) <= 1e-12, key


def test_parameter_containers_refuse_what_is_not_a_parameter():
    plist = nn.ParameterList([np.ones(2)])
    with pytest.raises(TypeError, match=r"values\[2\].*Parameter"):
        plist.extend([np.ones(1), "w"])
    assert len(plist) == 1  # nothing added
    pdict = nn.ParameterDict({"a": np.ones(1)})
    with pytest.raises(KeyError, match="without '.'"):
        pdict.update([("b", np.ones(1)), ("c.d", np.ones(1))])
    assert list(pdict) == ["a"]
    with pytest.raises(TypeError, match="float32/float64"):
        pdict["b"] = np.ones(2, np.int64)
    plist.append(np.zeros(3))
    assert [k for k, _ in plist.named_parameters()] == ["0", "1"]
    assert plist[-1].shape == (3,) and len(plist[0:1]) == 1


def test_parameter_dict_methods_act_as_torchs():
    """setdefault, popitem, copy, fromkeys and clear: the same keys, in the same order, the
    same objects shared or not, as torch.nn.ParameterDict's."""
    values = {"b": np.ones(1), "a": np.zeros(2)}
    ours = nn.ParameterDict(values)
    theirs = tnn.ParameterDict({k: torch.from_numpy(v) for k, v in values.items()})
    kept = ours.setdefault("a", np.ones(5))
    assert kept is ours["a"] and kept.shape == (2,)
    added = ours.setdefault("c", np.full(3, 2.0))
    theirs.setdefault("c", tnn.Parameter(torch.full((3,), 2.0, dtype=torch.float64)))
    assert added is ours["c"] and list(ours) == list(theirs) == ["a", "b", "c"]
    twin, ttwin = ours.copy(), theirs.copy()
    assert list(twin) == list(ttwin) and twin["b"] is ours["b"]  # the same Parameters
    key, p = ours.popitem()
    tkey, _ = theirs.popitem()
    assert key == tkey == "c" and p is added and list(ours) == ["a", "b"]
    assert "c" in twin  # the copy kept its own entry
    values = np.ones(2)
    shared = ours.fromkeys(["y", "x"], values)  # an array: a Parameter per key, over it
    tshared = theirs.fromkeys(["y", "x"], torch.from_numpy(values))
    assert list(shared) == list(tshared) == ["y", "x"] and shared["x"] is not shared["y"]
    assert shared["x"].data is shared["y"].data is values
    assert [k for k, _ in shared.named_parameters()] == [k for k, _ in tshared.named_parameters()]
    p = nn.Parameter(np.ones(2))
    one = ours.fromkeys(["y", "x"], p)  # a Parameter: shared, listed once, as torch's
    tone = theirs.fromkeys(["y", "x"], tnn.Parameter(torch.ones(2)))
    assert one["x"] is one["y"] is p
    assert [k for k, _ in one.named_parameters()] == [k for k, _ in tone.named_parameters()]
    ours.clear()
    theirs.clear()
    assert len(ours) == len(theirs) == 0
    with pytest.raises(KeyError, match="empty"):
        ours.popitem()
    with pytest.raises(TypeError, match="default.*float32/float64"):
        ours.fromkeys(["z"], "w")
    with pytest.raises(TypeError, match="float32/float64"):
        ours.setdefault("z")  # None is no parameter
    assert len(ours) == 0


@pytest.mark.parametrize("case", range(len(CASES)))
def test_load_state_dict_gives_a_lazy_layer_its_size(case):
    make_lazy, make_eager, _ = CASES[case]
    lazy, eager = make_lazy(), make_eager()
    state = eager.state_dict()
    for key in state:  # other values than the fresh layer's: the loaded ones must land
        state[key] = state[key] + np.ones((), state[key].dtype)
    lazy.load_state_dict(state)
    if not any(key.endswith(("weight", "bias", "running_mean")) for key in state):
        assert type(lazy).__name__.startswith("Lazy")  # nothing tells its size: still lazy
        return
    assert type(lazy) is type(eager) and repr(lazy) == repr(eager)
    assert all(np.array_equal(v, state[k]) for k, v in lazy.state_dict().items())


def test_settings_made_before_the_first_forward_are_kept_as_torchs():
    """PyTorch's lazy module is never rebuilt: a momentum, eps, stride or padding set before
    the dry run, and a buffer registered then, are still there after it."""
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8))
    ours = nn.Sequential(
        nn.LazyConv2d(4, 3, dtype=np.float64), nn.LazyBatchNorm2d(dtype=np.float64)
    )
    theirs = torch.nn.Sequential(torch.nn.LazyConv2d(4, 3), torch.nn.LazyBatchNorm2d()).double()
    for model in (ours, theirs):
        model[0].stride, model[0].padding = (2, 2), (1, 1)
        model[1].momentum, model[1].eps = 0.01, 1e-3
    ours[1].register_buffer("scale", np.ones(4))
    theirs[1].register_buffer("scale", torch.ones(4, dtype=torch.float64))
    ours(x)
    theirs(torch.from_numpy(x))
    assert (ours[0].stride, ours[0].padding) == ((2, 2), (1, 1))
    assert (ours[1].momentum, ours[1].eps) == (0.01, 1e-3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    y, ty = ours(x), theirs(torch.from_numpy(x))
    assert rel_error(y, ty.detach().numpy()) <= 1e-12
    assert rel_error(ours[1].running_mean, theirs[1].running_mean.numpy()) <= 1e-12


def test_a_partial_state_for_a_lazy_layer_names_the_missing_size_key():
    model = nn.Sequential(nn.LazyLinear(3))
    with pytest.raises(
        KeyError, match=r"\['0.bias'\] without '0.weight': a LazyLinear not yet run"
    ):
        model.load_state_dict({"0.bias": np.zeros(3, np.float32)}, strict=False)
    assert type(model[0]) is nn.LazyLinear
    assert model.load_state_dict({}, strict=False).missing_keys == ["0.weight", "0.bias"]


def test_a_model_not_yet_run_says_so_where_it_cannot_go_on(tmp_path):
    from cnnmath import onnx

    model = nn.Sequential(nn.LazyConv2d(2, 3), nn.ParameterList([np.zeros(2, np.float32)]))
    with pytest.raises(RuntimeError, match=r"state_dict: '0.weight' \(LazyConv2d\) has no shape"):
        model.state_dict()
    with pytest.raises(ValueError, match=r"node '0' \(LazyConv2d\) has not run yet"):
        onnx.save(
            nn.Sequential(nn.LazyConv2d(2, 3)),
            tmp_path / "m.onnx",
            np.zeros((1, 1, 5, 5), np.float32),
        )
    with pytest.raises(TypeError, match="ParameterList is not a layer"):
        model[1](np.zeros(2))
