"""Weight averaging, as ``torch.optim.swa_utils``: :class:`AveragedModel` (a running average
of a model's weights: stochastic weight averaging, SWA, or an exponential moving average,
EMA), :func:`update_bn` (BatchNorm statistics recomputed for the averaged weights) and
:class:`SWALR` (the rate annealed to a constant for the averaging epochs).

With θ the model's weights after an epoch (or a step) and θ̄ the average, n the number of
models averaged so far (``n_averaged``)::

    first update      θ̄ ← θ
    SWA (default)     θ̄ ← θ̄ + (θ − θ̄)/(n + 1)          the equal-weight mean of all θ
    EMA (decay d)     θ̄ ← d θ̄ + (1 − d) θ               (lerp by 1 − d)

A typical run (PyTorch's recipe)::

    swa_model = AveragedModel(model)
    swa_scheduler = SWALR(optimizer, swa_lr=0.05)
    for epoch in range(epochs):
        ...                                     # one epoch of training steps
        if epoch > swa_start:
            swa_model.update_parameters(model)
            swa_scheduler.step()
        else:
            scheduler.step()
    update_bn(loader, swa_model)                # BatchNorm statistics for the averaged weights

Integer buffers (BatchNorm's ``num_batches_tracked``) averaged with ``use_buffers=True``
follow PyTorch's arithmetic: computed in float32 (PyTorch's default dtype for an integer
tensor's true division or product with a float) and stored back truncated toward zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .._checks import cpu_device, flag, positive_int, real_number
from ..nn import BatchNorm1d, BatchNorm2d, BatchNorm3d, Module, no_grad
from ..nn._running import run_backward, run_forward
from ..nn.fold import _copy_without_contexts
from .lr_policies import check_anneal_strategy
from .lr_scheduler import LRScheduler, each_group, per_group
from .optimizer import Optimizer

__all__ = [
    "SWALR",
    "AveragedModel",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]

AvgFn = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
MultiAvgFn = Callable[[list[np.ndarray], list[np.ndarray], int], None]


def _arithmetic(a: np.ndarray) -> np.ndarray:
    """``a`` itself if floating, else as float32: PyTorch computes an integer tensor's true
    division, or its product with a Python float, in its default dtype float32."""
    return a if np.issubdtype(a.dtype, np.floating) else a.astype(np.float32)


def _lerp(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """PyTorch's ``lerp(a, b, w)`` for floating arrays, its two-sided formula included:
    a + w(b − a) for |w| < 0.5, else b − (b − a)(1 − w), in a's dtype."""
    w = a.dtype.type(weight)
    d = b - a
    return a + w * d if abs(w) < 0.5 else b - d * (a.dtype.type(1) - w)


def _decay(decay: Any, func: str) -> float:
    return real_number("decay", decay, func=func, low=0.0, high=1.0)


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """The in-place EMA of lists of arrays, as ``torch.optim.swa_utils.get_ema_multi_avg_fn``:

        θ̄ ← lerp(θ̄, θ, 1 − d) = d θ̄ + (1 − d) θ          for every pair (θ̄, θ), any shape

    ``decay`` d in [0, 1] (0.999). The function takes (averaged arrays, model arrays, n) and
    overwrites the averaged ones. Integer arrays: d θ̄ + (1 − d) θ in float32, truncated.

    >>> avg, new = [np.zeros(2)], [np.ones(2)]
    >>> get_ema_multi_avg_fn(0.75)(avg, new, 1)
    >>> avg[0]
    array([0.25, 0.25])
    """
    d = _decay(decay, "get_ema_multi_avg_fn")

    def ema_update(averaged: list[np.ndarray], current: list[np.ndarray], n: int) -> None:
        for a, b in zip(averaged, current, strict=True):
            if np.issubdtype(a.dtype, np.floating):
                a[...] = _lerp(a, b, 1 - d)
            else:
                a[...] = _arithmetic(a) * np.float32(d) + _arithmetic(b) * np.float32(1 - d)

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """The in-place equal-weight average of lists of arrays, as
    ``torch.optim.swa_utils.get_swa_multi_avg_fn``:

        θ̄ ← lerp(θ̄, θ, w),   w = 1/(n + 1) rounded to float32 (PyTorch computes it as a
                                 float32 tensor, whatever the arrays' dtype)

    Integer arrays are refused, as PyTorch's ``addcdiv`` refuses them: average a model's
    integer buffers with the default (``avg_fn=None``) or :func:`get_swa_avg_fn`.

    >>> avg, new = [np.zeros(2)], [np.ones(2)]
    >>> get_swa_multi_avg_fn()(avg, new, 1)
    >>> avg[0]
    array([0.5, 0.5])
    """

    def swa_update(averaged: list[np.ndarray], current: list[np.ndarray], n: int) -> None:
        weight = float(np.float32(1) / np.float32(n + 1))
        for a, b in zip(averaged, current, strict=True):
            if not np.issubdtype(a.dtype, np.floating):
                raise TypeError(
                    f"get_swa_multi_avg_fn: averaged: expected floating arrays, got dtype "
                    f"{a.dtype} (an integer buffer such as num_batches_tracked, with "
                    "use_buffers=True); PyTorch's refuses it too: use the default average "
                    "(no avg_fn) or avg_fn=get_swa_avg_fn()"
                )
            a[...] = _lerp(a, b, weight)

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """The EMA of one array, as ``torch.optim.swa_utils.get_ema_avg_fn``: returns

        d θ̄ + (1 − d) θ           (θ̄, θ: arrays of one shape; integer ones in float32)

    ``decay`` d in [0, 1] (0.999).

    >>> get_ema_avg_fn(0.75)(np.zeros(2), np.ones(2), 1)
    array([0.25, 0.25])
    """
    d = _decay(decay, "get_ema_avg_fn")

    def ema_update(averaged: np.ndarray, current: np.ndarray, n: int) -> np.ndarray:
        a, b = _arithmetic(averaged), _arithmetic(current)
        return a.dtype.type(d) * a + a.dtype.type(1 - d) * b

    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """The equal-weight running mean of one array, as ``torch.optim.swa_utils.get_swa_avg_fn``:
    returns

        θ̄ + (θ − θ̄)/(n + 1)      (n models averaged so far; integer arrays in float32)

    >>> get_swa_avg_fn()(np.zeros(2), np.ones(2), 3)
    array([0.25, 0.25])
    """

    def swa_update(averaged: np.ndarray, current: np.ndarray, n: int) -> np.ndarray:
        if np.issubdtype(averaged.dtype, np.floating):
            return averaged + (current - averaged) / (int(n) + 1)
        diff = (current - averaged).astype(np.float32) / np.float32(int(n) + 1)
        return _arithmetic(averaged) + diff

    return swa_update


def _cpu_device(owner: str, device: Any) -> None:
    """cnnmath computes on the CPU: ``device`` (PyTorch's argument) may be None or "cpu"
    (``_checks.cpu_device``: "cpu:0" and torch.device("cpu") too)."""
    if device is not None and not cpu_device(device):
        raise ValueError(
            f"{owner}: device: expected None or 'cpu' (cnnmath computes with NumPy on the "
            f"CPU), got {device!r:.60}"
        )


class AveragedModel(Module):
    """A running average of a model's weights, as ``torch.optim.swa_utils.AveragedModel``.

    Holds a deep copy of ``model`` as its child ``module`` and the number of models averaged
    so far, ``n_averaged`` (an int64 0-d buffer): its ``state_dict`` keys are PyTorch's,
    "n_averaged" and "module.<the model's keys>". It runs (forward, backward, train/eval,
    ``to``) as the copy does. Each :meth:`update_parameters(model)` folds the model's current
    weights θ into the average θ̄ (n = ``n_averaged``)::

        n = 0:   θ̄ ← θ
        n > 0:   θ̄ ← θ̄ + (θ − θ̄)/(n + 1)       (default: SWA, the mean of all θ)
                 θ̄ ← avg_fn(θ̄, θ, n)            (one array at a time)
                 multi_avg_fn([θ̄…], [θ…], n)    (in place, once per dtype of the arrays)

    over every parameter (frozen ones too: PyTorch averages ``parameters()`` whatever their
    ``requires_grad``); the buffers (BatchNorm's running statistics) are copied from the model
    each time, or averaged with the parameters when ``use_buffers=True``.

    ``avg_fn``/``multi_avg_fn`` (at most one): e.g. :func:`get_ema_multi_avg_fn` for an EMA
    (torchvision's recipe keeps one with ``use_buffers=True``); they receive n as a Python
    int and are not part of ``state_dict``. ``device``: None or "cpu" (kept for PyTorch's
    argument order). After averaging without ``use_buffers``, recompute the BatchNorm
    statistics with :func:`update_bn`.

    >>> from cnnmath import nn
    >>> model = nn.Linear(2, 1)
    >>> swa = AveragedModel(model)
    >>> model.weight.data[...] = 1.0; swa.update_parameters(model)
    >>> model.weight.data[...] = 3.0; swa.update_parameters(model)
    >>> swa.module.weight.data, int(swa.n_averaged), list(swa.state_dict())
    (array([[2., 2.]], dtype=float32), 2, ['n_averaged', 'module.weight', 'module.bias'])
    """

    n_averaged: np.ndarray
    _routes_backward = True  # the copy's layers each honour requires_grad (run_backward)

    def __init__(
        self,
        model: Module,
        device: Any = None,
        avg_fn: AvgFn | None = None,
        multi_avg_fn: MultiAvgFn | None = None,
        use_buffers: bool = False,
    ) -> None:
        owner = "AveragedModel"
        if not isinstance(model, Module):
            raise TypeError(
                f"{owner}: model: expected a cnnmath.nn.Module, got {type(model).__name__}"
            )
        _cpu_device(owner, device)
        for name, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{owner}: {name}: expected a function or None, got {fn!r:.60}")
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError(
                f"{owner}: avg_fn, multi_avg_fn: expected at most one of them, got both"
            )
        super().__init__()
        self.module = _copy_without_contexts(model)  # not the activations of its last forward
        self.register_buffer("n_averaged", np.array(0, dtype=np.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = flag("use_buffers", use_buffers, func=owner)

    # -- running as the copy -------------------------------------------------------------------
    def forward_ctx(self, *inputs: Any, **kwargs: Any) -> tuple[Any, Any]:
        """The copy's ``forward_ctx`` (its hooks included)."""
        return run_forward(self.module, *inputs, **kwargs)

    def backward_ctx(self, ctx: Any, grad_output: Any) -> Any:
        """The copy's backward pass: ∂ℓ/∂input; its parameters' gradients added."""
        return run_backward(self.module, ctx, grad_output, input_grad=True)

    def backward_params_ctx(self, ctx: Any, grad_output: Any) -> None:
        """The copy's backward pass without ∂ℓ/∂input."""
        run_backward(self.module, ctx, grad_output, input_grad=False)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The copy's input names."""
        return self.module.input_names

    def _walk(self, name: str, inputs: tuple[str, ...], output: str | None) -> Any:
        """The copy's nodes, under "module" as its parameters' names are."""
        yield from self.module._walk(f"{name}.module" if name else "module", inputs, output)

    # -- averaging -----------------------------------------------------------------------------
    def _pairs(self, model: Module, kind: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """(our array, the model's array) for every parameter or buffer (``kind``), in order;
        a ValueError naming the first difference of count, shape or dtype."""
        func = "AveragedModel.update_parameters"

        def named(m: Module) -> list[tuple[str, np.ndarray]]:
            params = [(k, p.data) for k, p in m.named_parameters()]
            buffers = list(m.named_buffers())
            if kind == "parameters":
                return params
            return buffers if kind == "buffers" else params + buffers

        ours, theirs = named(self.module), named(model)
        if len(ours) != len(theirs):
            longer, extra = ("model", theirs) if len(theirs) > len(ours) else ("average", ours)
            first_extra = extra[min(len(ours), len(theirs))][0]
            raise ValueError(
                f"{func}: model: expected {len(ours)} {kind} (the averaged model's), got "
                f"{len(theirs)}; the {longer}'s first extra one is {first_extra!r}"
            )
        for (name, a), (their_name, b) in zip(ours, theirs, strict=True):
            if a.shape != b.shape or a.dtype != b.dtype:
                raise ValueError(
                    f"{func}: model: {their_name!r}: expected shape {a.shape} and dtype "
                    f"{a.dtype} (the averaged model's {name!r}), got shape {b.shape} and dtype "
                    f"{b.dtype}"
                )
        return [(a, b) for (_, a), (_, b) in zip(ours, theirs, strict=True)]

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s weights into the average (the rules in the class docstring), then
        ``n_averaged`` += 1. ``model`` must have the copy's parameters (and buffers) in the
        same order, shapes and dtypes; a ValueError names the first difference, and nothing
        is changed then."""
        if not isinstance(model, Module):
            raise TypeError(
                "AveragedModel.update_parameters: model: expected a cnnmath.nn.Module, got "
                f"{type(model).__name__}"
            )
        found = self._pairs(model, "parameters and buffers" if self.use_buffers else "parameters")
        buffers = [] if self.use_buffers else self._pairs(model, "buffers")
        n = int(self.n_averaged)
        # averaged into copies, written back once every average has succeeded: an averaging
        # function that raises (an integer buffer) leaves the average as it was
        pairs = [(a.copy(), b) for a, b in found]
        if n == 0:
            for a, b in pairs:
                a[...] = b
        elif self.avg_fn is not None:
            for a, b in pairs:
                a[...] = self._checked(self.avg_fn(a, b, n), a)
        else:
            groups: dict[np.dtype, tuple[list[np.ndarray], list[np.ndarray]]] = {}
            for a, b in pairs:
                mine, theirs = groups.setdefault(a.dtype, ([], []))
                mine.append(a)
                theirs.append(b)
            for mine, theirs in groups.values():
                if self.multi_avg_fn is not None:
                    self.multi_avg_fn(mine, theirs, n)
                else:  # PyTorch's CPU path: get_swa_avg_fn array by array
                    swa = get_swa_avg_fn()
                    for a, b in zip(mine, theirs, strict=True):
                        a[...] = swa(a, b, n)
        for (a, _), (staged, _) in zip(found, pairs, strict=True):
            a[...] = staged
        for a, b in buffers:
            a[...] = b
        self.n_averaged += 1

    @staticmethod
    def _checked(value: Any, target: np.ndarray) -> np.ndarray:
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(
                f"AveragedModel.update_parameters: avg_fn: expected an array of shape "
                f"{target.shape} (the averaged array's), got shape {value.shape}"
            )
        return value


def _batch_norms(model: Module) -> list[Module]:
    """The BatchNorm layers of ``model`` (PyTorch's ``_BatchNorm`` scope: BatchNorm1d/2d/3d;
    not the InstanceNorms, which share cnnmath's BatchNorm code but not PyTorch's class)."""
    return [m for m in model.modules() if isinstance(m, (BatchNorm1d, BatchNorm2d, BatchNorm3d))]


def update_bn(loader: Iterable[Any], model: Module, device: Any = None) -> None:
    """Recompute every BatchNorm's running statistics with one pass over ``loader``, as
    ``torch.optim.swa_utils.update_bn`` (for an :class:`AveragedModel`, whose averaged
    weights make the statistics gathered along the way wrong).

    Each BatchNorm1d/2d/3d of ``model`` is reset (``running_mean`` = 0, ``running_var`` = 1,
    ``num_batches_tracked`` = 0) and run with ``momentum=None``, so that after the K batches
    of the loader its statistics are the plain means over them::

        running_mean = (1/K) Σ_k μ_k,    running_var = (1/K) Σ_k σ²_k m/(m − 1)

    (μ_k, σ²_k the k-th batch's per-channel mean and biased variance over m values). The
    model runs in training mode under ``cnnmath.nn.no_grad()``; afterwards every momentum is
    restored and the model put back in its mode (``model.train(was_training)``, as PyTorch).
    ``loader``: an iterable of input arrays, or of tuples/lists whose first item is the input
    (``(x, y)`` batches). A model without BatchNorm is left alone and the loader not read.
    ``device``: None or "cpu".
    """
    func = "update_bn"
    if not isinstance(model, Module):
        raise TypeError(f"{func}: model: expected a cnnmath.nn.Module, got {type(model).__name__}")
    _cpu_device(func, device)
    norms = _batch_norms(model)
    if not norms:
        return
    momenta = [m.momentum for m in norms]  # type: ignore[attr-defined]
    was_training = model.training
    for m in norms:
        m.reset_running_stats()  # type: ignore[attr-defined]
        m.momentum = None  # type: ignore[attr-defined]
    model.train()
    try:
        with no_grad():
            for batch in loader:
                model(batch[0] if isinstance(batch, (list, tuple)) else batch)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum  # type: ignore[attr-defined]
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneal the rate to ``swa_lr`` over ``anneal_epochs`` epochs, then keep it, as
    ``torch.optim.swa_utils.SWALR`` (the constant rate of the SWA epochs).

    With s the number of ``step()`` calls so far (PyTorch's ``_step_count − 1``; s =
    ``max(1, s)`` when ``anneal_epochs`` = 0), A = ``anneal_epochs``, α(t) = t ("linear") or
    (1 − cos πt)/2 ("cos"), and η the rate in use::

        α' = α(clip((s − 1)/max(1, A), 0, 1)),   α = α(clip(s/max(1, A), 0, 1))
        η₀ = (η − α' swa_lr)/(1 − α')   (swa_lr if α' = 1)    the rate the annealing started from
        η_s = α swa_lr + (1 − α) η₀

    so from the rate η₀ in use when it starts stepping (whatever schedule set it), epoch s
    runs at η₀ + (swa_lr − η₀)·α(s/A), and at ``swa_lr`` from s = A on. Made at the start of a
    run, it leaves the rate as it is (s = 0) unless A = 0 (then ``swa_lr`` at once). Each
    parameter group anneals so from its own rate to its own ``swa_lr``.
    ``swa_lr`` >= 0, a number for every group or a list of one per group (kept in that form
    by ``state_dict()``); ``anneal_epochs`` an int >= 0 (10); ``anneal_strategy`` "cos" or
    "linear". ``state_dict()`` holds them, the step count "_step_count" (PyTorch's name) and
    the base class's keys.

    >>> from cnnmath import nn
    >>> from cnnmath.optim import SGD
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    >>> s = SWALR(opt, swa_lr=0.2, anneal_epochs=2, anneal_strategy="linear")
    >>> [s.get_last_lr()[0]] + [s.step() or round(s.get_last_lr()[0], 12) for _ in range(3)]
    [1.0, 0.6, 0.2, 0.2]
    """

    swa_lr: float | list[float]
    anneal_epochs: int
    anneal_strategy: str
    _hyper_names = ("swa_lr", "anneal_epochs", "anneal_strategy")
    _counter_names = ("_step_count",)

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
    ) -> None:
        self._attach(optimizer)
        self._set(swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=anneal_strategy)
        self._step_count = 0
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        owner = "SWALR"
        strategy = check_anneal_strategy(owner, settings["anneal_strategy"])
        return {
            "swa_lr": per_group(owner, "swa_lr", settings["swa_lr"], self._group_count(), low=0.0),
            "anneal_epochs": positive_int(
                "anneal_epochs", settings["anneal_epochs"], func=owner, minimum=0
            ),
            "anneal_strategy": strategy,
        }

    def _check_counters(self, **counters: Any) -> dict[str, Any]:
        return {"_step_count": positive_int("_step_count", counters["_step_count"], func="SWALR")}

    def _anneal(self, t: float) -> float:
        return t if self.anneal_strategy == "linear" else (1 - math.cos(math.pi * t)) / 2

    def _next_lr(self, i: int, base: float, lr: float) -> float:
        swa_lr = each_group(self.swa_lr, len(self.base_lrs))[i]
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        prev_alpha = self._anneal(max(0, min(1, (step - 1) / span)))
        if prev_alpha == 1:
            start = swa_lr
        else:
            start = (lr - prev_alpha * swa_lr) / (1 - prev_alpha)
        alpha = self._anneal(max(0, min(1, step / span)))
        return swa_lr * alpha + start * (1 - alpha)

    def _first_lr(self, i: int, base: float, lr: float) -> float:
        # PyTorch's SequentialLR hands over with _update_lr(0): no closed form, the step count
        # unchanged, the rate computed from the one in use
        return self._next_lr(i, base, lr)

    def step(self) -> None:
        """Count the step (the first one, made by the constructor or a SequentialLR taking
        charge, starts the count again as PyTorch's ``_initial_step``) and set the rates
        (RuntimeError, nothing changed, if a parameter group was added since)."""
        self._groups()
        before = self._step_count
        self._step_count = 1 if self._is_initial else before + 1
        try:
            super().step()
        except BaseException:
            self._step_count = before
            raise
