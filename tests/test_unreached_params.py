"""A parameter no backward reached since ``zero_grad`` has no gradient, as PyTorch's grad of
None, and every optimiser skips it: a two-headed model whose heads take turns, against
torch.optim (float64, weights within 1e-12 after eight steps)."""

import math

import numpy as np
import pytest

from cnnmath import nn, optim
from helpers import rel_error

torch = pytest.importorskip("torch")

SETTINGS = {
    "SGD": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01},
    "Adam": {"lr": 0.01, "weight_decay": 0.1},
    "AdamW": {"lr": 0.01, "weight_decay": 0.05},
    "RMSprop": {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
    "Adagrad": {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01},
    "Adamax": {"lr": 0.02, "weight_decay": 0.01},
    "NAdam": {"lr": 0.02, "weight_decay": 0.01},
    "RAdam": {"lr": 0.02, "weight_decay": 0.01},
    "Adadelta": {"lr": 0.5, "weight_decay": 0.01},
    "Rprop": {"lr": 0.01},
    "ASGD": {"lr": 0.05, "t0": 2.0, "weight_decay": 0.01},
}


def _two_heads(seed):
    """(trunk, head_a, head_b) in cnnmath and the same three layers in torch, float64."""
    rng = np.random.default_rng(seed)
    ours = (nn.Linear(4, 6).double(), nn.Linear(6, 3).double(), nn.Linear(6, 2).double())
    theirs = tuple(torch.nn.Linear(m.in_features, m.out_features).double() for m in ours)
    for m, t in zip(ours, theirs, strict=True):
        m.weight.data[...] = rng.standard_normal(m.weight.shape)
        m.bias.data[...] = rng.standard_normal(m.bias.shape)
        t.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in m.state_dict().items()})
    return ours, theirs


def _params(layers):
    return [p for layer in layers for p in layer.parameters()]


def _step_both(ours, theirs, opt, topt, x, G, head, set_to_none=True):
    """One step of both: loss = Σ head(trunk(x)) ⊙ G, through head 1 (a) or 2 (b) only."""
    opt.zero_grad(set_to_none=set_to_none)
    h = ours[0](x)
    ours[head](h)
    ours[0].backward(ours[head].backward(G))
    opt.step()
    topt.zero_grad(set_to_none=set_to_none)
    tx = torch.from_numpy(x)
    (theirs[head](theirs[0](tx)) * torch.from_numpy(G)).sum().backward()
    topt.step()


def _same_weights(ours, theirs, tol=1e-12):
    for m, t in zip(ours, theirs, strict=True):
        for name, value in t.state_dict().items():
            assert rel_error(m.state_dict()[name], value.numpy()) < tol, name


def _turns(n=8, seed=1):
    """Eight steps: head a, a, b, a, b, b, a, b (each head sits some steps out, runs of
    both lengths), with their inputs and output gradients."""
    rng = np.random.default_rng(seed)
    for head in (1, 1, 2, 1, 2, 2, 1, 2)[:n]:
        yield head, rng.standard_normal((5, 4)), rng.standard_normal((5, 3 if head == 1 else 2))


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_a_head_that_sits_a_step_out_is_not_moved(name):
    """Heads taking turns: each optimiser leaves the idle head as it is (no momentum, no
    weight decay, its step count held) and the weights after eight steps are torch's."""
    ours, theirs = _two_heads(0)
    opt = getattr(optim, name)(_params(ours), **SETTINGS[name])
    topt = getattr(torch.optim, name)(_params(theirs), **SETTINGS[name])
    for head, x, G in _turns():
        idle = ours[3 - head]
        before = [p.data.copy() for p in idle.parameters()]
        _step_both(ours, theirs, opt, topt, x, G, head)
        assert all(not p.has_grad for p in idle.parameters())
        for p, was in zip(idle.parameters(), before, strict=True):
            np.testing.assert_array_equal(p.data, was)
        _same_weights(ours, theirs)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_zero_gradients_kept_as_zeros_step_as_torchs(name):
    """``zero_grad(set_to_none=False)`` zeroes the gradients a parameter has and gives none
    to one that had none: a head never run is not moved, one that ran before has a zero
    gradient, which torch's optimisers step (momentum and weight decay move it), and so
    do cnnmath's."""
    ours, theirs = _two_heads(2)
    opt = getattr(optim, name)(_params(ours), **SETTINGS[name])
    topt = getattr(torch.optim, name)(_params(theirs), **SETTINGS[name])
    ran, moved = set(), False
    for head, x, G in _turns():
        ran.add(head)
        idle = ours[3 - head]
        before = idle.weight.data.copy()
        _step_both(ours, theirs, opt, topt, x, G, head, set_to_none=False)
        assert idle.weight.has_grad == (3 - head in ran)
        assert idle.weight.has_grad == (theirs[3 - head].weight.grad is not None)
        moved |= not np.array_equal(idle.weight.data, before)
        _same_weights(ours, theirs)
    assert moved  # weight decay moves an idle head that has a zero gradient


def test_the_adam_bias_correction_counts_the_steps_a_parameter_took():
    """A head that first runs at step 3 takes Adam's first step then (t = 1), as torch's;
    the checkpoint keeps its own count ("i.step") and a resumed run goes on as torch's."""
    ours, theirs = _two_heads(3)
    opt = optim.Adam(_params(ours), lr=0.05)
    topt = torch.optim.Adam(_params(theirs), lr=0.05)
    turns = list(_turns())
    for head, x, G in turns[:4]:
        _step_both(ours, theirs, opt, topt, x, G, head)
    head_b_weight = len(list(ours[0].parameters())) + len(list(ours[1].parameters()))
    state = opt.state_dict()
    assert int(state[f"{head_b_weight}.step"]) == 1  # head b ran once in four steps
    assert int(state["step"]) == 4
    again = optim.Adam(_params(ours), lr=0.05)
    again.load_state_dict(state)
    for head, x, G in turns[4:]:
        _step_both(ours, theirs, again, topt, x, G, head)
    _same_weights(ours, theirs)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_a_step_with_no_backward_after_model_zero_grad(set_to_none):
    """A backward through the whole model, a step, ``model.zero_grad(set_to_none)``, then
    ``step()`` with no backward: with None torch's grads are None and nothing moves; with
    zeros weight decay and momentum move every weight. cnnmath's, the same weights."""
    ours, theirs = _two_heads(4)
    model, tmodel = nn.Sequential(*ours[:2]), torch.nn.Sequential(*theirs[:2])
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    rng = np.random.default_rng(7)
    x, G = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    model(x)
    model.backward(G)
    opt.step()
    (tmodel(torch.from_numpy(x)) * torch.from_numpy(G)).sum().backward()
    topt.step()
    before = [p.data.copy() for p in model.parameters()]
    model.zero_grad(set_to_none=set_to_none)
    tmodel.zero_grad(set_to_none=set_to_none)
    opt.step()
    topt.step()
    for p, was in zip(model.parameters(), before, strict=True):
        assert p.has_grad is not set_to_none
        assert np.array_equal(p.data, was) is set_to_none
    _same_weights(ours[:2], theirs[:2])


def test_a_gradient_written_in_place_is_still_stepped():
    """A hand-written backward that writes ``grad`` in place without the attribute
    (``np.add(p.grad, g, out=p.grad)``): the gradient is not all zeros, so it is stepped,
    as torch steps ``p.grad = g``."""
    p = nn.Parameter(np.array([1.0, -2.0, 3.0]))
    tp = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    opt, topt = optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.SGD([tp], lr=0.1, momentum=0.9)
    g = np.array([0.5, 0.0, -1.0])
    for _ in range(3):
        opt.zero_grad()
        np.add(p.grad, g, out=p.grad)
        assert not p.has_grad
        opt.step()
        topt.zero_grad()
        tp.grad = torch.from_numpy(g.copy())
        topt.step()
    assert rel_error(p.data, tp.detach().numpy()) < 1e-15


def test_clipping_skips_a_parameter_without_a_gradient():
    """``clip_grad_norm_`` with a NaN gradient in head a: torch scales only the gradients it
    has, so head b (grad None) keeps none and is not moved; cnnmath's too."""
    ours, theirs = _two_heads(5)
    opt = optim.SGD(_params(ours), lr=0.1)
    topt = torch.optim.SGD(_params(theirs), lr=0.1)
    rng = np.random.default_rng(6)
    x, G = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    G[0, 0] = math.nan
    opt.zero_grad()
    ours[1](ours[0](x))
    ours[0].backward(ours[1].backward(G))
    topt.zero_grad()
    (theirs[1](theirs[0](torch.from_numpy(x))) * torch.from_numpy(G)).sum().backward()
    total = nn.utils.clip_grad_norm_(_params(ours), 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(_params(theirs), 1.0)
    assert math.isnan(total) and math.isnan(float(ttotal))
    assert not ours[2].weight.has_grad and theirs[2].weight.grad is None
    before = ours[2].weight.data.copy()
    opt.step()
    topt.step()
    np.testing.assert_array_equal(ours[2].weight.data, before)
    np.testing.assert_array_equal(ours[2].weight.data, theirs[2].weight.detach().numpy())


def test_a_frozen_head_keeps_no_gradient_through_a_backward():
    """A frozen head (``requires_grad_(False)``) in the backward: torch leaves its grad
    None; cnnmath's has none either, and its weights stay as they are."""
    ours, theirs = _two_heads(8)
    ours[1].requires_grad_(False)
    model = nn.Sequential(*ours[:2])
    opt = optim.SGD(model.parameters(), lr=0.1, weight_decay=0.1)
    rng = np.random.default_rng(9)
    x, G = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    before = ours[1].weight.data.copy()
    opt.zero_grad()
    model(x)
    model.backward(G)
    opt.step()
    assert ours[0].weight.has_grad and not ours[1].weight.has_grad
    np.testing.assert_array_equal(ours[1].weight.data, before)


def test_a_parameter_reads_as_an_array_where_scripts_count_and_measure_it():
    """The parameter idioms of PyTorch's scripts: ``numel`` / ``ndim`` / ``dim`` (counting,
    the no-decay groups), ``np.asarray`` / ``np.linalg.norm`` of a parameter, and
    ``requires_grad_``; a tensor method says where the values are."""
    model, tmodel = _two_heads(10)
    ours = [p for m in model for p in m.parameters()]
    theirs = [p for m in tmodel for p in m.parameters()]
    assert sum(p.numel() for p in ours) == sum(p.numel() for p in theirs)
    assert [p.ndim for p in ours] == [p.ndim for p in theirs] == [p.dim() for p in ours]
    for p, tp in zip(ours, theirs, strict=True):
        assert np.asarray(p) is p.data
        assert np.linalg.norm(p) == pytest.approx(float(tp.detach().norm()), rel=1e-15)
    assert ours[0].requires_grad_(False) is ours[0] and not ours[0].requires_grad
    with pytest.raises(AttributeError, match=r"no attribute 'mean'.*p\.data\.mean"):
        ours[1].mean()
    with pytest.raises(AttributeError, match="no attribute 'detach'.*p.data, a numpy.ndarray,"):
        ours[1].detach()
    with pytest.raises(ValueError, match="copy=False, but dtype float32 needs a copy"):
        np.asarray(ours[1], dtype=np.float32, copy=False)  # NumPy's protocol
    assert np.asarray(ours[1], dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("norm_type", ["inf", "2", "1.5"])
def test_clip_grad_norm_reads_a_norm_type_given_as_text_as_torch(norm_type):
    ours, theirs = _two_heads(11)
    rng = np.random.default_rng(12)
    x, G = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    ours[1](ours[0](x))
    ours[0].backward(ours[1].backward(G))
    (theirs[1](theirs[0](torch.from_numpy(x))) * torch.from_numpy(G)).sum().backward()
    total = nn.utils.clip_grad_norm_(_params(ours[:2]), 0.5, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(_params(theirs[:2]), 0.5, norm_type=norm_type)
    assert total == pytest.approx(float(ttotal), rel=1e-15)
    for p, tp in zip(_params(ours[:2]), _params(theirs[:2]), strict=True):
        assert rel_error(p.grad, tp.grad.numpy()) < 1e-14


@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD"])
def test_a_closure_that_skips_a_head_leaves_it_as_torchs(name):
    """``step(closure)`` whose backward reaches both heads, then only one: the head it
    skipped is not moved (Adam's flat path is chosen after the closure ran), as torch's."""
    ours, theirs = _two_heads(13)
    opt = getattr(optim, name)(_params(ours), **SETTINGS[name])
    topt = getattr(torch.optim, name)(_params(theirs), **SETTINGS[name])
    rng = np.random.default_rng(14)
    for step, heads in enumerate([(1, 2), (1, 2), (1,), (1,), (2,)]):
        x = rng.standard_normal((5, 4))
        Gs = {h: rng.standard_normal((5, 3 if h == 1 else 2)) for h in heads}

        def closure(x=x, Gs=Gs, heads=heads, step=step):
            opt.zero_grad()
            h = ours[0](x)
            for k in heads:
                ours[k](h)
            ours[0].backward(sum(ours[k].backward(Gs[k]) for k in heads))
            return float(step)

        def tclosure(x=x, Gs=Gs, heads=heads):
            topt.zero_grad()
            th = theirs[0](torch.from_numpy(x))
            loss = sum((theirs[k](th) * torch.from_numpy(Gs[k])).sum() for k in heads)
            loss.backward()
            return loss

        assert opt.step(closure) == step
        topt.step(tclosure)
        _same_weights(ours, theirs)
