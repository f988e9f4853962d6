"""cnnmath.optim against torch.optim on the same gradients, step by step; checkpoints of the
optimiser state; bad input. The learning-rate schedules against torch.optim.lr_scheduler (the
rates, chaining after a hand-made change, state_dict names) and their closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cnnmath import optim
from cnnmath.nn import Parameter
from helpers import rel_error

SHAPES = [(3, 4), (4,), (2, 1, 3, 3)]
STEPS = 6

CONFIGS = [
    ("SGD", "SGD", {"lr": 0.1}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1}),
    ("SGD", "SGD", {"lr": 0.05, "weight_decay": 0.01}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("Adam", "Adam", {}),
    ("Adam", "Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", "Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", "AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", "AdamW", {}),
]

TORCH_STATE_NAMES = {
    "momentum_buffer": "momentum_buffer",
    "exp_avg": "exp_avg",
    "exp_avg_sq": "exp_avg_sq",
}


def _params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s).astype(dtype)) for s in SHAPES]


def _grads(step, dtype):
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize(
    "ours_name, torch_name, kwargs", CONFIGS, ids=[f"{c[0]}-{sorted(c[2])}" for c in CONFIGS]
)
def test_steps_match_torch_optim(ours_name, torch_name, kwargs, dtype, tol):
    torch = pytest.importorskip("torch")
    params = _params(dtype)
    tensors = [torch.from_numpy(p.data.copy()).requires_grad_(True) for p in params]
    opt = getattr(optim, ours_name)(params, **kwargs)
    topt = getattr(torch.optim, torch_name)(tensors, **kwargs)
    for step in range(STEPS):
        if step == 3:  # a schedule changes the learning rate mid-run
            opt.lr = opt.lr * 0.5
            topt.param_groups[0]["lr"] *= 0.5
        for p, t, g in zip(params, tensors, _grads(step, dtype), strict=True):
            p.grad[...] = g
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        for p, t in zip(params, tensors, strict=True):
            assert p.data.dtype == dtype
            assert rel_error(p.data, t.detach().numpy()) <= tol, step
    # The buffers are torch's too.
    state = opt.state_dict()
    assert int(state["step"]) == STEPS
    for i, t in enumerate(tensors):
        for name, torch_name_ in TORCH_STATE_NAMES.items():
            key = f"{i}.{name}"
            if torch_name_ in topt.state[t]:
                assert rel_error(state[key], topt.state[t][torch_name_].numpy()) <= tol, key
            else:
                assert key not in state


def test_first_momentum_buffer_is_the_gradient():
    p = Parameter(np.zeros(3))
    opt = optim.SGD([p], lr=1.0, momentum=0.9, dampening=0.5)
    p.grad[...] = [1.0, 2.0, 3.0]
    opt.step()
    # Not (1 − τ)g: the buffer starts as the gradient itself, so the step is −η g.
    np.testing.assert_array_equal(p.data, [-1.0, -2.0, -3.0])
    np.testing.assert_array_equal(opt.state_dict()["0.momentum_buffer"], [1.0, 2.0, 3.0])


def test_adam_first_step_is_lr_times_sign():
    # With bias correction the first Adam step is η·g/(|g| + ε/√(1−β2)·…) ≈ η·sign(g).
    p = Parameter(np.zeros(4))
    p.grad[...] = [3.0, -0.5, 1e-3, -7.0]
    optim.Adam([p], lr=0.1, eps=0.0).step()
    np.testing.assert_allclose(p.data, -0.1 * np.sign([3.0, -0.5, 1e-3, -7.0]), rtol=1e-15)


@pytest.mark.parametrize(
    "name, kwargs",
    [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.01}), ("AdamW", {"lr": 0.01})],
)
def test_state_dict_resume_equals_uninterrupted_run(name, kwargs):
    straight = _params(np.float32)
    opt = getattr(optim, name)(straight, **kwargs)
    resumed = _params(np.float32)
    first = getattr(optim, name)(resumed, **kwargs)
    for step in range(STEPS):
        for p, g in zip(straight, _grads(step, np.float32), strict=True):
            p.grad[...] = g
        opt.step()
        if step < 3:
            for p, g in zip(resumed, _grads(step, np.float32), strict=True):
                p.grad[...] = g
            first.step()
    state = first.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert state["step"].shape == () and state["step"].dtype == np.int64
    assert state["lr"].shape == () and state["lr"].dtype == np.float64
    # A fresh optimiser over the same parameters, built with other settings, from the
    # checkpoint: the hyperparameters are restored too, as torch.optim restores param_groups.
    second = getattr(optim, name)(resumed, lr=123.0)
    second.load_state_dict(state)
    assert second.hyperparameters() == first.hyperparameters()
    assert second.lr == kwargs["lr"] and second.step_count == 3
    for step in range(3, STEPS):
        for p, g in zip(resumed, _grads(step, np.float32), strict=True):
            p.grad[...] = g
        second.step()
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_is_a_copy_and_zero_grad():
    params = _params(np.float64)
    opt = optim.Adam(params)
    for p, g in zip(params, _grads(0, np.float64), strict=True):
        p.grad[...] = g
    opt.step()
    state = opt.state_dict()
    state["0.exp_avg"][...] = 0
    assert opt.state_dict()["0.exp_avg"].any()
    opt.zero_grad()
    assert not any(p.grad.any() for p in params)


def test_load_state_dict_errors_name_the_key():
    params = _params(np.float64)
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    buffers = {f"{i}.momentum_buffer": np.zeros(s) for i, s in enumerate(SHAPES)}
    good = opt.state_dict() | {"step": np.array(1)} | buffers
    assert set(good) == {"step", "lr", "momentum", "weight_decay", "nesterov", "dampening"} | set(
        buffers
    )
    opt.load_state_dict(good)
    with pytest.raises(ValueError, match=r"'0\.momentum_buffer'.*\(3, 4\).*\(4, 3\)"):
        opt.load_state_dict(dict(good, **{"0.momentum_buffer": np.zeros((4, 3))}))
    with pytest.raises(ValueError, match=r"'0\.momentum_buffer'.*float64.*float32"):
        opt.load_state_dict(dict(good, **{"0.momentum_buffer": np.zeros((3, 4), np.float32)}))
    with pytest.raises(ValueError, match=r"unexpected key '0\.exp_avg'"):
        opt.load_state_dict(dict(good, **{"0.exp_avg": np.zeros((3, 4))}))
    with pytest.raises(ValueError, match=r"unexpected key '3\.momentum_buffer'"):
        opt.load_state_dict(dict(good, **{"3.momentum_buffer": np.zeros((3, 4))}))
    with pytest.raises(ValueError, match="missing key 'step'"):
        opt.load_state_dict({"lr": np.array(0.1)})
    with pytest.raises(ValueError, match="missing key 'momentum'"):
        opt.load_state_dict({k: v for k, v in good.items() if k != "momentum"})
    with pytest.raises(ValueError, match=r"'step'"):
        opt.load_state_dict(dict(good, step=np.array(1.5)))
    with pytest.raises(ValueError, match=r"lr"):
        opt.load_state_dict(dict(good, lr=np.array(-1.0)))
    with pytest.raises(ValueError, match=r"nesterov"):
        opt.load_state_dict(dict(good, nesterov=np.array(1.0), dampening=np.array(0.5)))
    with pytest.raises(ValueError, match=r"'nesterov'\]: expected 0.0 or 1.0 \(a flag\), got 0.5"):
        opt.load_state_dict(dict(good, nesterov=np.array(0.5)))
    with pytest.raises(ValueError, match=r"'nesterov'\]: expected 0.0 or 1.0.*got nan"):
        opt.load_state_dict(dict(good, nesterov=np.array(np.nan)))
    with pytest.raises(ValueError, match=r"missing key\(s\) \['0.momentum_buffer'\] \(step 1"):
        opt.load_state_dict({k: v for k, v in good.items() if k != "0.momentum_buffer"})
    assert opt.hyperparameters()["lr"] == 0.1 and not opt.nesterov  # unchanged
    assert opt.step_count == 1


def test_load_state_dict_refuses_a_partial_state():
    """Adam's two moments come together and exist for every parameter once a step is taken:
    half a state (which would crash the next step) or a state without one parameter's
    moments at step > 0 (which would resume with the wrong bias correction) is refused,
    changing nothing; an SGD without momentum has no buffer to require."""
    params = _params(np.float64)
    for p in params:
        p.grad[...] = 1.0
    opt = optim.Adam(params, lr=0.1)
    opt.step()
    good = opt.state_dict()
    before = {k: v.copy() for k, v in good.items()}
    with pytest.raises(ValueError, match=r"missing key\(s\) \['0.exp_avg_sq'\] \(step 1"):
        opt.load_state_dict({k: v for k, v in good.items() if k != "0.exp_avg_sq"})
    no_moments = {k: v for k, v in good.items() if not k.startswith("1.")}
    with pytest.raises(ValueError, match=r"missing key\(s\) \['1.exp_avg', '1.exp_avg_sq'\]"):
        opt.load_state_dict(no_moments)
    for key, value in opt.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    opt.step()  # still whole: the step runs
    fresh = optim.Adam(params, lr=0.1).state_dict()  # step 0, no moments yet: accepted
    optim.Adam(params, lr=0.1).load_state_dict(fresh)
    plain = optim.SGD(params, lr=0.1)
    plain.step()
    plain.momentum = 0.9  # raised mid-run: no buffer yet, the next step makes them
    raised = optim.SGD(params, lr=0.1)
    raised.load_state_dict(plain.state_dict())
    assert raised.momentum == 0.9 and raised.state == [{}, {}, {}]


ERROR_INPUTS = [
    (lambda: optim.SGD([], lr=0.1), ValueError, "params"),
    (lambda: optim.SGD([np.zeros(3)], lr=0.1), TypeError, r"params\[0\]"),
    (lambda: optim.SGD(Parameter(np.zeros(3)), lr=0.1), TypeError, "params"),
    (lambda: optim.SGD([Parameter(np.zeros(3))] * 2, lr=0.1), ValueError, r"params\[1\].*twice"),
    (lambda: optim.SGD(_params(np.float64), lr=-1.0), ValueError, "lr"),
    (lambda: optim.SGD(_params(np.float64), lr=float("nan")), ValueError, "lr"),
    (lambda: optim.SGD(_params(np.float64), lr="0.1"), TypeError, "lr"),
    (lambda: optim.SGD(_params(np.float64), lr=0.1, momentum=-0.5), ValueError, "momentum"),
    (lambda: optim.SGD(_params(np.float64), lr=0.1, nesterov=True), ValueError, "nesterov"),
    (lambda: optim.SGD(_params(np.float64), lr=0.1, weight_decay=-1), ValueError, "weight_decay"),
    (lambda: optim.Adam(_params(np.float64), betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
    (lambda: optim.Adam(_params(np.float64), betas=0.9), TypeError, "betas"),
    (lambda: optim.Adam(_params(np.float64), eps=-1e-8), ValueError, "eps"),
]


@pytest.mark.parametrize("call, exc, pattern", ERROR_INPUTS)
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_lr_setter_validates():
    opt = optim.Adam(_params(np.float64))
    opt.lr = 0.5
    assert opt.lr == 0.5
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -0.1


# hyperparameters(): the constructor's settings by torch.optim's names (Adam's betas split)
@pytest.mark.parametrize(
    "ours_name, torch_name, kwargs", CONFIGS, ids=[f"{n}-{k}" for n, _, k in CONFIGS]
)
def test_hyperparameters_are_torchs_param_group(ours_name, torch_name, kwargs):
    torch = pytest.importorskip("torch")
    opt = getattr(optim, ours_name)(_params(np.float64), **kwargs)
    group = getattr(torch.optim, torch_name)(
        [torch.zeros(1, requires_grad=True)], **kwargs
    ).param_groups[0]
    want = dict(group)
    if "betas" in want:
        want["beta1"], want["beta2"] = want.pop("betas")
    got = opt.hyperparameters()
    assert got == {key: want[key] for key in got}
    assert all(type(v) in (float, bool) for v in got.values())  # plain Python numbers
    expected_keys = (
        {"lr", "momentum", "weight_decay", "nesterov", "dampening"}
        if ours_name == "SGD"
        else {"lr", "beta1", "beta2", "eps", "weight_decay"}
    )
    assert got.keys() == expected_keys


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules against torch.optim.lr_scheduler, on a dummy torch optimiser

SCHEDULES = [
    ("CosineAnnealingLR", {"T_max": 5}),
    ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.01}),
    ("CosineAnnealingLR", {"T_max": 1}),
    ("StepLR", {"step_size": 3}),
    ("StepLR", {"step_size": 2, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 9], "gamma": 0.3}),
    ("MultiStepLR", {"milestones": [0, 3]}),  # a milestone at 0 decays at construction
    ("ExponentialLR", {"gamma": 0.8}),
    ("LambdaLR", {"lr_lambda": lambda t: 1.0 / (t + 1)}),
    ("LambdaLR", {"lr_lambda": lambda t: 0.5 ** (t // 2) * (t % 3 + 1)}),
]
# a function's repr holds its address, which differs from run to run: the ids name lambdas
# by their place in the list
SCHEDULE_IDS = [
    f"{name}-{sorted((k, f'lambda{i}' if callable(v) else v) for k, v in kw.items())}"
    for i, (name, kw) in enumerate(SCHEDULES)
]
BASE_LR = 0.1


def _torch_pair(torch, name, kwargs):
    """A dummy torch SGD at BASE_LR and the torch scheduler ``name`` driving it."""
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR)
    return topt, getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)


def _ours_pair(name, kwargs):
    opt = optim.SGD([Parameter(np.zeros(1))], lr=BASE_LR)
    return opt, getattr(optim, name)(opt, **kwargs)


@pytest.mark.parametrize("touch_lr", [False, True], ids=["alone", "lr-changed-by-hand"])
@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_matches_torch_lr_scheduler(name, kwargs, touch_lr):
    """The rate after construction and after each of 12 steps (past T_max, through the
    milestones) is PyTorch's; with touch_lr the rate is halved by hand at epoch 3, which the
    chainable schedules must carry on from, exactly as PyTorch's do."""
    torch = pytest.importorskip("torch")
    topt, tsched = _torch_pair(torch, name, kwargs)
    opt, sched = _ours_pair(name, kwargs)
    want, got = [tsched.get_last_lr()[0]], [sched.get_last_lr()[0]]
    assert opt.lr == got[0]
    for epoch in range(1, 13):
        if touch_lr and epoch == 3:
            topt.param_groups[0]["lr"] *= 0.5
            opt.lr = opt.lr * 0.5
        topt.step()  # torch asks for an optimiser step before each scheduler step
        tsched.step()
        sched.step()
        want.append(tsched.get_last_lr()[0])
        got.append(sched.get_last_lr()[0])
        assert opt.lr == got[-1] and sched.last_epoch == tsched.last_epoch == epoch
    assert rel_error(got, want) <= 1e-12, (got, want)


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_state_dict_has_torchs_names_and_values(name, kwargs):
    torch = pytest.importorskip("torch")
    from collections import Counter

    topt, tsched = _torch_pair(torch, name, kwargs)
    opt, sched = _ours_pair(name, kwargs)
    for _ in range(4):
        topt.step()
        tsched.step()
        sched.step()
    ours, theirs = sched.state_dict(), tsched.state_dict()
    assert set(ours) <= set(theirs)
    for key, value in ours.items():
        if key == "milestones":  # PyTorch keeps a Counter of the same epochs
            assert Counter(value) == theirs[key]
        elif key in ("base_lrs", "_last_lr"):
            assert rel_error(value, theirs[key]) <= 1e-12, key
        else:
            assert value == theirs[key], key
    json.dumps(ours)  # plain values: a checkpoint stores them as JSON


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_resumes_from_its_state_dict(name, kwargs):
    """Stop after 5 epochs, keep the optimiser's and the scheduler's state (through JSON),
    rebuild both fresh and load: the next 7 rates are the uninterrupted run's, bit for bit."""
    opt, sched = _ours_pair(name, kwargs)
    straight = []
    for _ in range(12):
        sched.step()
        straight.append(sched.get_last_lr()[0])

    opt, sched = _ours_pair(name, kwargs)
    for _ in range(5):
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), json.loads(json.dumps(sched.state_dict()))
    opt, sched = _ours_pair(name, kwargs)
    opt.load_state_dict(saved_opt)
    sched.load_state_dict(saved_sched)
    resumed = []
    for _ in range(7):
        sched.step()
        resumed.append(sched.get_last_lr()[0])
    assert resumed == straight[5:]


def test_schedule_closed_forms():
    """Left alone, each schedule is its closed form (SGDR's cosine; γ^⌊t/s⌋; γ^t; the count of
    milestones passed) — witnesses that share no code with the recursions."""
    cases = [
        (
            ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.02}),
            lambda t: 0.02 + (BASE_LR - 0.02) * (1 + math.cos(math.pi * t / 7)) / 2,
        ),
        (("StepLR", {"step_size": 3, "gamma": 0.5}), lambda t: BASE_LR * 0.5 ** (t // 3)),
        (("ExponentialLR", {"gamma": 0.9}), lambda t: BASE_LR * 0.9**t),
        (
            ("MultiStepLR", {"milestones": [4, 2, 9], "gamma": 0.1}),
            lambda t: BASE_LR * 0.1 ** sum(t >= m for m in (2, 4, 9)),
        ),
    ]
    for (name, kwargs), closed in cases:
        _, sched = _ours_pair(name, kwargs)
        got = [sched.get_last_lr()[0]]
        for _ in range(14):
            sched.step()
            got.append(sched.get_last_lr()[0])
        assert rel_error(got, [closed(t) for t in range(15)]) <= 1e-12, name


SCHEDULE_ERRORS = [
    (lambda o: optim.CosineAnnealingLR(o, T_max=0), ValueError, "CosineAnnealingLR: T_max: .*>= 1"),
    (lambda o: optim.CosineAnnealingLR(o, 2.5), TypeError, "CosineAnnealingLR: T_max"),
    (lambda o: optim.CosineAnnealingLR(o, 3, eta_min=-1), ValueError, "eta_min"),
    (lambda o: optim.StepLR(o, step_size=0), ValueError, "StepLR: step_size"),
    (lambda o: optim.StepLR(o, 2, gamma=float("nan")), ValueError, "StepLR: gamma"),
    (lambda o: optim.MultiStepLR(o, milestones=3), TypeError, "MultiStepLR: milestones"),
    (lambda o: optim.MultiStepLR(o, milestones="12"), TypeError, "MultiStepLR: milestones"),
    (lambda o: optim.MultiStepLR(o, [2, -1]), ValueError, r"milestones\[1\]: .*>= 0, got -1"),
    (lambda o: optim.ExponentialLR(o, gamma="0.9"), TypeError, "ExponentialLR: gamma"),
    (lambda o: optim.LambdaLR(o, 0.5), TypeError, "LambdaLR: lr_lambda: expected a function"),
    (lambda o: optim.LambdaLR(o, lambda t: -1.0), ValueError, "learning rate of epoch 0"),
    (lambda o: optim.StepLR(None, 2), TypeError, "StepLR: optimizer: expected a cnnmath.optim"),
]


@pytest.mark.parametrize("call, exc, pattern", SCHEDULE_ERRORS)
def test_schedule_bad_input(call, exc, pattern):
    opt = optim.SGD([Parameter(np.zeros(1))], lr=BASE_LR)
    with pytest.raises(exc, match=pattern):
        call(opt)


def test_a_refused_rate_leaves_the_schedule_where_it_was():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=BASE_LR)
    sched = optim.LambdaLR(opt, lambda t: float("nan") if t == 2 else 1.0 / (t + 1))
    sched.step()
    with pytest.raises(ValueError, match=r"LambdaLR: lr_lambda\(2\): expected a finite number"):
        sched.step()
    assert sched.last_epoch == 1 and opt.lr == sched.get_last_lr()[0] == BASE_LR / 2


def test_schedule_load_state_dict_checks_every_key():
    opt = optim.SGD([Parameter(np.zeros(1))], lr=BASE_LR)
    sched = optim.CosineAnnealingLR(opt, T_max=6)
    sched.step()
    good = sched.state_dict()
    assert set(good) == {"T_max", "eta_min", "base_lrs", "last_epoch", "_last_lr"}
    bad_states = [
        ({k: v for k, v in good.items() if k != "T_max"}, ValueError, "missing key 'T_max'"),
        (good | {"verbose": False}, ValueError, "unexpected key 'verbose'"),
        (good | {"last_epoch": -2}, ValueError, r"state_dict\['last_epoch'\]: .*>= 0, got -2"),
        (good | {"last_epoch": "3"}, TypeError, r"state_dict\['last_epoch'\]"),
        (good | {"base_lrs": [0.1, 0.2]}, ValueError, r"'base_lrs'\]: expected a list of one"),
        (good | {"_last_lr": ["x"]}, TypeError, r"'_last_lr'\]\[0\]: expected a real number"),
        (good | {"T_max": 0}, ValueError, "state_dict: CosineAnnealingLR: T_max"),
        (good | {"eta_min": None}, TypeError, "eta_min"),
        ("T_max=6", TypeError, "state_dict: expected a mapping"),
    ]
    other = optim.CosineAnnealingLR(optim.SGD([Parameter(np.zeros(1))], lr=0.3), T_max=2)
    before = other.state_dict()
    for state, exc, pattern in bad_states:
        with pytest.raises(exc, match=pattern):
            other.load_state_dict(state)
        assert other.state_dict() == before  # nothing changed
    other.load_state_dict(good)
    assert other.state_dict() == good and other.T_max == 6


def _adam_formula(theta, m, v, g, t, lr, b1, b2, eps, wd, decoupled):
    """One Adam/AdamW step of one parameter, written as the class docstring's formula."""
    if decoupled:
        theta = theta * (1 - lr * wd)
    elif wd:
        g = g + wd * theta
    m = m + (1 - b1) * (g - m)
    v = v * b2 + (1 - b2) * (g * g)
    denom = np.sqrt(v) / math.sqrt(1 - b2**t) + eps
    return theta - (lr / (1 - b1**t)) * m / denom, m, v


@pytest.mark.parametrize(
    "cls, wd, dtypes",
    [
        (optim.Adam, 0.0, ("float32",) * 3),
        (optim.Adam, 0.05, ("float32",) * 3),
        (optim.AdamW, 0.05, ("float64",) * 3),
        (optim.Adam, 0.05, ("float32", "float64", "float32")),  # mixed: parameter by parameter
    ],
)
def test_adam_step_over_all_parameters_keeps_the_formulas_bits(cls, wd, dtypes):
    """The update of all parameters at once (flat moments) gives, bit for bit, the formula
    applied to each parameter; a state_dict taken mid-run and loaded into a new optimiser
    continues with the same bits; the state arrays are the moments."""
    rng = np.random.default_rng(3)
    shapes = [(4, 3), (5,), (2, 3, 2)]
    params = [
        Parameter(rng.standard_normal(s).astype(d)) for s, d in zip(shapes, dtypes, strict=True)
    ]
    want = [(p.data.copy(), np.zeros_like(p.data), np.zeros_like(p.data)) for p in params]
    settings = {"lr": 2e-3, "betas": (0.85, 0.995), "eps": 1e-7, "weight_decay": wd}
    opt = cls(params, **settings)
    for t in range(1, 7):
        if t == 4:  # resume from a state_dict into a fresh optimiser
            saved = opt.state_dict()
            opt = cls(params, **settings)
            opt.load_state_dict(saved)
        grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
        for p, g in zip(params, grads, strict=True):
            p.grad[...] = g
        opt.step()
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            want[i] = _adam_formula(*want[i], g, t, 2e-3, 0.85, 0.995, 1e-7, wd, cls is optim.AdamW)
            theta, m, v = want[i]
            np.testing.assert_array_equal(p.data, theta)
            np.testing.assert_array_equal(opt.state[i]["exp_avg"], m)
            np.testing.assert_array_equal(opt.state[i]["exp_avg_sq"], v)
            assert p.data.dtype == theta.dtype == np.dtype(dtypes[i])
