"""Rprop: each coordinate steps by its own size, grown while its gradient keeps its sign
and shrunk when the sign flips; the gradient's size is not used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, Params, _real


class Rprop(Optimizer):
    """Rprop, as ``torch.optim.Rprop``: with g_prev the gradient the coordinate stepped with
    last (0 at first) and Δ its step size (η at first),

        s = sign(g · g_prev);   Δ ← clamp(Δ · (η₊ if s > 0, η₋ if s < 0, 1 if s = 0),
                                          Δ_min, Δ_max)
        g ← 0 where s < 0 (a flipped sign: no step this time);   θ ← θ − sign(g) Δ;
        g_prev ← g

    Parameters: ``lr`` η (1e-2; only the first step sizes: later changes of the rate do not
    reach them, as in PyTorch), ``etas`` (η₋, η₊) with 0 < η₋ < 1 < η₊ ((0.5, 1.2)),
    ``step_sizes`` (Δ_min, Δ_max) ((1e-6, 50)). Buffers: "prev" g_prev, "step_size" Δ. The
    pairs are "etaminus", "etaplus", "step_size_min", "step_size_max" in ``state_dict``.
    """

    _buffers = ("prev", "step_size")
    _buffers_from_step_one = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
    ) -> None:
        super().__init__(params, lr)
        self._set_defaults(
            **self._own_settings("Rprop", {"lr": lr, "etas": etas, "step_sizes": step_sizes})
        )

    def hyperparameters(self) -> dict[str, float | bool]:
        """{"lr", "etaminus", "etaplus", "step_size_min", "step_size_max"} (torch's pairs
        "etas" and "step_sizes" split in two)."""
        return {
            "lr": self.lr,
            "etaminus": self.etas[0],
            "etaplus": self.etas[1],
            "step_size_min": self.step_sizes[0],
            "step_size_max": self.step_sizes[1],
        }

    def _torch_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "lr": settings["lr"],
            "etas": (settings["etaminus"], settings["etaplus"]),
            "step_sizes": (settings["step_size_min"], settings["step_size_max"]),
        }

    def _own_settings(self, owner: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        own = {"lr": settings["lr"]}
        for pair, (low, high) in (
            ("etas", ("etaminus", "etaplus")),
            ("step_sizes", ("step_size_min", "step_size_max")),
        ):
            value = settings[pair]
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise TypeError(
                    f"{owner}: {pair}: expected a pair ({low}, {high}), got {value!r:.80}"
                )
            own[low], own[high] = value
        return own

    def _configure(self, **settings: Any) -> None:
        owner = "Rprop"
        etaminus = _real(owner, "etas[0]", settings["etaminus"])
        etaplus = _real(owner, "etas[1]", settings["etaplus"])
        if not 0 < etaminus < 1 < etaplus:
            raise ValueError(
                f"{owner}: etas: expected 0 < etaminus < 1 < etaplus, got ({etaminus}, {etaplus})"
            )
        low = _real(owner, "step_sizes[0]", settings["step_size_min"])
        high = _real(owner, "step_sizes[1]", settings["step_size_max"])
        if low > high:
            raise ValueError(f"{owner}: step_sizes: expected min <= max, got ({low}, {high})")
        self.lr = settings["lr"]
        self.etas, self.step_sizes = (etaminus, etaplus), (low, high)

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        if "prev" not in state:
            state["prev"] = np.zeros_like(p.data)
            state["step_size"] = np.full_like(p.data, self.lr)
        prev, size = state["prev"], state["step_size"]
        etaminus, etaplus = self.etas
        s = np.sign(p.grad * prev)
        factor = np.where(s > 0, etaplus, np.where(s < 0, etaminus, 1.0)).astype(p.dtype)
        size *= factor
        np.clip(size, *self.step_sizes, out=size)
        g = np.where(s < 0, 0, p.grad)
        p.data -= np.sign(g) * size
        prev[...] = g

    def __repr__(self) -> str:
        return f"Rprop(lr={self.lr}, etas={self.etas}, step_sizes={self.step_sizes})"
