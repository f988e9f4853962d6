"""Adagrad, Adamax, NAdam and RAdam against torch.optim on the same gradients, step by step
(float64 and float32, each option on and off), their state through a checkpoint mid-run, and
bad settings named. The schedules ConstantLR, PolynomialLR, MultiplicativeLR,
CosineAnnealingWarmRestarts, ChainedScheduler and CyclicLR against torch.optim.lr_scheduler
over several restarts and cycles, resumed from their state_dict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnmath import nn, optim
from cnnmath.nn import Parameter
from helpers import rel_error

torch = pytest.importorskip("torch")
# torch's schedulers are stepped here without optimiser steps between: only rates compared
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")

SHAPES = [(3, 4), (5,), (2, 1, 3, 3), ()]
STEPS = 24

OPTIMIZERS = [
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.1}),
    ("Adagrad", {"lr": 0.05, "weight_decay": 0.2, "initial_accumulator_value": 0.5}),
    ("Adagrad", {"lr": 0.05, "eps": 1e-3, "lr_decay": 0.01, "weight_decay": 0.05}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-4}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "betas": (0.8, 0.99), "momentum_decay": 0.05}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"momentum_decay": 0.0, "eps": 1e-3}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9)}),  # ρ_t > 5 from step 6: both branches
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"betas": (0.5, 0.6)}),  # ρ_∞ = 4: never rectified, plain momentum steps
]
OPTIMIZER_IDS = [f"{name}-{sorted(kw.items())}" for name, kw in OPTIMIZERS]


def _params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [Parameter(np.asarray(rng.standard_normal(s), dtype=dtype)) for s in SHAPES]


def _grads(step, dtype):
    rng = np.random.default_rng(100 + step)
    return [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]


def _step(opt, params, step, dtype):
    for p, g in zip(params, _grads(step, dtype), strict=True):
        p.grad[...] = g
    opt.step()


def _step_both(opt, params, topt, tensors, step, dtype):
    """One step of ours and of torch's on the same gradients."""
    _step(opt, params, step, dtype)
    for t, g in zip(tensors, _grads(step, dtype), strict=True):
        t.grad = torch.from_numpy(g.copy())
    topt.step()


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_steps_match_torch_optim(name, kwargs, dtype, tol):
    """24 steps on the same gradients (the rate halved by hand at step 10, as a schedule
    would): every parameter after every step, and at the end every buffer under torch's name,
    within ``tol`` of torch's relative to the data's scale."""
    params = _params(dtype)
    tensors = [torch.from_numpy(p.data.copy()).requires_grad_(True) for p in params]
    opt = getattr(optim, name)(params, **kwargs)
    topt = getattr(torch.optim, name)(tensors, **kwargs)
    for step in range(STEPS):
        if step == 10:
            opt.lr = opt.lr * 0.5
            topt.param_groups[0]["lr"] *= 0.5
        _step_both(opt, params, topt, tensors, step, dtype)
        for p, t in zip(params, tensors, strict=True):
            assert p.data.dtype == dtype
            assert rel_error(p.data, t.detach().numpy()) <= tol, step
    state = opt.state_dict()
    assert int(state["step"]) == STEPS
    for i, t in enumerate(tensors):
        theirs = {k: v for k, v in topt.state[t].items() if k != "step"}
        assert {k.split(".", 1)[1] for k in state if k.startswith(f"{i}.")} == set(theirs)
        for key, value in theirs.items():
            ours = state[f"{i}.{key}"]
            assert ours.dtype == value.numpy().dtype and ours.shape == tuple(value.shape), key
            if key == "mu_product":  # rounded to float32 step by step, as torch's
                assert ours == value.numpy(), (ours, value)
            else:
                assert rel_error(ours, value.numpy()) <= tol, key


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_hyperparameters_are_torchs_param_group(name, kwargs):
    params = _params(np.float64)
    opt = getattr(optim, name)(params, **kwargs)
    group = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs).param_groups[
        0
    ]
    for key, value in opt.hyperparameters().items():
        if key in ("beta1", "beta2"):
            assert value == group["betas"][key == "beta2"], key
        else:
            assert value == group[key], key
    assert repr(opt).startswith(f"{name}(lr={opt.lr}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_state_dict_resume_equals_uninterrupted_run(name, kwargs, dtype):
    """Stop after 9 steps, save through safetensors (as a checkpoint does), load into a fresh
    optimiser built with other settings: the next 15 steps are the uninterrupted run's, bit
    for bit, and the checkpoint's settings win."""
    from safetensors.numpy import load, save

    straight = _params(dtype)
    opt = getattr(optim, name)(straight, **kwargs)
    for step in range(STEPS):
        _step(opt, straight, step, dtype)

    resumed = _params(dtype)
    first = getattr(optim, name)(resumed, **kwargs)
    for step in range(9):
        _step(first, resumed, step, dtype)
    saved = load(save(first.state_dict()))
    second = getattr(optim, name)(resumed, lr=123.0)
    second.load_state_dict(saved)
    assert second.hyperparameters() == first.hyperparameters()
    for step in range(9, STEPS):
        _step(second, resumed, step, dtype)
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_fit_checkpoint_resumes_nadam_exactly(tmp_path):
    """fit with NAdam (a 0-d float32 buffer beside the parameter-shaped ones): 3 epochs to a
    checkpoint, resumed to 6, equals 6 straight epochs bit for bit; the checkpoint names
    the optimiser by its class, so resuming with RAdam is refused."""
    from cnnmath.train import fit

    X = np.random.default_rng(1).normal(size=(20, 4))
    y = np.random.default_rng(2).integers(0, 3, size=20)

    def run(epochs, cls=optim.NAdam, **kw):
        model = nn.Sequential(nn.Linear(4, 3, rng=0, dtype=np.float64))
        opt = cls(model.parameters(), lr=0.05, weight_decay=0.01)
        fit(model, opt, (X, y), epochs=epochs, batch_size=8, progress=False, **kw)
        return model

    whole = run(6)
    path = tmp_path / "run.ckpt"
    run(3, checkpoint=path)
    resumed = run(6, resume=path)
    for key, value in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)
    with pytest.raises(ValueError, match="optimizer='NAdam'"):
        run(6, cls=optim.RAdam, resume=path)


def test_nadam_state_refuses_a_mu_product_of_another_kind():
    params = _params(np.float64)
    opt = optim.NAdam(params)
    _step(opt, params, 0, np.float64)
    state = opt.state_dict()
    assert state["0.mu_product"].shape == () and state["0.mu_product"].dtype == np.float32
    state["0.mu_product"] = np.ones((), np.float64)
    with pytest.raises(ValueError, match=r"0\.mu_product.*float32"):
        optim.NAdam(params).load_state_dict(state)
    del state["0.mu_product"]
    with pytest.raises(ValueError, match="mu_product"):
        optim.NAdam(params).load_state_dict(state)


def test_adagrad_first_step_is_lr_times_sign():
    # s = g² after one step (no initial accumulator), so the step is η·g/(|g| + ε) ≈ η·sign(g)
    p = Parameter(np.zeros(4))
    p.grad[...] = [3.0, -0.5, 1e-3, -7.0]
    optim.Adagrad([p], lr=0.1, eps=0.0).step()
    np.testing.assert_allclose(p.data, -0.1 * np.sign([3.0, -0.5, 1e-3, -7.0]), rtol=1e-15)


def _p():
    return [Parameter(np.zeros(2))]


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: optim.Adagrad(_p(), lr=-1.0), ValueError, ["Adagrad", "lr", "-1"]),
        (lambda: optim.Adagrad(_p(), lr_decay=-0.1), ValueError, ["lr_decay", "-0.1"]),
        (lambda: optim.Adagrad(_p(), weight_decay=-1), ValueError, ["weight_decay", "-1"]),
        (
            lambda: optim.Adagrad(_p(), initial_accumulator_value=-1),
            ValueError,
            ["initial_accumulator_value", "-1"],
        ),
        (lambda: optim.Adagrad(_p(), eps=float("nan")), ValueError, ["eps", "nan"]),
        (lambda: optim.Adamax(_p(), betas=(1.0, 0.9)), ValueError, ["Adamax", "betas[0]", "1"]),
        (lambda: optim.Adamax(_p(), betas=0.9), TypeError, ["betas", "0.9"]),
        (lambda: optim.Adamax(_p(), eps=-1e-8), ValueError, ["eps", "-1e-08"]),
        (lambda: optim.NAdam(_p(), betas=(0.9, 1.5)), ValueError, ["NAdam", "betas[1]", "1.5"]),
        (lambda: optim.NAdam(_p(), momentum_decay=-1), ValueError, ["momentum_decay", "-1"]),
        (
            lambda: optim.NAdam(_p(), decoupled_weight_decay=1),
            TypeError,
            ["decoupled_weight_decay", "1"],
        ),
        (lambda: optim.RAdam(_p(), weight_decay=-0.5), ValueError, ["RAdam", "weight_decay"]),
        (
            lambda: optim.RAdam(_p(), decoupled_weight_decay="yes"),
            TypeError,
            ["decoupled_weight_decay", "'yes'"],
        ),
        (lambda: optim.RAdam(Parameter(np.zeros(2))), TypeError, ["RAdam", "params"]),
    ],
)
def test_bad_optimizer_settings_are_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Schedules

BASE_LR = 0.1
EPOCHS = 40  # several restarts of T_0 = 3, T_mult = 2 (at 3, 9, 21) and cycles of CyclicLR

SCHEDULES = [
    ("ConstantLR", {}),
    ("ConstantLR", {"factor": 0.25, "total_iters": 7}),
    ("ConstantLR", {"factor": 1.0, "total_iters": 1}),
    ("PolynomialLR", {}),
    ("PolynomialLR", {"total_iters": 11, "power": 2.5}),
    ("PolynomialLR", {"total_iters": 30, "power": 0.5}),
    ("MultiplicativeLR", {"lr_lambda": lambda t: 0.95}),
    ("MultiplicativeLR", {"lr_lambda": lambda t: 1.0 + 0.3 * (-1) ** t}),
    ("CosineAnnealingWarmRestarts", {"T_0": 5}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.01}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4, "cycle_momentum": False}),
    (
        "CyclicLR",
        {
            "base_lr": 0.02,
            "max_lr": 0.3,
            "step_size_up": 3,
            "step_size_down": 5,
            "mode": "triangular2",
            "cycle_momentum": False,
        },
    ),
    (
        "CyclicLR",
        {
            "base_lr": 0.02,
            "max_lr": 0.3,
            "step_size_up": 5,
            "step_size_down": 2,
            "mode": "exp_range",
            "gamma": 0.97,
            "cycle_momentum": False,
        },
    ),
    (
        "CyclicLR",
        {
            "base_lr": 0.01,
            "max_lr": 0.1,
            "step_size_up": 3,
            "scale_fn": lambda x: 1 / (x + 1),
            "scale_mode": "iterations",
            "cycle_momentum": False,
        },
    ),
    (
        "CyclicLR",
        {
            "base_lr": 0.01,
            "max_lr": 0.1,
            "step_size_up": 4,
            "step_size_down": 0,
            "scale_fn": lambda c: 0.8**c,
            "cycle_momentum": False,
        },
    ),
]
SCHEDULE_IDS = [
    f"{name}-{sorted((k, f'fn{i}' if callable(v) else v) for k, v in kw.items())}"
    for i, (name, kw) in enumerate(SCHEDULES)
]
# whose rate is computed from the rate in use (torch's get_lr chains): a change by hand carries on
CHAINABLE = {"ConstantLR", "PolynomialLR", "MultiplicativeLR"}


def _rates_of_both(ours, theirs, steps, check=None):
    """The rates of two schedules stepped together ``steps`` times, from construction on;
    the optimiser's rate is the schedule's at every step, and ``check()`` runs after each."""
    got, want = [ours.get_last_lr()[0]], [theirs.get_last_lr()[0]]
    for _ in range(steps):
        ours.step()
        theirs.step()
        got.append(ours.get_last_lr()[0])
        want.append(theirs.get_last_lr()[0])
        assert ours.optimizer.lr == got[-1]
        if check is not None:
            check()
    return got, want


def _torch_pair(name, kwargs, **opt_kw):
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR, **opt_kw)
    return topt, getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)


def _ours_pair(name, kwargs, **opt_kw):
    opt = optim.SGD([Parameter(np.zeros(1))], lr=BASE_LR, **opt_kw)
    return opt, getattr(optim, name)(opt, **kwargs)


@pytest.mark.parametrize("touch_lr", [False, True], ids=["alone", "lr-changed-by-hand"])
@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_matches_torch_lr_scheduler(name, kwargs, touch_lr):
    """The rate after construction and after each of 40 steps is torch's (relative 1e-12);
    with touch_lr the rate is halved by hand at epoch 3, which torch's schedules carry on from
    (the chainable ones) or overwrite (the closed forms), and so must these."""
    topt, tsched = _torch_pair(name, kwargs)
    opt, sched = _ours_pair(name, kwargs)
    assert opt.lr == sched.get_last_lr()[0]

    def check():
        assert sched.last_epoch == tsched.last_epoch
        if touch_lr and sched.last_epoch == 2:  # halved by hand before epoch 3's step
            topt.param_groups[0]["lr"] *= 0.5
            opt.lr = opt.lr * 0.5

    got, want = _rates_of_both(sched, tsched, EPOCHS, check)
    assert sched.last_epoch == EPOCHS
    assert rel_error(got, want) <= 1e-12, (got, want)
    if touch_lr and name in CHAINABLE:  # the change by hand did carry on
        assert got[4] != _rates_alone(name, kwargs)[4]


def _resumed_rates(make, stop, total):
    """The rates of steps stop + 1 … total of a schedule stopped after ``stop`` steps, its and
    its optimiser's state kept (the schedule's through JSON, as a checkpoint keeps it), and
    loaded into a fresh pair from ``make()``."""
    opt, sched = make()
    for _ in range(stop):
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), json.loads(json.dumps(sched.state_dict()))
    opt, sched = make()
    opt.load_state_dict(saved_opt)
    sched.load_state_dict(saved_sched)
    return [sched.step() or sched.get_last_lr()[0] for _ in range(total - stop)]


def _rates_alone(name, kwargs):
    opt, sched = _ours_pair(name, kwargs)
    return [sched.get_last_lr()[0]] + [
        sched.step() or sched.get_last_lr()[0] for _ in range(EPOCHS)
    ]


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_state_dict_has_torchs_names_and_values(name, kwargs):
    topt, tsched = _torch_pair(name, kwargs)
    opt, sched = _ours_pair(name, kwargs)
    for _ in range(13):
        tsched.step()
        sched.step()
    ours, theirs = sched.state_dict(), tsched.state_dict()
    if not ours.get("cycle_momentum", True):  # torch keeps the momenta only when it cycles them
        assert {"base_momentums", "max_momentums"}.isdisjoint(theirs)
        ours = {k: v for k, v in ours.items() if k not in ("base_momentums", "max_momentums")}
    assert set(ours) <= set(theirs)
    for key, value in ours.items():
        if isinstance(value, list):
            assert rel_error(value, theirs[key]) <= 1e-12, key
        elif isinstance(value, str):
            assert value == theirs[key], key
        else:
            assert value == pytest.approx(theirs[key], rel=1e-12), key
    json.dumps(ours)  # plain values: a checkpoint stores them as JSON


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_resumes_from_its_state_dict(name, kwargs):
    """Stop after 17 steps, keep the optimiser's and the schedule's state (through JSON),
    rebuild both fresh and load: the next 23 rates are the uninterrupted run's, bit for bit."""
    straight = _rates_alone(name, kwargs)
    assert _resumed_rates(lambda: _ours_pair(name, kwargs), 17, EPOCHS) == straight[18:]


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_fractional_epochs_are_torchs(T_mult):
    """step(epoch) with a fraction of an epoch (per batch), jumping about, and its state
    resumed mid-way: torch's rates and T_cur/T_i."""
    opt, sched = _ours_pair("CosineAnnealingWarmRestarts", {"T_0": 2, "T_mult": T_mult})
    topt, tsched = _torch_pair("CosineAnnealingWarmRestarts", {"T_0": 2, "T_mult": T_mult})
    epochs = [e + i / 4 for e in range(12) for i in range(4)] + [3, 30.5, 0.25, 7]
    for k, epoch in enumerate(epochs):
        if k == 20:
            state = json.loads(json.dumps(sched.state_dict()))
            opt, sched = _ours_pair("CosineAnnealingWarmRestarts", {"T_0": 2, "T_mult": T_mult})
            sched.load_state_dict(state)
        tsched.step(epoch)
        sched.step(epoch)
        assert sched.get_last_lr()[0] == pytest.approx(tsched.get_last_lr()[0], rel=1e-12)
        assert (sched.T_i, sched.last_epoch) == (tsched.T_i, tsched.last_epoch)
        assert sched.T_cur == pytest.approx(tsched.T_cur, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "opt_name, opt_kw",
    [
        ("SGD", {"lr": 0.5, "momentum": 0.5}),
        ("RMSprop", {"lr": 0.5, "momentum": 0.5}),
        ("NAdam", {}),
        ("Adamax", {}),
        ("RAdam", {}),
    ],
)
@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_lr_cycles_the_momentum_or_beta1_as_torch(opt_name, opt_kw, mode):
    """The momentum (SGD, RMSprop) or β1 (Adam's variants) runs against the rate, torch's
    step by step; and the optimiser steps with it as torch's does."""
    kwargs = {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 3, "mode": mode, "gamma": 0.9}
    ours = _params(np.float64)
    theirs = [torch.from_numpy(p.data.copy()).requires_grad_(True) for p in ours]
    opt = getattr(optim, opt_name)(ours, **opt_kw)
    topt = getattr(torch.optim, opt_name)(theirs, **opt_kw)
    sched = optim.CyclicLR(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.CyclicLR(topt, **kwargs)
    key = "momentum" if opt_name in ("SGD", "RMSprop") else "beta1"

    def torch_momentum():
        group = topt.param_groups[0]
        return group["momentum"] if key == "momentum" else group["betas"][0]

    seen = []
    for step in range(20):
        assert opt.hyperparameters()[key] == pytest.approx(torch_momentum(), rel=1e-12)
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
        seen.append(opt.hyperparameters()[key])
        _step_both(opt, ours, topt, theirs, step, np.float64)
        sched.step()
        tsched.step()
    assert min(seen) < 0.85 and max(seen) == 0.9  # it did cycle
    for p, t in zip(ours, theirs, strict=True):
        assert rel_error(p.data, t.detach().numpy()) <= 1e-12


@pytest.mark.parametrize("name", ["CyclicLR", "OneCycleLR"])
def test_a_cycled_momentum_needs_momentum_or_betas_as_torch(name):
    """Adagrad has neither: torch refuses cycle_momentum with it, and so does cnnmath, naming
    the argument; cycle_momentum=False runs the rates alone."""
    kwargs = (
        {"base_lr": 0.01, "max_lr": 0.1}
        if name == "CyclicLR"
        else {"max_lr": 0.1, "total_steps": 10}
    )
    with pytest.raises(ValueError, match="momentum"):
        getattr(torch.optim.lr_scheduler, name)(
            torch.optim.Adagrad([torch.zeros(1, requires_grad=True)]), **kwargs
        )
    with pytest.raises(ValueError, match="cycle_momentum.*Adagrad"):
        getattr(optim, name)(optim.Adagrad(_p()), **kwargs)
    opt = optim.Adagrad(_p())
    getattr(optim, name)(opt, cycle_momentum=False, **kwargs).step()
    assert opt.lr > 0


def test_one_cycle_cycles_beta1_of_nadam_as_torch():
    opt = optim.NAdam(_p())
    topt = torch.optim.NAdam([torch.zeros(2, requires_grad=True)])
    sched = optim.OneCycleLR(opt, max_lr=0.1, total_steps=12)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=12)
    for _ in range(11):
        assert opt.betas[0] == pytest.approx(topt.param_groups[0]["betas"][0], rel=1e-12)
        sched.step()
        tsched.step()
    assert opt.betas[0] == pytest.approx(0.95) and opt.betas[1] == 0.999


@pytest.mark.parametrize(
    "build",
    [
        lambda S, o: [S.ConstantLR(o, factor=0.1, total_iters=2), S.ExponentialLR(o, gamma=0.9)],
        lambda S, o: [
            S.LinearLR(o, start_factor=0.2, total_iters=4),
            S.PolynomialLR(o, total_iters=9, power=2.0),
            S.MultiStepLR(o, milestones=[3, 6], gamma=0.5),
        ],
        lambda S, o: [S.MultiplicativeLR(o, lambda t: 0.97), S.ConstantLR(o, total_iters=3)],
        lambda S, o: [S.StepLR(o, step_size=3, gamma=0.5), S.CosineAnnealingWarmRestarts(o, 4)],
    ],
    ids=[
        "constant+exponential",
        "linear+polynomial+multistep",
        "multiplicative+constant",
        "step+sgdr",
    ],
)
def test_chained_scheduler_is_torchs_and_resumes(build):
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR)
    tchain = torch.optim.lr_scheduler.ChainedScheduler(build(torch.optim.lr_scheduler, topt))
    opt = optim.SGD(_p(), lr=BASE_LR)
    chain = optim.ChainedScheduler(build(optim, opt))
    got, want = _rates_of_both(chain, tchain, 20)
    assert rel_error(got, want) <= 1e-12, (got, want)
    assert set(chain.state_dict()) == set(tchain.state_dict())

    def make():
        opt = optim.SGD(_p(), lr=BASE_LR)
        return opt, optim.ChainedScheduler(build(optim, opt))

    # resumed after 8 steps: the remaining 12 rates bit for bit
    assert _resumed_rates(make, 8, 20) == got[9:]


@pytest.mark.parametrize(
    "build",
    [
        lambda S, o: [
            S.ConstantLR(o, factor=0.5, total_iters=2),
            S.MultiplicativeLR(o, lambda t: 0.8),
        ],
        lambda S, o: [S.LinearLR(o, 0.2, total_iters=3), S.CosineAnnealingWarmRestarts(o, 3, 2)],
        lambda S, o: [
            S.ExponentialLR(o, gamma=0.7),
            S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2),
        ],
        lambda S, o: [S.PolynomialLR(o, total_iters=3), S.ConstantLR(o, factor=0.5)],
    ],
    ids=[
        "constant-then-multiplicative",
        "linear-then-sgdr",
        "exp-then-cyclic",
        "poly-then-constant",
    ],
)
def test_sequential_lr_hands_over_to_the_new_schedules_as_torch(build):
    """At the milestone each new schedule starts as torch's step(0) starts it: the closed form
    at epoch 0, or, without one (MultiplicativeLR, CyclicLR), its rule at epoch 0 applied to
    the rate in use."""
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR, momentum=0.9)
    tseq = torch.optim.lr_scheduler.SequentialLR(
        topt, build(torch.optim.lr_scheduler, topt), milestones=[4]
    )
    opt = optim.SGD(_p(), lr=BASE_LR, momentum=0.9)
    seq = optim.SequentialLR(opt, build(optim, opt), milestones=[4])
    momenta = []

    def check():
        momenta.append((opt.momentum, topt.param_groups[0]["momentum"]))

    got, want = _rates_of_both(seq, tseq, 16, check)
    assert rel_error(got, want) <= 1e-12, (got, want)
    np.testing.assert_allclose(*zip(*momenta), rtol=1e-12)


def test_fit_steps_cyclic_lr_after_every_batch_and_resumes(tmp_path):
    """fit steps a CyclicLR after every batch (3 a epoch here): the epochs' rates are torch's
    at batches 0, 3, 6, …; a run resumed from a checkpoint after 2 epochs ends with the
    uninterrupted run's weights, bit for bit."""
    from cnnmath.train import fit

    X = np.random.default_rng(1).normal(size=(20, 4))
    y = np.random.default_rng(2).integers(0, 3, size=20)
    kwargs = {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 4, "mode": "triangular2"}

    def run(epochs, **kw):
        model = nn.Sequential(nn.Linear(4, 3, rng=0, dtype=np.float64))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = optim.CyclicLR(opt, **kwargs)
        history = fit(
            model, opt, (X, y), epochs=epochs, batch_size=7, scheduler=sched, progress=False, **kw
        )
        return model, history

    whole, history = run(5)
    topt, tsched = _torch_pair("CyclicLR", kwargs, momentum=0.9)
    rates = [tsched.get_last_lr()[0]] + [
        tsched.step() or tsched.get_last_lr()[0] for _ in range(15)
    ]
    np.testing.assert_allclose([r["lr"] for r in history], rates[::3][:5], rtol=1e-12)
    path = tmp_path / "run.ckpt"
    run(2, checkpoint=path)
    resumed, _ = run(5, resume=path)
    for key, value in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)


def _o():
    return optim.SGD(_p(), lr=1.0, momentum=0.9)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: optim.ConstantLR(_o(), factor=0), ValueError, ["ConstantLR", "factor", "0"]),
        (lambda: optim.ConstantLR(_o(), factor=1.5), ValueError, ["factor", "1.5"]),
        (lambda: optim.ConstantLR(_o(), total_iters=0), ValueError, ["total_iters", "0"]),
        (lambda: optim.PolynomialLR(_o(), total_iters=2.5), TypeError, ["total_iters", "2.5"]),
        (lambda: optim.PolynomialLR(_o(), power=-1), ValueError, ["power", "-1"]),
        (lambda: optim.MultiplicativeLR(_o(), 0.9), TypeError, ["lr_lambda", "0.9"]),
        (
            lambda: optim.MultiplicativeLR(_o(), lambda t: -1.0).step(),
            ValueError,
            ["learning rate of epoch 1"],
        ),
        (lambda: optim.CosineAnnealingWarmRestarts(_o(), T_0=0), ValueError, ["T_0", "0"]),
        (lambda: optim.CosineAnnealingWarmRestarts(_o(), 2, T_mult=1.5), TypeError, ["T_mult"]),
        (lambda: optim.CosineAnnealingWarmRestarts(_o(), 2, eta_min=-1), ValueError, ["eta_min"]),
        (
            lambda: optim.CosineAnnealingWarmRestarts(_o(), 2).step(-1),
            ValueError,
            ["epoch", "-1"],
        ),
        (lambda: optim.CyclicLR(_o(), 0.1, 1.0, mode="cosine"), ValueError, ["mode", "'cosine'"]),
        (lambda: optim.CyclicLR(_o(), 0.1, 1.0, step_size_up=0), ValueError, ["step_size_up"]),
        (
            lambda: optim.CyclicLR(_o(), 0.1, 1.0, step_size_down=-1),
            ValueError,
            ["step_size_down", "-1"],
        ),
        (lambda: optim.CyclicLR(_o(), -0.1, 1.0), ValueError, ["base_lr", "-0.1"]),
        (lambda: optim.CyclicLR(_o(), 0.1, float("inf")), ValueError, ["max_lr", "inf"]),
        (lambda: optim.CyclicLR(_o(), 0.1, 1.0, gamma=0), ValueError, ["gamma", "0"]),
        (lambda: optim.CyclicLR(_o(), 0.1, 1.0, scale_fn=3), TypeError, ["scale_fn", "3"]),
        (
            lambda: optim.CyclicLR(_o(), 0.1, 1.0, scale_fn=abs, scale_mode="epoch"),
            ValueError,
            ["scale_mode", "'epoch'"],
        ),
        (lambda: optim.CyclicLR(_o(), 0.1, 1.0, cycle_momentum=1), TypeError, ["cycle_momentum"]),
        (lambda: optim.CyclicLR(_o(), 0.1, 1.0, max_momentum=-0.5), ValueError, ["max_momentum"]),
        (lambda: optim.ChainedScheduler([]), TypeError, ["ChainedScheduler", "schedulers"]),
        (
            lambda: (lambda o: optim.ChainedScheduler([optim.ReduceLROnPlateau(o)]))(_o()),
            TypeError,
            ["schedulers[0]", "ReduceLROnPlateau"],
        ),
        (
            lambda: optim.ChainedScheduler([optim.ConstantLR(_o()), optim.ConstantLR(_o())]),
            ValueError,
            ["schedulers[1]", "another optimiser"],
        ),
        (
            lambda: (
                lambda o: optim.SequentialLR(
                    o, [optim.ChainedScheduler([optim.ConstantLR(o)]), optim.ConstantLR(o)], [2]
                )
            )(_o()),
            TypeError,
            ["schedulers[0]", "ChainedScheduler"],
        ),
    ],
)
def test_bad_schedule_settings_are_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)


def test_schedule_load_state_dict_checks_the_new_keys():
    opt = _o()
    sched = optim.CosineAnnealingWarmRestarts(opt, T_0=3)
    state = sched.state_dict()
    for key, value, words in [
        ("T_i", 0, ["T_i", "0"]),
        ("T_cur", -0.5, ["T_cur", "-0.5"]),
        ("T_cur", "1", ["T_cur", "'1'"]),
    ]:
        with pytest.raises((TypeError, ValueError)) as caught:
            sched.load_state_dict({**state, key: value})
        assert all(w in str(caught.value) for w in words)
    with pytest.raises(ValueError, match="missing key 'T_cur'"):
        sched.load_state_dict({k: v for k, v in state.items() if k != "T_cur"})
    assert sched.state_dict() == state  # nothing changed
    chain = optim.ChainedScheduler([optim.ConstantLR(opt), optim.StepLR(opt, 2)])
    saved = chain.state_dict()
    bad = json.loads(json.dumps(saved))
    bad["_schedulers"][1]["step_size"] = 0
    with pytest.raises(ValueError, match=r"_schedulers'\]\[1\].*step_size"):
        chain.load_state_dict(bad)
    assert chain.state_dict() == saved
