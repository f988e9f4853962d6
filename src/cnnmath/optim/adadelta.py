"""Adadelta: steps scaled by the ratio of running roots of past updates and gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, Params, _real


class Adadelta(Optimizer):
    """Adadelta, as ``torch.optim.Adadelta``:

        g ← g + λθ;   v ← ρ v + (1 − ρ) g²
        Δ = √(u + ε) / √(v + ε) · g;   u ← ρ u + (1 − ρ) Δ²;   θ ← θ − η Δ

    (v, u start at 0). Parameters: ``lr`` η (1.0), ``rho`` ρ in [0, 1] (0.9), ``eps`` ε >= 0
    (1e-6), ``weight_decay`` λ >= 0 (0). Buffers: "square_avg" v, "acc_delta" u.
    """

    _buffers = ("square_avg", "acc_delta")
    _buffers_from_step_one = True

    def __init__(
        self,
        params: Params,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self._set_defaults(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)

    def hyperparameters(self) -> dict[str, float | bool]:
        """{"lr", "rho", "eps", "weight_decay"} (torch's names)."""
        return {"lr": self.lr, "rho": self.rho, "eps": self.eps, "weight_decay": self.weight_decay}

    def _configure(self, **settings: Any) -> None:
        owner = "Adadelta"
        rho = _real(owner, "rho", settings["rho"], high=1.0)
        eps = _real(owner, "eps", settings["eps"])
        weight_decay = _real(owner, "weight_decay", settings["weight_decay"])
        self.lr = settings["lr"]
        self.rho, self.eps, self.weight_decay = rho, eps, weight_decay

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        g = p.grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * p.data
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(p.data)
            state["acc_delta"] = np.zeros_like(p.data)
        v, u = state["square_avg"], state["acc_delta"]
        v *= self.rho
        v += (1 - self.rho) * g * g
        delta = np.sqrt(u + self.eps)
        delta /= np.sqrt(v + self.eps)
        delta *= g
        u *= self.rho
        u += (1 - self.rho) * delta * delta
        p.data -= self.lr * delta

    def __repr__(self) -> str:
        return (
            f"Adadelta(lr={self.lr}, rho={self.rho}, eps={self.eps}, "
            f"weight_decay={self.weight_decay})"
        )
