"""RMSprop: steps scaled by a running mean of g², optionally centred, with momentum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, Params, _real


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
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self._set_defaults(
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
