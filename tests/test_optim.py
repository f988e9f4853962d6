"""cnnmath.optim against torch.optim on the same gradients, step by step; checkpoints of the
optimiser state; bad input."""

from __future__ import annotations

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
    good = opt.state_dict() | {"step": np.array(1), "0.momentum_buffer": np.zeros((3, 4))}
    assert set(good) == {
        "step",
        "lr",
        "momentum",
        "weight_decay",
        "nesterov",
        "dampening",
        "0.momentum_buffer",
    }
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
    assert opt.hyperparameters()["lr"] == 0.1 and not opt.nesterov  # unchanged
    assert opt.step_count == 1


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
