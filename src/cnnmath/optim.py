"""Optimisers with PyTorch's exact update rules: SGD (momentum, Nesterov, weight decay), Adam,
AdamW and RMSprop; and learning-rate schedules with ``torch.optim.lr_scheduler``'s names and
rules (``LambdaLR``, ``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``CosineAnnealingLR``,
``LinearLR``, ``SequentialLR``, ``ReduceLROnPlateau`` and ``OneCycleLR``; see
``LRScheduler``).

An optimiser holds a list of :class:`cnnmath.nn.Parameter` and updates ``p.data`` in place
from ``p.grad`` at each ``step()``. With g = p.grad, θ = p.data, λ the weight decay, t the
step number (1, 2, …):

SGD (``torch.optim.SGD``)::

    g ← g + λθ
    b ← g                      at the first step (the buffer starts as the gradient)
    b ← μb + (1 − τ)g          afterwards (τ the dampening, 0 by default)
    g ← g + μb  (Nesterov)  or  g ← b
    θ ← θ − η g

Adam (``torch.optim.Adam``; AdamW decays θ ← θ(1 − ηλ) first instead of adding λθ to g)::

    g ← g + λθ
    m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²     (m, v start at 0)
    θ ← θ − (η / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)

``state_dict()`` is flat, for a safetensors checkpoint: "step" (0-d int64), the
hyperparameters as 0-d float64 arrays ("lr", "momentum", "weight_decay", "nesterov",
"dampening" for SGD; "lr", "beta1", "beta2", "eps", "weight_decay" for Adam and AdamW) and
"i.<buffer>" for parameter i ("0.momentum_buffer", "3.exp_avg", "3.exp_avg_sq").
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from ._checks import positive_int, real_number
from .nn import Parameter

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "Optimizer",
    "RMSprop",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]


def _real(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    high: float | None = None,
    high_open: bool = False,
) -> float:
    """A finite real in [low, high] (or [low, high) with ``high_open``) as a Python float."""
    return real_number(name, value, func=owner, low=low, high=high, high_open=high_open)


class Optimizer:
    """Base class: the parameter list, the learning rate, the step counter and the state.

    Subclasses name their per-parameter buffers in ``_buffers`` and implement ``_update``.
    """

    _buffers: tuple[str, ...] = ()
    #: the rate when the first learning-rate scheduler was made (None before): the base rate
    #: η₀ of every scheduler of this optimiser, as PyTorch's param_group["initial_lr"]
    initial_lr: float | None = None
    #: whether the first step makes the buffers (Adam's moments); SGD's momentum buffers
    #: appear at the first step with μ > 0, which may come late (μ raised mid-run)
    _buffers_from_step_one = False

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        owner = type(self).__name__
        if isinstance(params, Parameter) or not isinstance(params, Iterable):
            raise TypeError(
                f"{owner}: params: expected a list of cnnmath.nn.Parameter (e.g. "
                f"model.parameters()), got {type(params).__name__}"
            )
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError(f"{owner}: params: expected at least one Parameter, got none")
        seen: set[int] = set()
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{owner}: params[{i}]: expected a cnnmath.nn.Parameter, got {type(p).__name__}"
                )
            if id(p) in seen:
                raise ValueError(f"{owner}: params[{i}]: the same Parameter appears twice")
            seen.add(id(p))
        self.lr = lr
        self.step_count = 0
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]

    @property
    def lr(self) -> float:
        """The learning rate η; settable (for schedules), a finite number >= 0."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _real(type(self).__name__, "lr", value)

    def zero_grad(self) -> None:
        """Set every parameter's grad to zero in place."""
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        """One update of every parameter from its current grad (see the module docstring)."""
        self.step_count += 1
        for p, state in zip(self.params, self.state, strict=True):
            self._update(p, state)

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- hyperparameters ---------------------------------------------------------------------
    _flags: tuple[str, ...] = ()  # hyperparameters that are bools (stored as 0.0 / 1.0)

    def hyperparameters(self) -> dict[str, float | bool]:
        """The settings, by name ("lr", "momentum", "beta1", …), as Python numbers."""
        return {"lr": self.lr}

    def _configure(self, **settings: Any) -> None:
        """Validate and set the hyperparameters (all of them, as ``hyperparameters()`` names)."""
        self.lr = settings["lr"]

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat copy of the state, every value an array: "step" (0-d int64), each
        hyperparameter ("lr", "momentum", "beta1", …; 0-d float64, flags as 0.0/1.0) and
        "i.<buffer>" arrays (like parameter i) for the buffers that exist."""
        out: dict[str, np.ndarray] = {"step": np.array(self.step_count, dtype=np.int64)}
        for name, value in self.hyperparameters().items():
            out[name] = np.array(float(value), dtype=np.float64)
        for i, state in enumerate(self.state):
            for name, buf in state.items():
                out[f"{i}.{name}"] = buf.copy()
        return out

    def _required_buffers(
        self, settings: Mapping[str, Any], states: list[dict[str, np.ndarray]], step: int
    ) -> tuple[str, ...]:
        """The buffers every parameter must bring in a loaded state with these ``settings``:
        a step makes every buffer of every parameter, so all of them once any exists, and
        (``_buffers_from_step_one``, Adam's moments) once a step is taken."""
        if any(states) or (self._buffers_from_step_one and step > 0):
            return self._buffers
        return ()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: the step, the hyperparameters (as PyTorch restores its
        param_groups, so a checkpoint's learning rate wins over the constructor's) and the
        buffers.

        Raises ValueError naming the key for a missing key ("step" and every
        hyperparameter are required; the buffers of every parameter come all or none, and
        Adam's all once a step is taken), an unknown key, a buffer whose shape or dtype
        differs from its parameter's, or a flag other than 0.0 or 1.0. Nothing is changed
        unless everything fits.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{owner}: state_dict: expected a mapping, got {type(state_dict).__name__}"
            )
        hyper_names = list(self.hyperparameters())
        for key in ("step", *hyper_names):
            if key not in state_dict:
                raise ValueError(f"{owner}: state_dict: missing key {key!r}")
        step = np.asarray(state_dict["step"])
        if step.shape != () or not np.issubdtype(step.dtype, np.integer) or int(step) < 0:
            raise ValueError(
                f"{owner}: state_dict['step']: expected a 0-d integer array >= 0, got "
                f"dtype {step.dtype} shape {step.shape}"
            )
        settings: dict[str, Any] = {}
        for name in hyper_names:
            value = np.asarray(state_dict[name])
            if value.shape != () or not np.issubdtype(value.dtype, np.floating):
                raise ValueError(
                    f"{owner}: state_dict[{name!r}]: expected a 0-d float array, got dtype "
                    f"{value.dtype} shape {value.shape}"
                )
            if name in self._flags and value not in (0.0, 1.0):
                raise ValueError(
                    f"{owner}: state_dict[{name!r}]: expected 0.0 or 1.0 (a flag), got {value}"
                )
            settings[name] = bool(value) if name in self._flags else float(value)
        new_state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        for key, value in state_dict.items():
            if key == "step" or key in settings:
                continue
            index, _, name = key.partition(".")
            if not (index.isdigit() and int(index) < len(self.params) and name in self._buffers):
                raise ValueError(
                    f"{owner}: state_dict: unexpected key {key!r}; expected 'step', "
                    f"{', '.join(map(repr, hyper_names))} and 'i.<buffer>' with "
                    f"i < {len(self.params)} and buffer in {self._buffers}"
                )
            p = self.params[int(index)]
            buf = np.asarray(value)
            if buf.shape != p.shape or buf.dtype != p.dtype:
                raise ValueError(
                    f"{owner}: state_dict[{key!r}]: expected shape {p.shape} and dtype "
                    f"{p.dtype} (parameter {index}), got shape {buf.shape} and dtype {buf.dtype}"
                )
            new_state[int(index)][name] = buf.copy()
        # A partial state would fail at the next step or resume inexactly.
        required = self._required_buffers(settings, new_state, int(step))
        for i, state in enumerate(new_state):
            missing = [f"{i}.{b}" for b in required if b not in state]
            if missing:
                raise ValueError(
                    f"{owner}: state_dict: missing key(s) {missing} (step {int(step)}: "
                    f"every parameter has {list(required)} once one has, or "
                    "none does"
                    + (" before the first step)" if self._buffers_from_step_one else ")")
                )
        before = self.hyperparameters()
        try:
            self._configure(**settings)
        except (TypeError, ValueError) as error:
            self._configure(**before)
            raise ValueError(f"{owner}: state_dict: {error}") from None
        self.step_count = int(step)
        self.state = new_state


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``:

        g ← g + λθ;  b ← g (first step), b ← μb + (1 − τ)g (later);
        g ← g + μb (nesterov) or b (momentum > 0);  θ ← θ − ηg

    Parameters: ``params`` (list of Parameter), ``lr`` η >= 0, ``momentum`` μ >= 0,
    ``weight_decay`` λ >= 0, ``nesterov`` (needs μ > 0 and τ = 0), ``dampening`` τ.
    Buffer: "momentum_buffer" (when μ > 0).
    """

    _buffers = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self._configure(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            nesterov=nesterov,
            dampening=dampening,
        )

    _flags = ("nesterov",)

    def hyperparameters(self) -> dict[str, float | bool]:
        """{"lr", "momentum", "weight_decay", "nesterov", "dampening"}: the constructor's
        settings as Python numbers (as the names of ``torch.optim.SGD``)."""
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "nesterov": self.nesterov,
            "dampening": self.dampening,
        }

    def _configure(self, **settings: Any) -> None:
        owner = "SGD"
        momentum = _real(owner, "momentum", settings["momentum"])
        weight_decay = _real(owner, "weight_decay", settings["weight_decay"])
        dampening = _real(owner, "dampening", settings["dampening"])
        nesterov = settings["nesterov"]
        if not isinstance(nesterov, bool):
            raise TypeError(f"{owner}: nesterov: expected a bool, got {nesterov!r}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"{owner}: nesterov: needs momentum > 0 and dampening = 0, got "
                f"momentum={momentum!r}, dampening={dampening!r}"
            )
        self.lr = settings["lr"]
        self.momentum, self.weight_decay, self.dampening = momentum, weight_decay, dampening
        self.nesterov = nesterov

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        d_p = p.grad
        if self.weight_decay != 0:
            d_p = d_p + self.weight_decay * p.data
        if self.momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d_p, copy=True)
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * d_p
            d_p = d_p + self.momentum * buf if self.nesterov else buf
        p.data -= self.lr * d_p

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay}, "
            f"nesterov={self.nesterov}, dampening={self.dampening})"
        )


class _FlatMoments(NamedTuple):
    """Adam's moments of all parameters in one array each, and scratch arrays of that size."""

    state: list[dict[str, np.ndarray]]  # the optimiser's state list they were made for
    spans: list[tuple[int, int]]  # parameter i is [start, stop) of the flat arrays
    m: np.ndarray
    v: np.ndarray
    g: np.ndarray
    a: np.ndarray
    b: np.ndarray
    m_views: list[np.ndarray]  # state[i]["exp_avg"], a view of m
    v_views: list[np.ndarray]


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (amsgrad off): with t the step number,

        g ← g + λθ;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;
        θ ← θ − (η / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)

    Parameters: ``lr`` η (1e-3), ``betas`` (β1, β2) each in [0, 1), ``eps`` ε >= 0,
    ``weight_decay`` λ >= 0 (L2, added to the gradient). Buffers: "exp_avg" m, "exp_avg_sq" v.
    """

    _buffers = ("exp_avg", "exp_avg_sq")
    _buffers_from_step_one = True
    _decoupled = False

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(
                f"{type(self).__name__}: betas: expected a pair (beta1, beta2), got {betas!r}"
            )
        self._configure(lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay)

    def hyperparameters(self) -> dict[str, float | bool]:
        """{"lr", "beta1", "beta2", "eps", "weight_decay"}: the constructor's settings, betas
        split in two, as Python numbers."""
        return {
            "lr": self.lr,
            "beta1": self.betas[0],
            "beta2": self.betas[1],
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def _configure(self, **settings: Any) -> None:
        owner = type(self).__name__
        betas = (
            _real(owner, "betas[0]", settings["beta1"], high=1.0, high_open=True),
            _real(owner, "betas[1]", settings["beta2"], high=1.0, high_open=True),
        )
        eps = _real(owner, "eps", settings["eps"])
        weight_decay = _real(owner, "weight_decay", settings["weight_decay"])
        self.lr = settings["lr"]
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.betas
        t = self.step_count
        g = p.grad
        if self.weight_decay != 0:
            if self._decoupled:
                p.data *= 1 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p.data
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # Every step writes into two scratch arrays kept from step to step, nothing is
        # allocated; the operations and their order are the formula's, so are the bits.
        a, b = self._scratch_for(p)
        np.subtract(g, m, out=a)
        a *= 1 - beta1
        m += a  # = β1 m + (1 − β1) g, written as PyTorch's lerp
        np.multiply(g, g, out=a)
        a *= 1 - beta2
        v *= beta2
        v += a
        bias_correction1 = 1 - beta1**t
        bias_correction2_sqrt = math.sqrt(1 - beta2**t)
        step_size = self.lr / bias_correction1
        np.sqrt(v, out=b)
        b /= bias_correction2_sqrt
        b += self.eps  # the denominator √v / √(1 − β2ᵗ) + ε
        np.multiply(m, step_size, out=a)
        a /= b
        p.data -= a  # as torch.addcdiv: (value·m)/denom

    def step(self) -> None:
        """One update of every parameter (the class docstring's formula). When the
        parameters share a dtype the moments of all of them live in one flat array each and
        the update runs once over all of them (`_flat`): the same operations in the same
        order on each element as parameter by parameter, so the same bits, in a dozen NumPy
        calls per step instead of a dozen per parameter."""
        flat = self._flat()
        if flat is None:
            super().step()
            return
        self.step_count += 1
        beta1, beta2 = self.betas
        t = self.step_count
        params, spans = self.params, flat.spans
        g, m, v, a, b = flat.g, flat.m, flat.v, flat.a, flat.b
        np.concatenate([p.grad.reshape(-1) for p in params], out=g)
        if self.weight_decay != 0:
            if self._decoupled:
                for p in params:
                    p.data *= 1 - self.lr * self.weight_decay
            else:  # g ← g + λθ
                np.concatenate([p.data.reshape(-1) for p in params], out=a)
                a *= self.weight_decay
                g += a
        np.subtract(g, m, out=a)
        a *= 1 - beta1
        m += a
        np.multiply(g, g, out=a)
        a *= 1 - beta2
        v *= beta2
        v += a
        np.sqrt(v, out=b)
        b /= math.sqrt(1 - beta2**t)
        b += self.eps
        np.multiply(m, self.lr / (1 - beta1**t), out=a)
        a /= b
        for p, (start, stop) in zip(params, spans, strict=True):
            p.data -= a[start:stop].reshape(p.data.shape)

    def _flat(self) -> _FlatMoments | None:
        """The flat moments, made at the first step (or again when the state was replaced,
        e.g. by ``load_state_dict``); the per-parameter state arrays are views into them.
        None (parameter by parameter) for parameters of mixed dtypes or a partial state."""
        flat: _FlatMoments | None = self.__dict__.get("_flat_moments")
        if (
            flat is not None
            and flat.state is self.state
            and all(
                st.get("exp_avg") is mv and st.get("exp_avg_sq") is vv
                for st, mv, vv in zip(self.state, flat.m_views, flat.v_views, strict=True)
            )
        ):
            return flat
        dtype = self.params[0].dtype
        if any(p.dtype != dtype for p in self.params):
            return None
        have = [("exp_avg" in st) + ("exp_avg_sq" in st) for st in self.state]
        if any(h != have[0] for h in have) or have[0] == 1:
            return None
        sizes = [p.size for p in self.params]
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        spans = list(zip(bounds[:-1], bounds[1:], strict=True))
        total = bounds[-1]
        m, v = np.zeros(total, dtype), np.zeros(total, dtype)
        m_views, v_views = [], []
        for p, st, (start, stop) in zip(self.params, self.state, spans, strict=True):
            mv, vv = m[start:stop].reshape(p.shape), v[start:stop].reshape(p.shape)
            if have[0]:  # carry the moments over
                mv[...] = st["exp_avg"]
                vv[...] = st["exp_avg_sq"]
            st["exp_avg"], st["exp_avg_sq"] = mv, vv
            m_views.append(mv)
            v_views.append(vv)
        g, a, b = np.empty(total, dtype), np.empty(total, dtype), np.empty(total, dtype)
        flat = _FlatMoments(self.state, spans, m, v, g, a, b, m_views, v_views)
        self._flat_moments = flat
        return flat

    def _scratch_for(self, p: Parameter) -> tuple[np.ndarray, np.ndarray]:
        """Two arrays of p's shape and dtype, made once per parameter (not optimiser state:
        nothing in them outlives a step)."""
        scratch = self.__dict__.setdefault("_scratch", {})
        pair = scratch.get(id(p))
        if pair is None or pair[0].shape != p.data.shape or pair[0].dtype != p.data.dtype:
            pair = scratch[id(p)] = (np.empty_like(p.data), np.empty_like(p.data))
        return pair

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
            f"weight_decay={self.weight_decay})"
        )


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay, θ ← θ(1 − ηλ) before
    the Adam step (λ = 0.01 by default, as PyTorch), instead of adding λθ to the gradient."""

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` (the optimiser of MobileNet's and EfficientNet's
    recipes): a running mean of g² scales each coordinate's step,

        g ← g + λθ;  v ← αv + (1 − α)g²
        centered:  ḡ ← αḡ + (1 − α)g,  σ = √(v − ḡ²) + ε      else  σ = √v + ε
        momentum μ > 0:  b ← μb + g/σ,  θ ← θ − ηb             else  θ ← θ − η·g/σ

    (v, ḡ and b start at 0). Parameters: ``lr`` η (0.01), ``alpha`` α in [0, 1] (0.99),
    ``eps`` ε >= 0 (1e-8), ``weight_decay`` λ >= 0, ``momentum`` μ >= 0, ``centered``.
    Buffers: "square_avg" v, and "momentum_buffer" b (μ > 0), "grad_avg" ḡ (centered), each
    made by the first step whose settings use it and kept afterwards (as PyTorch keeps them:
    a momentum that OneCycleLR cycles down to 0 and back up finds its buffer again).
    """

    _buffers = ("square_avg", "momentum_buffer", "grad_avg")
    _buffers_from_step_one = True
    _flags = ("centered",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self._configure(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )

    def hyperparameters(self) -> dict[str, float | bool]:
        """{"lr", "alpha", "eps", "weight_decay", "momentum", "centered"} (torch's names)."""
        return {
            "lr": self.lr,
            "alpha": self.alpha,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "momentum": self.momentum,
            "centered": self.centered,
        }

    def _configure(self, **settings: Any) -> None:
        owner = "RMSprop"
        alpha = _real(owner, "alpha", settings["alpha"], high=1.0)
        eps = _real(owner, "eps", settings["eps"])
        weight_decay = _real(owner, "weight_decay", settings["weight_decay"])
        momentum = _real(owner, "momentum", settings["momentum"])
        centered = settings["centered"]
        if not isinstance(centered, bool):
            raise TypeError(f"{owner}: centered: expected a bool, got {centered!r}")
        self.lr = settings["lr"]
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered

    @staticmethod
    def _in_use(momentum: float, centered: bool) -> tuple[str, ...]:
        """The buffers a step with these settings reads."""
        return (
            "square_avg",
            *(("momentum_buffer",) if momentum > 0 else ()),
            *(("grad_avg",) if centered else ()),
        )

    def _required_buffers(
        self, settings: Mapping[str, Any], states: list[dict[str, np.ndarray]], step: int
    ) -> tuple[str, ...]:
        """Once a step is taken, the buffers the loaded settings use (the checkpoint's settings
        win over the constructor's), and any buffer one parameter has, all of them have."""
        used = self._in_use(settings["momentum"], settings["centered"]) if step > 0 else ()
        held = {name for state in states for name in state}
        return tuple(name for name in self._buffers if name in used or name in held)

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        g = p.grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * p.data
        for name in self._in_use(self.momentum, self.centered):
            if name not in state:
                state[name] = np.zeros_like(p.data)
        v = state["square_avg"]
        v *= self.alpha
        v += (1 - self.alpha) * (g * g)
        if self.centered:
            g_avg = state["grad_avg"]
            g_avg += (1 - self.alpha) * (g - g_avg)  # PyTorch's lerp toward g
            sigma = np.sqrt(v - g_avg * g_avg)
        else:
            sigma = np.sqrt(v)
        sigma += self.eps
        if self.momentum > 0:
            b = state["momentum_buffer"]
            b *= self.momentum
            b += g / sigma
            p.data -= self.lr * b
        else:
            p.data -= self.lr * (g / sigma)

    def __repr__(self) -> str:
        return (
            f"RMSprop(lr={self.lr}, alpha={self.alpha}, eps={self.eps}, "
            f"weight_decay={self.weight_decay}, momentum={self.momentum}, "
            f"centered={self.centered})"
        )


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules (torch.optim.lr_scheduler)


class LRScheduler:
    """Base class of the learning-rate schedules, as ``torch.optim.lr_scheduler.LRScheduler``.

    A scheduler drives ``optimizer.lr`` epoch by epoch. Made with the optimiser at its starting
    rate η₀, it records ``base_lrs = [η₀]`` and sets the rate of epoch 0 (``last_epoch = 0``);
    each ``step()``, called once after every epoch's optimiser steps, advances ``last_epoch`` to
    t and sets η_t. The rules are PyTorch's, including that most are *chainable*: η_t is
    computed from the optimiser's current rate η_{t−1}, so a rate changed by hand (or by a
    second scheduler) between steps carries on from there exactly as in PyTorch; left alone,
    each schedule equals the closed form in its docstring up to rounding.

    A cnnmath optimiser has one parameter group, so ``base_lrs`` and ``get_last_lr()`` are
    lists of one rate, as PyTorch's are for one group. ``state_dict()`` is plain JSON-able
    Python values with PyTorch's key names (the hyperparameters, "base_lrs", "last_epoch",
    "_last_lr"); ``load_state_dict`` checks it as untrusted input and restores it whole or not
    at all — a checkpoint resumes the schedule where it stopped. PyTorch's deprecated
    ``step(epoch)`` and the constructor's ``last_epoch`` are left out: resume with
    ``load_state_dict``.
    """

    #: Names of the hyperparameters, in the constructor's order (keys of ``state_dict()``).
    _hyper_names: tuple[str, ...] = ()
    #: Whether ``fit`` steps it after every batch (OneCycleLR) instead of after every epoch.
    per_batch: bool = False

    def __init__(self, optimizer: Optimizer) -> None:
        owner = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{owner}: optimizer: expected a cnnmath.optim optimiser (SGD, Adam, AdamW, "
                f"RMSprop), got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        # PyTorch's "initial_lr": the rate the first scheduler of this optimiser found, the
        # base of every later one (a warm-up and the schedule after it share η₀)
        initial = optimizer.initial_lr
        if initial is None:
            initial = optimizer.initial_lr = optimizer.lr
        self.base_lrs: list[float] = [initial]
        self.last_epoch = -1
        self._last_lr: list[float] = [optimizer.lr]
        self._is_initial = True
        try:
            self.step()  # the rate of epoch 0
        finally:
            self._is_initial = False

    # -- the schedule ------------------------------------------------------------------------
    def _next_lr(self, lr: float) -> float:
        """η_t for t = ``last_epoch`` (already advanced), from the current rate ``lr`` = η_{t−1}."""
        raise NotImplementedError

    def _first_lr(self) -> float:
        """η_0 from ``base_lrs`` alone (PyTorch's closed form at epoch 0): where a
        :class:`SequentialLR` hands over to this schedule."""
        return self.base_lrs[0]

    def _restart(self) -> None:
        """Start again at epoch 0 with the rate ``_first_lr()`` (PyTorch's ``step(0)``)."""
        self.last_epoch = 0
        self.optimizer.lr = self._first_lr()
        self._last_lr = [self.optimizer.lr]

    def get_lr(self) -> list[float]:
        """The rate for ``last_epoch`` computed from the optimiser's current rate, without
        setting it (PyTorch's ``get_lr``; to read the rate in use, call ``get_last_lr()``)."""
        return [self._next_lr(self.optimizer.lr)]

    def step(self) -> None:
        """Advance to the next epoch (t ← t + 1) and set the optimiser's rate to η_t."""
        self.last_epoch += 1
        try:
            (lr,) = self.get_lr()
            self.optimizer.lr = real_number(
                f"learning rate of epoch {self.last_epoch}",
                lr,
                func=f"{type(self).__name__}.step",
                low=0.0,
            )
        except BaseException:
            self.last_epoch -= 1  # a refused rate leaves the schedule where it was
            raise
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self) -> list[float]:
        """The rate the last ``step()`` (or the constructor) set, as a list of one float."""
        return list(self._last_lr)

    # -- hyperparameters ---------------------------------------------------------------------
    def _hyperparameters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._hyper_names}

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        """Validated hyperparameters (JSON-able values, by ``_hyper_names``); assigns nothing."""
        raise NotImplementedError

    def _set(self, **settings: Any) -> None:
        for name, value in self._check_settings(**settings).items():
            setattr(self, name, value)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The state as plain Python values: the hyperparameters by PyTorch's names,
        "base_lrs", "last_epoch" and "_last_lr" (JSON-able; no optimiser, no functions)."""
        return {
            **self._hyperparameters(),
            "base_lrs": list(self.base_lrs),
            "last_epoch": self.last_epoch,
            "_last_lr": list(self._last_lr),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` (as PyTorch does, the stored hyperparameters win over the
        constructor's; the optimiser's rate is not touched — it is the optimiser's state).

        Raises ValueError/TypeError naming the key for a missing or unknown key or a value of
        the wrong kind; nothing is changed unless everything fits.
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
        expected = (*self._hyper_names, "base_lrs", "last_epoch", "_last_lr")
        for key in expected:
            if key not in state_dict:
                raise ValueError(f"{owner}: state_dict: missing key {key!r}")
        for key in state_dict:
            if key not in expected:
                raise ValueError(
                    f"{owner}: state_dict: unexpected key {key!r}; expected the keys "
                    f"{', '.join(map(repr, expected))}"
                )
        last_epoch = positive_int(
            "state_dict['last_epoch']", state_dict["last_epoch"], func=owner, minimum=first_epoch
        )
        rates = {}
        for key in ("base_lrs", "_last_lr"):
            value = state_dict[key]
            if not isinstance(value, (list, tuple)) or len(value) != 1:
                raise ValueError(
                    f"{owner}: state_dict[{key!r}]: expected a list of one learning rate (one "
                    f"parameter group), got {value!r:.100}"
                )
            rates[key] = [real_number(f"state_dict[{key!r}][0]", value[0], func=owner, low=0.0)]
        try:
            settings = self._check_settings(**{k: state_dict[k] for k in self._hyper_names})
        except (TypeError, ValueError) as error:
            raise type(error)(f"{owner}: state_dict: {error}") from None
        for name, value in settings.items():
            setattr(self, name, value)
        self.base_lrs, self._last_lr = rates["base_lrs"], rates["_last_lr"]
        self.last_epoch = last_epoch

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self._hyperparameters().items())
        return f"{type(self).__name__}({settings}, last_epoch={self.last_epoch})"


class LambdaLR(LRScheduler):
    """η_t = η₀ · λ(t), as ``torch.optim.lr_scheduler.LambdaLR`` (not chainable: it reads only
    ``base_lrs``).

    ``lr_lambda`` : a function of the epoch t (an int >= 0) returning a finite factor with
    η₀·λ(t) >= 0. The function is not part of ``state_dict()`` (PyTorch keeps only a callable
    object's attributes; cnnmath never pickles code): resume with a LambdaLR made with the
    same function.

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    >>> LambdaLR(opt, lambda t: 1 / (t + 1)).get_last_lr()
    [0.1]
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise TypeError(
                f"LambdaLR: lr_lambda: expected a function of the epoch, got {lr_lambda!r:.100}"
            )
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        return {}

    def _next_lr(self, lr: float) -> float:
        factor = real_number(
            f"lr_lambda({self.last_epoch})", self.lr_lambda(self.last_epoch), func="LambdaLR"
        )
        return self.base_lrs[0] * factor

    def _first_lr(self) -> float:
        return self.base_lrs[0] * real_number("lr_lambda(0)", self.lr_lambda(0), func="LambdaLR")


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

    def _next_lr(self, lr: float) -> float:
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

    def _next_lr(self, lr: float) -> float:
        times = Counter(self.milestones)[self.last_epoch]
        return lr * self.gamma**times if times else lr

    def _first_lr(self) -> float:
        return self.base_lrs[0] * self.gamma ** self.milestones.count(0)


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

    def _next_lr(self, lr: float) -> float:
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

    def _next_lr(self, lr: float) -> float:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return lr
        if (t - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lrs[0] - eta_min) * (1 - math.cos(math.pi / T)) / 2
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

    def _next_lr(self, lr: float) -> float:
        t, s, e = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return lr * s
        if t > self.total_iters:
            return lr
        return lr * (1.0 + (e - s) / (self.total_iters * s + (t - 1) * (e - s)))

    def _first_lr(self) -> float:
        return self.base_lrs[0] * self.start_factor


class SequentialLR(LRScheduler):
    """One schedule after another, switching at the ``milestones`` epochs, as
    ``torch.optim.lr_scheduler.SequentialLR`` (the warm-up-then-cosine recipe)::

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        cosine = CosineAnnealingLR(opt, T_max=epochs - 5)
        schedule = SequentialLR(opt, [warmup, cosine], milestones=[5])

    Epochs t < m₁ follow the first schedule; at t = m₁ the second starts at its own epoch 0
    (its rate η_0 from η₀, whatever the first had reached), and so on. Made after its
    schedules, it resets the rate to η₀ and restarts the first one, as PyTorch's does; a
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
        if not isinstance(schedulers, (list, tuple)) or not schedulers:
            raise TypeError(
                f"{owner}: schedulers: expected a non-empty list of schedulers, got "
                f"{schedulers!r:.100}"
            )
        for i, child in enumerate(schedulers):
            if not isinstance(child, LRScheduler) or isinstance(
                child, (SequentialLR, ReduceLROnPlateau)
            ):
                raise TypeError(
                    f"{owner}: schedulers[{i}]: expected an epoch schedule (LinearLR, "
                    f"CosineAnnealingLR, …), got {type(child).__name__}"
                )
            if child.optimizer is not optimizer:
                raise ValueError(
                    f"{owner}: schedulers[{i}]: it drives another optimiser than the one given"
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
        self.base_lrs = [optimizer.initial_lr if optimizer.initial_lr is not None else optimizer.lr]
        optimizer.lr = self.base_lrs[0]
        for child in self.schedulers:
            child.last_epoch -= 1
        first = self.schedulers[0]
        first._is_initial = True
        try:
            first.step()
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
        starts at its epoch 0."""
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


class ReduceLROnPlateau(LRScheduler):
    """Cut the rate when a metric stops improving, as
    ``torch.optim.lr_scheduler.ReduceLROnPlateau``: ``step(metrics)`` after each epoch (``fit``
    passes the held-out loss, or the training loss without ``val_data``).

    A metric m improves on the best b when, for ``mode`` "min" (or "max"),

        "rel":  m < b·(1 − threshold)      (m > b·(1 + threshold))
        "abs":  m < b − threshold          (m > b + threshold)

    After more than ``patience`` epochs without improvement the rate becomes
    max(η·factor, min_lr) (unchanged if that moves it by ``eps`` or less), and the next
    ``cooldown`` epochs count no bad epochs. ``factor`` in [0, 1), ``patience`` and
    ``cooldown`` ints >= 0, ``threshold`` and ``min_lr`` >= 0.
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
    min_lr: float
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
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"ReduceLROnPlateau: optimizer: expected a cnnmath.optim optimiser, got "
                f"{type(optimizer).__name__}"
            )
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
        self.optimizer = optimizer
        self.base_lrs = [optimizer.lr]
        self._last_lr = [optimizer.lr]
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
            "min_lr": real_number("min_lr", settings["min_lr"], func=owner, low=0.0),
            "eps": real_number("eps", settings["eps"], func=owner, low=0.0),
        }

    def _improves(self, m: float) -> bool:
        b, th = self.best, self.threshold
        if self.mode == "min":
            return m < (b * (1 - th) if self.threshold_mode == "rel" else b - th)
        return m > (b * (1 + th) if self.threshold_mode == "rel" else b + th)

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """One epoch's ``metrics`` value (a real number, PyTorch's argument name; NaN never
        improves): keep, or cut, the rate."""
        if isinstance(metrics, np.ndarray) and metrics.shape == ():
            metrics = metrics[()]  # a 0-d array, as PyTorch takes a 0-d tensor
        if isinstance(metrics, (bool, np.bool_)) or not isinstance(
            metrics, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"ReduceLROnPlateau.step: metrics: expected a number, got {metrics!r}")
        m = float(metrics)
        self.last_epoch += 1
        if self._improves(m):
            self.best, self.num_bad_epochs = m, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [self.optimizer.lr]

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


def _momentum_name(optimizer: Optimizer) -> str:
    """The optimiser's momentum-like setting OneCycleLR cycles: SGD's and RMSprop's
    ``momentum``, Adam's and AdamW's β1."""
    return "beta1" if isinstance(optimizer, Adam) else "momentum"


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
    ``epochs``·``steps_per_epoch``. The step after the last batch (step T, which sets a rate
    no batch uses) keeps η_min where PyTorch extrapolates the last phase (below 0 for
    "linear"); a step beyond it is an error, as in PyTorch. A phase of no length is at its end
    where PyTorch divides 0 by 0: with p·T = 1 the climb is step 0 alone, which runs at η_max
    (PyTorch raises ZeroDivisionError), and with p = 1 step T is η_min.

    >>> from cnnmath import nn
    >>> opt = SGD([nn.Parameter(np.zeros(1))], lr=0.1, momentum=0.9)
    >>> s = OneCycleLR(opt, max_lr=1.0, total_steps=4, anneal_strategy="linear")
    >>> rates = [s.get_last_lr()[0]] + [s.step() or s.get_last_lr()[0] for _ in range(3)]
    >>> [round(r, 4) for r in rates]
    [0.04, 0.7143, 0.3571, 0.0]
    """

    per_batch = True
    max_lr: float
    total_steps: int
    pct_start: float
    anneal_strategy: str
    cycle_momentum: bool
    base_momentum: float
    max_momentum: float
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
        max_lr: float,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
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
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{owner}: optimizer: expected a cnnmath.optim optimiser, got "
                f"{type(optimizer).__name__}"
            )
        if self.cycle_momentum:
            self._set_momentum(optimizer, self.max_momentum)
        optimizer.lr = self.max_lr / self.div_factor  # PyTorch's initial_lr
        optimizer.initial_lr = optimizer.lr
        super().__init__(optimizer)

    def _check_settings(self, **settings: Any) -> dict[str, Any]:
        owner = "OneCycleLR"
        strategy = settings["anneal_strategy"]
        if strategy not in ("cos", "linear"):
            raise ValueError(
                f"{owner}: anneal_strategy: expected 'cos' or 'linear', got {strategy!r}"
            )
        flags = {}
        for name in ("cycle_momentum", "three_phase"):
            if not isinstance(settings[name], bool):
                raise TypeError(f"{owner}: {name}: expected a bool, got {settings[name]!r}")
            flags[name] = settings[name]
        pct = real_number("pct_start", settings["pct_start"], func=owner, low=0.0, high=1.0)
        return {
            "max_lr": real_number("max_lr", settings["max_lr"], func=owner, low=0.0),
            "total_steps": positive_int("total_steps", settings["total_steps"], func=owner),
            "pct_start": pct,
            "anneal_strategy": strategy,
            "base_momentum": real_number(
                "base_momentum", settings["base_momentum"], func=owner, low=0.0
            ),
            "max_momentum": real_number(
                "max_momentum", settings["max_momentum"], func=owner, low=0.0
            ),
            "div_factor": real_number(
                "div_factor", settings["div_factor"], func=owner, low=0.0, low_open=True
            ),
            "final_div_factor": real_number(
                "final_div_factor", settings["final_div_factor"], func=owner, low=0.0, low_open=True
            ),
            **flags,
        }

    def _set_momentum(self, optimizer: Optimizer, value: float) -> None:
        name = _momentum_name(optimizer)
        settings = dict(optimizer.hyperparameters())
        if name not in settings:
            raise ValueError(
                f"OneCycleLR: cycle_momentum: {type(optimizer).__name__} has no momentum to "
                "cycle; pass cycle_momentum=False"
            )
        settings[name] = value
        optimizer._configure(**settings)

    def _phases(self) -> list[tuple[float, float, float, float, float]]:
        """(end step, start lr, end lr, start momentum, end momentum) of each phase."""
        T, p = self.total_steps, self.pct_start
        initial = self.max_lr / self.div_factor
        low = initial / self.final_div_factor
        top, bottom = self.max_momentum, self.base_momentum
        if self.three_phase:
            return [
                (p * T - 1, initial, self.max_lr, top, bottom),
                (2 * p * T - 2, self.max_lr, initial, bottom, top),
                (T - 1, initial, low, top, top),
            ]
        return [
            (p * T - 1, initial, self.max_lr, top, bottom),
            (T - 1, self.max_lr, low, bottom, top),
        ]

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _next_lr(self, lr: float) -> float:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR.step: stepped {step} times, past total_steps = {self.total_steps}"
            )
        start = 0.0
        phases = self._phases()
        for i, (end, lr0, lr1, m0, m1) in enumerate(phases):
            if step <= end or i == len(phases) - 1:
                span = end - start
                # step T: the end, not beyond; a phase of no length: its end
                pct = 1.0 if span == 0 else min((step - start) / span, 1.0)
                if self.cycle_momentum:
                    self._set_momentum(self.optimizer, self._anneal(m0, m1, pct))
                return self._anneal(lr0, lr1, pct)
            start = end
        raise AssertionError("unreachable")

    def _first_lr(self) -> float:
        return self.max_lr / self.div_factor
