"""cnnmath.optim.swa_utils against torch.optim.swa_utils: the same model in both libraries,
the same weights assigned or trained step by step, then the averaged parameters and buffers
compared after each update (SWA, EMA by avg_fn and by multi_avg_fn, use_buffers on and off,
float64 and float32), update_bn's statistics, SWALR's rates, checkpoints and errors."""

import json

import numpy as np
import pytest

from cnnmath import nn, weights
from cnnmath.optim import SGD, CosineAnnealingLR, LinearLR, SequentialLR, swa_utils
from helpers import rel_error, small_cnn_pair

torch = pytest.importorskip("torch")
tswa = torch.optim.swa_utils
# torch's schedulers are stepped here without optimiser steps between: only rates compared
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")

TOL = {np.float64: 1e-12, np.float32: 1e-6}


def _pair(dtype=np.float64):
    ours, tm = small_cnn_pair()
    if dtype == np.float32:
        ours.float()
        tm.float()
    return ours, tm


def _assign_random(ours, tm, rng):
    """The same random weights and buffers in both models (num_batches_tracked included)."""
    state = {}
    for key, value in ours.state_dict().items():
        if np.issubdtype(value.dtype, np.integer):
            state[key] = np.array(rng.integers(0, 1000), dtype=value.dtype)
        else:
            draw = rng.normal(size=value.shape)
            state[key] = (np.abs(draw) if "running_var" in key else draw).astype(value.dtype)
    ours.load_state_dict(state)
    tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})


def _assert_state_equal(ours, theirs, dtype):
    mine, want = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(want)
    for key, value in mine.items():
        expected = want[key].detach().numpy()
        assert value.dtype == expected.dtype, key
        if np.issubdtype(value.dtype, np.integer):
            np.testing.assert_array_equal(value, expected, err_msg=key)
        else:
            assert rel_error(value, expected) <= TOL[dtype], key


FNS = {
    "swa": ({}, {}),
    "swa_avg_fn": (
        {"avg_fn": swa_utils.get_swa_avg_fn()},
        {"avg_fn": tswa.get_swa_avg_fn()},
    ),
    "ema_avg_fn": (
        {"avg_fn": swa_utils.get_ema_avg_fn(0.9)},
        {"avg_fn": tswa.get_ema_avg_fn(0.9)},
    ),
    "ema_multi": (
        {"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(0.7)},
        {"multi_avg_fn": tswa.get_ema_multi_avg_fn(0.7)},
    ),
    "swa_multi": (
        {"multi_avg_fn": swa_utils.get_swa_multi_avg_fn()},
        {"multi_avg_fn": tswa.get_swa_multi_avg_fn()},
    ),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("fn", list(FNS))
def test_averages_equal_torch(fn, use_buffers, dtype):
    ours_kw, torch_kw = FNS[fn]
    ours, tm = _pair(dtype)
    avg = swa_utils.AveragedModel(ours, use_buffers=use_buffers, **ours_kw)
    tavg = tswa.AveragedModel(tm, use_buffers=use_buffers, **torch_kw)
    rng = np.random.default_rng(3)
    for step in range(5):
        _assign_random(ours, tm, rng)
        if fn == "swa_multi" and use_buffers and step > 0:
            # num_batches_tracked is int64: torch's addcdiv refuses integer division
            with pytest.raises(RuntimeError, match="addcdiv"):
                tavg.update_parameters(tm)
            before = {k: v.copy() for k, v in avg.state_dict().items()}
            with pytest.raises(TypeError, match="get_swa_multi_avg_fn: averaged: .*int64"):
                avg.update_parameters(ours)
            for key, value in avg.state_dict().items():  # a refused update changes nothing
                assert np.array_equal(value, before[key]), key
            return
        avg.update_parameters(ours)
        tavg.update_parameters(tm)
        _assert_state_equal(avg, tavg, dtype)
    assert int(avg.n_averaged) == 5
    # the averaged model is not the model: the last weights differ from the average
    assert rel_error(avg.module[0].weight.data, ours[0].weight.data) > 0.01


@pytest.mark.parametrize(
    "fn",
    [
        ("ema_avg", swa_utils.get_ema_avg_fn(0.9), tswa.get_ema_avg_fn(0.9)),
        ("ema_avg_odd", swa_utils.get_ema_avg_fn(0.37), tswa.get_ema_avg_fn(0.37)),
        ("swa_avg", swa_utils.get_swa_avg_fn(), tswa.get_swa_avg_fn()),
    ],
    ids=lambda f: f[0],
)
def test_integer_arrays_truncate_as_torch(fn):
    """Integer buffers: float32 arithmetic, stored truncated toward zero (torch's copy_)."""
    _, ours_fn, torch_fn = fn
    rng = np.random.default_rng(0)
    a = rng.integers(-(10**6), 10**6, size=2000)
    b = rng.integers(-(10**6), 10**6, size=2000)
    a[:50], b[:50] = rng.integers(0, 40, size=50), rng.integers(0, 40, size=50)  # small counts
    for n in (1, 2, 3, 7):
        want = torch.from_numpy(a.copy())
        want.copy_(torch_fn(want, torch.from_numpy(b), torch.tensor(n)))
        got = a.copy()
        got[...] = ours_fn(got, b, n)
        np.testing.assert_array_equal(got, want.numpy())


def test_ema_multi_integer_arrays_as_torch():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 10**6, size=3000)
    b = rng.integers(0, 10**6, size=3000)
    for decay in (0.9, 0.999, 0.37):
        want = [torch.from_numpy(a.copy())]
        tswa.get_ema_multi_avg_fn(decay)(want, [torch.from_numpy(b)], torch.tensor(2))
        got = [a.copy()]
        swa_utils.get_ema_multi_avg_fn(decay)(got, [b], 2)
        np.testing.assert_array_equal(got[0], want[0].numpy())


def test_training_with_frozen_layer_forward_and_backward_as_torch():
    """SGD steps with the same gradients in both; the first conv frozen but changed by hand:
    torch averages every parameter whatever its requires_grad. The averaged model's forward
    and backward (gradients of its copy) equal torch's."""
    ours, tm = small_cnn_pair(seed=2)
    ours[0].requires_grad_(False)
    tm[0].requires_grad_(False)
    opt = SGD([p for p in ours.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    topt = torch.optim.SGD([p for p in tm.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    ema = swa_utils.AveragedModel(
        ours, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.8), use_buffers=True
    )
    tema = tswa.AveragedModel(tm, multi_avg_fn=tswa.get_ema_multi_avg_fn(0.8), use_buffers=True)
    swa = swa_utils.AveragedModel(ours)
    tswa_model = tswa.AveragedModel(tm)
    rng = np.random.default_rng(5)
    for _ in range(4):
        x = rng.normal(size=(6, 3, 8, 8))
        G = rng.normal(size=(6, 5))
        opt.zero_grad()
        ours(x)
        ours.backward(G, input_grad=False)
        opt.step()
        topt.zero_grad()
        tm(torch.from_numpy(x)).backward(torch.from_numpy(G))
        topt.step()
        bump = rng.normal(size=ours[0].weight.shape) * 0.1
        ours[0].weight.data += bump
        with torch.no_grad():
            tm[0].weight += torch.from_numpy(bump)
        for a, t in ((ema, tema), (swa, tswa_model)):
            a.update_parameters(ours)
            t.update_parameters(tm)
            _assert_state_equal(a, t, np.float64)
    assert not swa.module[0].weight.requires_grad  # the copy keeps the flags
    x = rng.normal(size=(3, 3, 8, 8))
    G = rng.normal(size=(3, 5))
    tx = torch.from_numpy(x).requires_grad_()
    tema.train()
    y = tema(tx)
    y.backward(torch.from_numpy(G))
    ema.train()
    ema.zero_grad()
    got = ema(x)
    assert rel_error(got, y.detach().numpy()) <= 1e-12
    dx = ema.backward(G)
    assert rel_error(dx, tx.grad.numpy()) <= 1e-12
    for (name, p), (_, tp) in zip(ema.named_parameters(), tema.named_parameters(), strict=True):
        if tp.grad is not None:
            assert rel_error(p.grad, tp.grad.numpy()) <= 1e-12, name
        else:  # frozen: no gradient in either
            assert not p.requires_grad and not p.grad.any(), name
    ema.eval()
    tema.eval()
    with nn.no_grad():
        assert rel_error(ema(x), tema(torch.from_numpy(x)).detach().numpy()) <= 1e-12


def _norm_pair():
    """Conv, BatchNorm2d, ReLU, InstanceNorm2d (tracking statistics), Flatten, Linear,
    BatchNorm1d (momentum 0.3): the same weights in both libraries."""
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, padding=1),
        torch.nn.BatchNorm2d(3),
        torch.nn.ReLU(),
        torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
        torch.nn.Flatten(),
        torch.nn.Linear(48, 4),
        torch.nn.BatchNorm1d(4, momentum=0.3),
    ).double()
    ours = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64),
        nn.BatchNorm2d(3, dtype=np.float64),
        nn.ReLU(),
        nn.InstanceNorm2d(3, affine=True, track_running_stats=True, dtype=np.float64),
        nn.Flatten(),
        nn.Linear(48, 4, dtype=np.float64),
        nn.BatchNorm1d(4, momentum=0.3, dtype=np.float64),
    )
    _assign_random(ours, tm, np.random.default_rng(7))
    return ours, tm


@pytest.mark.parametrize("batches", ["arrays", "tuples"])
def test_update_bn_equals_torch(batches):
    ours, tm = _norm_pair()
    avg, tavg = swa_utils.AveragedModel(ours), tswa.AveragedModel(tm)
    rng = np.random.default_rng(8)
    for _ in range(3):
        _assign_random(ours, tm, rng)
        avg.update_parameters(ours)
        tavg.update_parameters(tm)
    xs = [rng.normal(size=(5, 2, 4, 4)) for _ in range(4)]
    if batches == "tuples":
        loader = [(x, np.zeros(5)) for x in xs]
        tloader = [(torch.from_numpy(x), torch.zeros(5)) for x in xs]
    else:
        loader, tloader = xs, [torch.from_numpy(x) for x in xs]
    instance_before = {k: v.copy() for k, v in avg.state_dict().items() if ".3." in k}
    avg.eval()
    tavg.eval()
    swa_utils.update_bn(loader, avg)
    tswa.update_bn(tloader, tavg)
    _assert_state_equal(avg, tavg, np.float64)
    assert int(avg.module[1].num_batches_tracked) == 4
    # InstanceNorm2d is not a BatchNorm in torch's sense: not reset, its momentum kept
    counted = int(instance_before["module.3.num_batches_tracked"])
    assert int(avg.module[3].num_batches_tracked) == counted > 0  # not reset to 0
    assert avg.module[3].momentum == 0.1
    assert avg.module[6].momentum == 0.3 and avg.module[1].momentum == 0.1
    assert not avg.training and not avg.module[1].training


def test_update_bn_without_batchnorm_reads_nothing():
    def loader():
        raise AssertionError("the loader was read")
        yield

    model = nn.Sequential(nn.Linear(3, 2))
    swa_utils.update_bn(loader(), model)
    assert model.training


def _rates(ours_opt, sched, torch_opt, tsched, steps):
    got, want = [ours_opt.lr], [torch_opt.param_groups[0]["lr"]]
    for _ in range(steps):
        sched.step()
        tsched.step()
        got.append(ours_opt.lr)
        want.append(torch_opt.param_groups[0]["lr"])
    return got, want


def _opts(lr=0.4):
    p = nn.Parameter(np.zeros(2))
    return SGD([p], lr=lr), torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=lr)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 3, 10])
def test_swalr_rates_equal_torch(strategy, anneal_epochs):
    """The recipe: a cosine schedule first, then SWALR (made at the start) takes over."""
    opt, topt = _opts()
    cos = CosineAnnealingLR(opt, T_max=20)
    tcos = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=20)
    swa = swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    tswalr = tswa.SWALR(topt, swa_lr=0.05, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    assert opt.lr == topt.param_groups[0]["lr"]
    got, want = _rates(opt, cos, topt, tcos, 6)
    more, more_want = _rates(opt, swa, topt, tswalr, anneal_epochs + 4)
    np.testing.assert_allclose(got + more, want + more_want, rtol=1e-14, atol=0)
    assert more[-1] == pytest.approx(0.05, rel=1e-12)
    assert swa.get_last_lr() == [opt.lr]


def test_swalr_resumes_from_state_dict():
    opt, topt = _opts()
    swa = swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=5)
    tswalr = tswa.SWALR(topt, swa_lr=0.1, anneal_epochs=5)
    _rates(opt, swa, topt, tswalr, 2)
    state = swa.state_dict()
    assert state["_step_count"] == 3 and state["last_epoch"] == 2
    opt2, _ = _opts(lr=opt.lr)
    resumed = swa_utils.SWALR(opt2, swa_lr=0.9, anneal_epochs=1, anneal_strategy="linear")
    resumed.load_state_dict(json.loads(json.dumps(state)))  # as cnnmath.checkpoint stores it
    assert resumed.state_dict() == state
    got, want = _rates(opt2, resumed, topt, tswalr, 5)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("swalr_first", [False, True])
def test_swalr_in_sequential_lr_as_torch(swalr_first):
    """Handed over at a milestone (torch's _update_lr(0): the step count unchanged), or
    restarted first by SequentialLR (torch's _initial_step: the count starts again)."""
    opt, topt = _opts()
    warm = LinearLR(opt, start_factor=0.5, total_iters=3)
    swa = swa_utils.SWALR(opt, swa_lr=0.02, anneal_epochs=4)
    order = [swa, warm] if swalr_first else [warm, swa]
    seq = SequentialLR(opt, order, milestones=[3])
    sched = torch.optim.lr_scheduler
    twarm = sched.LinearLR(topt, start_factor=0.5, total_iters=3)
    tswalr = tswa.SWALR(topt, swa_lr=0.02, anneal_epochs=4)
    torder = [tswalr, twarm] if swalr_first else [twarm, tswalr]
    tseq = sched.SequentialLR(topt, torder, milestones=[3])
    got, want = _rates(opt, seq, topt, tseq, 9)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def test_checkpoint_round_trip_and_into_torch(tmp_path):
    st_torch = pytest.importorskip("safetensors.torch")
    ours, tm = small_cnn_pair(seed=4)
    avg = swa_utils.AveragedModel(ours, use_buffers=True)
    rng = np.random.default_rng(9)
    for _ in range(3):
        _assign_random(ours, tm, rng)
        avg.update_parameters(ours)
    path = tmp_path / "swa.safetensors"
    weights.save(avg, path)
    fresh = swa_utils.AveragedModel(small_cnn_pair(seed=5)[0], use_buffers=True)
    loaded = weights.load(fresh, path)
    assert loaded.missing_keys == [] and loaded.unexpected_keys == []
    assert int(fresh.n_averaged) == 3
    for key, value in avg.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key], value)
    tavg = tswa.AveragedModel(tm, use_buffers=True)
    tavg.load_state_dict(st_torch.load_file(str(path)))
    assert int(tavg.n_averaged) == 3
    _assert_state_equal(fresh, tavg, np.float64)
    x = rng.normal(size=(2, 3, 8, 8))
    fresh.eval()
    tavg.eval()
    assert rel_error(fresh(x), tavg(torch.from_numpy(x)).detach().numpy()) <= 1e-12


def test_errors_are_named():
    model = nn.Sequential(nn.Linear(3, 2))
    fn = swa_utils.get_swa_avg_fn()
    with pytest.raises(ValueError, match="avg_fn, multi_avg_fn: expected at most one"):
        swa_utils.AveragedModel(model, avg_fn=fn, multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    with pytest.raises(TypeError, match="model: expected a cnnmath.nn.Module, got ndarray"):
        swa_utils.AveragedModel(np.zeros(3))
    with pytest.raises(TypeError, match="avg_fn: expected a function or None"):
        swa_utils.AveragedModel(model, avg_fn=3)
    with pytest.raises(ValueError, match="device: expected None or 'cpu'"):
        swa_utils.AveragedModel(model, "cuda")
    with pytest.raises(TypeError, match="use_buffers"):
        swa_utils.AveragedModel(model, use_buffers="yes")
    avg = swa_utils.AveragedModel(model)
    with pytest.raises(
        ValueError, match=r"'0.weight': expected shape \(2, 3\) .*got shape \(2, 4\)"
    ):
        avg.update_parameters(nn.Sequential(nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="expected 2 parameters .* got 4; the model's first extra"):
        avg.update_parameters(nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="dtype float32 .* got shape .* dtype float64"):
        avg.update_parameters(nn.Sequential(nn.Linear(3, 2, dtype=np.float64)))
    with pytest.raises(ValueError, match="expected 0 buffers"):
        avg.update_parameters(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2, affine=False)))
    assert int(avg.n_averaged) == 0  # nothing changed by a refused update
    for maker in (swa_utils.get_ema_avg_fn, swa_utils.get_ema_multi_avg_fn):
        with pytest.raises(ValueError, match=r"decay: expected a finite number >= 0 and <= 1"):
            maker(1.5)
    with pytest.raises(TypeError, match="update_bn: model: expected a cnnmath.nn.Module"):
        swa_utils.update_bn([], "model")
    opt, _ = _opts()
    with pytest.raises(ValueError, match="anneal_strategy: expected 'cos' or 'linear'"):
        swa_utils.SWALR(opt, swa_lr=0.1, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs: expected an int >= 0, got -1"):
        swa_utils.SWALR(opt, swa_lr=0.1, anneal_epochs=-1)
    with pytest.raises(ValueError, match="swa_lr: expected a finite number >= 0"):
        swa_utils.SWALR(opt, swa_lr=-0.1)
    swalr = swa_utils.SWALR(opt, swa_lr=0.1)
    state = swalr.state_dict()
    with pytest.raises(ValueError, match=r"SWALR.load_state_dict: state_dict: .*_step_count: "):
        swalr.load_state_dict({**state, "_step_count": -2})
    with pytest.raises(ValueError, match="load_state_dict: state_dict: SWALR: anneal_strategy"):
        swalr.load_state_dict({**state, "anneal_strategy": "exp"})
    assert swalr.state_dict() == state  # a refused state changes nothing


def test_the_copy_leaves_the_models_activations_behind():
    """Made right after a training forward, the average does not carry the activations
    that forward kept for its backward (deep-copying them would double the memory)."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, dtype=np.float64), nn.ReLU())
    model(np.ones((8, 1, 32, 32)))
    avg = swa_utils.AveragedModel(model)
    assert all(vars(m).get("_last_ctx") is None for m in avg.modules())
    assert vars(model)["_last_ctx"] is not None  # the model's own are kept
