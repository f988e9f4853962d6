"""Stochastic gradient descent with momentum, Nesterov momentum, dampening and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, Params, _real


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
        params: Params,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self._set_defaults(
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
