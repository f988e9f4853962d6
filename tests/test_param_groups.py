"""Parameter groups, as PyTorch's: an optimiser made from dicts of parameters and settings,
``add_param_group``, ``optimizer.param_groups`` read and written as PyTorch's scripts do
(logging the rate, decaying it by hand), their checkpoints, and
``zero_grad(set_to_none=...)``: against torch.optim."""

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
    with pytest.raises(ValueError, match=r"Adam.param_groups\[0\]: betas\[0\]"):
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


# Three groups, as a fine-tuning script makes them: the convolutions at their own rate and
# decay, the biases and batch norm without decay, the classifier with the constructor's
# settings but one of its own.
GROUPS = {
    "SGD": [{"lr": 0.02, "weight_decay": 0.1}, {"weight_decay": 0.0}, {"momentum": 0.5}],
    "Adam": [{"lr": 0.003}, {"weight_decay": 0.0}, {"betas": (0.5, 0.9)}],
    "AdamW": [{"lr": 0.003, "weight_decay": 0.2}, {"weight_decay": 0.0}, {"eps": 1e-3}],
    "RMSprop": [{"momentum": 0.0}, {"centered": False, "weight_decay": 0.1}, {"alpha": 0.5}],
    "Adagrad": [{"lr_decay": 0.0}, {"eps": 1e-3, "weight_decay": 0.1}, {"lr": 0.3}],
    "Adamax": [{"lr": 0.005}, {"weight_decay": 0.1}, {"betas": (0.7, 0.8)}],
    "NAdam": [{"momentum_decay": 0.01}, {"decoupled_weight_decay": True, "weight_decay": 0.1}, {}],
    "RAdam": [{"lr": 0.05}, {"decoupled_weight_decay": True}, {"betas": (0.6, 0.7)}],
}


def _split(model):
    """The parameters as three groups: conv weights, biases and batch norm, the classifier.
    The first convolution's bias is in none: batch norm follows it, so its gradient is
    rounding noise, which the adaptive rules (Adam's m/√v) blow up to whole steps."""
    named = dict(model.named_parameters())
    conv = [named["0.weight"], named["4.weight"]]
    free = [named[k] for k in ("1.weight", "1.bias", "4.bias")]
    return conv, free, [named["7.weight"], named["7.bias"]]


def _grouped(name, model, library):
    own = GROUPS[name]
    groups = [{"params": ps, **o} for ps, o in zip(_split(model), own, strict=True)]
    return getattr(library, name)(groups, **SETTINGS[name])


def _train(pairs, steps, seed=3):
    """``steps`` steps of each (model, optimiser, is_torch) on the same batches."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x, G = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((2, 5))
        for model, opt, is_torch in pairs:
            opt.zero_grad()
            if is_torch:
                (model(torch.from_numpy(x)) * torch.from_numpy(G)).sum().backward()
            else:
                model(x)
                model.backward(G, input_grad=False)
            opt.step()


def _assert_same_weights(ours, tm, tol=1e-12):
    got = ours.state_dict()
    for key, want in tm.state_dict().items():
        assert rel_error(got[key], want.numpy()) <= tol, key


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_three_groups_train_as_torchs(name):
    """Each group with its own settings: torch's weights after six steps, and each group's
    keys and values those of torch's group."""
    ours, tm = small_cnn_pair(4)
    opt, topt = _grouped(name, ours, optim), _grouped(name, tm, torch.optim)
    _train([(ours, opt, False), (tm, topt, True)], 6)
    _assert_same_weights(ours, tm)
    assert len(opt.param_groups) == 3
    for group, want in zip(opt.param_groups, topt.param_groups, strict=True):
        assert len(group["params"]) == len(want["params"])
        for key, value in group.items():
            if key != "params":
                assert value == pytest.approx(want[key]), key


def test_the_groups_settings_differ_from_one_group_s():
    """The witness above can fail: one group with the constructor's settings trains
    otherwise."""
    ours, tm = small_cnn_pair(4)
    opt = optim.SGD(ours.parameters(), **SETTINGS["SGD"])
    topt = _grouped("SGD", tm, torch.optim)
    _train([(ours, opt, False), (tm, topt, True)], 3)
    got, want = ours.state_dict()["0.weight"], tm.state_dict()["0.weight"].numpy()
    assert rel_error(got, want) > 1e-6


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_groups_alike_give_one_groups_bits(name):
    """Adam steps one group over all parameters at once and several group by group: with
    the same settings in each group the bits are the same."""
    one, _ = small_cnn_pair(5)
    split, _ = small_cnn_pair(5)
    opt1 = getattr(optim, name)(one.parameters(), lr=0.01, weight_decay=0.1)
    groups = [{"params": [dict(split.named_parameters())["0.bias"]]}]
    groups += [{"params": ps} for ps in _split(split)]
    opt3 = getattr(optim, name)(groups, lr=0.01, weight_decay=0.1)
    _train([(one, opt1, False), (split, opt3, False)], 4)
    for key, value in one.state_dict().items():
        assert np.array_equal(value, split.state_dict()[key]), key


def test_a_group_s_setting_is_its_own():
    conv, free, head = _split(small_cnn_pair()[0])
    opt = optim.SGD([{"params": conv}, {"params": free, "lr": 0.5}], lr=0.1, momentum=0.9)
    first, second = opt.param_groups
    second["momentum"] = 0.25
    second["lr"] *= 2
    assert (first["lr"], first["momentum"], opt.lr, opt.momentum) == (0.1, 0.9, 0.1, 0.9)
    assert (second["lr"], second["momentum"]) == (1.0, 0.25)
    with pytest.raises(ValueError, match=r"SGD.param_groups\[1\]: momentum"):
        second["momentum"] = -1.0
    assert second["momentum"] == 0.25 and opt.momentum == 0.9
    assert opt.hyperparameters()["momentum"] == 0.9
    assert second["params"] == tuple(free) and first["params"] == tuple(conv)
    assert opt.params == [*conv, *free]
    second.setdefault("initial_lr", second["lr"])
    assert second["initial_lr"] == 1.0 and "initial_lr" not in first
    third = optim.SGD([{"params": head, "initial_lr": 0.5}], lr=0.1).param_groups[0]
    assert third["initial_lr"] == 0.5 and third["lr"] == 0.1
    assert optim.Adam([{"params": head}]).defaults == {
        "lr": 1e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0.0,
    }


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_add_param_group_trains_as_torchs(name):
    """A fine-tuning script's unfreezing: the classifier alone for three steps, then the
    rest added as a group with its own rate; the added group starts from the constructor's
    settings, not the first group's rate as changed since (torch's defaults)."""
    ours, tm = small_cnn_pair(6)
    parts = [_split(m) for m in (ours, tm)]
    opt = getattr(optim, name)(parts[0][2], **SETTINGS[name])
    topt = getattr(torch.optim, name)(parts[1][2], **SETTINGS[name])
    _train([(ours, opt, False), (tm, topt, True)], 3)
    for group in (opt.param_groups[0], topt.param_groups[0]):
        group["lr"] *= 0.5
    opt.add_param_group({"params": parts[0][0] + parts[0][1], "weight_decay": 0.05})
    topt.add_param_group({"params": parts[1][0] + parts[1][1], "weight_decay": 0.05})
    assert opt.param_groups[1]["lr"] == topt.param_groups[1]["lr"] == SETTINGS[name]["lr"]
    _train([(ours, opt, False), (tm, topt, True)], 3, seed=7)
    _assert_same_weights(ours, tm)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "NAdam"])
def test_a_grouped_checkpoint_resumes_exactly(name, tmp_path):
    """Three steps, the state through a safetensors file, three more in a new optimiser:
    the weights of six uninterrupted steps, bit for bit; each group's settings come back."""
    from safetensors.numpy import load_file, save_file

    straight, _ = small_cnn_pair(8)
    resumed, _ = small_cnn_pair(8)
    opt = _grouped(name, straight, optim)
    opt_r = _grouped(name, resumed, optim)
    _train([(straight, opt, False), (resumed, opt_r, False)], 3)
    opt.param_groups[2]["lr"] *= 0.5  # a group's setting changed mid-run travels too
    opt_r.param_groups[2]["lr"] *= 0.5
    save_file(opt_r.state_dict(), str(tmp_path / "opt.safetensors"))
    fresh = _grouped(name, resumed, optim)
    fresh.load_state_dict(load_file(str(tmp_path / "opt.safetensors")))
    settings = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    assert [{k: v for k, v in g.items() if k != "params"} for g in fresh.param_groups] == settings
    assert settings[2]["lr"] == SETTINGS[name]["lr"] / 2
    _train([(straight, opt, False)], 3, seed=9)
    _train([(resumed, fresh, False)], 3, seed=9)
    for key, value in straight.state_dict().items():
        assert np.array_equal(value, resumed.state_dict()[key]), key


def test_a_checkpoint_of_other_groups_is_refused_and_changes_nothing():
    model = small_cnn_pair()[0]
    conv, free, head = _split(model)
    three = optim.SGD([{"params": conv}, {"params": free}, {"params": head}], lr=0.1)
    two = optim.SGD([{"params": conv + free, "lr": 0.2}, {"params": head}], lr=0.1)
    one = optim.SGD(model.parameters(), lr=0.3)
    with pytest.raises(
        ValueError,
        match=r"state_dict\['groups.sizes'\]: expected the groups' sizes \[5, 2\], got \[2, 3, 2\]",
    ):
        two.load_state_dict(three.state_dict())
    with pytest.raises(ValueError, match=r"missing key 'groups.1.lr' \(this optimiser has 2"):
        two.load_state_dict(one.state_dict())
    with pytest.raises(ValueError, match=r"unexpected key 'groups.1.lr'"):
        one.load_state_dict(two.state_dict())
    bad = two.state_dict()
    bad["groups.1.momentum"] = np.array(-1.0)
    bad["lr"] = np.array(0.7)
    with pytest.raises(ValueError, match=r"state_dict \(group 1\): SGD: momentum"):
        two.load_state_dict(bad)
    assert [g["lr"] for g in two.param_groups] == [0.2, 0.1] and two.lr == 0.2
    assert [g["momentum"] for g in two.param_groups] == [0.0, 0.0]


def test_bad_groups_are_refused_naming_the_group():
    conv, free, head = _split(small_cnn_pair()[0])
    cases = [
        (
            [{"params": conv, "weight_decy": 0.1}],
            ValueError,
            r"SGD: params\[0\]: unknown setting\(s\) \['weight_decy'\]",
        ),
        (
            [{"params": conv}, {"params": free, "momentum": -1}],
            ValueError,
            r"SGD: params\[1\]: momentum",
        ),
        (
            [{"params": conv}, {"lr": 0.1}],
            ValueError,
            r"SGD: params\[1\]: a parameter group needs the key 'params'",
        ),
        (
            [{"params": conv}, {"params": conv[:1]}],
            ValueError,
            r"params\[1\]\['params'\]\[0\]: the same Parameter appears twice",
        ),
        (
            [{"params": conv}, *free],
            TypeError,
            r"SGD: params: expected Parameters or parameter groups \(dicts\), not both",
        ),
        (
            [{"params": [conv[0], "w"]}],
            TypeError,
            r"params\[0\]\['params'\]\[1\]: expected a cnnmath.nn.Parameter, got str",
        ),
        ([{"params": []}], ValueError, r"SGD: params: expected at least one Parameter"),
    ]
    for params, error, message in cases:
        with pytest.raises(error, match=message):
            optim.SGD(params, lr=0.1)
    opt = optim.Adam([{"params": head[0], "betas": (0.5, 0.6)}, {"params": []}])  # as torch
    assert opt.params == [head[0]] and opt.param_groups[0]["betas"] == (0.5, 0.6)
    with pytest.raises(
        ValueError, match=r"Adam.add_param_group: param_group\['params'\]\[0\]: the same"
    ):
        opt.add_param_group({"params": [head[0]]})
    with pytest.raises(ValueError, match=r"Adam.add_param_group: param_group: betas\[1\]"):
        opt.add_param_group({"params": [head[1]], "betas": (0.5, 2.0)})
    assert len(opt.param_groups) == 2 and opt.betas == (0.5, 0.6) and opt.params == [head[0]]


def test_adagrad_s_starting_sum_is_the_constructor_s():
    """torch's Adagrad fills every sum with the constructor's initial_accumulator_value,
    whatever a group says; cnnmath refuses the group's key instead of ignoring it."""
    conv, free, _ = _split(small_cnn_pair()[0])
    with pytest.raises(ValueError, match=r"Adagrad: params\[1\]: initial_accumulator_value"):
        optim.Adagrad([{"params": conv}, {"params": free, "initial_accumulator_value": 0.5}])
    opt = optim.Adagrad([{"params": conv}], initial_accumulator_value=0.25)
    with pytest.raises(ValueError, match="Adagrad.add_param_group: param_group: initial_acc"):
        opt.add_param_group({"params": free, "initial_accumulator_value": 0.5})
    tp = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    tq = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.Adagrad(
        [{"params": [tp]}, {"params": [tq], "initial_accumulator_value": 0.5}], lr=0.1
    )
    assert topt.state[tq]["sum"].tolist() == [0.0, 0.0]  # the group's 0.5 is not used
    opt.add_param_group({"params": free})
    for p in opt.params:
        p.grad[...] = 1.0
    opt.step()
    assert all(np.all(st["sum"] == 1.25) for st in opt.state)


def test_a_schedule_s_base_rate_travels_in_the_checkpoint():
    """PyTorch's param_groups keep "initial_lr": a schedule made after resuming (a new phase)
    starts from the original base rate, per group, not the decayed one."""
    conv, free, _ = _split(small_cnn_pair()[0])
    tconv, tfree, _ = _split(small_cnn_pair()[1])
    opt = optim.SGD([{"params": conv}, {"params": free, "lr": 0.4}], lr=1.0)
    topt = torch.optim.SGD([{"params": tconv}, {"params": tfree, "lr": 0.4}], lr=1.0)
    steps = optim.StepLR(opt, step_size=1, gamma=0.5)
    tsteps = torch.optim.lr_scheduler.StepLR(topt, step_size=1, gamma=0.5)
    for _ in range(3):
        steps.step()
        tsteps.step()
    saved = opt.state_dict()
    assert saved["initial_lr"] == 1.0 and saved["groups.1.initial_lr"] == 0.4
    resumed = optim.SGD([{"params": conv}, {"params": free, "lr": 0.4}], lr=1.0)
    resumed.load_state_dict(saved)
    phase = optim.LambdaLR(resumed, lambda t: 0.9**t)
    tphase = torch.optim.lr_scheduler.LambdaLR(topt, lambda t: 0.9**t)
    assert phase.base_lrs == tphase.base_lrs == [1.0, 0.4]
    phase.step()
    tphase.step()
    assert phase.get_last_lr() == pytest.approx(tphase.get_last_lr(), rel=1e-15)
    bad = {**saved, "groups.1.initial_lr": np.array(-1.0)}
    with pytest.raises(ValueError, match=r"state_dict\['groups.1.initial_lr'\]"):
        optim.SGD([{"params": conv}, {"params": free}], lr=1.0).load_state_dict(bad)


def test_param_groups_and_defaults_refuse_writes_that_would_do_nothing():
    """The list of groups and the defaults are made at each read: appending a group or
    writing a default would change nothing, so each says what to do instead."""
    model = small_cnn_pair()[0]
    conv, free, _ = _split(model)
    opt = optim.SGD([{"params": conv}], lr=0.1)
    with pytest.raises(TypeError, match=r"param_groups.append: .*add_param_group"):
        opt.param_groups.append({"params": free})
    with pytest.raises(TypeError):
        opt.defaults["lr"] = 1.0
    assert len(opt.param_groups) == 1 and opt.defaults["lr"] == 0.1
    assert opt.param_groups[0]["lr"] == 0.1 and [g["lr"] for g in opt.param_groups] == [0.1]


def test_unordered_or_named_parameters_are_refused_with_the_way_out():
    model = small_cnn_pair()[0]
    with pytest.raises(TypeError, match=r"params\[0\]\['params'\]: expected a list .*fixed order"):
        optim.SGD([{"params": set(model.parameters())}], lr=0.1)
    with pytest.raises(TypeError, match=r"pair: pass model.parameters\(\)"):
        optim.SGD(model.named_parameters(), lr=0.1)
