"""Adadelta, Rprop and ASGD against torch.optim: the same weights after steps on the same
gradients (two parameter groups, weight decay, a rate changed mid-run), checkpoints that
resume bit for bit, settings read and written as torch's param_groups, refusals."""

import numpy as np
import pytest

from cnnmath import nn, optim
from helpers import rel_error, small_cnn_pair

torch = pytest.importorskip("torch")

CASES = {
    "Adadelta": ({"lr": 0.5, "rho": 0.8, "weight_decay": 0.01}, {"eps": 1e-4, "rho": 0.95}),
    "Rprop": ({"lr": 0.02, "etas": (0.4, 1.3)}, {"step_sizes": (1e-4, 0.05)}),
    "ASGD": ({"lr": 0.05, "lambd": 0.01, "t0": 3.0, "weight_decay": 0.02}, {"alpha": 0.5}),
}


def _groups(model):
    """Two groups: the convolutions and the rest; the first convolution's bias in none (batch
    norm follows it, so its gradient is rounding noise, which Rprop's signs amplify)."""
    named = dict(model.named_parameters())
    conv = [named["0.weight"], named["4.weight"], named["4.bias"]]
    rest = [named[k] for k in ("1.weight", "1.bias", "7.weight", "7.bias")]
    return conv, rest


def _make(library, name, model):
    settings, second = CASES[name]
    conv, rest = _groups(model)
    return getattr(library, name)([{"params": conv}, {"params": rest, **second}], **settings)


def _steps(pairs, count, seed):
    rng = np.random.default_rng(seed)
    for step in range(count):
        x, G = rng.standard_normal((3, 3, 8, 8)), rng.standard_normal((3, 5))
        for model, opt, is_torch in pairs:
            opt.zero_grad()
            if is_torch:
                (model(torch.from_numpy(x)) * torch.from_numpy(G)).sum().backward()
            else:
                model(x)
                model.backward(G, input_grad=False)
            opt.step()
            if step == count // 2:  # a rate changed by hand mid-run
                opt.param_groups[1]["lr"] *= 0.5


@pytest.mark.parametrize("name", sorted(CASES))
def test_trains_as_torch(name):
    ours, tm = small_cnn_pair(11)
    opt, topt = _make(optim, name, ours), _make(torch.optim, name, tm)
    _steps([(ours, opt, False), (tm, topt, True)], 8, seed=1)
    got = ours.state_dict()
    for key, want in tm.state_dict().items():
        assert rel_error(got[key], want.numpy()) <= 1e-12, key
    for group, want in zip(opt.param_groups, topt.param_groups, strict=True):
        for key, value in group.items():
            if key != "params":
                assert value == pytest.approx(want[key]), key
    if name == "ASGD":  # the running average and the decayed rate are torch's too
        tparams = [p for g in topt.param_groups for p in g["params"]]
        for i, p in enumerate(tparams):
            state = topt.state[p]
            assert rel_error(opt.state[i]["ax"], state["ax"].numpy()) <= 1e-12
            assert float(opt.state[i]["eta"]) == float(state["eta"])
            assert float(opt.state[i]["mu"]) == float(state["mu"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_checkpoint_resumes_bit_for_bit(name, tmp_path):
    from safetensors.numpy import load_file, save_file

    straight, _ = small_cnn_pair(12)
    resumed, _ = small_cnn_pair(12)
    opt, opt_r = _make(optim, name, straight), _make(optim, name, resumed)
    _steps([(straight, opt, False), (resumed, opt_r, False)], 4, seed=2)
    save_file(opt_r.state_dict(), str(tmp_path / "opt.safetensors"))
    fresh = _make(optim, name, resumed)
    fresh.load_state_dict(load_file(str(tmp_path / "opt.safetensors")))
    _steps([(straight, opt, False)], 4, seed=3)
    _steps([(resumed, fresh, False)], 4, seed=3)
    for key, value in straight.state_dict().items():
        assert np.array_equal(value, resumed.state_dict()[key]), key


def test_refusals_name_the_argument():
    params = [nn.Parameter(np.zeros(2))]
    cases = [
        (
            lambda: optim.Rprop(params, etas=(1.5, 1.2)),
            ValueError,
            r"Rprop: etas: expected 0 < etaminus < 1 < etaplus",
        ),
        (
            lambda: optim.Rprop(params, etas=0.5),
            TypeError,
            r"Rprop: etas: expected a pair \(etaminus, etaplus\)",
        ),
        (
            lambda: optim.Rprop(params, step_sizes=(1.0, 0.1)),
            ValueError,
            r"Rprop: step_sizes: expected min <= max",
        ),
        (lambda: optim.Adadelta(params, rho=1.5), ValueError, r"Adadelta: rho"),
        (lambda: optim.ASGD(params, alpha=-1.0), ValueError, r"ASGD: alpha"),
    ]
    for make, error, message in cases:
        with pytest.raises(error, match=message):
            make()
    opt = optim.Rprop(params)
    assert opt.param_groups[0]["etas"] == (0.5, 1.2)
    assert opt.param_groups[0]["step_sizes"] == (1e-6, 50.0)
    opt.param_groups[0]["etas"] = (0.25, 2.0)
    assert opt.state_dict()["etaminus"] == 0.25 and opt.state_dict()["etaplus"] == 2.0
    with pytest.raises(ValueError, match=r"Rprop.param_groups\[0\]: etas"):
        opt.param_groups[0]["etas"] = (2.0, 3.0)
    assert opt.etas == (0.25, 2.0)
