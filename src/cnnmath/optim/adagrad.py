"""Adagrad: each coordinate's step divided by the root of its summed squared gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, Params, _real


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``: with t the step number,

        g ← g + λθ;  s ← s + g²;  η_t = η / (1 + (t − 1)·δ);  θ ← θ − η_t · g / (√s + ε)

    (s starts at ``initial_accumulator_value``). Parameters: ``lr`` η (1e-2), ``lr_decay``
    δ >= 0 (0), ``weight_decay`` λ >= 0 (0), ``initial_accumulator_value`` >= 0 (0), ``eps``
    ε >= 0 (1e-10). Buffer: "sum" s, like the parameter, made by the first step (torch makes
    it with the optimiser; the values are the same). In parameter groups every sum starts
    at the constructor's ``initial_accumulator_value`` (as torch's do); a group cannot set it.
    """

    _buffers = ("sum",)
    _buffers_from_step_one = True
    _not_per_group = ("initial_accumulator_value",)

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(params, lr)
        self._set_defaults(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )

    def hyperparameters(self) -> dict[str, float | bool]:
        """{"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"} (torch's
        names)."""
        return {
            "lr": self.lr,
            "lr_decay": self.lr_decay,
            "weight_decay": self.weight_decay,
            "initial_accumulator_value": self.initial_accumulator_value,
            "eps": self.eps,
        }

    def _configure(self, **settings: Any) -> None:
        owner = "Adagrad"
        checked = {
            name: _real(owner, name, settings[name])
            for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps")
        }
        self.lr = settings["lr"]
        self.lr_decay = checked["lr_decay"]
        self.weight_decay = checked["weight_decay"]
        self.initial_accumulator_value = checked["initial_accumulator_value"]
        self.eps = checked["eps"]

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        g = p.grad
        if self.weight_decay != 0:
            g = g + self.weight_decay * p.data
        if "sum" not in state:
            # the constructor's value, as torch's, whichever group p is in
            state["sum"] = np.full_like(p.data, self._defaults["initial_accumulator_value"])
        s = state["sum"]
        s += g * g
        lr_t = self.lr / (1 + (self._t - 1) * self.lr_decay)
        std = np.sqrt(s)
        std += self.eps
        p.data -= (lr_t * g) / std  # as torch.addcdiv: (value·g)/std

    def __repr__(self) -> str:
        return (
            f"Adagrad(lr={self.lr}, lr_decay={self.lr_decay}, weight_decay={self.weight_decay}, "
            f"initial_accumulator_value={self.initial_accumulator_value}, eps={self.eps})"
        )
