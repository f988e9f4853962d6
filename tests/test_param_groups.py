"""``optimizer.param_groups``, read and written as PyTorch's scripts do (logging the rate,
decaying it by hand), and ``zero_grad(set_to_none=...)``: against torch.optim."""

import numpy as np
import pytest

from cnnmath import nn, optim
from helpers import rel_error, small_cnn_pair

torch = pytest.importorskip("torch")

SETTINGS = {
    "SGD": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True},
    "Adam": {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-7, "weight_decay": 0.1},
    "AdamW": {"lr": 0.01, "weight_decay": 0.05},
    "RMSprop": {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True},
    "Adagrad": {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
    "Adamax": {"lr": 0.02},
    "NAdam": {"lr": 0.02, "momentum_decay": 0.005},
    "RAdam": {"lr": 0.02, "weight_decay": 0.01},
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_the_group_holds_torchs_keys_and_values(name):
    """Every key of cnnmath's group is one of torch's group, with torch's value."""
    ours, tm = small_cnn_pair()
    opt = getattr(optim, name)(ours.parameters(), **SETTINGS[name])
    topt = getattr(torch.optim, name)(tm.parameters(), **SETTINGS[name])
    (group,) = opt.param_groups
    want = topt.param_groups[0]
    assert group["params"] == tuple(opt.params)  # a tuple: appending to it cannot break a step
    for key, value in group.items():
        if key != "params":
            assert key in want, key
            assert value == pytest.approx(want[key]), key
    assert len(group) == len(list(group))


def test_a_rate_decayed_by_hand_trains_as_torch():
    """``for g in optimizer.param_groups: g["lr"] *= 0.5`` every other step (and a read of
    ``param_groups[0]["lr"]`` to log it): PyTorch's parameters after six steps."""
    ours, tm = small_cnn_pair(1)
    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(2)
    logged = []
    for step in range(6):
        x, G = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((2, 5))
        opt.zero_grad(set_to_none=True)
        ours(x)
        ours.backward(G, input_grad=False)
        opt.step()
        topt.zero_grad(set_to_none=True)
        (tm(torch.from_numpy(x)) * torch.from_numpy(G)).sum().backward()
        topt.step()
        if step % 2:
            for group in (*opt.param_groups, *topt.param_groups):
                group["lr"] *= 0.5
        logged.append((opt.param_groups[0]["lr"], topt.param_groups[0]["lr"]))
    assert all(a == b for a, b in logged) and logged[-1][0] == 0.0125
    got = ours.state_dict()
    for key, want in tm.state_dict().items():
        assert rel_error(got[key], want.numpy()) <= 1e-12, key


def test_writing_a_setting_is_checked_as_the_constructor_checks_it():
    opt = optim.Adam(nn.Linear(2, 2).parameters())
    group = opt.param_groups[0]
    group["betas"] = (0.5, 0.75)
    group["weight_decay"] = 0.25
    assert opt.betas == (0.5, 0.75) and opt.weight_decay == 0.25
    with pytest.raises(ValueError, match=r"Adam: betas\[0\]"):
        group["betas"] = (1.5, 0.9)
    assert opt.betas == (0.5, 0.75)
    with pytest.raises(KeyError, match=r"no key 'momentum'; expected one of \['params', 'lr'"):
        group["momentum"] = 0.9
    with pytest.raises(ValueError, match="lr"):
        group["lr"] = -1.0
    with pytest.raises(TypeError, match="keys cannot be removed"):
        del group["lr"]
    # a hand-written schedule's idiom: the base rate, set once
    assert group.setdefault("initial_lr", group["lr"]) == opt.lr == opt.initial_lr


def test_groups_of_settings_are_refused_with_a_way_out():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"SGD: parameter groups .* give each part its own"):
        optim.SGD([{"params": model.parameters(), "lr": 0.1}], lr=0.01)
    opt = optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(TypeError, match=r"SGD.add_param_group: parameter groups"):
        opt.add_param_group({"params": nn.Linear(2, 2).parameters()})


def test_zero_grad_takes_set_to_none():
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    for p in model.parameters():
        p.grad += 1
    opt.zero_grad(set_to_none=False)
    assert not any(p.grad.any() for p in model.parameters())
    for p in model.parameters():
        p.grad += 1
    model.zero_grad(set_to_none=True)
    assert not any(p.grad.any() for p in model.parameters())
    with pytest.raises(TypeError, match=r"SGD.zero_grad: set_to_none: expected True or False"):
        opt.zero_grad(set_to_none="yes")
