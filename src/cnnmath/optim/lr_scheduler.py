"""Learning-rate schedules (``torch.optim.lr_scheduler``): the base class
:class:`LRScheduler` and the epoch schedules with a closed form or a rule of the epoch
(LambdaLR, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, ConstantLR,
PolynomialLR, MultiplicativeLR)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np  # noqa: F401  (the examples below use it)

from .._checks import positive_int, real_number
from .optimizer import Optimizer, ParamGroup
from .sgd import SGD  # noqa: F401  (the examples below use it)


def per_group(owner: str, name: str, value: Any, groups: int, **bounds: Any) -> Any:
    """A per-group setting as PyTorch takes it: a number, the same for every parameter group,
    or a list (tuple) of one number per group (``groups`` of them), each checked by
    ``real_number`` within ``bounds``. Returned in its form (a float, or a list of floats), so
    a state_dict keeps it as given; :func:`each_group` spreads it over the groups."""
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(
                f"{owner}: {name}: expected a number or a list of one per parameter group "
                f"(the optimiser has {groups}), got a list of {len(value)}: {value!r:.100}"
            )
        return [real_number(f"{name}[{i}]", v, func=owner, **bounds) for i, v in enumerate(value)]
    return real_number(name, value, func=owner, **bounds)


def each_group(value: float | list[float], groups: int) -> list[float]:
    """A :func:`per_group` setting as one value per group: the list, or the number ``groups``
    times."""
    return list(value) if isinstance(value, list) else [value] * groups


def _nearest_rule(cls: type) -> str | None:
    """ "_next_lr" or "get_lr": the rule the class nearest ``cls`` in its method resolution
    order defines below :class:`LRScheduler` (``_next_lr`` if one class defines both); None
    if none does."""
    for klass in cls.__mro__:
        if klass is LRScheduler:
            break
        if "_next_lr" in vars(klass):
            return "_next_lr"
        if "get_lr" in vars(klass):
            return "get_lr"
    return None


class LRScheduler:
    """Base class of the learning-rate schedules, as ``torch.optim.lr_scheduler.LRScheduler``.

    A scheduler drives the rate of each of the optimiser's parameter groups
    (``optimizer.param_groups[i]["lr"]``) epoch by epoch, every group by the same rule from
    its own rates. Made with the optimiser at its starting rates, it records each group's
    base rate η₀ⁱ — the group's ``"initial_lr"``, set to its rate by the first scheduler of
    the optimiser (PyTorch's ``setdefault``), so a warm-up and the schedule after it share it
    — in ``base_lrs`` and sets the rates of epoch 0 (``last_epoch = 0``); each ``step()``,
    called once after every epoch's optimiser steps, advances ``last_epoch`` to t and sets
    every group's η_tⁱ. The rules are PyTorch's, including that most are *chainable*: η_tⁱ is
    computed from the group's current rate η_{t−1}ⁱ, so a rate changed by hand (or by a second
    scheduler) between steps carries on from there exactly as in PyTorch; left alone, each
    schedule equals the closed form in its docstring (η₀ = η₀ⁱ) up to rounding.

    ``base_lrs``, ``get_lr()`` and ``get_last_lr()`` are lists of one rate per parameter group,
    in the optimiser's order. A schedule knows the groups it was made with: after a group is
    added (``add_param_group``) its ``step()`` raises RuntimeError rather than leave the new
    group unscheduled — make the schedule again. ``state_dict()`` is plain JSON-able Python
    values with PyTorch's key names (the hyperparameters, "base_lrs", "last_epoch",
    "_last_lr"); ``load_state_dict`` checks it as untrusted input — a list of one rate per
    group — and restores it whole or not at all: a checkpoint resumes the schedule where it
    stopped. PyTorch's deprecated ``step(epoch)`` and the constructor's ``last_epoch`` are left
    out (resume with ``load_state_dict``; ``last_epoch=-1`` is taken, the value for a new
    schedule), except CosineAnnealingWarmRestarts' ``step(epoch)``, its documented way of
    stepping by fractions of an epoch.

    A schedule of one's own is written as in PyTorch: a subclass whose ``get_lr()`` returns
    the rates of epoch ``last_epoch``, one per group (from ``base_lrs``, or from each group's
    current ``optimizer.param_groups[i]["lr"]``), its settings set before
    ``super().__init__(optimizer)``; it steps, checkpoints ("base_lrs", "last_epoch",
    "_last_lr"), and takes its turn in a :class:`SequentialLR` as the built-in ones do.
    """

    #: Names of the hyperparameters, in the constructor's order (keys of ``state_dict()``).
    _hyper_names: tuple[str, ...] = ()
    #: Whether ``fit`` steps it after every batch (OneCycleLR) instead of after every epoch.
    per_batch: bool = False
    #: Names of the running state beyond ``last_epoch`` (CosineAnnealingWarmRestarts' "T_i",
    #: "T_cur"): keys of ``state_dict()``, checked on loading by ``_check_counters``.
    _counter_names: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if last_epoch != -1:  # PyTorch's resumption by the constructor
            raise ValueError(
                f"{type(self).__name__}: last_epoch: expected -1 (a new schedule), got "
                f"{last_epoch!r:.40}; resume a schedule with load_state_dict"
            )
        groups = self._attach(optimizer)
        for group in groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [group["initial_lr"] for group in groups]
        self.last_epoch = -1
        self._last_lr: list[float] = [group["lr"] for group in groups]
        self._is_initial = True
        try:
            self.step()  # the rates of epoch 0
        finally:
            self._is_initial = False

    def _attach(self, optimizer: Optimizer) -> Sequence[ParamGroup]:
        """Check ``optimizer`` and keep it; its parameter groups (a schedule whose settings
        are per group attaches before checking them)."""
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: optimizer: expected a cnnmath.optim optimiser (SGD, "
                f"Adam, …), got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        return optimizer.param_groups

    def _group_count(self) -> int:
        """How many parameter groups the optimiser has now."""
        return len(self.optimizer.param_groups)

    def _groups(self) -> Sequence[ParamGroup]:
        """The optimiser's parameter groups, as many as the schedule has base rates (else a
        RuntimeError: a group was added since the schedule was made)."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise RuntimeError(
                f"{type(self).__name__}.step: the optimiser has {len(groups)} parameter "
                f"groups, the schedule was made for {len(self.base_lrs)} (a group added with "
                "add_param_group since?); make the schedule again after adding groups"
            )
        return groups

    # -- the schedule ------------------------------------------------------------------------
    def _next_lr(self, i: int, base: float, lr: float) -> float:
        """η_t of group ``i`` for t = ``last_epoch`` (already advanced), from the group's base
        rate ``base`` = η₀ⁱ (``base_lrs[i]``) and its current rate ``lr`` = η_{t−1}ⁱ."""
        raise NotImplementedError

    def _first_lr(self, i: int, base: float, lr: float) -> float:
        """η_0 of group ``i`` from its base rate (PyTorch's closed form at epoch 0): where a
        :class:`SequentialLR` hands over to this schedule (``last_epoch`` is 0 already; a
        schedule without a closed form in PyTorch computes it from the rate in use, ``lr``)."""
        return base

    def _set_rates(self, groups: Sequence[ParamGroup], rates: list[float]) -> None:
        for group, lr in zip(groups, rates, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def _restart(self) -> None:
        """Start again at epoch 0 with the rates ``_first_lr`` (PyTorch's ``step(0)``; a
        schedule of one's own, its ``get_lr()`` at epoch 0)."""
        groups = self._groups()
        self.last_epoch = 0
        if self._own_rule():
            self._set_rates(groups, self._own_rates(groups))
            return
        rates = [
            self._first_lr(i, base, group["lr"])
            for i, (base, group) in enumerate(zip(self.base_lrs, groups, strict=True))
        ]
        self._set_rates(groups, rates)

    def _own_rule(self) -> bool:
        """Whether this schedule's rule is a ``get_lr()`` written as PyTorch's custom schedules
        write it (the rates of epoch ``last_epoch``, one per group, from ``base_lrs`` or the
        groups' current rates) rather than a built-in's ``_next_lr``: whichever of the two the
        class defines nearest in its method resolution order wins, so a subclass of
        ``StepLR`` overriding ``get_lr`` runs its own rule, as in PyTorch."""
        rule = _nearest_rule(type(self))
        if rule is None:
            raise NotImplementedError(
                f"{type(self).__name__}: a schedule implements get_lr() (the rates of epoch "
                "last_epoch, one per parameter group), as PyTorch's custom schedules do"
            )
        return rule == "get_lr"

    def _own_rates(self, groups: Sequence[ParamGroup]) -> list[float]:
        rates = self.get_lr()
        if not isinstance(rates, (list, tuple)) or len(rates) != len(groups):
            raise ValueError(
                f"{type(self).__name__}.get_lr: expected a list of one rate per parameter "
                f"group ({len(groups)}), got {rates!r:.100}"
            )
        return list(rates)

    def _rates(self, groups: Sequence[ParamGroup]) -> list[float]:
        if self._own_rule():
            return self._own_rates(groups)
        return [
            self._next_lr(i, base, group["lr"])
            for i, (base, group) in enumerate(zip(self.base_lrs, groups, strict=True))
        ]

    def get_lr(self) -> list[float]:
        """The rates for ``last_epoch``, one per group, computed from the groups' current
        rates, without setting them (PyTorch's ``get_lr``; to read the rates in use, call
        ``get_last_lr()``)."""
        return self._rates(self._groups())

    def step(self) -> None:
        """Advance to the next epoch (t ← t + 1) and set every group's rate to its η_t
        (RuntimeError if the optimiser's groups are no longer those the schedule was made
        for)."""
        groups = self._groups()
        self.last_epoch += 1
        owner = f"{type(self).__name__}.step"
        rate = f"learning rate of epoch {self.last_epoch}"
        names = [rate] if len(groups) == 1 else [f"{rate}, group {i}" for i in range(len(groups))]
        try:
            rates = [
                real_number(name, lr, func=owner, low=0.0)
                for name, lr in zip(names, self._rates(groups), strict=True)
            ]
        except BaseException:
            self.last_epoch -= 1  # a refused rate leaves the schedule where it was
            raise
        self._set_rates(groups, rates)

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` (or the constructor) set, one float per group."""
        return list(self._last_lr)

    # -- hyperparameters ---------------------------------------------------------------------
    def _hyperparameters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._hyper_names}

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        """Validated hyperparameters (JSON-able values, by ``_hyper_names``); assigns nothing.
        (A schedule of one's own, with no ``_hyper_names``, has none.)"""
        if self._hyper_names:
            raise NotImplementedError
        return {}

    def _check_counters(self, **counters: Any) -> dict[str, Any]:
        """Validated running state (by ``_counter_names``) from a loaded state; assigns
        nothing."""
        return {}

    def _set(self, **settings: Any) -> None:
        for name, value in self._check_settings(**settings).items():
            setattr(self, name, value)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The state as plain Python values: the hyperparameters by PyTorch's names,
        "base_lrs", "last_epoch" and "_last_lr" (JSON-able; no optimiser, no functions). A
        schedule of one's own (``get_lr``) also writes its own public attributes, as
        PyTorch's writes its ``__dict__`` (functions left out; sets and tuples as lists, made
        sets and tuples again on loading; a value that is not a number, string, bool, None
        or a list, set or dict of them is refused, naming the attribute)."""
        out = {
            **self._hyperparameters(),
            **{name: getattr(self, name) for name in self._counter_names},
            "base_lrs": list(self.base_lrs),
            "last_epoch": self.last_epoch,
            "_last_lr": list(self._last_lr),
        }
        if _nearest_rule(type(self)) == "get_lr":
            out.update(self._own_attributes(out))
        return out

    def _own_attributes(self, taken: Mapping[str, Any]) -> dict[str, Any]:
        """A schedule of one's own's public attributes beyond ``taken``, as plain values."""
        owner = f"{type(self).__name__}.state_dict"
        own = {}
        for name, value in vars(self).items():
            if name.startswith("_") or name == "optimizer" or name in taken or _code(value):
                continue
            own[name] = _plain(owner, name, value)
        return own

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` (as PyTorch does, the stored hyperparameters win over the
        constructor's; the optimiser's rates are not touched — they are the optimiser's state).

        Raises ValueError/TypeError naming the key for a missing or unknown key, a value of
        the wrong kind, or a list ("base_lrs", "_last_lr", a per-group setting) whose length
        is not the optimiser's number of parameter groups; nothing is changed unless
        everything fits.
        """
        self._load(state_dict, first_epoch=0)

    def _load(self, state_dict: Mapping[str, Any], *, first_epoch: int) -> None:
        """``load_state_dict`` accepting ``last_epoch >= first_epoch``: -1 for a schedule of a
        :class:`SequentialLR` whose turn has not come yet (as PyTorch leaves it)."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{owner}: state_dict: expected a mapping, got {type(state_dict).__name__}"
            )
        expected = (*self._hyper_names, *self._counter_names, "base_lrs", "last_epoch", "_last_lr")
        for key in expected:
            if key not in state_dict:
                raise ValueError(f"{owner}: state_dict: missing key {key!r}")
        own: dict[str, Any] = {}
        if _nearest_rule(type(self)) == "get_lr":  # a schedule of one's own: its attributes
            attributes = self._own_attributes({k: None for k in expected})
            own = {
                k: _as_before(getattr(self, k), _plain(owner, k, v))
                for k, v in state_dict.items()
                if k in attributes
            }
        for key in state_dict:
            if key not in expected and key not in own:
                raise ValueError(
                    f"{owner}: state_dict: unexpected key {key!r}; expected the keys "
                    f"{', '.join(map(repr, expected))}"
                )
        last_epoch = positive_int(
            "state_dict['last_epoch']", state_dict["last_epoch"], func=owner, minimum=first_epoch
        )
        rates = {
            key: _group_rates(owner, key, state_dict[key], self._group_count())
            for key in ("base_lrs", "_last_lr")
        }
        try:
            settings = self._check_settings(**{k: state_dict[k] for k in self._hyper_names})
            counters = self._check_counters(**{k: state_dict[k] for k in self._counter_names})
        except (TypeError, ValueError) as error:
            raise type(error)(f"{owner}: state_dict: {error}") from None
        for name, value in {**settings, **counters, **own}.items():
            setattr(self, name, value)
        self.base_lrs, self._last_lr = rates["base_lrs"], rates["_last_lr"]
        self.last_epoch = last_epoch

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self._hyperparameters().items())
        return f"{type(self).__name__}({settings}, last_epoch={self.last_epoch})"


def _code(value: Any) -> bool:
    """Whether ``value`` is a function or a list of them (never part of a state_dict)."""
    if isinstance(value, (list, tuple)) and value:
        return all(callable(v) for v in value)
    return callable(value)


def _plain(owner: str, name: str, value: Any) -> Any:
    """``value`` as a JSON-able Python value (NumPy scalars as Python numbers, tuples and
    sets as lists, a set sorted), or a TypeError naming the attribute."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=repr) if len({type(v) for v in value}) > 1 else sorted(value)
    if isinstance(value, (list, tuple)):
        return [_plain(owner, f"{name}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(owner, f"{name}[{k!r}]", v) for k, v in value.items()}
    raise TypeError(
        f"{owner}: {name}: expected a number, string, bool, None or a list or dict of them "
        f"(a schedule's state is plain values), got {type(value).__name__}"
    )


def _as_before(current: Any, loaded: Any) -> Any:
    """A loaded list back in the container the attribute held (a set, a tuple)."""
    if isinstance(current, (set, frozenset, tuple)) and isinstance(loaded, list):
        return type(current)(loaded)
    return loaded


def _group_rates(owner: str, key: str, value: Any, groups: int) -> list[float]:
    """A loaded ``state_dict[key]`` ("base_lrs", "_last_lr"): a list of one rate >= 0 per
    parameter group (``groups``), else an error naming the key, expected and given."""
    if not isinstance(value, (list, tuple)) or len(value) != groups:
        given = f"a list of {len(value)}" if isinstance(value, (list, tuple)) else "not a list"
        raise ValueError(
            f"{owner}: state_dict[{key!r}]: expected a list of one learning rate per parameter "
            f"group (the optimiser has {groups}), got {given}: {value!r:.100}"
        )
    return [
        real_number(f"state_dict[{key!r}][{i}]", v, func=owner, low=0.0)
        for i, v in enumerate(value)
    ]


def _epoch_functions(owner: str, lr_lambda: Any, groups: int) -> list[Callable[[int], float]]:
    """One function of the epoch per parameter group: ``lr_lambda`` itself for every group if
    it is callable, or a list (tuple) of ``groups`` functions, as PyTorch takes it; else a
    TypeError (not a function) or ValueError (wrong length) naming it."""
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != groups:
            raise ValueError(
                f"{owner}: lr_lambda: expected a function, or a list of one per parameter group "
                f"(the optimiser has {groups}), got a list of {len(lr_lambda)}"
            )
        for i, fn in enumerate(lr_lambda):
            if not callable(fn):
                raise TypeError(
                    f"{owner}: lr_lambda[{i}]: expected a function of the epoch, got {fn!r:.100}"
                )
        return list(lr_lambda)
    if not callable(lr_lambda):
        raise TypeError(
            f"{owner}: lr_lambda: expected a function of the epoch (or a list of one per "
            f"parameter group), got {lr_lambda!r:.100}"
        )
    return [lr_lambda] * groups


class _OfEpochFunctions(LRScheduler):
    """A schedule driven by a function λᵢ of the epoch per parameter group (LambdaLR,
    MultiplicativeLR): ``lr_lambda`` one function for every group or a list of one per
    group."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
    ) -> None:
        groups = self._attach(optimizer)
        self.lr_lambdas = _epoch_functions(type(self).__name__, lr_lambda, len(groups))
        self._listed = isinstance(lr_lambda, (list, tuple))
        super().__init__(optimizer)

    def _factor(self, i: int, t: int) -> float:
        """λᵢ(t), checked to be a finite number; named ``lr_lambda(t)`` (``lr_lambda[i](t)``
        for a list of functions)."""
        name = f"lr_lambda[{i}]({t})" if self._listed else f"lr_lambda({t})"
        return real_number(name, self.lr_lambdas[i](t), func=type(self).__name__)


class LambdaLR(_OfEpochFunctions):
    """η_t = η₀ · λ(t), as ``torch.optim.lr_scheduler.LambdaLR`` (not chainable: it reads only
    ``base_lrs``).

    ``lr_lambda`` : a function of the epoch t (an int >= 0) returning a finite factor with
    η₀·λ(t) >= 0, used for every parameter group, or a list of one function per group
    (η_tⁱ = η₀ⁱ · λᵢ(t)). The functions are not part of ``state_dict()`` (PyTorch keeps only
    a callable object's attributes; cnnmath never pickles code): resume with a LambdaLR made
    with the same functions.

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    >>> LambdaLR(opt, lambda t: 1 / (t + 1)).get_last_lr()
    [0.1]
    """

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        return base * self._factor(i, self.last_epoch)

    def _first_lr(self, i: int, base: float, lr: float) -> float:
        return base * self._factor(i, 0)


class StepLR(LRScheduler):
    """Multiply the rate by γ every ``step_size`` epochs, as ``torch.optim.lr_scheduler.StepLR``:

        η_t = η_{t−1} · γ  if t > 0 and t mod step_size = 0,  else η_{t−1}
            = η₀ · γ^⌊t / step_size⌋   (left alone)

    ``step_size`` : int >= 1; ``gamma`` γ : finite, >= 0 (default 0.1).

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> s = StepLR(opt, step_size=2, gamma=0.5)
    >>> [s.step() or s.get_last_lr()[0] for _ in range(4)]
    [1.0, 0.5, 0.5, 0.25]
    """

    step_size: int
    gamma: float
    _hyper_names = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self._set(step_size=step_size, gamma=gamma)
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        return {
            "step_size": positive_int("step_size", settings["step_size"], func="StepLR"),
            "gamma": real_number("gamma", settings["gamma"], func="StepLR", low=0.0),
        }

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        t = self.last_epoch
        return lr * self.gamma if t > 0 and t % self.step_size == 0 else lr


class MultiStepLR(LRScheduler):
    """Multiply the rate by γ at each milestone epoch, as
    ``torch.optim.lr_scheduler.MultiStepLR``:

        η_t = η_{t−1} · γ^(number of times t appears in milestones)
            = η₀ · γ^(number of milestones <= t)   (left alone)

    ``milestones`` : epochs (ints >= 0; a repeated one decays twice, as in PyTorch);
    ``gamma`` γ : finite, >= 0 (default 0.1). ``state_dict()["milestones"]`` is the sorted list
    (PyTorch stores a ``Counter`` of the same epochs).
    """

    milestones: list[int]
    gamma: float
    _hyper_names = ("milestones", "gamma")

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1) -> None:
        self._set(milestones=milestones, gamma=gamma)
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        milestones = settings["milestones"]
        if isinstance(milestones, (str, bytes, Mapping)) or not isinstance(milestones, Iterable):
            raise TypeError(
                f"MultiStepLR: milestones: expected a list of epochs (ints >= 0), got "
                f"{milestones!r:.100}"
            )
        epochs = sorted(
            positive_int(f"milestones[{i}]", m, func="MultiStepLR", minimum=0)
            for i, m in enumerate(milestones)
        )
        return {
            "milestones": epochs,
            "gamma": real_number("gamma", settings["gamma"], func="MultiStepLR", low=0.0),
        }

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        times = Counter(self.milestones)[self.last_epoch]
        return lr * self.gamma**times if times else lr

    def _first_lr(self, i: int, base: float, lr: float) -> float:
        return base * self.gamma ** self.milestones.count(0)


class ExponentialLR(LRScheduler):
    """Multiply the rate by γ every epoch, as ``torch.optim.lr_scheduler.ExponentialLR``:

        η_t = η_{t−1} · γ  (t > 0)   = η₀ · γᵗ   (left alone)

    ``gamma`` γ : finite, >= 0.
    """

    gamma: float
    _hyper_names = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self._set(gamma=gamma)
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        return {"gamma": real_number("gamma", settings["gamma"], func="ExponentialLR", low=0.0)}

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        return lr if self._is_initial else lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from η₀ to ``eta_min`` over ``T_max`` epochs, as
    ``torch.optim.lr_scheduler.CosineAnnealingLR`` (no restarts):

        η_t = η_min + (η₀ − η_min) · (1 + cos(π t / T_max)) / 2     (the closed form)

    computed, as PyTorch does, by the recursion
    η_t = η_min + (η_{t−1} − η_min) · (1 + cos(π t/T_max)) / (1 + cos(π (t−1)/T_max)), with
    η_t = η_{t−1} + (η₀ − η_min)(1 − cos(π/T_max))/2 where that quotient is 0/0 (t − 1 − T_max
    a multiple of 2·T_max). Epoch 0 runs at η₀, epoch T_max − 1 just above η_min, epoch T_max at
    η_min; past T_max the cosine climbs back.

    ``T_max`` : int >= 1; ``eta_min`` : finite, >= 0 (default 0).

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> s = CosineAnnealingLR(opt, T_max=2)
    >>> [s.get_last_lr()[0]] + [s.step() or round(s.get_last_lr()[0], 12) for _ in range(2)]
    [1.0, 0.5, 0.0]
    """

    T_max: int
    eta_min: float
    _hyper_names = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        self._set(T_max=T_max, eta_min=eta_min)
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        return {
            "T_max": positive_int("T_max", settings["T_max"], func="CosineAnnealingLR"),
            "eta_min": real_number(
                "eta_min", settings["eta_min"], func="CosineAnnealingLR", low=0.0
            ),
        }

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return lr
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (
            lr - eta_min
        ) + eta_min


class LinearLR(LRScheduler):
    """Scale the rate linearly from ``start_factor``·η₀ to ``end_factor``·η₀ over
    ``total_iters`` epochs, then keep it (a warm-up), as ``torch.optim.lr_scheduler.LinearLR``:

        η_t = η₀ · (s + (e − s) · min(t, T) / T)      (the closed form)

    computed, as PyTorch does, by the chainable recursion η_t = η_{t−1} · (1 + (e − s) /
    (T·s + (t − 1)(e − s))) for 0 < t ≤ T. ``start_factor`` s in (0, 1] (1/3),
    ``end_factor`` e in [0, 1] (1), ``total_iters`` T >= 1 (5).

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> s = LinearLR(opt, start_factor=0.25, total_iters=3)
    >>> [s.get_last_lr()[0]] + [s.step() or s.get_last_lr()[0] for _ in range(4)]
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    start_factor: float
    end_factor: float
    total_iters: int
    _hyper_names = ("start_factor", "end_factor", "total_iters")

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
    ) -> None:
        self._set(start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        owner = "LinearLR"
        start = real_number("start_factor", settings["start_factor"], func=owner, high=1.0)
        if start <= 0:
            raise ValueError(f"{owner}: start_factor: expected a number in (0, 1], got {start}")
        return {
            "start_factor": start,
            "end_factor": real_number(
                "end_factor", settings["end_factor"], func=owner, low=0.0, high=1.0
            ),
            "total_iters": positive_int("total_iters", settings["total_iters"], func=owner),
        }

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        t, s, e = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return lr * s
        if t > self.total_iters:
            return lr
        return lr * (1.0 + (e - s) / (self.total_iters * s + (t - 1) * (e - s)))

    def _first_lr(self, i: int, base: float, lr: float) -> float:
        return base * self.start_factor


class ConstantLR(LRScheduler):
    """Run the first ``total_iters`` epochs at ``factor``·η₀, then at η₀ (a constant
    warm-up), as ``torch.optim.lr_scheduler.ConstantLR``:

        η_t = η₀ · factor  for t < total_iters,   η₀  from t = total_iters on

    computed, as PyTorch does, by the chainable recursion η_0 = factor·η, η_T = η_{T−1}/factor
    (T = ``total_iters``; η_{T−1}·(1/factor) to the bit), else η_t = η_{t−1}. ``factor`` in
    (0, 1] (1/3), ``total_iters`` an int >= 1 (5). PyTorch accepts ``factor = 0`` and then
    divides by it at epoch T, and ``total_iters = 0`` (factor forever); both are refused here.

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> s = ConstantLR(opt, factor=0.5, total_iters=2)
    >>> [s.get_last_lr()[0]] + [s.step() or s.get_last_lr()[0] for _ in range(3)]
    [0.5, 0.5, 1.0, 1.0]
    """

    factor: float
    total_iters: int
    _hyper_names = ("factor", "total_iters")

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5) -> None:
        self._set(factor=factor, total_iters=total_iters)
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        owner = "ConstantLR"
        return {
            "factor": real_number(
                "factor", settings["factor"], func=owner, low=0.0, low_open=True, high=1.0
            ),
            "total_iters": positive_int("total_iters", settings["total_iters"], func=owner),
        }

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        t = self.last_epoch
        if t == 0:
            return lr * self.factor
        return lr * (1.0 / self.factor) if t == self.total_iters else lr

    def _first_lr(self, i: int, base: float, lr: float) -> float:
        return base * self.factor


class PolynomialLR(LRScheduler):
    """Decay the rate to 0 over ``total_iters`` epochs as a power of the time left, as
    ``torch.optim.lr_scheduler.PolynomialLR``:

        η_t = η₀ · (1 − min(t, T)/T)^p      (the closed form; 0 from t = T on)

    computed, as PyTorch does, by the chainable recursion
    η_t = η_{t−1} · ((1 − t/T) / (1 − (t − 1)/T))^p for 0 < t ≤ T, η_t = η_{t−1} after.
    ``total_iters`` T an int >= 1 (5), ``power`` p >= 0 (1.0; PyTorch takes any p, but a
    negative one divides by zero at t = T).

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> s = PolynomialLR(opt, total_iters=4, power=2.0)
    >>> [s.get_last_lr()[0]] + [s.step() or s.get_last_lr()[0] for _ in range(5)]
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
    """

    total_iters: int
    power: float
    _hyper_names = ("total_iters", "power")

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0) -> None:
        self._set(total_iters=total_iters, power=power)
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        owner = "PolynomialLR"
        return {
            "total_iters": positive_int("total_iters", settings["total_iters"], func=owner),
            "power": real_number("power", settings["power"], func=owner, low=0.0),
        }

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        t, T = self.last_epoch, self.total_iters
        if self._is_initial or t > T:
            return lr
        return lr * ((1.0 - t / T) / (1.0 - (t - 1) / T)) ** self.power


class MultiplicativeLR(_OfEpochFunctions):
    """Multiply the rate by λ(t) every epoch, as ``torch.optim.lr_scheduler.MultiplicativeLR``:

        η_0 = η₀,   η_t = η_{t−1} · λ(t)   (t > 0)

    ``lr_lambda`` : a function of the epoch t (an int >= 1) returning a finite factor with
    η_{t−1}·λ(t) >= 0, used for every parameter group, or a list of one function per group
    (η_tⁱ = η_{t−1}ⁱ · λᵢ(t)). As with :class:`LambdaLR` the functions are not part of
    ``state_dict()``: resume with a MultiplicativeLR made with the same functions. Started by a
    :class:`SequentialLR` at a milestone, it runs at the rate in use times λ(0), as PyTorch's.

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> s = MultiplicativeLR(opt, lambda t: 0.5)
    >>> [s.get_last_lr()[0]] + [s.step() or s.get_last_lr()[0] for _ in range(2)]
    [1.0, 0.5, 0.25]
    """

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        if self._is_initial:
            return lr
        return lr * self._factor(i, self.last_epoch)

    def _first_lr(self, i: int, base: float, lr: float) -> float:
        # PyTorch's step(0) has no closed form here: the rate in use times λ(0)
        return self._next_lr(i, base, lr)
