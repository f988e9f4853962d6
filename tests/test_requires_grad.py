"""Frozen parameters (``requires_grad``), PyTorch's fine-tuning idiom: against torch's autograd
and optimisers (which skip a frozen parameter: it has no gradient), the backward pass that
skips what only frozen layers need, and the state a frozen run saves and resumes."""

import numpy as np
import pytest

from cnnmath import models, nn, optim
from cnnmath.summary import summary
from helpers import rel_error, small_cnn_pair

torch = pytest.importorskip("torch")


def _batch(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((2, 5))


OPTIMISERS = {
    "sgd": (
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    ),
    "adam": (
        lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01),
        lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01),
    ),
    "adamw": (
        lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    ),
    "rmsprop": (
        lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, weight_decay=0.01),
        lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.5, weight_decay=0.01),
    ),
    "adagrad": (
        lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1),
        lambda ps: torch.optim.Adagrad(ps, lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1),
    ),
    "adamax": (
        lambda ps: optim.Adamax(ps, lr=0.02, weight_decay=0.01),
        lambda ps: torch.optim.Adamax(ps, lr=0.02, weight_decay=0.01),
    ),
    "nadam": (lambda ps: optim.NAdam(ps, lr=0.02), lambda ps: torch.optim.NAdam(ps, lr=0.02)),
    "radam": (lambda ps: optim.RAdam(ps, lr=0.1), lambda ps: torch.optim.RAdam(ps, lr=0.1)),
}


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_a_frozen_stem_trains_as_torch(name):
    """The first convolution and its batch norm frozen in both libraries, every parameter
    handed to the optimiser: three steps give PyTorch's parameters; the frozen ones and
    their gradients do not move."""
    ours, tm = small_cnn_pair()
    ours[0].requires_grad_(False)
    ours[1].requires_grad_(False)
    tm[0].requires_grad_(False)
    tm[1].requires_grad_(False)
    make_ours, make_theirs = OPTIMISERS[name]
    opt, topt = make_ours(ours.parameters()), make_theirs(tm.parameters())
    frozen = {k: v.copy() for k, v in ours.state_dict().items() if k.startswith(("0.", "1."))}
    for step in range(3):
        x, G = _batch(step)
        ours.zero_grad()
        ours(x)
        assert ours.backward(G, input_grad=False) is None
        opt.step()
        topt.zero_grad()
        (tm(torch.from_numpy(x)) * torch.from_numpy(G)).sum().backward()
        topt.step()
    got = ours.state_dict()
    for key, want in tm.state_dict().items():
        assert rel_error(got[key], want.numpy()) <= 1e-12, key
    for key in ("0.weight", "0.bias", "1.weight", "1.bias"):
        assert np.array_equal(got[key], frozen[key]), key
    for p in [*ours[0].parameters(), *ours[1].parameters()]:
        assert not p.grad.any()
    for (key, p), tp in zip(ours.named_parameters(), tm.parameters(), strict=True):
        if tp.requires_grad:
            assert rel_error(p.grad, tp.grad.numpy()) <= 1e-12, key


def test_a_frozen_model_gives_torchs_input_gradient_and_no_parameter_gradient():
    """Everything frozen, the input's gradient asked for (a saliency map): PyTorch's
    ∂ℓ/∂x, and every parameter's grad still zero."""
    ours, tm = small_cnn_pair(2)
    ours.requires_grad_(False)
    tm.requires_grad_(False)
    x, G = _batch(3)
    xt = torch.from_numpy(x).requires_grad_()
    (tm(xt) * torch.from_numpy(G)).sum().backward()
    ours(x)
    assert rel_error(ours.backward(G), xt.grad.numpy()) <= 1e-12
    assert not any(p.grad.any() for p in ours.parameters())
    assert ours.backward(G, input_grad=False) is None


def test_a_frozen_weight_beside_a_trainable_bias():
    """One layer half frozen, alone and in a Sequential: the bias's gradient is PyTorch's,
    the weight's stays zero, SGD moves only the bias."""
    tconv = torch.nn.Conv2d(2, 3, 3).double()
    tconv.weight.requires_grad_(False)
    x = np.random.default_rng(4).standard_normal((2, 2, 6, 6))
    G = np.random.default_rng(5).standard_normal((2, 3, 4, 4))
    (tconv(torch.from_numpy(x)) * torch.from_numpy(G)).sum().backward()
    for wrap in (False, True):
        conv = nn.Conv2d(2, 3, 3, dtype=np.float64)
        conv.load_state_dict({k: v.numpy().copy() for k, v in tconv.state_dict().items()})
        conv.weight.requires_grad = False
        model = nn.Sequential(conv) if wrap else conv
        weight = conv.weight.data.copy()
        model(x)
        model.backward(G, input_grad=False)
        assert rel_error(conv.bias.grad, tconv.bias.grad.numpy()) <= 1e-12
        assert not conv.weight.grad.any()
        optim.SGD(model.parameters(), lr=0.1, weight_decay=0.5).step()
        assert np.array_equal(conv.weight.data, weight)


def _no_backward(monkeypatch, cls):
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__}'s backward ran, though frozen")

    monkeypatch.setattr(cls, "backward_ctx", refuse)
    monkeypatch.setattr(cls, "backward_params_ctx", refuse)


def test_a_frozen_backbone_is_skipped_by_the_backward(monkeypatch):
    """ResNet-18 with only its classifier trainable: the backward never enters a
    convolution or a batch norm, and the classifier's gradient is the one the whole
    backward gives."""
    model = models.resnet18(num_classes=5, seed=0, dtype=np.float64).train()
    x = np.random.default_rng(6).standard_normal((2, 3, 32, 32))
    G = np.random.default_rng(7).standard_normal((2, 5))
    model(x)
    model.backward(G, input_grad=False)
    want = model.fc.weight.grad.copy(), model.fc.bias.grad.copy()
    model.zero_grad()
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    model(x)
    _no_backward(monkeypatch, nn.Conv2d)
    _no_backward(monkeypatch, nn.BatchNorm2d)
    model.backward(G, input_grad=False)
    assert np.array_equal(model.fc.weight.grad, want[0])
    assert np.array_equal(model.fc.bias.grad, want[1])
    assert not any(p.grad.any() for name, p in model.named_parameters() if "fc" not in name)


def test_the_layers_before_the_first_trainable_one_are_skipped(monkeypatch):
    """In a Sequential with its convolution and batch norm frozen at the input side, the
    batch norm's backward never runs; the input's gradient, when asked for, still needs it."""
    ours, _ = small_cnn_pair()
    ours[0].requires_grad_(False)
    ours[1].requires_grad_(False)
    x, G = _batch()
    ours(x)
    _no_backward(monkeypatch, nn.BatchNorm2d)
    ours.backward(G, input_grad=False)
    assert ours[4].weight.grad.any()
    with pytest.raises(AssertionError, match="BatchNorm2d's backward ran"):
        ours.backward(G)


def test_a_frozen_middle_passes_the_gradient_through():
    """ResNet-18 with layer2 frozen: the stem and layer1 before it still get their
    gradients (layer2 runs its backward for them), the same bits as with nothing frozen."""
    model = models.resnet18(num_classes=5, seed=1, dtype=np.float64).train()
    x = np.random.default_rng(8).standard_normal((2, 3, 32, 32))
    G = np.random.default_rng(9).standard_normal((2, 5))
    model(x)
    model.backward(G, input_grad=False)
    want = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    model.layer2.requires_grad_(False)
    model(x)
    model.backward(G, input_grad=False)
    for name, p in model.named_parameters():
        if name.startswith("layer2."):
            assert not p.grad.any(), name
        else:
            assert np.array_equal(p.grad, want[name]), name
    assert any(want[name].any() for name in want if name.startswith("conv1"))


def test_a_frozen_run_saves_and_resumes_exactly():
    """Adam and SGD with momentum over a partly frozen model: a state_dict taken after two
    steps and loaded into a new optimiser continues bit for bit as the uninterrupted run."""
    for make in (
        lambda ps: optim.Adam(ps, lr=0.01),
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
        lambda ps: optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.5),
        lambda ps: optim.NAdam(ps, lr=0.01),
    ):
        runs = []
        for resume in (False, True):
            model, _ = small_cnn_pair(5)
            model[4].requires_grad_(False)
            opt = make(model.parameters())
            for step in range(4):
                if resume and step == 2:
                    state = opt.state_dict()
                    opt = make(model.parameters())
                    opt.load_state_dict(state)
                x, G = _batch(10 + step)
                model.zero_grad()
                model(x)
                model.backward(G, input_grad=False)
                opt.step()
            runs.append(model.state_dict())
        for key in runs[0]:
            assert np.array_equal(runs[0][key], runs[1][key]), key


@pytest.mark.parametrize("resume", [False, True], ids=["straight", "resumed"])
@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_unfreezing_mid_run_continues_as_torch(name, resume):
    """The stem frozen for the first six steps, then trained for six: its buffers start
    at its first step and its step count t at 1, as PyTorch's state of a parameter that
    had no gradient before (RAdam's t passes the rectification's threshold 5 only then).
    Resumed: both optimisers' states saved while the stem is frozen and loaded into new
    ones after it is unfrozen, as a gradual-unfreezing run that restarts."""
    ours, tm = small_cnn_pair(6)
    # the first bias stays frozen throughout: the batch norm after it cancels its gradient,
    # leaving rounding noise that Adam's normalisation would blow up to the rate's size
    ours[0].bias.requires_grad = False
    tm[0].bias.requires_grad_(False)
    make_ours, make_theirs = OPTIMISERS[name]
    opt, topt = make_ours(ours.parameters()), make_theirs(tm.parameters())
    for step in range(12):
        if resume and step == 6:
            state, tstate = opt.state_dict(), topt.state_dict()
            opt, topt = make_ours(ours.parameters()), make_theirs(tm.parameters())
            opt.load_state_dict(state)
            topt.load_state_dict(tstate)
        for model in (ours, tm):
            model[0].weight.requires_grad = model[1].weight.requires_grad = step >= 6
            model[1].bias.requires_grad = step >= 6
        x, G = _batch(20 + step)
        ours.zero_grad()
        ours(x)
        ours.backward(G, input_grad=False)
        opt.step()
        topt.zero_grad()
        (tm(torch.from_numpy(x)) * torch.from_numpy(G)).sum().backward()
        topt.step()
    got = ours.state_dict()
    for key, want in tm.state_dict().items():  # twelve steps of float64 rounding, normalised
        assert rel_error(got[key], want.numpy()) <= 1e-10, key


def test_summary_counts_trainable_parameters_as_torchinfo():
    torchinfo = pytest.importorskip("torchinfo")
    ours, tm = small_cnn_pair()
    ours[4].requires_grad_(False)
    tm[4].requires_grad_(False)
    want = torchinfo.summary(tm, input_size=(2, 3, 8, 8), dtypes=[torch.float64], verbose=0)
    got = summary(ours, (2, 3, 8, 8))
    assert got.trainable_parameters == want.trainable_params
    assert got.total_parameters == want.total_params


def test_requires_grad_refuses_anything_but_a_flag():
    p = nn.Parameter(np.zeros(3))
    with pytest.raises(TypeError, match=r"requires_grad: expected True or False, got 'yes'"):
        p.requires_grad = "yes"
    with pytest.raises(TypeError, match="requires_grad"):
        nn.Linear(2, 2).requires_grad_(1)
    assert p.requires_grad is True
