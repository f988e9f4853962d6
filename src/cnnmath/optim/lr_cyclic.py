"""Schedules that come round again: :class:`CosineAnnealingWarmRestarts` (SGDR's cosine,
restarted every T_i epochs, T_i growing by T_mult) and :class:`CyclicLR` (triangular cycles
between two rates, stepped per batch, the momentum cycling against them)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np  # noqa: F401  (the examples below use it)

from .._checks import positive_int, real_number
from .lr_policies import _set_momentum
from .lr_scheduler import LRScheduler, each_group, per_group
from .optimizer import Optimizer
from .sgd import SGD  # noqa: F401  (the examples below use it)


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter), as ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``:
    a cosine from η₀ down towards ``eta_min`` over T_i epochs, then a restart at η₀ with
    T_{i+1} = T_i · T_mult (T_0 first),

        η = η_min + (η₀ − η_min) · (1 + cos(π T_cur / T_i)) / 2

    with T_cur the epochs since the last restart. ``step()`` advances one epoch (T_cur + 1,
    restarting when it reaches T_i); ``step(epoch)`` jumps to ``epoch``, a real number >= 0
    (PyTorch's form for stepping within an epoch, e.g. ``epoch + i / iters``): T_cur and T_i
    are found from it (``last_epoch`` = ⌊epoch⌋). Every parameter group follows the cosine from
    its own η₀ⁱ. ``T_0`` an int >= 1, ``T_mult`` an int >= 1 (1), ``eta_min`` >= 0 (0).
    ``state_dict()`` holds "T_i" and "T_cur" besides the settings.

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> s = CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    >>> [s.get_last_lr()[0]] + [s.step() or round(s.get_last_lr()[0], 12) for _ in range(6)]
    [1.0, 0.5, 1.0, 0.853553390593, 0.5, 0.146446609407, 1.0]
    """

    T_0: int
    T_mult: int
    eta_min: float
    T_i: int
    T_cur: float
    _hyper_names = ("T_0", "T_mult", "eta_min")
    _counter_names = ("T_i", "T_cur")

    def __init__(
        self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0
    ) -> None:
        self._set(T_0=T_0, T_mult=T_mult, eta_min=eta_min)
        self.T_i, self.T_cur = self.T_0, -1
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        owner = "CosineAnnealingWarmRestarts"
        return {
            "T_0": positive_int("T_0", settings["T_0"], func=owner),
            "T_mult": positive_int("T_mult", settings["T_mult"], func=owner),
            "eta_min": real_number("eta_min", settings["eta_min"], func=owner, low=0.0),
        }

    def _check_counters(self, **counters: Any) -> dict[str, Any]:
        owner = "CosineAnnealingWarmRestarts"
        T_i = positive_int("T_i", counters["T_i"], func=owner)
        T_cur = counters["T_cur"]
        if isinstance(T_cur, int) and not isinstance(T_cur, bool):
            T_cur = positive_int("T_cur", T_cur, func=owner, minimum=0)
        else:  # a fractional step(epoch)
            T_cur = real_number("T_cur", T_cur, func=owner, low=0.0)
        return {"T_i": T_i, "T_cur": T_cur}

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        low = self.eta_min
        return low + (base - low) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2

    def _position(self, epoch: float) -> tuple[int, float]:
        """(T_i, T_cur) at ``epoch``: past the first period, the n-th restart lies at
        T_0 (T_multⁿ − 1)/(T_mult − 1) (n·T_0 when T_mult = 1)."""
        T_0, T_mult = self.T_0, self.T_mult
        if epoch < T_0:
            return T_0, epoch
        if T_mult == 1:
            return self.T_i, epoch % T_0
        n = int(math.log(epoch / T_0 * (T_mult - 1) + 1, T_mult))
        return T_0 * T_mult**n, epoch - T_0 * (T_mult**n - 1) / (T_mult - 1)

    def step(self, epoch: float | None = None) -> None:
        """One epoch on (T_cur + 1, a restart when it reaches T_i), or, with ``epoch``, to
        that epoch (a real number >= 0, fractions allowed); RuntimeError, nothing changed, if a
        parameter group was added since the schedule was made."""
        groups = self._groups()
        T_i, T_cur = self.T_i, self.T_cur
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            T_cur += 1
            if T_cur >= T_i:
                T_cur, T_i = T_cur % T_i, T_i * self.T_mult
        else:
            owner = "CosineAnnealingWarmRestarts.step"
            if isinstance(epoch, (int, np.integer)) and not isinstance(epoch, bool):
                epoch = positive_int("epoch", epoch, func=owner, minimum=0)
            else:
                epoch = real_number("epoch", epoch, func=owner, low=0.0)
            T_i, T_cur = self._position(epoch)
        self.T_i, self.T_cur, self.last_epoch = T_i, T_cur, math.floor(epoch)
        self._set_rates(groups, self._rates(groups))


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith, 2017), as ``torch.optim.lr_scheduler.CyclicLR``:
    stepped after every *batch* (``fit`` does so), the rate climbs from ``base_lr`` to
    ``max_lr`` over ``step_size_up`` steps and comes back over ``step_size_down``
    (= step_size_up by default), cycle after cycle. With L = up + down, r = up / L and
    t = ``last_epoch`` (the batches so far),

        c = ⌊1 + t/L⌋ (the cycle, from 1),  x = 1 + t/L − c  (where in it, in [0, 1))
        s = x/r  (x <= r, rising),   s = (x − 1)/(r − 1)  (falling)
        η_t = base_lr + (max_lr − base_lr) · s · f,   f = scale_fn(c) or scale_fn(t)

    ``mode`` picks f: "triangular" f = 1, "triangular2" f = 1/2^(c − 1) (the height halved
    each cycle), both of the cycle; "exp_range" f = γ^t, of the step (``gamma`` γ). A function
    ``scale_fn`` replaces the mode's, of the cycle or of the step as ``scale_mode`` says
    ("cycle" or "iterations"); like LambdaLR's function it is not part of ``state_dict()``.

    With ``cycle_momentum`` (the default, as PyTorch) the momentum runs the other way,
    m_t = max_momentum − (max_momentum − base_momentum) · s · f, starting at max_momentum: the
    optimiser's β1 where it has betas (Adam, AdamW, Adamax, NAdam, RAdam), else its
    ``momentum`` (SGD, RMSprop), as torch decides; Adagrad has neither and is refused unless
    ``cycle_momentum=False`` (as torch refuses it). Each parameter group's rate is set to its
    ``base_lr`` when the schedule is made. ``base_lr``, ``max_lr`` >= 0, ``base_momentum``
    (0.8), ``max_momentum`` (0.9) >= 0: each a number for every group or a list of one per
    group (each group cycles between its own rates and momenta); ``step_size_up`` an int >= 1
    (2000), ``step_size_down`` an int >= 0 or None; ``gamma`` > 0 (1.0). ``state_dict()`` has
    torch's keys ("max_lrs", "total_size", "step_ratio", "base_momentums", …; the per-group
    ones lists of one value per group).

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=0.5, momentum=0.9)
    >>> s = CyclicLR(opt, base_lr=0.1, max_lr=0.5, step_size_up=2, mode="triangular2")
    >>> [round(s.step() or s.get_last_lr()[0], 12) for _ in range(8)]
    [0.3, 0.5, 0.3, 0.1, 0.2, 0.3, 0.2, 0.1]
    >>> round(opt.momentum, 12)  # back at max_momentum at the end of the cycle
    0.9
    """

    per_batch = True
    max_lrs: list[float]
    total_size: float
    step_ratio: float
    mode: str
    gamma: float
    scale_mode: str
    cycle_momentum: bool
    base_momentums: list[float]
    max_momentums: list[float]
    _hyper_names = (
        "max_lrs",
        "total_size",
        "step_ratio",
        "mode",
        "gamma",
        "scale_mode",
        "cycle_momentum",
        "base_momentums",
        "max_momentums",
    )
    _modes = ("triangular", "triangular2", "exp_range")

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.8,
        max_momentum: float | list[float] = 0.9,
    ) -> None:
        owner = "CyclicLR"
        groups = self._attach(optimizer)
        n = len(groups)
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"{owner}: scale_fn: expected a function or None, got {scale_fn!r}")
        self.scale_fn = scale_fn
        base_lrs = each_group(per_group(owner, "base_lr", base_lr, n, low=0.0), n)

        def spread(name: str, value: Any) -> list[float]:
            return each_group(per_group(owner, name, value, n, low=0.0), n)

        up = float(positive_int("step_size_up", step_size_up, func=owner))
        down = up
        if step_size_down is not None:
            down = float(positive_int("step_size_down", step_size_down, func=owner, minimum=0))
        self._set(
            max_lrs=spread("max_lr", max_lr),
            total_size=up + down,
            step_ratio=up / (up + down),
            mode=mode,
            gamma=gamma,
            scale_mode=scale_mode,
            cycle_momentum=cycle_momentum,
            base_momentums=spread("base_momentum", base_momentum),
            max_momentums=spread("max_momentum", max_momentum),
        )
        if self.cycle_momentum:
            for group, top in zip(groups, self.max_momentums, strict=True):
                _set_momentum(owner, optimizer, group, top)
        for group, low in zip(groups, base_lrs, strict=True):
            group["lr"] = low
        super().__init__(optimizer)
        # PyTorch's epoch 0 ran from each group's initial_lr (its base_lr unless an earlier
        # schedule fixed it); the cycles run from base_lr
        self.base_lrs = base_lrs

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        owner = "CyclicLR"
        mode, scale_mode = settings["mode"], settings["scale_mode"]
        if self.scale_fn is None:
            if mode not in self._modes:
                raise ValueError(
                    f"{owner}: mode: expected 'triangular', 'triangular2' or 'exp_range' "
                    f"(or a scale_fn), got {mode!r}"
                )
            scale_mode = "iterations" if mode == "exp_range" else "cycle"  # as torch
        elif scale_mode not in ("cycle", "iterations"):
            raise ValueError(
                f"{owner}: scale_mode: expected 'cycle' or 'iterations', got {scale_mode!r}"
            )
        if not isinstance(settings["cycle_momentum"], bool):
            raise TypeError(
                f"{owner}: cycle_momentum: expected a bool, got {settings['cycle_momentum']!r}"
            )
        lists = {}
        n = self._group_count()
        for name in ("max_lrs", "base_momentums", "max_momentums"):
            value = settings[name]
            if not isinstance(value, (list, tuple)) or len(value) != n:
                raise ValueError(
                    f"{owner}: {name}: expected a list of one number per parameter group (the "
                    f"optimiser has {n}), got {value!r:.100}"
                )
            lists[name] = [
                real_number(f"{name}[{i}]", v, func=owner, low=0.0) for i, v in enumerate(value)
            ]
        return {
            **lists,
            "total_size": real_number(
                "total_size", settings["total_size"], func=owner, low=0.0, low_open=True
            ),
            "step_ratio": real_number(
                "step_ratio", settings["step_ratio"], func=owner, low=0.0, low_open=True, high=1.0
            ),
            "mode": mode,
            "gamma": real_number("gamma", settings["gamma"], func=owner, low=0.0, low_open=True),
            "scale_mode": scale_mode,
            "cycle_momentum": settings["cycle_momentum"],
        }

    def _scale(self, x: float) -> float:
        """The height factor f at x (the cycle or the step)."""
        if self.scale_fn is not None:
            return real_number("scale_fn", self.scale_fn(x), func="CyclicLR")
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / 2.0 ** (x - 1)
        return self.gamma**x

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        r = self.step_ratio
        s = x / r if x <= r else (x - 1) / (r - 1)
        f = self._scale(cycle if self.scale_mode == "cycle" else t)
        if self.cycle_momentum:
            top, bottom = self.max_momentums[i], self.base_momentums[i]
            group = self.optimizer.param_groups[i]
            _set_momentum("CyclicLR", self.optimizer, group, top - (top - bottom) * s * f)
        return base + (self.max_lrs[i] - base) * s * f

    def _first_lr(self, i: int, base: float, lr: float) -> float:
        # PyTorch's step(0) has no closed form here: its get_lr at epoch 0, which sets the
        # momentum too
        return self._next_lr(i, base, lr)
