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
