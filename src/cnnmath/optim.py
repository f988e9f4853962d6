"""Optimisers with PyTorch's exact update rules: SGD (momentum, Nesterov, weight decay), Adam
and AdamW.

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

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .nn import Parameter

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]


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
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{owner}: {name}: expected a real number, got {value!r}")
    number = float(value)
    ok = math.isfinite(number) and number >= low
    if high is not None:
        ok = ok and (number < high if high_open else number <= high)
    if not ok:
        upper = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
        raise ValueError(
            f"{owner}: {name}: expected a finite number >= {low}{upper}, got {value!r}"
        )
    return number


class Optimizer:
    """Base class: the parameter list, the learning rate, the step counter and the state.

    Subclasses name their per-parameter buffers in ``_buffers`` and implement ``_update``.
    """

    _buffers: tuple[str, ...] = ()

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

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``: the step, the hyperparameters (as PyTorch restores its
        param_groups, so a checkpoint's learning rate wins over the constructor's) and the
        buffers.

        Raises ValueError naming the key for a missing key ("step" and every
        hyperparameter are required), an unknown key, or a buffer whose shape or dtype
        differs from its parameter's. Nothing is changed unless everything fits.
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


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (amsgrad off): with t the step number,

        g ← g + λθ;  m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;
        θ ← θ − (η / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)

    Parameters: ``lr`` η (1e-3), ``betas`` (β1, β2) each in [0, 1), ``eps`` ε >= 0,
    ``weight_decay`` λ >= 0 (L2, added to the gradient). Buffers: "exp_avg" m, "exp_avg_sq" v.
    """

    _buffers = ("exp_avg", "exp_avg_sq")
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
        m += (1 - beta1) * (g - m)  # = β1 m + (1 − β1) g, written as PyTorch's lerp
        v *= beta2
        v += (1 - beta2) * (g * g)
        bias_correction1 = 1 - beta1**t
        bias_correction2_sqrt = math.sqrt(1 - beta2**t)
        step_size = self.lr / bias_correction1
        denom = np.sqrt(v) / bias_correction2_sqrt + self.eps
        p.data -= step_size * m / denom  # as torch.addcdiv: (value·m)/denom

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
