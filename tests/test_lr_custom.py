"""A learning-rate schedule of one's own, written as PyTorch's custom schedules are (a
subclass implementing ``get_lr``): the same class body on either base class gives torch's
rates, alone, after a warm-up in SequentialLR, and resumed from its state_dict."""

import json

import numpy as np
import pytest

from cnnmath import nn, optim

torch = pytest.importorskip("torch")


def _poly_with_warmup(base):
    """DeepLab's poly decay after a linear warm-up, on ``base`` (either library's
    LRScheduler), the class body as a PyTorch script writes it."""

    class WarmupPoly(base):
        def __init__(self, optimizer, warmup, total, power=0.9, last_epoch=-1):
            self.warmup, self.total, self.power = warmup, total, power
            super().__init__(optimizer, last_epoch)

        def get_lr(self):
            t = self.last_epoch
            if t < self.warmup:
                return [b * (t + 1) / self.warmup for b in self.base_lrs]
            return [b * (1 - (t - self.warmup) / self.total) ** self.power for b in self.base_lrs]

    return WarmupPoly


def _halving_on_plateau(base):
    """A chainable rule: every group's current rate halves every third epoch."""

    class Halving(base):
        def get_lr(self):
            groups = self.optimizer.param_groups
            if self.last_epoch == 0 or self.last_epoch % 3:
                return [g["lr"] for g in groups]
            return [g["lr"] * 0.5 for g in groups]

    return Halving


def _optimisers():
    ours = [nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))]
    theirs = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    opt = optim.SGD([{"params": [ours[0]]}, {"params": [ours[1]], "lr": 0.4}], lr=0.1)
    topt = torch.optim.SGD([{"params": [theirs[0]]}, {"params": [theirs[1]], "lr": 0.4}], lr=0.1)
    return opt, topt


@pytest.mark.parametrize("make", [_poly_with_warmup, _halving_on_plateau])
def test_a_schedule_of_ones_own_gives_torchs_rates(make):
    opt, topt = _optimisers()
    args = (3, 20) if make is _poly_with_warmup else ()
    ours = make(optim.LRScheduler)(opt, *args)
    theirs = make(torch.optim.lr_scheduler.LRScheduler)(topt, *args)
    for epoch in range(15):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-13), epoch
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(
            [g["lr"] for g in topt.param_groups], rel=1e-13
        )
        opt.step()
        topt.step()
        ours.step()
        theirs.step()
    assert ours.get_last_lr()[1] != 0.4


def test_it_takes_its_turn_in_sequential_lr_and_resumes():
    opt, topt = _optimisers()
    ours = optim.SequentialLR(
        opt,
        [optim.LinearLR(opt, 0.2, total_iters=3), _poly_with_warmup(optim.LRScheduler)(opt, 2, 12)],
        milestones=[3],
    )
    theirs = torch.optim.lr_scheduler.SequentialLR(
        topt,
        [
            torch.optim.lr_scheduler.LinearLR(topt, 0.2, total_iters=3),
            _poly_with_warmup(torch.optim.lr_scheduler.LRScheduler)(topt, 2, 12),
        ],
        milestones=[3],
    )
    rates = []
    for _ in range(10):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-13)
        rates.append(ours.get_last_lr())
        opt.step()
        topt.step()
        ours.step()
        theirs.step()
    schedule = _poly_with_warmup(optim.LRScheduler)(opt, 2, 12)
    for _ in range(4):
        schedule.step()
    saved = json.loads(json.dumps(schedule.state_dict()))
    resumed = _poly_with_warmup(optim.LRScheduler)(
        optim.SGD(
            [{"params": [nn.Parameter(np.zeros(1))]}, {"params": [nn.Parameter(np.zeros(1))]}],
            lr=1.0,
        ),
        2,
        12,
    )
    resumed.load_state_dict(saved)
    assert resumed.last_epoch == 4 and resumed.base_lrs == schedule.base_lrs
    schedule.step()
    resumed.step()
    assert resumed.get_last_lr() == schedule.get_last_lr()


def test_a_schedule_without_a_rule_and_a_constructor_epoch_are_refused():
    opt, _ = _optimisers()

    class NoRule(optim.LRScheduler):
        pass

    with pytest.raises(NotImplementedError, match="NoRule: a schedule implements get_lr"):
        NoRule(opt)

    class Short(optim.LRScheduler):
        def get_lr(self):
            return [0.1]

    with pytest.raises(
        ValueError, match=r"Short.get_lr: expected a list of one rate per parameter group \(2\)"
    ):
        Short(opt)
    with pytest.raises(ValueError, match="WarmupPoly: last_epoch: expected -1 .* load_state_dict"):
        _poly_with_warmup(optim.LRScheduler)(opt, 3, 20, last_epoch=5)


def _floored(base):
    """PyTorch's way to adjust a built-in: StepLR's rule with a floor, in get_lr."""

    class FlooredStepLR(base):
        def get_lr(self):
            t = self.last_epoch
            return [max(0.2, b * self.gamma ** (t // self.step_size)) for b in self.base_lrs]

    return FlooredStepLR


def test_a_built_in_schedule_s_subclass_runs_its_own_get_lr():
    opt, topt = _optimisers()
    ours = _floored(optim.StepLR)(opt, step_size=1, gamma=0.5)
    theirs = _floored(torch.optim.lr_scheduler.StepLR)(topt, step_size=1, gamma=0.5)
    rates = []
    for _ in range(5):
        ours.step()
        theirs.step()
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-13)
        rates.append(ours.get_last_lr()[0])
    assert rates[-1] == 0.2  # the floor, where StepLR alone would be at 0.1 · 2⁻⁵


def _backoff(base):
    """A schedule with state of its own, which get_lr updates."""

    class Backoff(base):
        def __init__(self, optimizer):
            self.cuts = 0
            self.bad_epochs = set()
            self.history = ()
            super().__init__(optimizer)

        def get_lr(self):
            if self.last_epoch in self.bad_epochs:
                self.cuts += 1
            self.history = (*self.history, self.last_epoch)
            return [b * 0.5**self.cuts for b in self.base_lrs]

    return Backoff


def test_a_schedule_of_ones_own_checkpoints_its_attributes():
    """As torch's state_dict keeps a custom schedule's attributes: resumed through JSON, the
    rates of the uninterrupted run (sets and tuples come back as sets and tuples)."""
    opt, topt = _optimisers()
    ours, theirs = (
        _backoff(optim.LRScheduler)(opt),
        _backoff(torch.optim.lr_scheduler.LRScheduler)(topt),
    )
    for schedule in (ours, theirs):
        schedule.bad_epochs = {1, 2}
        for _ in range(3):
            schedule.step()
    saved = json.loads(json.dumps(ours.state_dict()))
    assert saved["cuts"] == theirs.state_dict()["cuts"] == 2 and saved["bad_epochs"] == [1, 2]
    resumed = _backoff(optim.LRScheduler)(_optimisers()[0])
    resumed.load_state_dict(saved)
    assert resumed.bad_epochs == {1, 2} and isinstance(resumed.history, tuple)
    for _ in range(2):
        resumed.step()
        ours.step()
        theirs.step()
        assert resumed.get_last_lr() == ours.get_last_lr() == pytest.approx(theirs.get_last_lr())
    ours.note = object()
    with pytest.raises(TypeError, match="Backoff.state_dict: note: expected a number"):
        ours.state_dict()


def test_a_refused_sequential_lr_changes_nothing():
    opt, _ = _optimisers()

    class Bad(optim.LRScheduler):
        broken = False

        def get_lr(self):
            return [0.1] if self.broken else [g["lr"] for g in self.optimizer.param_groups]

    warm = optim.LinearLR(opt, 0.5, total_iters=4)
    bad = Bad(opt)
    bad.broken = True
    for _ in range(3):
        warm.step()
    rates = [g["lr"] for g in opt.param_groups]
    with pytest.raises(ValueError, match=r"Bad.get_lr: expected a list of one rate per parameter"):
        optim.SequentialLR(opt, [bad, warm], milestones=[2])
    assert [g["lr"] for g in opt.param_groups] == rates
    assert (bad.last_epoch, warm.last_epoch) == (0, 3)
    opt.add_param_group({"params": [nn.Parameter(np.zeros(1))]})
    with pytest.raises(
        RuntimeError, match=r"SequentialLR: schedulers\[0\]: .*has 3 parameter groups"
    ):
        optim.SequentialLR(opt, [warm, optim.ExponentialLR(opt, 0.9)], milestones=[2])
