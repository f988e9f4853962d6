"""Schedules that are more than a formula of the epoch: :class:`SequentialLR` runs
schedules one after another, :class:`ChainedScheduler` several at once,
:class:`ReduceLROnPlateau` follows a metric, :class:`OneCycleLR` is stepped per batch and
cycles the momentum with the rate."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._checks import positive_int, real_number
from .lr_scheduler import LRScheduler, _group_rates, each_group, per_group
from .optimizer import Optimizer, ParamGroup
from .sgd import SGD  # noqa: F401  (the examples below use it)


def _check_schedules(
    owner: str,
    schedulers: Any,
    optimizer: Optimizer | None,
    refused: tuple[type, ...],
    expected: str,
) -> None:
    """Refuse anything but a non-empty list of schedules of ``optimizer``, none of a
    ``refused`` kind, naming the argument (``schedulers[i]``)."""
    if not isinstance(schedulers, (list, tuple)) or not schedulers:
        raise TypeError(
            f"{owner}: schedulers: expected a non-empty list of schedulers, got {schedulers!r:.100}"
        )
    for i, child in enumerate(schedulers):
        if not isinstance(child, LRScheduler) or isinstance(child, refused):
            raise TypeError(
                f"{owner}: schedulers[{i}]: expected {expected}, got {type(child).__name__}"
            )
        if child.optimizer is not optimizer:
            raise ValueError(
                f"{owner}: schedulers[{i}]: it drives another optimiser than the one given"
                + ("" if i else " (or the first schedule's)")
            )
        try:  # a group added since the schedule was made: refused before anything changes
            child._groups()
        except RuntimeError as error:
            raise RuntimeError(f"{owner}: schedulers[{i}]: {error}") from None


def _base_rates(optimizer: Optimizer) -> list[float]:
    """Each group's base rate η₀ⁱ: its "initial_lr" once a schedule has set it, else its rate."""
    return [g["initial_lr"] if "initial_lr" in g else g["lr"] for g in optimizer.param_groups]


def check_anneal_strategy(owner: str, value: Any) -> str:
    """``value`` if it is "cos" or "linear" (OneCycleLR's and SWALR's ``anneal_strategy``),
    else a ValueError naming it."""
    if value not in ("cos", "linear"):
        raise ValueError(f"{owner}: anneal_strategy: expected 'cos' or 'linear', got {value!r}")
    return str(value)


class SequentialLR(LRScheduler):
    """One schedule after another, switching at the ``milestones`` epochs, as
    ``torch.optim.lr_scheduler.SequentialLR`` (the warm-up-then-cosine recipe)::

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        cosine = CosineAnnealingLR(opt, T_max=epochs - 5)
        schedule = SequentialLR(opt, [warmup, cosine], milestones=[5])

    Epochs t < m₁ follow the first schedule; at t = m₁ the second starts at its own epoch 0
    (its rates η_0ⁱ from the groups' η₀ⁱ, whatever the first had reached), and so on. Made
    after its schedules, it resets every group's rate to its η₀ⁱ ("initial_lr") and restarts
    the first one, as PyTorch's does; a
    schedule whose turn has not come sits at ``last_epoch = -1``, as in PyTorch.
    ``state_dict()`` holds the milestones, its own epoch and each schedule's state. ``fit``
    steps it after every batch when one of its schedules asks for that (a OneCycleLR): the
    milestones and the other schedules then count batches.
    """

    _hyper_names = ("milestones",)
    milestones: list[int]

    def __init__(
        self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int]
    ) -> None:
        owner = "SequentialLR"
        _check_schedules(
            owner,
            schedulers,
            optimizer,
            (SequentialLR, ReduceLROnPlateau, ChainedScheduler),
            "an epoch schedule (LinearLR, CosineAnnealingLR, …)",
        )
        self._set(milestones=milestones)
        if len(self.milestones) != len(schedulers) - 1:
            raise ValueError(
                f"{owner}: milestones: expected {len(schedulers) - 1} epoch(s), one per switch "
                f"between the {len(schedulers)} schedulers, got {len(self.milestones)}"
            )
        self.schedulers = list(schedulers)
        self.per_batch = any(child.per_batch for child in self.schedulers)
        self.optimizer = optimizer
        groups = optimizer.param_groups
        self.base_lrs = _base_rates(optimizer)
        before = ([g["lr"] for g in groups], [child.last_epoch for child in self.schedulers])
        for group, base in zip(groups, self.base_lrs, strict=True):
            group["lr"] = base
        for child in self.schedulers:
            child.last_epoch -= 1
        first = self.schedulers[0]
        first._is_initial = True
        try:
            first.step()
        except BaseException:  # a refused first step (a get_lr of one's own): as it was
            for group, lr in zip(groups, before[0], strict=True):
                group["lr"] = lr
            for child, epoch in zip(self.schedulers, before[1], strict=True):
                child.last_epoch = epoch
            raise
        finally:
            first._is_initial = False
        self.last_epoch = 0
        self._last_lr = first.get_last_lr()
        self._is_initial = False

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        milestones = settings["milestones"]
        if not isinstance(milestones, (list, tuple)):
            raise TypeError(
                f"SequentialLR: milestones: expected a list of epochs, got {milestones!r:.100}"
            )
        epochs = [
            positive_int(f"milestones[{i}]", m, func="SequentialLR")
            for i, m in enumerate(milestones)
        ]
        if any(a >= b for a, b in zip(epochs, epochs[1:])):
            raise ValueError(f"SequentialLR: milestones: expected increasing epochs, got {epochs}")
        return {"milestones": epochs}

    def step(self) -> None:
        """Advance one epoch: the schedule in charge steps, or, at a milestone, the next one
        starts at its epoch 0 (RuntimeError, nothing changed, if a parameter group was added
        since the schedules were made)."""
        self._groups()
        self.last_epoch += 1
        k = bisect.bisect_right(self.milestones, self.last_epoch)
        child = self.schedulers[k]
        if k > 0 and self.milestones[k - 1] == self.last_epoch:
            child._restart()
        else:
            child.step()
        self._last_lr = child.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """The base class's keys and "_schedulers", each schedule's ``state_dict()``."""
        return {**super().state_dict(), "_schedulers": [c.state_dict() for c in self.schedulers]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: this schedule's keys, then each schedule's state (all
        or nothing)."""
        owner = "SequentialLR.load_state_dict"
        if not isinstance(state_dict, Mapping) or "_schedulers" not in state_dict:
            raise ValueError(f"{owner}: state_dict: missing key '_schedulers'")
        children = state_dict["_schedulers"]
        if not isinstance(children, list) or len(children) != len(self.schedulers):
            raise ValueError(
                f"{owner}: state_dict['_schedulers']: expected a list of "
                f"{len(self.schedulers)} scheduler states, got {children!r:.100}"
            )
        before = self.state_dict()
        try:
            super().load_state_dict({k: v for k, v in state_dict.items() if k != "_schedulers"})
            for i, (child, child_state) in enumerate(zip(self.schedulers, children, strict=True)):
                try:
                    child._load(child_state, first_epoch=-1)
                except (TypeError, ValueError) as error:
                    raise type(error)(f"{owner}: state_dict['_schedulers'][{i}]: {error}") from None
        except (TypeError, ValueError):
            super().load_state_dict({k: v for k, v in before.items() if k != "_schedulers"})
            for child, child_state in zip(self.schedulers, before["_schedulers"], strict=True):
                child._load(child_state, first_epoch=-1)
            raise


class ChainedScheduler(LRScheduler):
    """Several schedules stepped together, each on the rate the one before it left, as
    ``torch.optim.lr_scheduler.ChainedScheduler``: a warm-up factor on top of a decay, e.g.

        ChainedScheduler([ConstantLR(opt, factor=0.1, total_iters=2),
                          ExponentialLR(opt, gamma=0.9)])

    runs at 0.1·0.9ᵗ·η₀ for t < 2 and 0.9ᵗ·η₀ after (in every parameter group, from its own
    η₀): each ``step()`` steps every schedule in the order given (the chainable rules of
    :class:`LRScheduler` compose). Made after its schedules, it changes no rate.
    ``schedulers``: a non-empty list of schedules of one optimiser (``optimizer`` if given),
    none a ReduceLROnPlateau (it needs a metric); ``fit`` steps it after every batch when one
    of them asks for that (a OneCycleLR or a CyclicLR). ``state_dict()`` has torch's keys:
    "_last_lr" (one rate per group) and "_schedulers", each schedule's state (``last_epoch``
    counts the steps since it was made, and is not part of it: torch's has none). It cannot
    be one of a :class:`SequentialLR`'s schedules (PyTorch's SequentialLR cannot restart it
    either).
    """

    def __init__(self, schedulers: list[LRScheduler], optimizer: Optimizer | None = None) -> None:
        owner = "ChainedScheduler"
        if optimizer is None and isinstance(schedulers, (list, tuple)) and schedulers:
            optimizer = getattr(schedulers[0], "optimizer", None)
        if optimizer is not None and not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{owner}: optimizer: expected a cnnmath.optim optimiser or None, got "
                f"{type(optimizer).__name__}"
            )
        _check_schedules(
            owner,
            schedulers,
            optimizer,
            (ReduceLROnPlateau,),
            "a schedule stepped without a metric (ConstantLR, ExponentialLR, …)",
        )
        self.schedulers = list(schedulers)
        optimizer = self.schedulers[0].optimizer  # every schedule's, as checked
        self.optimizer = optimizer
        self.per_batch = any(child.per_batch for child in self.schedulers)
        groups = optimizer.param_groups
        self.base_lrs = _base_rates(optimizer)
        self.last_epoch = 0
        self._is_initial = False
        self._last_lr = [g["lr"] for g in groups]

    def step(self) -> None:
        """Step every schedule, in order; the rates are those the last one left (RuntimeError,
        nothing changed, if a parameter group was added since the schedules were made)."""
        self._groups()
        for child in self.schedulers:
            child._groups()
        for child in self.schedulers:
            child.step()
        self.last_epoch += 1
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        """Not defined for a chain (as in PyTorch): read ``get_last_lr()``."""
        raise NotImplementedError("ChainedScheduler.get_lr: read get_last_lr() instead")

    def state_dict(self) -> dict[str, Any]:
        """{"_last_lr", "_schedulers"}: the rates (one per group) and each schedule's
        ``state_dict()``."""
        return {
            "_last_lr": list(self._last_lr),
            "_schedulers": [child.state_dict() for child in self.schedulers],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: every schedule's state, all or nothing."""
        owner = "ChainedScheduler.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{owner}: state_dict: expected a mapping, got {type(state_dict).__name__}"
            )
        for key in state_dict:
            if key not in ("_last_lr", "_schedulers"):
                raise ValueError(
                    f"{owner}: state_dict: unexpected key {key!r}; expected '_last_lr' and "
                    "'_schedulers'"
                )
        children = state_dict.get("_schedulers")
        if not isinstance(children, list) or len(children) != len(self.schedulers):
            raise ValueError(
                f"{owner}: state_dict['_schedulers']: expected a list of "
                f"{len(self.schedulers)} scheduler states, got {children!r:.100}"
            )
        rates = _group_rates(owner, "_last_lr", state_dict.get("_last_lr"), self._group_count())
        before = [child.state_dict() for child in self.schedulers]
        try:
            for i, (child, child_state) in enumerate(zip(self.schedulers, children, strict=True)):
                try:
                    child.load_state_dict(child_state)
                except (TypeError, ValueError) as error:
                    raise type(error)(f"{owner}: state_dict['_schedulers'][{i}]: {error}") from None
        except (TypeError, ValueError):
            for child, child_state in zip(self.schedulers, before, strict=True):
                child.load_state_dict(child_state)
            raise
        self._last_lr = rates

    def __repr__(self) -> str:
        return f"ChainedScheduler({self.schedulers!r})"


class ReduceLROnPlateau(LRScheduler):
    """Cut the rate when a metric stops improving, as
    ``torch.optim.lr_scheduler.ReduceLROnPlateau``: ``step(metrics)`` after each epoch (``fit``
    passes the held-out loss, or the training loss without ``val_data``).

    A metric m improves on the best b when, for ``mode`` "min" (or "max"),

        "rel":  m < b·(1 − threshold)      (m > b·(1 + threshold))
        "abs":  m < b − threshold          (m > b + threshold)

    After more than ``patience`` epochs without improvement the rate of every parameter group
    becomes max(ηⁱ·factor, min_lrⁱ) (a group's unchanged if that moves it by ``eps`` or
    less), and the next ``cooldown`` epochs count no bad epochs. ``factor`` in [0, 1),
    ``patience`` and ``cooldown`` ints >= 0, ``threshold`` >= 0; ``min_lr`` >= 0, a number for
    every group or a list of one per group (kept in that form by ``state_dict()``).
    ``base_lrs`` are the groups' rates when it was made (it sets no "initial_lr", as
    PyTorch's).
    """

    _hyper_names = (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lr",
        "eps",
    )
    mode: str
    factor: float
    patience: int
    threshold: float
    threshold_mode: str
    cooldown: int
    min_lr: float | list[float]
    eps: float

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        groups = self._attach(optimizer)
        self._set(
            mode=mode,
            factor=factor,
            patience=patience,
            threshold=threshold,
            threshold_mode=threshold_mode,
            cooldown=cooldown,
            min_lr=min_lr,
            eps=eps,
        )
        self.base_lrs = [group["lr"] for group in groups]
        self._last_lr = [group["lr"] for group in groups]
        self.last_epoch = 0
        self._is_initial = False
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        owner = "ReduceLROnPlateau"
        for name, allowed in (("mode", ("min", "max")), ("threshold_mode", ("rel", "abs"))):
            if settings[name] not in allowed:
                raise ValueError(
                    f"{owner}: {name}: expected {allowed[0]!r} or {allowed[1]!r}, got "
                    f"{settings[name]!r}"
                )
        return {
            "mode": settings["mode"],
            "factor": real_number(
                "factor", settings["factor"], func=owner, low=0.0, high=1.0, high_open=True
            ),
            "patience": positive_int("patience", settings["patience"], func=owner, minimum=0),
            "threshold": real_number("threshold", settings["threshold"], func=owner, low=0.0),
            "threshold_mode": settings["threshold_mode"],
            "cooldown": positive_int("cooldown", settings["cooldown"], func=owner, minimum=0),
            "min_lr": per_group(owner, "min_lr", settings["min_lr"], self._group_count(), low=0.0),
            "eps": real_number("eps", settings["eps"], func=owner, low=0.0),
        }

    def _improves(self, m: float) -> bool:
        b, th = self.best, self.threshold
        if self.mode == "min":
            return m < (b * (1 - th) if self.threshold_mode == "rel" else b - th)
        return m > (b * (1 + th) if self.threshold_mode == "rel" else b + th)

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """One epoch's ``metrics`` value (a real number, PyTorch's argument name; NaN never
        improves): keep, or cut, the rates (RuntimeError, nothing changed, if a parameter group
        was added since the schedule was made)."""
        if isinstance(metrics, np.ndarray) and metrics.shape == ():
            metrics = metrics[()]  # a 0-d array, as PyTorch takes a 0-d tensor
        if isinstance(metrics, (bool, np.bool_)) or not isinstance(
            metrics, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"ReduceLROnPlateau.step: metrics: expected a number, got {metrics!r}")
        m = float(metrics)
        groups = self._groups()
        self.last_epoch += 1
        if self._improves(m):
            self.best, self.num_bad_epochs = m, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(groups, each_group(self.min_lr, len(groups)), strict=True):
                old = group["lr"]
                new = max(old * self.factor, low)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in groups]

    _counters = ("best", "num_bad_epochs", "cooldown_counter")

    def state_dict(self) -> dict[str, Any]:
        """The base class's keys and "best", "num_bad_epochs", "cooldown_counter"."""
        return {**super().state_dict(), **{k: getattr(self, k) for k in self._counters}}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` (``best`` may be ±inf: no metric seen yet)."""
        owner = "ReduceLROnPlateau.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{owner}: state_dict: expected a mapping, got {state_dict!r:.60}")
        for key in self._counters:
            if key not in state_dict:
                raise ValueError(f"{owner}: state_dict: missing key {key!r}")
        best = state_dict["best"]
        if isinstance(best, bool) or not isinstance(best, (int, float)) or math.isnan(best):
            raise ValueError(f"{owner}: state_dict['best']: expected a number, got {best!r:.40}")
        counts = [
            positive_int(f"state_dict[{k!r}]", state_dict[k], func=owner, minimum=0)
            for k in self._counters[1:]
        ]
        super().load_state_dict({k: v for k, v in state_dict.items() if k not in self._counters})
        self.best = float(best)
        self.num_bad_epochs, self.cooldown_counter = counts


def _set_momentum(owner: str, optimizer: Optimizer, group: ParamGroup, value: float) -> None:
    """Set the momentum-like setting a cycling schedule (OneCycleLR, CyclicLR) drives in one
    parameter ``group`` of ``optimizer``: β1 where the optimiser has betas (Adam, AdamW,
    Adamax, NAdam, RAdam: torch's ``use_beta1``), else ``momentum`` (SGD, RMSprop). Adagrad
    has neither: refused, as PyTorch refuses it."""
    if "betas" in group:
        group["betas"] = (value, *tuple(group["betas"])[1:])
    elif "momentum" in group:
        group["momentum"] = value
    else:
        raise ValueError(
            f"{owner}: cycle_momentum: {type(optimizer).__name__} has no momentum or beta1 to "
            "cycle; pass cycle_momentum=False"
        )


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), as ``torch.optim.lr_scheduler.OneCycleLR``: stepped
    after every *batch* (``fit`` does so), the rate climbs from η_max/div_factor to
    η_max over the first ``pct_start`` of the ``total_steps`` and anneals to
    η_max/(div_factor·final_div_factor) over the rest,

        η(step) = anneal(start, end, (step − s0)/(s1 − s0)) within the phase [s0, s1],
        phases (two):   [0, p·T − 1]: η_max/d → η_max,   [p·T − 1, T − 1]: η_max → η_min
        (three_phase):  … → η_max → η_max/d over [p·T − 1, 2p·T − 2], then → η_min,

    "cos": anneal = end + (start − end)(1 + cos(π·pct))/2; "linear": start + (end − start)·pct.
    With ``cycle_momentum`` (the default, as PyTorch) the optimiser's momentum (β1 for Adam)
    runs the other way, max_momentum → base_momentum → max_momentum. ``total_steps``, or
    ``epochs``·``steps_per_epoch``. ``max_lr``, ``base_momentum`` and ``max_momentum`` are a
    number for every parameter group or a list of one per group (kept in that form by
    ``state_dict()``): each group cycles with its own η_max, from η_max/div_factor (which
    becomes the group's "initial_lr", as in PyTorch), and its own momenta. The step after the
    last batch (step T, which sets a rate no batch uses) keeps η_min where PyTorch
    extrapolates the last phase (below 0 for "linear"); a step beyond it is an error, as in
    PyTorch. A phase of no length is at its end where PyTorch divides 0 by 0: with p·T = 1
    the climb is step 0 alone, which runs at η_max (PyTorch raises ZeroDivisionError), and
    with p = 1 step T is η_min.

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    >>> s = OneCycleLR(opt, max_lr=1.0, total_steps=4, anneal_strategy="linear")
    >>> rates = [s.get_last_lr()[0]] + [s.step() or s.get_last_lr()[0] for _ in range(3)]
    >>> [round(r, 4) for r in rates]
    [0.04, 0.7143, 0.3571, 0.0]
    """

    per_batch = True
    max_lr: float | list[float]
    total_steps: int
    pct_start: float
    anneal_strategy: str
    cycle_momentum: bool
    base_momentum: float | list[float]
    max_momentum: float | list[float]
    div_factor: float
    final_div_factor: float
    three_phase: bool
    _hyper_names = (
        "max_lr",
        "total_steps",
        "pct_start",
        "anneal_strategy",
        "cycle_momentum",
        "base_momentum",
        "max_momentum",
        "div_factor",
        "final_div_factor",
        "three_phase",
    )

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        owner = "OneCycleLR"
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError(
                    f"{owner}: total_steps: expected total_steps, or epochs and steps_per_epoch"
                )
            total_steps = positive_int("epochs", epochs, func=owner) * positive_int(
                "steps_per_epoch", steps_per_epoch, func=owner
            )
        groups = self._attach(optimizer)
        self._set(
            max_lr=max_lr,
            total_steps=total_steps,
            pct_start=pct_start,
            anneal_strategy=anneal_strategy,
            cycle_momentum=cycle_momentum,
            base_momentum=base_momentum,
            max_momentum=max_momentum,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            three_phase=three_phase,
        )
        n = len(groups)
        if self.cycle_momentum:
            for group, top in zip(groups, each_group(self.max_momentum, n), strict=True):
                _set_momentum(owner, optimizer, group, top)
        for group, top in zip(groups, each_group(self.max_lr, n), strict=True):
            group["lr"] = top / self.div_factor  # PyTorch's initial_lr
            group["initial_lr"] = group["lr"]
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        owner = "OneCycleLR"
        strategy = check_anneal_strategy(owner, settings["anneal_strategy"])
        flags = {}
        for name in ("cycle_momentum", "three_phase"):
            if not isinstance(settings[name], bool):
                raise TypeError(f"{owner}: {name}: expected a bool, got {settings[name]!r}")
            flags[name] = settings[name]
        pct = real_number("pct_start", settings["pct_start"], func=owner, low=0.0, high=1.0)
        n = self._group_count()
        return {
            "max_lr": per_group(owner, "max_lr", settings["max_lr"], n, low=0.0),
            "total_steps": positive_int("total_steps", settings["total_steps"], func=owner),
            "pct_start": pct,
            "anneal_strategy": strategy,
            "base_momentum": per_group(
                owner, "base_momentum", settings["base_momentum"], n, low=0.0
            ),
            "max_momentum": per_group(owner, "max_momentum", settings["max_momentum"], n, low=0.0),
            "div_factor": real_number(
                "div_factor", settings["div_factor"], func=owner, low=0.0, low_open=True
            ),
            "final_div_factor": real_number(
                "final_div_factor", settings["final_div_factor"], func=owner, low=0.0, low_open=True
            ),
            **flags,
        }

    def _phases(self, i: int) -> list[tuple[float, float, float, float, float]]:
        """(end step, start lr, end lr, start momentum, end momentum) of each phase, for
        parameter group ``i``."""
        T, p, n = self.total_steps, self.pct_start, len(self.base_lrs)
        peak = each_group(self.max_lr, n)[i]
        initial = peak / self.div_factor
        low = initial / self.final_div_factor
        top, bottom = each_group(self.max_momentum, n)[i], each_group(self.base_momentum, n)[i]
        if self.three_phase:
            return [
                (p * T - 1, initial, peak, top, bottom),
                (2 * p * T - 2, peak, initial, bottom, top),
                (T - 1, initial, low, top, top),
            ]
        return [
            (p * T - 1, initial, peak, top, bottom),
            (T - 1, peak, low, bottom, top),
        ]

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR.step: stepped {step} times, past total_steps = {self.total_steps}"
            )
        start = 0.0
        phases = self._phases(i)
        for k, (end, lr0, lr1, m0, m1) in enumerate(phases):
            if step <= end or k == len(phases) - 1:
                span = end - start
                # step T: the end, not beyond; a phase of no length: its end
                pct = 1.0 if span == 0 else min((step - start) / span, 1.0)
                if self.cycle_momentum:
                    group = self.optimizer.param_groups[i]
                    _set_momentum("OneCycleLR", self.optimizer, group, self._anneal(m0, m1, pct))
                return self._anneal(lr0, lr1, pct)
            start = end
        raise AssertionError("unreachable")

    def _first_lr(self, i: int, base: float, lr: float) -> float:
        return each_group(self.max_lr, len(self.base_lrs))[i] / self.div_factor
