"""Adagrad, Adamax, NAdam and RAdam against torch.optim on the same gradients, step by step
(float64 and float32, each option on and off), their state through a checkpoint mid-run, and
bad settings named. The schedules ConstantLR, PolynomialLR, MultiplicativeLR,
CosineAnnealingWarmRestarts, ChainedScheduler and CyclicLR against torch.optim.lr_scheduler
over several restarts and cycles, resumed from their state_dict."""

from __future__ import annotations

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
        for t, g in zip(tensors, _grads(step, dtype), strict=True):
            t.grad = torch.from_numpy(g.copy())
        _step(opt, params, step, dtype)
        topt.step()
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
