"""Every learning-rate schedule over several parameter groups, against PyTorch's: an
optimiser with three groups of different rates, the same groups in torch.optim.SGD, the same
schedule (per-group lists where PyTorch takes them, a different function per group), stepped
side by side; the rates (``get_last_lr()`` and each group's "lr") and momenta compared every
epoch. Then the state_dict round trip over several groups, and the refusals: a state for
another number of groups, a list of the wrong length, a step after a group was added."""

import json
import types

import numpy as np
import pytest

from cnnmath import nn, optim
from cnnmath.optim import swa_utils

torch = pytest.importorskip("torch")
# torch is stepped without gradients: its optimiser steps change nothing, and are made only so
# that its schedulers do not warn
pytestmark = pytest.mark.filterwarnings("ignore:.*lr_scheduler.step")

RATES = (0.03, None, 0.2)  # group 1 takes the optimiser's default rate
DEFAULT_LR = 0.1
MOMENTA = (0.5, None, 0.8)  # group 1 takes the default momentum
DEFAULT_MOMENTUM = 0.9
EPOCHS = 25

OURS = types.SimpleNamespace(**{k: getattr(optim, k) for k in optim.__all__}, SWALR=swa_utils.SWALR)
THEIRS = types.SimpleNamespace(**vars(torch.optim.lr_scheduler), SWALR=torch.optim.swa_utils.SWALR)


def _groups(params, groups):
    out = []
    for p, lr, momentum in zip(params, RATES[:groups], MOMENTA[:groups], strict=True):
        group = {"params": [p]}
        if lr is not None:
            group["lr"] = lr
        if momentum is not None:
            group["momentum"] = momentum
        out.append(group)
    return out


def _ours(groups=3):
    params = [nn.Parameter(np.zeros(i + 1)) for i in range(groups)]
    return optim.SGD(_groups(params, groups), lr=DEFAULT_LR, momentum=DEFAULT_MOMENTUM)


def _theirs(groups=3):
    params = [torch.zeros(i + 1, dtype=torch.float64, requires_grad=True) for i in range(groups)]
    return torch.optim.SGD(_groups(params, groups), lr=DEFAULT_LR, momentum=DEFAULT_MOMENTUM)


def per(opt, *values):
    """One value (or function) per group of ``opt``: the first len(param_groups) given."""
    return list(values[: len(opt.param_groups)])


# (id, make(lib, optimiser) -> schedule): lib is OURS or THEIRS, so both libraries run the
# same construction; lists hold one value (or function) per group
CASES = [
    (
        "LambdaLR-list",
        lambda L, o: L.LambdaLR(
            o, per(o, lambda t: 0.9**t, lambda t: 1.0 / (t + 1), lambda t: 1.0 + 0.25 * (t % 3))
        ),
    ),
    ("LambdaLR-one", lambda L, o: L.LambdaLR(o, lambda t: 0.5 ** (t // 4))),
    ("StepLR", lambda L, o: L.StepLR(o, step_size=4, gamma=0.5)),
    ("MultiStepLR", lambda L, o: L.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.3)),
    ("ExponentialLR", lambda L, o: L.ExponentialLR(o, gamma=0.85)),
    ("CosineAnnealingLR", lambda L, o: L.CosineAnnealingLR(o, T_max=9, eta_min=0.001)),
    ("LinearLR", lambda L, o: L.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=6)),
    ("ConstantLR", lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=5)),
    ("PolynomialLR", lambda L, o: L.PolynomialLR(o, total_iters=14, power=1.5)),
    (
        "MultiplicativeLR-list",
        lambda L, o: L.MultiplicativeLR(
            o, per(o, lambda t: 0.95, lambda t: 1.1 if t % 2 else 0.8, lambda t: 1.0 - 0.01 * t)
        ),
    ),
    ("MultiplicativeLR-one", lambda L, o: L.MultiplicativeLR(o, lambda t: 0.9)),
    (
        "SequentialLR",
        lambda L, o: L.SequentialLR(
            o,
            [
                L.LinearLR(o, start_factor=0.1, total_iters=4),
                L.CosineAnnealingLR(o, T_max=10, eta_min=0.002),
                L.MultiplicativeLR(o, per(o, lambda t: 0.9, lambda t: 0.7, lambda t: 1.05)),
            ],
            milestones=[6, 15],
        ),
    ),
    (
        "ChainedScheduler",
        lambda L, o: L.ChainedScheduler(
            [
                L.ConstantLR(o, factor=0.5, total_iters=3),
                L.ExponentialLR(o, gamma=0.9),
                L.MultiplicativeLR(o, per(o, lambda t: 1.0, lambda t: 0.95, lambda t: 1.02)),
            ]
        ),
    ),
    (
        "ReduceLROnPlateau-list",
        lambda L, o: L.ReduceLROnPlateau(
            o, factor=0.5, patience=1, cooldown=1, min_lr=per(o, 0.01, 0.002, 0.05)
        ),
    ),
    ("ReduceLROnPlateau-one", lambda L, o: L.ReduceLROnPlateau(o, factor=0.3, patience=2)),
    (
        "OneCycleLR-list",
        lambda L, o: L.OneCycleLR(
            o,
            max_lr=per(o, 0.5, 1.0, 2.0),
            total_steps=EPOCHS + 1,
            base_momentum=per(o, 0.8, 0.85, 0.7),
            max_momentum=per(o, 0.9, 0.95, 0.99),
        ),
    ),
    (
        "OneCycleLR-three-phase",
        lambda L, o: L.OneCycleLR(
            o,
            max_lr=tuple(per(o, 0.4, 0.3, 0.9)),
            total_steps=EPOCHS + 1,
            three_phase=True,
            anneal_strategy="linear",
        ),
    ),
    (
        "CosineAnnealingWarmRestarts",
        lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001),
    ),
    (
        "CyclicLR-list",
        lambda L, o: L.CyclicLR(
            o,
            base_lr=per(o, 0.01, 0.02, 0.005),
            max_lr=per(o, 0.1, 0.3, 0.05),
            step_size_up=4,
            step_size_down=3,
            mode="triangular2",
            base_momentum=per(o, 0.7, 0.8, 0.6),
            max_momentum=per(o, 0.9, 0.95, 0.85),
        ),
    ),
    (
        "CyclicLR-one",
        lambda L, o: L.CyclicLR(
            o, base_lr=0.01, max_lr=0.2, step_size_up=3, mode="exp_range", gamma=0.97
        ),
    ),
    (
        "SWALR-list",
        lambda L, o: L.SWALR(
            o, swa_lr=per(o, 0.05, 0.01, 0.3), anneal_epochs=6, anneal_strategy="cos"
        ),
    ),
    ("SWALR-one", lambda L, o: L.SWALR(o, swa_lr=0.02, anneal_epochs=4, anneal_strategy="linear")),
]
IDS = [case[0] for case in CASES]
# the metric ReduceLROnPlateau follows: improving, flat (cuts), improving again, worse
METRICS = [1.0, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.7] + [0.75] * (EPOCHS - 9)


def _step(schedule, epoch):
    if isinstance(schedule, (optim.ReduceLROnPlateau, torch.optim.lr_scheduler.ReduceLROnPlateau)):
        schedule.step(METRICS[epoch])
    else:
        schedule.step()


def _rates(opt):
    return [g["lr"] for g in opt.param_groups]


def _momenta(opt):
    return [g["momentum"] for g in opt.param_groups]


def _close(got, want):
    """Equal lists of rates, each within 1e-12 relative (0 only as 0)."""
    return len(got) == len(want) and all(
        g == w or abs(g - w) <= 1e-12 * abs(w) for g, w in zip(got, want, strict=True)
    )


@pytest.mark.parametrize("touch", [False, True], ids=["alone", "group1-halved-by-hand"])
@pytest.mark.parametrize("make", [case[1] for case in CASES], ids=IDS)
def test_every_group_follows_torchs_schedule(make, touch):
    """get_last_lr() and every group's rate and momentum, after construction and after each
    of 25 steps, are torch's; with touch, group 1's rate is halved by hand before epoch 4's
    step, which the chainable schedules carry on from (in that group only) and the others
    overwrite, as torch's do."""
    opt, topt = _ours(), _theirs()
    ours, theirs = make(OURS, opt), make(THEIRS, topt)
    history = []
    for epoch in range(EPOCHS + 1):
        if epoch:
            if touch and epoch == 4:
                opt.param_groups[1]["lr"] = opt.param_groups[1]["lr"] * 0.5
                topt.param_groups[1]["lr"] *= 0.5
            topt.step()
            _step(ours, epoch)
            _step(theirs, epoch)
        got, want = ours.get_last_lr(), theirs.get_last_lr()
        assert len(got) == 3 and _close(got, want), (epoch, got, want)
        assert _close(_rates(opt), _rates(topt)), (epoch, _rates(opt), _rates(topt))
        assert _close(_momenta(opt), _momenta(topt)), (epoch, _momenta(opt), _momenta(topt))
        history.append(got)
    assert len({tuple(r) for r in history}) > 1  # the schedule did move the rates


@pytest.mark.parametrize("make", [case[1] for case in CASES], ids=IDS)
def test_a_state_dict_taken_mid_schedule_resumes_every_group(make):
    """Stop after 11 steps, keep the optimiser's and the schedule's state (the schedule's
    through JSON, as a checkpoint keeps it), load both into a fresh pair: the remaining rates
    of all three groups are the uninterrupted run's, bit for bit."""

    def run(stop=None):
        opt = _ours()
        schedule = make(OURS, opt)
        rates = []
        for epoch in range(1, EPOCHS + 1):
            if epoch == stop:
                saved = opt.state_dict(), json.loads(json.dumps(schedule.state_dict()))
                opt = _ours()
                schedule = make(OURS, opt)
                opt.load_state_dict(saved[0])
                schedule.load_state_dict(saved[1])
            _step(schedule, epoch)
            rates.append((schedule.get_last_lr(), _rates(opt)))
        return rates

    straight = run()
    assert run(stop=12) == straight
    assert len(straight[-1][0]) == 3


def _state_for(make, groups):
    opt = _ours(groups)
    schedule = make(OURS, opt)
    for epoch in range(1, 6):
        _step(schedule, epoch)
    return json.loads(json.dumps(schedule.state_dict()))


@pytest.mark.parametrize("make", [case[1] for case in CASES], ids=IDS)
def test_a_state_for_another_number_of_groups_is_refused_whole(make):
    """A state saved with three groups is refused by the schedule of a two-group optimiser
    (and the reverse), the error naming a per-group key, what it expected and what it got;
    nothing changes."""
    for saved_groups, groups in ((3, 2), (2, 3)):
        state = _state_for(make, saved_groups)
        opt = _ours(groups)
        schedule = make(OURS, opt)
        _step(schedule, 1)
        before, rates = json.dumps(schedule.state_dict()), _rates(opt)
        with pytest.raises(ValueError, match=r"\['?[a-z_]+'?\].*\(the optimiser has \d\), got"):
            schedule.load_state_dict(state)
        assert json.dumps(schedule.state_dict()) == before and _rates(opt) == rates


def test_the_group_count_error_names_the_key():
    opt = _ours(2)
    schedule = optim.CosineAnnealingLR(opt, T_max=5)
    state = _state_for(lambda L, o: L.CosineAnnealingLR(o, T_max=5), 3)
    with pytest.raises(
        ValueError,
        match=r"CosineAnnealingLR.load_state_dict: state_dict\['base_lrs'\]: expected a list of "
        r"one learning rate per parameter group \(the optimiser has 2\), got a list of 3",
    ):
        schedule.load_state_dict(state)
    cyclic = optim.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=2)
    state = cyclic.state_dict() | {"max_lrs": [0.1, 0.2, 0.3]}
    with pytest.raises(ValueError, match=r"state_dict: CyclicLR: max_lrs: .*has 2\), got"):
        cyclic.load_state_dict(state)


@pytest.mark.parametrize("make", [case[1] for case in CASES], ids=IDS)
def test_a_step_after_a_group_was_added_raises_and_changes_nothing(make):
    opt = _ours(2)
    schedule = make(OURS, opt)
    _step(schedule, 1)
    opt.add_param_group({"params": [nn.Parameter(np.zeros(3))], "lr": 0.5})
    before, rates = json.dumps(schedule.state_dict()), _rates(opt)
    with pytest.raises(
        RuntimeError, match=r"optimiser has 3 parameter groups, the schedule was made for 2"
    ):
        _step(schedule, 2)
    assert json.dumps(schedule.state_dict()) == before and _rates(opt) == rates


WRONG_LENGTHS = [
    (lambda L, o: L.LambdaLR(o, [lambda t: 1.0] * 2), "LambdaLR: lr_lambda"),
    (lambda L, o: L.MultiplicativeLR(o, [lambda t: 1.0] * 4), "MultiplicativeLR: lr_lambda"),
    (lambda L, o: L.ReduceLROnPlateau(o, min_lr=[0.0, 0.1]), "ReduceLROnPlateau: min_lr"),
    (lambda L, o: L.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=10), "OneCycleLR: max_lr"),
    (
        lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=10, base_momentum=[0.8] * 2),
        "OneCycleLR: base_momentum",
    ),
    (lambda L, o: L.CyclicLR(o, base_lr=[0.01] * 2, max_lr=0.1), "CyclicLR: base_lr"),
    (lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=(0.1,) * 4), "CyclicLR: max_lr"),
    (
        lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, max_momentum=[0.9] * 2),
        "CyclicLR: max_momentum",
    ),
    (lambda L, o: L.SWALR(o, swa_lr=[0.05] * 2), "SWALR: swa_lr"),
]


@pytest.mark.parametrize("make, pattern", WRONG_LENGTHS)
def test_a_list_of_the_wrong_length_is_refused_as_torch_refuses_it(make, pattern):
    """A per-group list whose length is not the number of groups (3): ValueError naming the
    argument, as torch raises ValueError; the optimiser is left as it was."""
    with pytest.raises(ValueError):
        make(THEIRS, _theirs())
    opt = _ours()
    before = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    with pytest.raises(ValueError, match=pattern + r": expected .*the optimiser has 3\), got"):
        make(OURS, opt)
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == before


def test_a_bad_function_in_the_list_is_named_by_its_group():
    opt = _ours()
    with pytest.raises(TypeError, match=r"LambdaLR: lr_lambda\[1\]: expected a function"):
        optim.LambdaLR(opt, [lambda t: 1.0, 0.5, lambda t: 1.0])
    schedule = optim.LambdaLR(opt, [lambda t: 1.0, lambda t: 1.0 - t, lambda t: 1.0])
    schedule.step()
    with pytest.raises(ValueError, match=r"learning rate of epoch 2, group 1: expected a finite"):
        schedule.step()
    assert schedule.last_epoch == 1 and schedule.get_last_lr() == _rates(opt)


@pytest.mark.parametrize(
    "make",
    [
        lambda L, o: L.OneCycleLR(
            o, max_lr=[0.01, 0.04], total_steps=16, base_momentum=[0.8, 0.6], max_momentum=0.97
        ),
        lambda L, o: L.CyclicLR(
            o, base_lr=0.001, max_lr=[0.01, 0.02], step_size_up=3, base_momentum=[0.8, 0.7]
        ),
    ],
    ids=["OneCycleLR", "CyclicLR"],
)
def test_the_cycled_beta1_of_each_adam_group_is_torchs(make):
    """On Adam the cycling schedules drive each group's β1, keeping its own β2, as torch's."""

    def groups(tensor):
        return [
            {"params": [tensor(2)], "betas": (0.9, 0.99)},
            {"params": [tensor(3)], "lr": 0.002, "betas": (0.85, 0.9)},
        ]

    opt = optim.Adam(groups(lambda n: nn.Parameter(np.zeros(n))), lr=0.001)
    topt = torch.optim.Adam(groups(lambda n: torch.zeros(n, requires_grad=True)), lr=0.001)
    ours, theirs = make(OURS, opt), make(THEIRS, topt)
    for _ in range(15):
        got = [(g["lr"], *g["betas"]) for g in opt.param_groups]
        want = [(g["lr"], *g["betas"]) for g in topt.param_groups]
        assert _close([x for row in got for x in row], [x for row in want for x in row]), (
            got,
            want,
        )
        topt.step()
        ours.step()
        theirs.step()
    assert got[0][2] == 0.99 and got[1][2] == 0.9 and got[0][1] != got[1][1]
