"""cnnmath.models' AlexNet, VGG and SqueezeNet against torchvision 0.28.0: the same repr,
state_dict keys and shapes; the parameter counts torchvision publishes for its ImageNet
weights; torchvision's weights (through a safetensors file) give the same eval logits; a
float64 training step gives the same gradients and updates; and the initial weights follow
torchvision's laws."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import models, nn, weights
from cnnmath.models.vgg import VGG_STAGES, _features
from cnnmath.optim import SGD
from helpers import rel_error
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")

SHAPE = (2, 3, 64, 64)
# vgg11 is vgg11_bn without its BatchNorm layers: its layout is checked below with the others'
# features (a VGG's 100 M-parameter classifier takes seconds to build)
NAMES = ["alexnet", "squeezenet1_0", "squeezenet1_1", "vgg11_bn"]
# torchvision's weights enum for each builder (the published "num_params" is the witness)
WEIGHTS = {
    "alexnet": "AlexNet",
    "squeezenet1_0": "SqueezeNet1_0",
    "squeezenet1_1": "SqueezeNet1_1",
    **{name: name.upper() for name in VGG_STAGES},
    **{f"{name}_bn": f"{name.upper()}_BN" for name in VGG_STAGES},
}


@pytest.fixture(scope="module")
def tv():
    return import_torchvision()


def _numpy_state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _published_parameters(tv, name):
    return getattr(tv.models, f"{WEIGHTS[name]}_Weights").IMAGENET1K_V1.meta["num_params"]


def _head_parameters(name, classes):
    """Parameters of the last layer, the only one that depends on the number of classes."""
    inputs = 512 if name.startswith("squeezenet") else 4096
    return classes * (inputs + 1)


def _layout_matches(tv, name, ours, theirs):
    assert repr(ours) == repr(theirs).replace("inplace=True", "")
    got = {k: v.shape for k, v in ours.state_dict().items()}
    want = {k: v.shape for k, v in _numpy_state(theirs).items()}
    assert list(got) == list(want) and got == want
    at_1000 = ours.num_parameters() + _head_parameters(name, 1000) - _head_parameters(name, 10)
    assert at_1000 == _published_parameters(tv, name)


@pytest.mark.parametrize("name", [*VGG_STAGES, *(f"{n}_bn" for n in VGG_STAGES)])
def test_every_vgg_has_torchvisions_features_and_size(tv, name):
    # the convolutional part of each configuration against torchvision's, and the published
    # total (the classifier, the same in all, is checked in full for vgg11_bn above)
    bn = name.endswith("_bn")
    ours = _features(VGG_STAGES[name.removesuffix("_bn")], bn, np.float32)
    theirs = getattr(tv.models, name)(num_classes=10, init_weights=False).features
    assert repr(ours) == repr(theirs).replace("inplace=True", "")
    classifier = (25088 + 1) * 4096 + (4096 + 1) * 4096 + _head_parameters(name, 1000)
    assert ours.num_parameters() + classifier == _published_parameters(tv, name)


def _trained_torchvision(tv, name, steps=2):
    """torchvision's model at its own random init after a few SGD steps in train mode, so
    that the weights and any running statistics are not the initial ones."""
    torch.manual_seed(0)
    model = getattr(tv.models, name)(num_classes=10, dropout=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for step in range(steps):
        x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(step))
        loss = torch.nn.functional.cross_entropy(model(x), torch.arange(SHAPE[0]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def _input(seed):
    return np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_layout_and_torchvision_weights_give_the_same_eval_logits(tv, name, tmp_path):
    """repr, keys, shapes and size, then torchvision's weights after a training step saved
    with safetensors and loaded by cnnmath.weights (no key renamed): the same eval logits."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    theirs = _trained_torchvision(tv, name, steps=1).eval()
    path = tmp_path / f"{name}.safetensors"
    safetensors_torch.save_file(
        {k: v.contiguous() for k, v in theirs.state_dict().items()}, str(path)
    )
    ours = getattr(models, name)(10, 0.0, seed=1).eval()
    _layout_matches(tv, name, ours, theirs)
    weights.load(ours, path)
    x = _input(3)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    got = ours(x)
    assert got.dtype == np.float32
    assert rel_error(got, want) <= 1e-4


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1"])
def test_training_steps_match_torchvision(tv, name):
    """float64, train mode (dropout 0: its masks are random on both sides), from the same
    weights: the logits, every parameter's gradient, and the state after two SGD steps with
    momentum and weight decay. (AlexNet and VGG are chains of the layers whose training
    other tests check; in float64 with momentum their classifiers alone would hold GBs.)"""
    theirs = _trained_torchvision(tv, name, steps=1).double().train()
    ours = getattr(models, name)(10, 0.0, seed=1, dtype=np.float64).train()
    ours.load_state_dict(_numpy_state(theirs))
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    opt_o = SGD(ours.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    named = dict(theirs.named_parameters())
    for step in range(2):
        x = _input(20 + step).astype(np.float64)
        G = np.random.default_rng(30 + step).standard_normal((SHAPE[0], 10))
        opt_t.zero_grad()
        out_t = theirs(torch.from_numpy(x))
        (out_t * torch.from_numpy(G)).sum().backward()
        ours.zero_grad()
        assert rel_error(ours(x), out_t.detach().numpy()) <= 1e-10
        ours.backward(G)
        floor = 1e-6 * max(p.grad.abs().max().item() for p in named.values())
        for key, p in ours.named_parameters():
            want = named[key].grad.numpy()
            err = np.abs(p.grad - want).max() / max(np.abs(want).max(), floor)
            assert err <= 1e-8, (step, key, err)
        opt_t.step()
        opt_o.step()
    want_state = _numpy_state(theirs)
    for key, value in ours.state_dict().items():
        err = np.abs(value - want_state[key]).max() / max(np.abs(want_state[key]).max(), 1.0)
        assert err <= 1e-10, (key, err)


def test_vgg_initialisation_is_torchvisions():
    """Convolutions N(0, 2/fan_out), Linear N(0, 0.01²), biases 0, BatchNorm 1 and 0 (the
    laws of torchvision's init_weights; the draws are NumPy's)."""
    state = models.vgg11_bn(10, seed=3).state_dict()
    for key, value in state.items():
        if key.endswith("bias") or key.endswith("running_mean"):
            assert np.all(value == 0), key
        elif key.endswith("running_var") or (value.ndim == 1 and key.endswith("weight")):
            assert np.all(value == 1), key
        elif value.ndim == 4 and value.size >= 4096:
            fan_out = value.shape[0] * value.shape[2] * value.shape[3]
            assert value.std() == pytest.approx(np.sqrt(2 / fan_out), rel=0.1), key
        elif value.ndim == 2 and value.size >= 4096:
            assert value.std() == pytest.approx(0.01, rel=0.05), key


def test_squeezenet_initialisation_is_torchvisions():
    """The last convolution N(0, 0.01²), the others kaiming_uniform_ (bound √(6/fan_in)),
    every bias 0."""
    model = models.squeezenet1_0(10, seed=4)
    again, other = models.squeezenet1_0(10, seed=4), models.squeezenet1_0(10, seed=5)
    assert all(np.array_equal(again.state_dict()[k], v) for k, v in model.state_dict().items())
    assert not np.array_equal(other.features[0].weight.data, model.features[0].weight.data)
    final = model.classifier[1]
    for key, p in model.named_parameters():
        value = p.data
        if key.endswith("bias"):
            assert np.all(value == 0), key
        elif p is final.weight:
            assert value.std() == pytest.approx(0.01, rel=0.1)
        else:
            bound = np.sqrt(6 / (value.shape[1] * value.shape[2] * value.shape[3]))
            assert np.abs(value).max() <= bound, key
            if value.size >= 4096:
                assert np.abs(value).max() > 0.99 * bound, key


def test_fire_concatenates_the_two_expansions():
    fire = models.squeezenet.Fire(8, 4, 5, 6, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 8, 7, 7))
    s = np.maximum(fire.squeeze(x), 0)
    want = np.concatenate([np.maximum(fire.expand1x1(s), 0), np.maximum(fire.expand3x3(s), 0)], 1)
    np.testing.assert_array_equal(fire(x), want)
    assert [name for name, _ in fire.named_children()] == [
        "squeeze",
        "squeeze_activation",
        "expand1x1",
        "expand1x1_activation",
        "expand3x3",
        "expand3x3_activation",
    ]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: models.squeezenet.SqueezeNet("1_2"), ["version", "'1_2'"]),
        (lambda: models.vgg16(0), ["num_classes", "0"]),
        (lambda: models.alexnet(10, seed=-1), ["seed", "-1"]),
    ],
)
def test_bad_arguments_are_named(call, words):
    with pytest.raises((ValueError, TypeError)) as caught:
        call()
    for word in words:
        assert word in str(caught.value)


def test_fine_tuning_replaces_the_head():
    model = models.alexnet(10, seed=0)
    model.classifier[6] = nn.Linear(4096, 3, rng=0)
    assert model.eval()(_input(5)).shape == (2, 3)
