"""RMSprop and the schedules LinearLR, SequentialLR, ReduceLROnPlateau and OneCycleLR against
torch.optim: parameter trajectories and learning-rate sequences step by step, state_dict
round trips mid-run, fit driving them, and bad settings named."""

import math

import numpy as np
import pytest

from cnnmath import nn
from cnnmath.optim import (
    SGD,
    Adam,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    RMSprop,
    SequentialLR,
    StepLR,
)

torch = pytest.importorskip("torch")
sched = torch.optim.lr_scheduler
# torch's schedulers are stepped here without optimiser steps between: only rates compared
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return [nn.Parameter(rng.normal(size=(3, 4))), nn.Parameter(rng.normal(size=(4,)))]


def _torch_params(params):
    return [torch.from_numpy(p.data.copy()).requires_grad_() for p in params]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"lr": 0.05, "alpha": 0.9},
        {"momentum": 0.8},
        {"centered": True},
        {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "eps": 1e-3},
    ],
)
def test_rmsprop_trajectory_is_torchs(kwargs):
    ours = _params()
    theirs = _torch_params(ours)
    opt, topt = RMSprop(ours, **kwargs), torch.optim.RMSprop(theirs, **kwargs)
    rng = np.random.default_rng(1)
    for _ in range(6):
        grads = [rng.normal(size=p.shape) for p in ours]
        for p, t, g in zip(ours, theirs, grads, strict=True):
            p.grad[...] = g
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        for p, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-15)
    # its buffers are torch's state, under torch's names
    for i, t in enumerate(theirs):
        for name, value in topt.state[t].items():
            if name != "step":
                np.testing.assert_allclose(
                    opt.state_dict()[f"{i}.{name}"], value.numpy(), rtol=1e-12
                )


def test_rmsprop_resumes_from_its_state_dict():
    a, b = _params(), _params()
    opt_a = RMSprop(a, momentum=0.9, centered=True)
    for _ in range(3):
        for p in a:
            p.grad[...] = 1.0
        opt_a.step()
    for p, q in zip(a, b, strict=True):
        q.data[...] = p.data
    opt_b = RMSprop(b, momentum=0.9, centered=True)
    opt_b.load_state_dict(opt_a.state_dict())
    for opt, params in ((opt_a, a), (opt_b, b)):
        for p in params:
            p.grad[...] = 0.5
        opt.step()
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="grad_avg"):
        RMSprop(_params(), momentum=0.9, centered=True).load_state_dict(
            {k: v for k, v in opt_a.state_dict().items() if not k.endswith("grad_avg")}
        )


def _rates(ours_sched, torch_sched, epochs, metric=None):
    got, want = [ours_sched.get_last_lr()[0]], [torch_sched.get_last_lr()[0]]
    for t in range(epochs):
        if metric is None:
            ours_sched.step()
            torch_sched.step()
        else:
            ours_sched.step(metric[t])
            torch_sched.step(metric[t])
        got.append(ours_sched.get_last_lr()[0])
        want.append(torch_sched.get_last_lr()[0])
    return got, want


def _pair(lr=0.5):
    ours = SGD(_params(), lr=lr)
    theirs = torch.optim.SGD(_torch_params(_params()), lr=lr)
    return ours, theirs


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"start_factor": 0.1, "total_iters": 3},
        {"start_factor": 1.0, "end_factor": 0.2, "total_iters": 4},
    ],
)
def test_linear_lr_is_torchs(kwargs):
    ours, theirs = _pair()
    got, want = _rates(LinearLR(ours, **kwargs), sched.LinearLR(theirs, **kwargs), 9)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    s, e, T = (
        kwargs.get("start_factor", 1 / 3),
        kwargs.get("end_factor", 1.0),
        kwargs.get("total_iters", 5),
    )
    closed = [0.5 * (s + (e - s) * min(t, T) / T) for t in range(10)]
    np.testing.assert_allclose(got, closed, rtol=1e-12)


@pytest.mark.parametrize(
    ("build", "milestones"),
    [
        (
            lambda o, S: [
                S.LinearLR(o, start_factor=0.1, total_iters=3),
                S.CosineAnnealingLR(o, T_max=6),
            ],
            [3],
        ),
        (
            lambda o, S: [
                S.LinearLR(o, start_factor=0.5, total_iters=2),
                S.StepLR(o, step_size=2, gamma=0.5),
                S.ExponentialLR(o, gamma=0.9),
            ],
            [2, 6],
        ),
        (
            lambda o, S: [
                S.MultiStepLR(o, milestones=[0, 2], gamma=0.5),
                S.LambdaLR(o, lambda t: 1 / (t + 1)),
            ],
            [4],
        ),
    ],
)
def test_sequential_lr_is_torchs(build, milestones):
    import types

    ours_ns = types.SimpleNamespace(
        LinearLR=LinearLR,
        CosineAnnealingLR=CosineAnnealingLR,
        StepLR=StepLR,
        ExponentialLR=ExponentialLR,
        MultiStepLR=MultiStepLR,
        LambdaLR=LambdaLR,
    )
    ours, theirs = _pair()
    ours_sched = SequentialLR(ours, build(ours, ours_ns), milestones)
    theirs_sched = sched.SequentialLR(theirs, build(theirs, sched), milestones)
    got, want = _rates(ours_sched, theirs_sched, 12)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert ours.lr == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-12)


def test_a_second_scheduler_starts_from_the_initial_rate_as_torchs():
    ours, theirs = _pair()
    a, ta = StepLR(ours, 1, 0.5), sched.StepLR(theirs, 1, 0.5)
    a.step()
    ta.step()
    b, tb = ExponentialLR(ours, 0.9), sched.ExponentialLR(theirs, 0.9)
    assert b.base_lrs == tb.base_lrs == [0.5]


def test_sequential_lr_resumes_mid_run():
    def make(opt):
        return SequentialLR(
            opt, [LinearLR(opt, 0.2, total_iters=3), CosineAnnealingLR(opt, T_max=5)], [3]
        )

    a, b = SGD(_params(), lr=1.0), SGD(_params(), lr=1.0)
    sa, sb = make(a), make(b)
    for _ in range(4):
        sa.step()
    import json

    sb.load_state_dict(json.loads(json.dumps(sa.state_dict())))
    b.lr = a.lr  # the rate is the optimiser's state
    for _ in range(5):
        sa.step()
        sb.step()
        assert sa.get_last_lr() == sb.get_last_lr()


METRICS = [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.89999, 0.5, 0.6, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("threshold_mode", ["rel", "abs"])
@pytest.mark.parametrize("cooldown", [0, 2])
def test_reduce_on_plateau_is_torchs(mode, threshold_mode, cooldown):
    ours, theirs = _pair()
    kwargs = dict(
        mode=mode,
        factor=0.5,
        patience=1,
        threshold=0.01,
        threshold_mode=threshold_mode,
        cooldown=cooldown,
        min_lr=0.01,
    )
    metric = METRICS if mode == "min" else [-m for m in METRICS]
    got, want = _rates(
        ReduceLROnPlateau(ours, **kwargs),
        sched.ReduceLROnPlateau(theirs, **kwargs),
        len(metric),
        metric,
    )
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert min(got) < 0.5  # the scripted plateaus do cut the rate


def test_reduce_on_plateau_resumes_and_fit_steps_it_with_the_held_out_loss(tmp_path):
    import json

    zero_d = ReduceLROnPlateau(SGD(_params(), lr=1.0), patience=0)
    zero_d.step(np.array(2.0))  # a 0-d array, as PyTorch takes a 0-d tensor
    assert zero_d.best == 2.0

    a = SGD(_params(), lr=1.0)
    s = ReduceLROnPlateau(a, patience=0)
    s.step(1.0)
    state = json.loads(json.dumps(s.state_dict()))
    fresh = ReduceLROnPlateau(SGD(_params(), lr=1.0), patience=0)
    fresh.load_state_dict(state)
    assert fresh.best == 1.0 and fresh.state_dict() == s.state_dict()
    untouched = ReduceLROnPlateau(SGD(_params(), lr=1.0))
    assert json.loads(json.dumps(untouched.state_dict()))["best"] == math.inf

    from cnnmath.train import fit

    X = np.random.default_rng(0).normal(size=(16, 3))
    y = np.zeros(16, np.int64)
    model = nn.Sequential(nn.Linear(3, 2, rng=0, dtype=np.float64))
    opt = SGD(model.parameters(), lr=0.0)  # no learning: the held-out loss stays flat
    plateau = ReduceLROnPlateau(opt, patience=1, factor=0.5, min_lr=0.0)
    opt.lr = 0.0
    history = fit(
        model,
        opt,
        (X, y),
        epochs=4,
        batch_size=8,
        val_data=(X, y),
        scheduler=plateau,
        progress=False,
    )
    assert plateau.last_epoch == 4 and plateau.best == pytest.approx(history[0]["val_loss"])


def test_fit_with_warmup_then_cosine_resumes_exactly(tmp_path):
    from cnnmath.train import fit

    X = np.random.default_rng(1).normal(size=(20, 4))
    y = np.random.default_rng(2).integers(0, 3, size=20)

    def run(epochs, **kw):
        model = nn.Sequential(nn.Linear(4, 3, rng=0, dtype=np.float64))
        opt = Adam(model.parameters(), lr=0.1)
        s = SequentialLR(
            opt, [LinearLR(opt, 0.1, total_iters=2), CosineAnnealingLR(opt, T_max=4)], [2]
        )
        history = fit(
            model, opt, (X, y), epochs=epochs, batch_size=8, scheduler=s, progress=False, **kw
        )
        return model, history

    whole, history = run(6)
    np.testing.assert_allclose(
        [r["lr"] for r in history],
        [
            0.01,
            0.055,
            0.1,
            0.1 * (1 + math.cos(math.pi / 4)) / 2,
            0.05,
            0.1 * (1 + math.cos(3 * math.pi / 4)) / 2,
        ],
        rtol=1e-12,
    )
    path = tmp_path / "run.ckpt"
    run(3, checkpoint=path)
    resumed, _ = run(6, resume=path)
    for key, value in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"anneal_strategy": "linear", "pct_start": 0.25},
        {"three_phase": True, "div_factor": 10.0, "final_div_factor": 100.0},
        {"cycle_momentum": False},
        {
            "base_momentum": 0.8,
            "max_momentum": 0.9,
            "three_phase": True,
            "anneal_strategy": "linear",
        },
    ],
)
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_one_cycle_is_torchs_with_its_momentum(kwargs, optimizer):
    def make(params, lib):
        if optimizer == "sgd":
            return (SGD if lib is None else torch.optim.SGD)(params, lr=0.1, momentum=0.9)
        if optimizer == "adam":
            return (Adam if lib is None else torch.optim.Adam)(params, lr=0.1)
        return (RMSprop if lib is None else torch.optim.RMSprop)(params, lr=0.1, momentum=0.5)

    ours, theirs = make(_params(), None), make(_torch_params(_params()), torch)
    a = OneCycleLR(ours, max_lr=2.0, total_steps=20, **kwargs)
    b = sched.OneCycleLR(theirs, max_lr=2.0, total_steps=20, **kwargs)
    rates, momentum = [], []
    for step in range(20):  # the rate and momentum each batch trains with
        group = theirs.param_groups[0]
        want = group["betas"][0] if optimizer == "adam" else group["momentum"]
        got = ours.betas[0] if optimizer == "adam" else ours.momentum
        momentum.append((got, want))
        rates.append((ours.lr, group["lr"]))
        if step < 19:
            a.step()
            b.step()
    np.testing.assert_allclose(*zip(*rates), rtol=1e-12)
    np.testing.assert_allclose(*zip(*momentum), rtol=1e-12)
    assert (
        len(set(r for r, _ in rates)) > 10
        and (len(set(m for m, _ in momentum)) > 3) == a.cycle_momentum
    )
    a.step()  # step T (after the last batch): η_min, where PyTorch extrapolates
    assert a.get_last_lr()[0] == pytest.approx(2.0 / a.div_factor / a.final_div_factor)
    with pytest.raises(ValueError, match="past total_steps = 20"):
        a.step()


def test_one_cycle_rates_over_a_whole_run_are_torchs():
    ours, theirs = _pair()
    kwargs = dict(max_lr=1.0, epochs=3, steps_per_epoch=4, cycle_momentum=False)
    got, want = _rates(OneCycleLR(ours, **kwargs), sched.OneCycleLR(theirs, **kwargs), 11)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[-1] == pytest.approx(1.0 / 25 / 1e4)


def test_fit_steps_one_cycle_after_every_batch_and_resumes(tmp_path):
    from cnnmath.train import fit

    X = np.random.default_rng(3).normal(size=(20, 4))
    y = np.random.default_rng(4).integers(0, 3, size=20)

    def run(epochs, **kw):
        model = nn.Sequential(nn.Linear(4, 3, rng=0, dtype=np.float64))
        opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        s = OneCycleLR(opt, max_lr=0.5, epochs=4, steps_per_epoch=3)
        history = fit(
            model, opt, (X, y), epochs=epochs, batch_size=8, scheduler=s, progress=False, **kw
        )
        return model, s, history

    model, s, history = run(4)
    assert s.last_epoch == 12  # 3 batches × 4 epochs
    reference, _ = _pair()
    walk = OneCycleLR(reference, max_lr=0.5, total_steps=12)
    rates = [walk.get_last_lr()[0]] + [walk.step() or walk.get_last_lr()[0] for _ in range(11)]
    np.testing.assert_allclose([r["lr"] for r in history], rates[::3], rtol=1e-14)
    path = tmp_path / "run.ckpt"
    run(2, checkpoint=path)
    resumed, _, _ = run(4, resume=path)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: RMSprop(_params(), alpha=1.5), ValueError, ["alpha", "1.5"]),
        (lambda: RMSprop(_params(), centered=1), TypeError, ["centered", "1"]),
        (
            lambda: LinearLR(SGD(_params(), lr=1.0), start_factor=0),
            ValueError,
            ["start_factor", "0"],
        ),
        (lambda: LinearLR(SGD(_params(), lr=1.0), end_factor=2), ValueError, ["end_factor", "2"]),
        (lambda: LinearLR(SGD(_params(), lr=1.0), total_iters=0), ValueError, ["total_iters", "0"]),
        (
            lambda: (lambda o: SequentialLR(o, [StepLR(o, 1), StepLR(o, 2)], [1, 2]))(
                SGD(_params(), lr=1.0)
            ),
            ValueError,
            ["milestones", "1 epoch"],
        ),
        (
            lambda: (lambda o: SequentialLR(o, [StepLR(o, 1), StepLR(o, 2)], [0]))(
                SGD(_params(), lr=1.0)
            ),
            ValueError,
            ["milestones[0]", "0"],
        ),
        (
            lambda: SequentialLR(SGD(_params(), lr=1.0), [StepLR(SGD(_params(), lr=1.0), 1)], []),
            ValueError,
            ["schedulers[0]", "another optimiser"],
        ),
        (
            lambda: (lambda o: SequentialLR(o, [ReduceLROnPlateau(o)], []))(SGD(_params(), lr=1.0)),
            TypeError,
            ["schedulers[0]", "ReduceLROnPlateau"],
        ),
        (
            lambda: ReduceLROnPlateau(SGD(_params(), lr=1.0), mode="lowest"),
            ValueError,
            ["mode", "'lowest'"],
        ),
        (
            lambda: ReduceLROnPlateau(SGD(_params(), lr=1.0), factor=1.0),
            ValueError,
            ["factor", "1.0"],
        ),
        (
            lambda: ReduceLROnPlateau(SGD(_params(), lr=1.0)).step("0.3"),
            TypeError,
            ["metrics", "'0.3'"],
        ),
    ],
)
def test_bad_settings_are_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Resuming before a SequentialLR's later schedules start; RMSprop's buffers across settings;
# OneCycleLR's phases of no length; fit's checks of a per-batch schedule


def _warmup_then_cosine(opt, S):
    return S.SequentialLR(
        opt, [S.LinearLR(opt, 0.2, total_iters=3), S.CosineAnnealingLR(opt, T_max=5)], [3]
    )


def test_sequential_lr_resumes_before_the_second_schedule_starts():
    """Stopped during the warm-up, the cosine schedule has not started: its last_epoch is -1
    (PyTorch's too), and the state loads into a fresh SequentialLR, which then gives the
    uninterrupted run's rates (PyTorch's)."""
    import json
    import types

    ours_ns = types.SimpleNamespace(
        SequentialLR=SequentialLR, LinearLR=LinearLR, CosineAnnealingLR=CosineAnnealingLR
    )
    ours, theirs = _pair()
    a, ta = _warmup_then_cosine(ours, ours_ns), _warmup_then_cosine(theirs, sched)
    a.step()
    ta.step()
    saved = json.loads(json.dumps(a.state_dict()))
    assert (
        [c["last_epoch"] for c in saved["_schedulers"]]
        == [c["last_epoch"] for c in ta.state_dict()["_schedulers"]]
        == [1, -1]
    )
    fresh = SGD(_params(), lr=0.5)
    b = _warmup_then_cosine(fresh, ours_ns)
    b.load_state_dict(saved)
    fresh.lr = ours.lr  # the rate is the optimiser's state
    got, want = [], []
    for _ in range(8):
        b.step()
        ta.step()
        got.append(b.get_last_lr()[0])
        want.append(ta.get_last_lr()[0])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # -1 is accepted only for a schedule inside a SequentialLR, and a bad schedule state is
    # named by its place; nothing is changed
    alone = CosineAnnealingLR(SGD(_params(), lr=0.5), T_max=5)
    with pytest.raises(ValueError, match=r"last_epoch'\]: expected an int >= 0, got -1"):
        alone.load_state_dict(saved["_schedulers"][1])
    bad = json.loads(json.dumps(saved))
    bad["_schedulers"][1]["T_max"] = 0
    before = b.state_dict()
    with pytest.raises(ValueError, match=r"\['_schedulers'\]\[1\]: .*T_max"):
        b.load_state_dict(bad)
    assert b.state_dict() == before


def test_fit_resumes_a_warmup_then_cosine_run_stopped_during_the_warmup(tmp_path):
    from cnnmath.train import fit

    X = np.random.default_rng(1).normal(size=(20, 4))
    y = np.random.default_rng(2).integers(0, 3, size=20)

    def run(epochs, **kw):
        model = nn.Sequential(nn.Linear(4, 3, rng=0, dtype=np.float64))
        opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        s = SequentialLR(
            opt, [LinearLR(opt, 0.1, total_iters=3), CosineAnnealingLR(opt, T_max=3)], [3]
        )
        history = fit(
            model, opt, (X, y), epochs=epochs, batch_size=8, scheduler=s, progress=False, **kw
        )
        return model, history

    whole, history = run(6)
    path = tmp_path / "run.ckpt"
    run(1, checkpoint=path)  # epoch 1 of a 3-epoch warm-up
    resumed, resumed_history = run(6, resume=path)
    assert [r["lr"] for r in resumed_history] == [r["lr"] for r in history]
    for key, value in whole.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)


def test_rmsprop_checkpoint_settings_win_and_a_momentum_cycled_to_zero_keeps_its_buffer():
    """OneCycleLR cycles RMSprop's momentum 0.9 → 0 → 0.9: at the peak the momentum is 0 and
    the buffer stays (PyTorch keeps it and uses it again). The whole trajectory is PyTorch's; a
    state taken at the peak loads into an RMSprop made with other settings (the checkpoint's
    win, as for SGD and Adam) and into a fresh run, which continues bit for bit."""
    kwargs = dict(
        max_lr=0.05,
        total_steps=10,
        pct_start=0.4,
        base_momentum=0.0,
        max_momentum=0.9,
        anneal_strategy="linear",
    )

    def make(params):
        opt = RMSprop(params, lr=0.01, centered=True)
        return opt, OneCycleLR(opt, **kwargs)

    ours = _params()
    theirs = _torch_params(ours)
    opt, s = make(ours)
    topt = torch.optim.RMSprop(theirs, lr=0.01, centered=True)
    ts = sched.OneCycleLR(topt, **kwargs)
    grads = [[np.random.default_rng(10 + k).normal(size=p.shape) for p in ours] for k in range(9)]
    saved = None
    for k in range(9):
        for p, t, g in zip(ours, theirs, grads[k], strict=True):
            p.grad[...] = g
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        s.step()
        ts.step()
        for p, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-15)
        if k == 2:  # the next batch runs at the peak: momentum 0
            assert opt.momentum == topt.param_groups[0]["momentum"] == 0.0
            saved = opt.state_dict(), s.state_dict(), [p.data.copy() for p in ours]
    assert saved is not None
    opt_state, sched_state, data = saved
    assert "0.momentum_buffer" in opt_state and "0.grad_avg" in opt_state
    other = RMSprop(_params(), lr=1.0)  # no momentum, not centered: the checkpoint's settings win
    other.load_state_dict(opt_state)
    assert other.hyperparameters() == {
        "lr": opt_state["lr"].item(),
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": True,
    }
    resumed = [nn.Parameter(d.copy()) for d in data]
    opt2, s2 = make(resumed)
    opt2.load_state_dict(opt_state)
    s2.load_state_dict(sched_state)
    for k in range(3, 9):
        for p, g in zip(resumed, grads[k], strict=True):
            p.grad[...] = g
        opt2.step()
        s2.step()
    for p, q in zip(ours, resumed, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    # the buffers the loaded settings use are still required
    with pytest.raises(ValueError, match=r"missing key\(s\) \['0.grad_avg'\]"):
        other.load_state_dict({k: v for k, v in opt_state.items() if k != "0.grad_avg"})
    lacking = {k: v for k, v in opt_state.items() if not k.endswith("grad_avg")}
    with pytest.raises(ValueError, match=r"missing key\(s\) \['0.grad_avg'\]"):
        other.load_state_dict(lacking)
    other.load_state_dict(lacking | {"centered": np.array(0.0)})  # not centered: not needed


def _one_cycle_closed_form(step, T, p, max_lr, div, final_div):
    """The cosine 1cycle rate of two phases, [0, pT − 1] up and [pT − 1, T − 1] down, written
    from the policy's definition (a phase of no length at its end)."""
    initial = max_lr / div
    low = initial / final_div
    up_end = p * T - 1
    if step <= up_end:
        start, end, s0, s1 = initial, max_lr, 0.0, up_end
    else:
        start, end, s0, s1 = max_lr, low, up_end, T - 1
    pct = 1.0 if s1 == s0 else min((step - s0) / (s1 - s0), 1.0)
    return end + (start - end) * (1 + math.cos(math.pi * pct)) / 2


@pytest.mark.parametrize("pct_start, total_steps", [(0.1, 10), (0.5, 2), (1.0, 6)])
def test_one_cycle_phase_of_no_length_is_at_its_end(pct_start, total_steps):
    """p·T = 1 makes PyTorch divide 0 by 0 at step 0 (ZeroDivisionError); here the one-step
    climb runs at η_max. p = 1 does so at step T, which keeps η_min. Every other step is
    PyTorch's where PyTorch has one, and the policy's closed form throughout."""
    ours, theirs = _pair()
    kw = dict(max_lr=1.0, total_steps=total_steps, pct_start=pct_start, cycle_momentum=False)
    s = OneCycleLR(ours, **kw)
    got = [s.get_last_lr()[0]] + [s.step() or s.get_last_lr()[0] for _ in range(total_steps)]
    want = [_one_cycle_closed_form(k, total_steps, pct_start, 1.0, 25.0, 1e4) for k in range(11)]
    np.testing.assert_allclose(got, want[: total_steps + 1], rtol=1e-12)
    if pct_start * total_steps == 1:
        assert got[0] == 1.0
        with pytest.raises(ZeroDivisionError):
            sched.OneCycleLR(theirs, **kw)
    else:
        ts = sched.OneCycleLR(theirs, **kw)
        theirs_rates = [ts.get_last_lr()[0]]
        for _ in range(total_steps - 1):
            ts.step()
            theirs_rates.append(ts.get_last_lr()[0])
        np.testing.assert_allclose(got[:total_steps], theirs_rates, rtol=1e-12)
        assert got[-1] == pytest.approx(1.0 / 25 / 1e4)
        with pytest.raises(ZeroDivisionError):
            ts.step()  # step T in a last phase of no length


def test_reduce_on_plateau_takes_metrics_by_torchs_name():
    ours, theirs = _pair()
    a, b = ReduceLROnPlateau(ours, patience=0), sched.ReduceLROnPlateau(theirs, patience=0)
    for value in (1.0, 2.0, 3.0):
        a.step(metrics=value)
        b.step(metrics=value)
    assert a.get_last_lr() == pytest.approx(b.get_last_lr(), rel=1e-14) and ours.lr < 0.5


def test_fit_steps_a_sequential_lr_holding_one_cycle_after_every_batch():
    """A warm-up in front of a OneCycleLR: the SequentialLR is stepped after every batch, as a
    PyTorch loop stepping it per batch does (the rates and momenta each batch trains with)."""
    from cnnmath.train import fit

    X = np.random.default_rng(5).normal(size=(12, 4))
    y = np.random.default_rng(6).integers(0, 3, size=12)
    model = nn.Sequential(nn.Linear(4, 3, rng=0, dtype=np.float64))
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)

    def build(o, S):
        warm = S.LinearLR(o, 0.5, total_iters=2)
        return S.SequentialLR(o, [warm, S.OneCycleLR(o, max_lr=0.5, total_steps=8)], [2])

    import types

    s = build(
        opt,
        types.SimpleNamespace(SequentialLR=SequentialLR, LinearLR=LinearLR, OneCycleLR=OneCycleLR),
    )
    assert s.per_batch and not LinearLR(SGD(_params(), lr=0.1)).per_batch
    seen = []
    real_step = opt.step

    def spy():
        seen.append((opt.lr, opt.momentum))
        real_step()

    opt.step = spy
    fit(model, opt, (X, y), epochs=3, batch_size=4, scheduler=s, progress=False)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    ts = build(topt, sched)
    want = []
    for _ in range(9):
        want.append((topt.param_groups[0]["lr"], topt.param_groups[0]["momentum"]))
        ts.step()
    np.testing.assert_allclose(seen, want, rtol=1e-12)
    assert s.last_epoch == 9


def test_fit_refuses_a_one_cycle_shorter_than_the_run_before_training():
    from cnnmath.train import fit

    X = np.random.default_rng(3).normal(size=(20, 4))
    y = np.random.default_rng(4).integers(0, 3, size=20)
    model = nn.Sequential(nn.Linear(4, 3, rng=0, dtype=np.float64))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    short = OneCycleLR(opt, max_lr=0.5, epochs=4, steps_per_epoch=20 // 8)  # floor, not ceil
    with pytest.raises(
        ValueError,
        match=r"total_steps=8, fewer than the 12 batches.*"
        r"epochs=4, steps_per_epoch=3",
    ):
        fit(model, opt, (X, y), epochs=4, batch_size=8, scheduler=short, progress=False)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert short.last_epoch == 0
