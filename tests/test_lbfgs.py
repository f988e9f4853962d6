"""L-BFGS (``optim.LBFGS``) and ``step(closure)`` against torch.optim: the same iterates,
losses and evaluation counts; checkpoints that resume bit for bit; its refusals."""

import numpy as np
import pytest

from cnnmath import nn, optim
from helpers import rel_error, small_cnn_pair

torch = pytest.importorskip("torch")


def _problem(seed=1):
    """The small CNN in both libraries and a least-squares loss ½‖f(x) − T‖² on one batch,
    as a closure for each (zero the gradients, forward, backward, return the loss)."""
    ours, tm = small_cnn_pair(seed)
    rng = np.random.default_rng(seed)
    x, T = rng.standard_normal((4, 3, 8, 8)), rng.standard_normal((4, 5))

    def closure(opt):
        def run():
            opt.zero_grad()
            out = ours(x)
            ours.backward(out - T, input_grad=False)
            return 0.5 * float(((out - T) ** 2).sum())

        return run

    def tclosure(topt):
        def run():
            topt.zero_grad()
            loss = 0.5 * ((tm(torch.from_numpy(x)) - torch.from_numpy(T)) ** 2).sum()
            loss.backward()
            return loss

        return run

    return ours, tm, closure, tclosure


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_follows_torchs_iterates(line_search_fn):
    """Four steps of seven iterations with a history of four pairs (so old pairs drop out):
    torch's loss at each step, its counts of iterations and closure calls, its weights."""
    ours, tm, closure, tclosure = _problem()
    settings = {"lr": 0.5, "max_iter": 7, "history_size": 4, "line_search_fn": line_search_fn}
    opt, topt = (
        optim.LBFGS(ours.parameters(), **settings),
        torch.optim.LBFGS(tm.parameters(), **settings),
    )
    losses = []
    for _ in range(4):
        ours_loss = opt.step(closure(opt))
        theirs = float(topt.step(tclosure(topt)).detach())
        losses.append(ours_loss)
        assert ours_loss == pytest.approx(theirs, rel=1e-9)
    state = topt.state[next(iter(tm.parameters()))]
    assert opt.state_dict()["lbfgs.n_iter"] == state["n_iter"] > 20
    assert opt.state_dict()["lbfgs.func_evals"] == state["func_evals"]
    assert len(opt.state_dict()["lbfgs.ro"]) == len(state["ro"]) == 4
    assert losses[-1] < 0.1 * losses[0]
    got = ours.state_dict()
    for key, want in tm.state_dict().items():
        assert rel_error(got[key], want.numpy()) <= 1e-9, key
    group, want = opt.param_groups[0], topt.param_groups[0]
    for key, value in group.items():
        if key != "params":
            assert value == want[key], key


def test_lbfgs_finds_rosenbrocks_minimum_as_torch():
    """f(a, b) = (1 − a)² + 100(b − a²)² from (−1.5, 2): torch's path, to (1, 1)."""
    start = np.array([-1.5, 2.0])
    p = nn.Parameter(start.copy())
    tp = torch.tensor(start, requires_grad=True)
    opt = optim.LBFGS([p], line_search_fn="strong_wolfe", max_iter=100)
    topt = torch.optim.LBFGS([tp], line_search_fn="strong_wolfe", max_iter=100)

    def closure():
        opt.zero_grad()
        a, b = p.data
        p.grad[...] = [-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)]
        return (1 - a) ** 2 + 100 * (b - a * a) ** 2

    def tclosure():
        topt.zero_grad()
        loss = (1 - tp[0]) ** 2 + 100 * (tp[1] - tp[0] ** 2) ** 2
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
        topt.step(tclosure)
        assert rel_error(p.data, tp.detach().numpy()) <= 1e-9
    assert np.abs(p.data - 1).max() < 1e-4


def test_a_checkpoint_resumes_lbfgs_bit_for_bit(tmp_path):
    """Two steps, the state through a safetensors file into a new optimiser, two more: the
    weights of four uninterrupted steps, bit for bit."""
    from safetensors.numpy import load_file, save_file

    straight, _, closure, _ = _problem(2)
    resumed, _, closure_r, _ = _problem(2)
    settings = {"max_iter": 5, "history_size": 3, "line_search_fn": "strong_wolfe"}
    opt, opt_r = (
        optim.LBFGS(straight.parameters(), **settings),
        optim.LBFGS(resumed.parameters(), **settings),
    )
    for _ in range(2):
        opt.step(closure(opt))
        opt_r.step(closure_r(opt_r))
    save_file(opt_r.state_dict(), str(tmp_path / "lbfgs.safetensors"))
    fresh = optim.LBFGS(resumed.parameters(), max_iter=5)  # the checkpoint's settings win
    fresh.load_state_dict(load_file(str(tmp_path / "lbfgs.safetensors")))
    assert fresh.param_groups[0]["line_search_fn"] == "strong_wolfe"
    assert fresh.history_size == 3
    for _ in range(2):
        opt.step(closure(opt))
        fresh.step(closure_r(fresh))
    for key, value in straight.state_dict().items():
        assert np.array_equal(value, resumed.state_dict()[key]), key


def test_lbfgs_refusals_name_the_argument_and_change_nothing():
    model = small_cnn_pair()[0]
    params = list(model.parameters())
    with pytest.raises(ValueError, match="LBFGS: params: one parameter group only"):
        optim.LBFGS([{"params": params[:2]}, {"params": params[2:]}])
    with pytest.raises(ValueError, match="LBFGS: line_search_fn: expected None or 'strong_wolfe'"):
        optim.LBFGS(params, line_search_fn="backtracking")
    with pytest.raises(ValueError, match="parameters of one dtype"):
        optim.LBFGS([nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2, np.float32))])
    with pytest.raises(TypeError, match="LBFGS: max_iter: expected an int >= 1"):
        optim.LBFGS(params, max_iter=2.5)
    opt = optim.LBFGS(params, history_size=2)
    with pytest.raises(TypeError, match="LBFGS.step: closure: expected a function"):
        opt.step()
    with pytest.raises(ValueError, match="LBFGS.add_param_group: L-BFGS has one parameter group"):
        opt.add_param_group({"params": [nn.Parameter(np.zeros(2))]})
    _, _, closure, _ = _problem()
    ours, _, closure, _ = _problem()
    opt = optim.LBFGS(ours.parameters(), history_size=2, max_iter=4)
    opt.step(closure(opt))
    before = opt.state_dict()
    bad = dict(before)
    bad["lbfgs.old_dirs"] = np.zeros((3, before["lbfgs.d"].size))
    with pytest.raises(ValueError, match=r"state_dict\['lbfgs.old_dirs'\]: expected finite values"):
        opt.load_state_dict(bad)
    bad = {**before, "lbfgs.unknown": np.zeros(1)}
    with pytest.raises(ValueError, match=r"unexpected key\(s\) \['lbfgs.unknown'\]"):
        opt.load_state_dict(bad)
    bad = {**before, "lr": np.array(-1.0)}
    with pytest.raises(ValueError, match="LBFGS: lr"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[k], before[k]) for k in before)


def test_a_frozen_parameter_stays_where_it_is():
    ours, _, closure, _ = _problem()
    frozen = dict(ours.named_parameters())["4.weight"]
    kept = frozen.data.copy()
    frozen.requires_grad = False
    opt = optim.LBFGS(ours.parameters(), max_iter=5, line_search_fn="strong_wolfe")
    first = opt.step(closure(opt))
    assert np.array_equal(frozen.data, kept)
    assert opt.step(closure(opt)) < first


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_step_takes_a_closure_as_torchs(name):
    """``optimizer.step(closure)``: the closure's loss comes back and the update is the one
    after the closure's gradients, as torch's (Adam's flat path included)."""
    ours, tm, closure, tclosure = _problem(3)
    for model in (ours, tm):  # batch norm follows it: its gradient is rounding noise
        dict(model.named_parameters())["0.bias"].requires_grad = False
    settings = {"lr": 0.01}
    opt = getattr(optim, name)(ours.parameters(), **settings)
    topt = getattr(torch.optim, name)(tm.parameters(), **settings)
    for _ in range(3):
        loss = opt.step(closure(opt))
        assert loss == pytest.approx(float(topt.step(tclosure(topt)).detach()), rel=1e-12)
    got = ours.state_dict()
    for key, want in tm.state_dict().items():
        assert rel_error(got[key], want.numpy()) <= 1e-12, key
    assert opt.step() is None
    with pytest.raises(TypeError, match=f"{name}.step: closure: expected a function"):
        opt.step(3.0)


def test_a_checkpoint_s_history_is_checked_against_its_own_history_size():
    """The checkpoint's history_size is the one restored: ten pairs load into an optimiser
    made with history_size=3, and ten pairs under a checkpoint saying 2 are refused."""
    ours, _, closure, _ = _problem(5)
    opt = optim.LBFGS(ours.parameters(), history_size=10, max_iter=14)
    opt.step(closure(opt))
    saved = opt.state_dict()
    assert len(saved["lbfgs.ro"]) == 10
    fresh = optim.LBFGS(ours.parameters(), history_size=3)
    fresh.load_state_dict(saved)
    assert fresh.history_size == 10 and len(fresh.state_dict()["lbfgs.ro"]) == 10
    bad = {**saved, "history_size": np.array(2.0)}
    with pytest.raises(ValueError, match=r"at most history_size = 2 pairs \(the checkpoint's\)"):
        fresh.load_state_dict(bad)


def test_a_closure_that_returns_no_loss_is_named_and_counts_no_step():
    ours, _, closure, _ = _problem()
    opt = optim.LBFGS(ours.parameters())
    with pytest.raises(TypeError, match=r"LBFGS.step: closure: expected it to return the loss"):
        opt.step(lambda: None)
    assert opt.step_count == 0
