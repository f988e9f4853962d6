"""cnnmath.models against torchvision 0.28.0 as the witness: the same repr, parameter count
and state_dict keys; torchvision's trained weights (safetensors file, no key renamed) give the
same eval logits here; in train mode the same logits, parameter gradients, running statistics
and SGD-with-momentum updates; and cnnmath's weights give the same outputs in torchvision."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

from cnnmath import models, nn, weights
from cnnmath.optim import SGD
from helpers import meta_device, rel_error, torch_layout
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")


class _LazyTorchvision:
    """torchvision imported on first use, so a test that needs it is skipped without it."""

    def __getattr__(self, name):
        return getattr(import_torchvision(), name)


tv = _LazyTorchvision()

NAMES = [
    "resnet18",
    "resnext50_32x4d",
    "shufflenet_v2_x0_5",
    "densenet121",
    "convnext_tiny",
    "mnasnet0_5",
    "regnet_y_400mf",
    "googlenet",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "efficientnet_v2_s",
]


def _deterministic(name):
    """The options that turn a model's random layers off in train mode (dropout, and
    EfficientNet's stochastic depth), whose draws differ between the two libraries."""
    if name.startswith("efficientnet"):
        return {"dropout": 0.0, "stochastic_depth_prob": 0.0}
    if name.startswith("convnext"):
        return {"stochastic_depth_prob": 0.0}
    return {"dropout": 0.0} if name.startswith(("mobilenet", "mnasnet", "googlenet")) else {}


SHAPE = (2, 3, 64, 64)  # small images keep the numpy side fast
TOL = 1e-4  # float32 through ~20 layers and batch statistics of few elements
TOL64 = 1e-8  # float64; MobileNetV2 at 64×64 has channels of near-zero batch variance
# MNASNet's second step: its first step agrees to 1e-10, and that rounding (in gradients
# whose true value is 0) moves the weights, which reach ~100 after training, by ~1e-17;
# the 2×2 maps of its last stages (8 values per BatchNorm channel) amplify it ~10⁴-fold in
# the next gradients (up to 1.2e-7 measured). The first step is held to TOL64.
TOL64_OF = {"mnasnet0_5": 1e-6}


#: torchvision's options that give the network cnnmath builds by default: GoogLeNet and
#: Inception v3 without their auxiliary classifiers (cnnmath's default aux_logits=False;
#: torchvision's is True; with them: test_models_aux.py), initialised as when trained
TORCHVISION_OPTIONS = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}


def _torchvision(name, **kw):
    return getattr(tv.models, name)(**TORCHVISION_OPTIONS.get(name, {}), **kw)


def _build(name, **kw):
    return getattr(models, name)(**kw), _torchvision(name, **kw)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _numpy_state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _trained_torchvision(name, steps=2, **kw):
    """torchvision's model at its own random init, then a few SGD steps in train mode so
    the running statistics and num_batches_tracked are not the defaults."""
    torch.manual_seed(0)
    model = _torchvision(name, num_classes=10, **kw)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(steps):
        x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(step))
        loss = torch.nn.functional.cross_entropy(model(x), torch.arange(SHAPE[0]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    if name.startswith("mnasnet"):
        # MNASNet's BatchNorm momentum is 1 − 0.9997: two steps leave the running statistics
        # at their defaults, far from these weights' activations (eval logits overflow).
        # Recompute them as the average of two batches, as a calibration pass would.
        with torch.no_grad():
            norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
            for m in norms:
                m.reset_running_stats()
                m.momentum = None
            for step in range(2):
                model(torch.randn(SHAPE, generator=torch.Generator().manual_seed(100 + step)))
            for m in norms:
                m.momentum = 1 - 0.9997
    return model


def _input(seed=10):
    return np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32)


def _first_bn(name):
    """The state_dict key of the stem's BatchNorm's batch count (None without BatchNorm)."""
    if name.startswith("res"):
        return "bn1.num_batches_tracked"
    if name.startswith("shufflenet"):
        return "conv1.1.num_batches_tracked"
    if name.startswith("densenet"):
        return "features.norm0.num_batches_tracked"
    if name.startswith("convnext"):
        return None  # LayerNorm only
    if name.startswith("mnasnet"):
        return "layers.1.num_batches_tracked"
    if name.startswith("regnet"):
        return "stem.1.num_batches_tracked"
    if name == "googlenet":
        return "conv1.bn.num_batches_tracked"
    return "features.0.1.num_batches_tracked"


LAYOUT_ONLY = [
    "inception_v3",  # needs 75×75 inputs at least: its numbers are checked below
    "regnet_x_400mf",
    "regnet_x_1_6gf",
    "regnet_y_800mf",
    "mnasnet0_75",
    "mnasnet1_0",
    "mnasnet1_3",
    "convnext_small",
    "convnext_base",
    "densenet161",
    "densenet169",
    "densenet201",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",  # BatchNorm ε 0.001, momentum 0.01 from B5 on
    "efficientnet_v2_m",
]


@pytest.mark.parametrize("name", [*NAMES, *LAYOUT_ONLY])
def test_layout_matches_torchvision(name):
    """repr (torchvision's ReLU prints inplace=True), parameter count, state_dict keys,
    shapes and dtypes are torchvision's. torchvision's model is built on PyTorch's "meta"
    device where it can be (~1 s saved per large model)."""
    ours = getattr(models, name)()
    with meta_device(name):
        theirs = _torchvision(name)
    # cnnmath's Dropout is never in place: MobileNetV3's classifier prints inplace=False here
    want = repr(theirs).replace(", inplace=True)\n", ", inplace=False)\n")  # Dropout(p=…)
    assert repr(ours) == want.replace("inplace=True", "")
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    got = {k: (v.shape, v.dtype) for k, v in ours.state_dict().items()}
    want = torch_layout(theirs)
    assert list(got) == list(want)
    assert got == want


# Each model's initialisation laws, as torchvision's code sets them.
# The convolutions': "fan_out" N(0, 2/fan_out); "fan_in" N(0, 2/fan_in); "default" PyTorch's
# U(±1/√fan_in); "trunc" N(0, 0.02²) cut at ±2; "trunc 0.01" N(0, 0.01²) cut at ±2.
# The classifier's key and law: "default" weight and bias U(±1/√fan_in); "bias 0" that
# weight, bias 0; "normal" N(0, 0.01²), bias 0; "out" U(±1/√fan_out), bias 0; "out, sigmoid
# gain" U(±√(3/fan_out)), bias 0; "trunc" N(0, 0.02²), bias 0; "trunc 0.01, default bias"
# N(0, 0.01²), bias U(±1/√fan_in).
INIT = {
    "resnet18": ("fan_out", "fc", "default"),
    "resnext50_32x4d": ("fan_out", "fc", "default"),
    "shufflenet_v2_x0_5": ("default", "fc", "default"),
    "densenet121": ("fan_in", "classifier", "bias 0"),
    "convnext_tiny": ("trunc", "classifier.2", "trunc"),
    "mnasnet0_5": ("fan_out", "classifier.1", "out, sigmoid gain"),
    "regnet_y_400mf": ("fan_out", "fc", "normal"),
    "googlenet": ("trunc 0.01", "fc", "trunc 0.01, default bias"),
    "mobilenet_v2": ("fan_out", "classifier.1", "normal"),
    "mobilenet_v3_small": ("fan_out", "classifier.3", "normal"),
    "mobilenet_v3_large": ("fan_out", "classifier.3", "normal"),
    "efficientnet_b0": ("fan_out", "classifier.1", "out"),
    "efficientnet_v2_s": ("fan_out", "classifier.1", "out"),
}


@pytest.mark.parametrize("name", NAMES)
def test_initialisation_is_torchvisions(name):
    """The draws differ, their laws must not (INIT): the convolutions', BatchNorm's 1 and 0,
    the classifier's; the same seed gives the same weights, another seed others."""
    conv_law, fc, fc_law = INIT[name]
    state = getattr(models, name)(seed=3).state_dict()
    for key, value in state.items():
        if value.ndim == 4 and value.size >= 4096:  # enough draws for a 10 % std check
            fan_in, fan_out = value[0].size, value.shape[0] * value.shape[2] * value.shape[3]
            std = {
                "fan_out": np.sqrt(2 / fan_out),
                "fan_in": np.sqrt(2 / fan_in),
                "default": 1 / np.sqrt(3 * fan_in),  # U(±b) has std b/√3
                "trunc": 0.02,
                "trunc 0.01": 0.01,
            }[conv_law]
            assert abs(value.std() / std - 1) < 0.1, key
            assert abs(value.mean()) < 0.1 * std, key
        elif key.endswith("running_var"):
            assert np.all(value == 1), key
        elif key.endswith("running_mean"):
            assert np.all(value == 0), key
    w, b = state[f"{fc}.weight"], state[f"{fc}.bias"]
    if fc_law in ("normal", "trunc"):
        std = 0.01 if fc_law == "normal" else 0.02
        assert abs(w.std() / std - 1) < 0.05 and np.all(b == 0)
    elif fc_law == "trunc 0.01, default bias":
        bound = 1 / np.sqrt(w.shape[1])
        assert abs(w.std() / 0.01 - 1) < 0.05
        assert np.abs(b).max() <= bound and np.any(b != 0)
    else:
        bound = {
            "out": 1 / np.sqrt(w.shape[0]),
            "out, sigmoid gain": np.sqrt(3 / w.shape[0]),
        }.get(fc_law, 1 / np.sqrt(w.shape[1]))
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
        if fc_law == "default":
            assert np.abs(b).max() <= bound and np.any(b != 0)
        else:
            assert np.all(b == 0)
    again = getattr(models, name)(seed=3).state_dict()
    other = getattr(models, name)(seed=4).state_dict()
    assert all(np.array_equal(again[k], v) for k, v in state.items())
    first = next(k for k, v in state.items() if v.ndim == 4)
    assert not np.array_equal(other[first], state[first])


@pytest.mark.parametrize("name", NAMES)
def test_torchvision_weights_eval_logits(name, tmp_path):
    """torchvision's trained state_dict saved with safetensors, loaded by cnnmath.weights.load
    into cnnmath's model (no key renamed): the same eval logits within 1e-4."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    theirs = _trained_torchvision(name).eval()
    state = {k: v.contiguous() for k, v in theirs.state_dict().items()}
    assert _first_bn(name) is None or int(state[_first_bn(name)]) == 2
    path = tmp_path / f"{name}.safetensors"
    safetensors_torch.save_file(state, str(path))
    ours = getattr(models, name)(num_classes=10, seed=1).eval()
    weights.load(ours, path)
    got_state = ours.state_dict()
    for k, v in _numpy_state(theirs).items():
        assert np.array_equal(got_state[k], v), k
    x = _input()
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    got = ours(x)
    assert got.dtype == np.float32
    assert rel_error(got, want) <= TOL


@pytest.mark.parametrize("name", NAMES)
def test_train_forward_float32(name):
    """Train mode, float32, from torchvision's trained weights: the same logits (batch
    statistics) and the same updated running statistics and num_batches_tracked (dropout off:
    its masks are random on both sides)."""
    kw = _deterministic(name)
    theirs = _trained_torchvision(name, **kw).train()
    ours = getattr(models, name)(num_classes=10, seed=1, **kw).train()
    ours.load_state_dict(_numpy_state(theirs))
    x = _input(21)
    want = theirs(torch.from_numpy(x)).detach().numpy()
    assert rel_error(ours(x), want) <= TOL
    want_state = _numpy_state(theirs)
    for key, value in ours.state_dict().items():
        # a running mean can be ~1e-8 where the batch mean cancels (a BN output feeding a
        # 1×1 conv): its error is measured against the activations' unit scale
        want = want_state[key]
        assert value.dtype == want.dtype, key
        err = np.abs(value - want).max() / max(np.abs(want).max(), 1.0)
        assert err <= TOL, (key, err)


@pytest.mark.parametrize("name", NAMES)
def test_train_step_matches_torchvision(name):
    """Train mode from the same weights: the same logits, every parameter's gradient, the
    updated running statistics, and the parameters after two SGD-with-momentum steps (the
    second uses the momentum buffer); upstream gradient G random, not uniform.

    In float64 on both sides: with 64×64 images the last stages normalise over 8 values per
    channel, and torchvision's own float32 gradients differ from its float64 ones by ~6 %
    (ResNet-18) or far more (MobileNetV2), so a float32 comparison would measure rounding,
    not the code. PyTorch's float64 Hardsigmoid backward multiplies by 1/6 rounded to float32
    (a relative error of 3e-8, which MobileNetV3's squeeze-and-excitation gates pass on to
    their 1×1 convolutions' gradients): torchvision's gates run as relu6(x + 3)/6 here, the
    same function, differentiated exactly."""
    kw = _deterministic(name)
    theirs = _trained_torchvision(name, **kw).double().train()
    for module in theirs.modules():
        if isinstance(module, torch.nn.Hardsigmoid):
            module.forward = lambda x: torch.nn.functional.relu6(x + 3.0) / 6.0
    ours = getattr(models, name)(num_classes=10, seed=1, dtype=np.float64, **kw).train()
    ours.load_state_dict(_numpy_state(theirs))
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    opt_o = SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    named = dict(theirs.named_parameters())
    for step in range(2):
        tol = TOL64_OF.get(name, TOL64) if step else TOL64
        x = _input(20 + step).astype(np.float64)
        G = np.random.default_rng(30 + step).standard_normal((SHAPE[0], 10))
        opt_t.zero_grad()
        out_t = theirs(torch.from_numpy(x))
        (out_t * torch.from_numpy(G)).sum().backward()
        ours.zero_grad()
        out_o = ours(x)
        ours.backward(G)
        assert rel_error(out_o, out_t.detach().numpy()) <= tol
        # a BN bias feeding a train-mode BN has zero true gradient (the normalisation
        # removes a per-channel constant): rounding noise on both sides, so each error is
        # measured against at least 1e-6 of the model's largest gradient
        grads = {key: p.grad.numpy() for key, p in named.items()}
        floor = 1e-6 * max(np.abs(g).max() for g in grads.values())
        for key, p in ours.named_parameters():
            want = grads[key]
            err = np.abs(p.grad - want).max() / max(np.abs(want).max(), floor)
            assert err <= tol, (step, key, err)
        opt_t.step()
        opt_o.step()
        want_state = _numpy_state(theirs)
        for key, value in ours.state_dict().items():
            want = want_state[key]
            err = np.abs(value - want).max() / max(np.abs(want).max(), 1.0)
            assert err <= tol, (step, key, err)


@pytest.mark.parametrize("name", NAMES)
def test_cnnmath_weights_into_torchvision(name):
    """And back: cnnmath's seeded weights, its running statistics moved by two train-mode
    batches, loaded into torchvision give the same outputs in eval and in train mode."""
    kw = _deterministic(name)  # no random masks in train mode mode
    ours = getattr(models, name)(num_classes=10, seed=5, **kw).train()
    for seed in (40, 41):
        ours(_input(seed))
    theirs = _torchvision(name, num_classes=10, **kw)
    state = OrderedDict((k, torch.from_numpy(v)) for k, v in ours.state_dict().items())
    state._metadata = theirs.state_dict()._metadata  # MNASNet's loader reads its version
    theirs.load_state_dict(state)
    assert _first_bn(name) is None or int(ours.state_dict()[_first_bn(name)]) == 2
    x = _input(50)
    want = theirs.train()(torch.from_numpy(x)).detach().numpy()
    assert rel_error(ours(x), want) <= TOL
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        assert rel_error(ours(x), theirs(torch.from_numpy(x)).numpy()) <= TOL


def test_resnet20_cifar():
    """He et al.'s ResNet-20 with option-A shortcuts: 269 722 parameters (the paper's 0.27M,
    counted by hand: 432 + 32 + 3·4672 + 13952 + 2·18560 + 55552 + 2·73984 + 650), no
    parameters in the shortcuts, 10 logits for 32×32 images, and its forward and backward
    equal the same network built in torch.nn (float64)."""
    model = models.resnet20(seed=0, dtype=np.float64)
    assert model.num_parameters() == 269_722
    assert not any("downsample" in key for key in model.state_dict())
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32))
    G = np.random.default_rng(1).standard_normal((4, 10))
    model.train()
    y = model(x)
    assert y.shape == (4, 10)
    gx = model.backward(G)

    tnn = torch.nn

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.pad = (cout - cin) // 2

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            short = x
            if self.pad:
                short = tnn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
            return torch.relu(out + short)

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(16)
            stages, cin = [], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                stages.append(
                    tnn.Sequential(
                        Block(cin, cout, stride), *[Block(cout, cout, 1) for _ in range(2)]
                    )
                )
                cin = cout
            self.layer1, self.layer2, self.layer3 = stages
            self.fc = tnn.Linear(64, 10)

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.fc(x.mean(dim=(2, 3)))

    twin = Net().double()
    fresh = models.resnet20(seed=0, dtype=np.float64)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in fresh.state_dict().items()})
    xt = torch.from_numpy(x).requires_grad_()
    yt = twin(xt)
    (yt * torch.from_numpy(G)).sum().backward()
    assert rel_error(y, yt.detach().numpy()) <= 1e-12
    assert rel_error(gx, xt.grad.numpy()) <= 1e-12
    named = dict(twin.named_parameters())
    for key, p in model.named_parameters():
        assert rel_error(p.grad, named[key].grad.numpy()) <= 1e-10, key


def test_bench_resnet18_rows_run_and_twin_matches():
    """The bench's torch.nn ResNet-18 twin (no torchvision) takes cnnmath's state_dict as it
    is and gives the same eval logits, and so does its folded copy (PyTorch's
    fuse_conv_bn_eval) and cnnmath's; the three bench rows run (tiny images, one repeat)."""
    pytest.importorskip("threadpoolctl")
    from cnnmath.bench import models as bench_models

    ours = models.resnet18(seed=2).eval()
    twin = bench_models.torch_resnet18(torch)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    twin.eval()
    x = _input()
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
        assert rel_error(ours(x), want) <= TOL
        folded_twin = bench_models.fold_torch_resnet18(torch, twin)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded_twin.modules())
        assert rel_error(folded_twin(torch.from_numpy(x)).numpy(), want) <= TOL
    assert rel_error(nn.fold_batch_norm(ours)(x), want) <= TOL
    rows = bench_models.run(1, repeats=1, torch=torch, image_size=32)
    assert [r["name"][:26] for r in rows] == [
        "ResNet-18 forward (B=1, 3×",
        "ResNet-18 train step (B=8,",
        "ResNet-18 forward, BN fold",
        "MobileNetV2 forward (B=1, ",
    ]
    assert all(r["cnnmath_s"] > 0 and r["torch_s"] > 0 and r["ratio"] > 0 for r in rows)
    assert [r["target"] for r in rows] == [1.3, 1.3, 1.3, None]


def test_bench_mobilenet_v2_twin_is_torchvisions_and_cnnmaths():
    """The bench's torch.nn MobileNetV2 twin has torchvision's state_dict keys and shapes, and
    with cnnmath's weights it gives torchvision's eval logits and cnnmath's."""
    from cnnmath.bench import models as bench_models

    ours = models.mobilenet_v2(seed=3).eval()
    state = {k: torch.from_numpy(v) for k, v in ours.state_dict().items()}
    twin, reference = bench_models.torch_mobilenet_v2(torch), tv.models.mobilenet_v2()
    assert {k: tuple(v.shape) for k, v in twin.state_dict().items()} == {
        k: tuple(v.shape) for k, v in reference.state_dict().items()
    }
    twin.load_state_dict(state)
    reference.load_state_dict(state)
    twin.eval()
    reference.eval()
    x = _input()
    with torch.no_grad():
        want = reference(torch.from_numpy(x)).numpy()
        assert rel_error(twin(torch.from_numpy(x)).numpy(), want) <= TOL
    assert rel_error(ours(x), want) <= TOL


FINE_TUNING = {
    # (model, the replacement written as code, applied to either library's nn namespace)
    "resnet18.fc": ("resnet18", lambda m, n: setattr(m, "fc", n.Linear(512, 10))),
    "resnet18.layer1.0.conv1": (
        "resnet18",
        lambda m, n: setattr(m.layer1[0], "conv1", n.Conv2d(64, 64, 3, padding=1, bias=True)),
    ),
    "mobilenet_v2.classifier.1": (
        "mobilenet_v2",
        lambda m, n: m.classifier.__setitem__(1, n.Linear(1280, 10)),
    ),
    "mobilenet_v2.features.18": (
        "mobilenet_v2",
        lambda m, n: m.features.__setitem__(18, n.Identity()),
    ),
    "densenet121.features.conv0": (  # a named layer of a Sequential(OrderedDict(...))
        "densenet121",
        lambda m, n: setattr(m.features, "conv0", n.Conv2d(3, 64, 5, 2, 2, bias=False)),
    ),
}


@pytest.mark.parametrize("case", list(FINE_TUNING))
def test_replacing_a_layer_as_in_fine_tuning(case):
    """PyTorch's fine-tuning idiom — assign a new layer to a child attribute or a Sequential
    position — changes what forward runs, on both sides: after the same replacement,
    torchvision's weights load (the keys agree) and give the same eval outputs, and the
    gradients reach the new layer's parameters (witness: torch autograd). MobileNetV2 without
    its last 1×1 block has 320 channels for a 1280-input classifier, so that case replaces the
    classifier too."""
    name, replace = FINE_TUNING[case]
    torch.manual_seed(0)
    theirs = getattr(tv.models, name)()
    ours = getattr(models, name)(seed=1)
    for model, namespace in ((theirs, torch.nn), (ours, nn)):
        replace(model, namespace)
        if case == "mobilenet_v2.features.18":
            model.classifier[1] = namespace.Linear(320, 7)
    theirs.eval()
    ours.eval()
    ours.load_state_dict(_numpy_state(theirs))
    x = _input(60)
    x_t = torch.from_numpy(x)
    out_t = theirs(x_t)
    G = np.random.default_rng(61).standard_normal(out_t.shape).astype(np.float32)
    (out_t * torch.from_numpy(G)).sum().backward()
    out = ours(x)
    assert out.shape == tuple(out_t.shape)
    assert rel_error(out, out_t.detach().numpy()) <= TOL
    ours.zero_grad()
    ours.backward(G)
    prefix = case.split(".", 1)[1] if case != "mobilenet_v2.features.18" else "classifier.1"
    new = dict(theirs.named_parameters())
    for key, p in ours.named_parameters():
        if key.startswith(prefix + "."):
            assert rel_error(p.grad, new[key].grad.numpy()) <= TOL, key
    assert any(k.startswith(prefix + ".") for k, _ in ours.named_parameters())


def test_squeeze_excitation_gradients_are_finite_differences():
    """The gate's two paths into ∂ℓ/∂x (the direct s ⊙ G and the one through the pooled
    average), and fc1's and fc2's gradients, against central differences."""
    from cnnmath.models.mobilenetv3 import SqueezeExcitation
    from cnnmath.testing import check_module

    block = SqueezeExcitation(6, 4, dtype=np.float64)
    for conv in (block.fc1, block.fc2):  # biases away from 0 so the gate is not flat
        conv.bias.data[...] = np.linspace(-1.0, 1.0, conv.bias.data.size)
    x = np.random.default_rng(0).standard_normal((2, 6, 5, 4))
    report = check_module(block, x)
    assert report.passed, str(report)
    assert len(report.cases) == 5  # the input and fc1's and fc2's weights and biases


@pytest.mark.parametrize(
    ("name", "wiring"),
    [
        ("mobilenet_v3_small", {"Mul": 9, "Hardsigmoid": 9}),  # the gates
        ("shufflenet_v2_x0_5", {"Narrow": 26}),  # the halves of the 13 stride-1 units
        ("convnext_tiny", {"LayerNorm": 23}),  # 18 blocks', 5 LayerNorm2d between Transposes
    ],
)
def test_onnx_both_ways(name, wiring, tmp_path):
    """cnnmath's model saves (squeeze-and-excitation as GlobalAveragePool, Conv, Relu,
    HardSigmoid, Mul; ShuffleNet's halves as Slice) and onnxruntime agrees; torchvision's
    export loads back as a graph of cnnmath's layers and wiring ops (the gates as Hardsigmoid
    and nn.Mul, the halves as nn.Narrow), which computes and trains as torchvision's model."""
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save
    from helpers import torch_onnx_export

    ours = getattr(models, name)(num_classes=10, seed=2).eval()
    x = _input(60)
    path = tmp_path / "m.onnx"
    save(ours, path, x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert rel_error(ours(x), session.run(None, {"x": x})[0]) <= 1e-5
    np.testing.assert_allclose(load(path)(x), ours(x), rtol=1e-5, atol=1e-6)

    theirs = _trained_torchvision(name, **_deterministic(name)).double().eval()
    xt = torch.from_numpy(x.astype(np.float64))
    preserve = torch.onnx.TrainingMode.PRESERVE  # BatchNorm kept as a layer, not folded
    graph = load(torch_onnx_export(theirs, xt, opset_version=17, training=preserve))
    kinds = [type(node.module).__name__ for node in graph.walk()]
    assert {kind: kinds.count(kind) for kind in wiring} == wiring
    # the file holds ε = 0.001 and the gate's 1/6 as float32 attributes: give torchvision's
    # model the same ε, and its gates the exact 1/6 (see the train-step test)
    for module in theirs.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = float(np.float32(module.eps))
        if isinstance(module, torch.nn.Hardsigmoid):
            module.forward = lambda v: torch.nn.functional.relu6(v + 3.0) / 6.0
    graph.eval()
    with torch.no_grad():
        assert rel_error(graph(xt.numpy()), theirs(xt).numpy()) <= 1e-10
    theirs.train()
    graph.train()
    G = torch.from_numpy(np.random.default_rng(61).standard_normal((SHAPE[0], 10)))
    x_grad = xt.clone().requires_grad_()
    theirs.zero_grad()  # the SGD steps that trained it left their gradients
    (theirs(x_grad) * G).sum().backward()
    graph.zero_grad()
    graph(xt.numpy())
    assert rel_error(graph.backward(G.numpy()), x_grad.grad.numpy()) <= 1e-10
    grads = {key: p.grad.numpy() for key, p in theirs.named_parameters()}
    floor = 1e-6 * max(np.abs(g).max() for g in grads.values())  # as in the train-step test
    ours = dict(graph.named_parameters())
    for key, p in theirs.named_parameters():
        if key in graph.initializer_names:
            got = ours[graph.initializer_names[key]].grad
        else:  # renamed by the exporter (a Linear's weight before MatMul), maybe transposed
            value = p.detach().numpy()
            (got,) = [
                grad
                for q in ours.values()
                for data, grad in ((q.data, q.grad), (q.data.T, q.grad.T))
                if data.shape == value.shape and np.array_equal(data, value)
            ]
        want = grads[key]
        assert np.abs(got - want).max() / max(np.abs(want).max(), floor) <= TOL64, key


def test_regnet_stage_widths_follow_torchvisions_rule_for_every_design():
    """The quantised linear rule (cnnmath.models.regnet.stages) against torchvision's
    BlockParams for all fourteen designs, the large ones included (their layers are the small
    ones' code)."""
    from cnnmath.models.regnet import DESIGNS, stages

    import_torchvision()
    from torchvision.models.regnet import BlockParams

    for name, design in DESIGNS.items():
        params = BlockParams.from_init_params(**design._asdict())
        want = list(zip(params.widths, params.depths, params.group_widths))
        assert stages(design) == want, name


def test_googlenet_transform_input_is_torchvisions_and_saves_to_onnx(tmp_path):
    """transform_input=True (torchvision's trained GoogLeNet's setting) gives torchvision's
    eval logits with the same weights, and saves as Mul and Add that onnxruntime runs; a
    non-bool aux_logits is refused by name (the heads themselves: test_models_aux.py)."""
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import save

    theirs = _trained_torchvision("googlenet").eval()
    theirs.transform_input = True
    ours = models.googlenet(10, transform_input=True, seed=1).eval()
    ours.load_state_dict(_numpy_state(theirs))
    x = _input(70)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    assert rel_error(ours(x), want) <= TOL
    plain = models.googlenet(10, seed=1).eval()  # without the transform: other logits
    plain.load_state_dict(_numpy_state(theirs))
    assert rel_error(plain(x), want) > 100 * TOL
    path = tmp_path / "googlenet.onnx"
    save(ours, path, x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert rel_error(session.run(None, {"x": x})[0], want) <= TOL
    with pytest.raises(TypeError, match=r"GoogLeNet: aux_logits: expected a bool, got 'no'"):
        models.googlenet(aux_logits="no")


@pytest.mark.parametrize("transform_input", [False, True])
def test_inception_v3_computes_and_trains_as_torchvision(transform_input):
    """Inception v3 (which needs more than 64×64) on 128×128 images: with torchvision's
    weights and random BatchNorm statistics, the same eval logits (float32); in train mode,
    float64, the same logits, input gradient and parameter gradients."""
    torch.manual_seed(3)
    theirs = _torchvision("inception_v3", num_classes=10, transform_input=transform_input)
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    ours = models.inception_v3(10, transform_input=transform_input, seed=1)
    ours.load_state_dict(_numpy_state(theirs))
    x = np.random.default_rng(80).standard_normal((2, 3, 128, 128)).astype(np.float32)
    theirs.eval()
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    assert rel_error(ours.eval()(x), want) <= TOL

    theirs = theirs.double().train()
    theirs.dropout.p = 0.0
    ours = models.inception_v3(10, transform_input=transform_input, dropout=0.0, dtype=np.float64)
    ours.load_state_dict(_numpy_state(theirs))
    ours.train()
    x64 = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    G = np.random.default_rng(81).standard_normal((2, 10))
    out = theirs(x64)
    (out * torch.from_numpy(G)).sum().backward()
    assert rel_error(ours(x.astype(np.float64)), out.detach().numpy()) <= TOL64
    assert rel_error(ours.backward(G), x64.grad.numpy()) <= TOL64
    grads = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    floor = 1e-6 * max(np.abs(g).max() for g in grads.values())  # as in the train-step test
    for key, p in ours.named_parameters():
        err = np.abs(p.grad - grads[key]).max() / max(np.abs(grads[key]).max(), floor)
        assert err <= TOL64, (key, err)


def test_efficientnet_stages_are_torchvisions_for_every_variant():
    """B0–B7's scaled stages and V2-S/M/L's, block kind included, against torchvision's own
    configuration (the variants too large to build in a test among them)."""
    import sys

    from cnnmath.models import efficientnet as ours

    import_torchvision()
    e = sys.modules["torchvision.models.efficientnet"]
    multipliers = {0: (1.0, 1.0), 1: (1.0, 1.1), 2: (1.1, 1.2), 3: (1.2, 1.4), 4: (1.4, 1.8)}
    multipliers |= {5: (1.6, 2.2), 6: (1.8, 2.6), 7: (2.0, 3.1)}
    cases = {f"efficientnet_b{b}": ours.scaled(*m) for b, m in multipliers.items()}
    cases |= {"efficientnet_v2_s": ours.V2_S, "efficientnet_v2_m": ours.V2_M}
    cases |= {"efficientnet_v2_l": ours.V2_L}
    for name, setting in cases.items():
        kw = (
            dict(zip(("width_mult", "depth_mult"), multipliers[int(name[-1])]))
            if "_b" in name
            else {}
        )
        conf, last_channel = e._efficientnet_conf(name, **kw)
        want = [
            (
                c.expand_ratio,
                c.kernel,
                c.stride,
                c.input_channels,
                c.out_channels,
                c.num_layers,
                isinstance(c, e.FusedMBConvConfig),
            )
            for c in conf
        ]
        assert [tuple(cfg) for cfg in setting] == want, name
        assert last_channel == (1280 if "_v2" in name else None), name


def test_regnet_se_biases_keep_pytorchs_default_law_as_torchvisions():
    """torchvision's RegNet initialises only the convolution weights: the SE convolutions'
    biases keep U(±1/√fan_in), drawn here from the seed."""
    state = models.regnet_y_400mf(seed=3).state_dict()
    keys = [k for k in state if ".se.fc" in k and k.endswith(".bias")]
    assert len(keys) == 2 * 16
    for key in keys:
        weight = state[key[: -len("bias")] + "weight"]
        bound = 1 / np.sqrt(weight[0].size)
        assert 0.3 * bound < np.abs(state[key]).max() <= bound, key
    again = models.regnet_y_400mf(seed=3).state_dict()
    assert all(np.array_equal(again[k], state[k]) for k in keys)
