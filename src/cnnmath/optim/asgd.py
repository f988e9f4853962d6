"""ASGD: stochastic gradient descent with a decaying rate and a running average of the
iterates (Polyak–Ruppert averaging)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, Params, _real


class ASGD(Optimizer):
    """Averaged SGD, as ``torch.optim.ASGD``: at the parameter's step t (1, 2, …), with
    η_t its current rate (η at first) and μ_t its averaging weight (1 at first),

        g ← g + λ_w θ;   θ ← θ(1 − λ η_t) − η_t g
        θ̄ ← θ  (μ_t = 1)   or   θ̄ ← θ̄ + μ_t (θ − θ̄)
        η_{t+1} = η / (1 + λ η t)^α,   μ_{t+1} = 1 / max(1, t − t₀)

    The average θ̄ is the buffer "ax" (the model keeps the last iterate; copy "ax" into it
    to evaluate the average); η_t and μ_t are 0-d float32 buffers "eta" and "mu", rounded to
    float32 as torch keeps them. Parameters: ``lr`` η (1e-2), ``lambd`` λ >= 0 (1e-4),
    ``alpha`` α >= 0 (0.75), ``t0`` t₀ >= 0 (1e6), ``weight_decay`` λ_w >= 0 (0).
    """

    _buffers = ("eta", "mu", "ax")
    _scalar_buffers = ("eta", "mu")
    _buffers_from_step_one = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self._set_defaults(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay)

    def hyperparameters(self) -> dict[str, float | bool]:
        """{"lr", "lambd", "alpha", "t0", "weight_decay"} (torch's names)."""
        return {
            "lr": self.lr,
            "lambd": self.lambd,
            "alpha": self.alpha,
            "t0": self.t0,
            "weight_decay": self.weight_decay,
        }

    def _configure(self, **settings: Any) -> None:
        owner = "ASGD"
        checked = {
            name: _real(owner, name, settings[name])
            for name in ("lambd", "alpha", "t0", "weight_decay")
        }
        self.lr = settings["lr"]
        self.lambd, self.alpha = checked["lambd"], checked["alpha"]
        self.t0, self.weight_decay = checked["t0"], checked["weight_decay"]

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        if "ax" not in state:
            state["eta"] = np.array(self.lr, np.float32)
            state["mu"] = np.ones((), np.float32)
            state["ax"] = np.zeros_like(p.data)
        t = self._t
        g = p.grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * p.data
        eta, mu = float(state["eta"]), float(state["mu"])
        p.data *= 1 - self.lambd * eta
        p.data -= eta * g
        ax = state["ax"]
        if mu != 1:
            ax += (p.data - ax) * mu
        else:
            ax[...] = p.data
        state["eta"][...] = np.float32(self.lr / (1 + self.lambd * self.lr * t) ** self.alpha)
        state["mu"][...] = np.float32(1 / max(1, t - self.t0))

    def __repr__(self) -> str:
        return (
            f"ASGD(lr={self.lr}, lambd={self.lambd}, alpha={self.alpha}, t0={self.t0}, "
            f"weight_decay={self.weight_decay})"
        )
