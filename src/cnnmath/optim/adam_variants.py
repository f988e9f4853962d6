"""Adamax (the ∞-norm Adam), NAdam (Nesterov momentum in Adam) and RAdam (Adam with its
variance rectified), parameter by parameter with torch's operations in torch's order."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import flag
from ..nn import Parameter
from .adam import _AdamSettings
from .optimizer import Params, _real


def _first_moment(
    opt: _AdamSettings,
    p: Parameter,
    state: dict[str, np.ndarray],
    second: str,
    decoupled: bool = False,
) -> np.ndarray:
    """Weight decay λ (g + λθ, or θ ← θ(1 − ηλ) first when ``decoupled``), the buffers
    "exp_avg" and ``second`` made at the first step, and m ← m + (1 − β1)(g − m) in place
    (torch's lerp). Returns the decayed gradient g."""
    g = p.grad
    if opt.weight_decay != 0:
        if decoupled:
            p.data *= 1 - opt.lr * opt.weight_decay
        else:
            g = g + opt.weight_decay * p.data
    if "exp_avg" not in state:
        state["exp_avg"] = np.zeros_like(p.data)
        state[second] = np.zeros_like(p.data)
    m = state["exp_avg"]
    m += (1 - opt.betas[0]) * (g - m)
    return g


def _second_moment(opt: _AdamSettings, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
    """v ← β2 v + (1 − β2) g g in place (torch's mul_ then addcmul_)."""
    v = state["exp_avg_sq"]
    v *= opt.betas[1]
    v += (1 - opt.betas[1]) * g * g


class Adamax(_AdamSettings):
    """Adamax, as ``torch.optim.Adamax``: Adam with the ∞-norm in place of √v,

        g ← g + λθ;  m ← β1 m + (1 − β1) g;  u ← max(β2 u, |g| + ε);
        θ ← θ − (η / (1 − β1ᵗ)) · m / u

    (m, u start at 0; t the step number). Parameters: ``lr`` η (2e-3), ``betas`` (β1, β2)
    each in [0, 1) ((0.9, 0.999)), ``eps`` ε >= 0 (1e-8), ``weight_decay`` λ >= 0 (0).
    Buffers: "exp_avg" m, "exp_inf" u.
    """

    _buffers = ("exp_avg", "exp_inf")
    _buffers_from_step_one = True

    def __init__(
        self,
        params: Params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        g = _first_moment(self, p, state, "exp_inf")
        m, u = state["exp_avg"], state["exp_inf"]
        u *= self.betas[1]
        bound = np.abs(g)
        bound += self.eps
        np.maximum(u, bound, out=u)
        lr_t = self.lr / (1 - self.betas[0] ** self._t)
        p.data -= (lr_t * m) / u  # as torch.addcdiv: (value·m)/u


class NAdam(_AdamSettings):
    """NAdam, as ``torch.optim.NAdam``: Adam with Nesterov momentum whose factor warms up,
    with t the step number, ψ = momentum_decay,

        μ_t = β1 (1 − ½·0.96^(tψ)),  Π_t = μ_1 μ_2 ⋯ μ_t
        g ← g + λθ   (or θ ← θ(1 − ηλ) first, decoupled_weight_decay)
        m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;  d = √(v / (1 − β2ᵗ)) + ε
        θ ← θ − η (1 − μ_t)/(1 − Π_t) · g/d − η μ_{t+1}/(1 − Π_t μ_{t+1}) · m/d

    Parameters: ``lr`` η (2e-3), ``betas`` ((0.9, 0.999)), ``eps`` ε >= 0 (1e-8),
    ``weight_decay`` λ >= 0 (0), ``momentum_decay`` ψ >= 0 (4e-3),
    ``decoupled_weight_decay`` (False). Buffers: "exp_avg" m, "exp_avg_sq" v and
    "mu_product" Π_t, a 0-d float32 array per parameter: torch keeps Π_t in a 0-d tensor of
    its default dtype (float32) and rounds each product to it, so the same rounding here
    gives torch's steps.
    """

    _buffers = ("exp_avg", "exp_avg_sq", "mu_product")
    _scalar_buffers = ("mu_product",)
    _buffers_from_step_one = True
    _flags = ("decoupled_weight_decay",)
    _extra = ("momentum_decay", "decoupled_weight_decay")
    momentum_decay: float
    decoupled_weight_decay: bool

    def __init__(
        self,
        params: Params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
        )

    def _configure_extra(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {
            "momentum_decay": _real("NAdam", "momentum_decay", settings["momentum_decay"]),
            "decoupled_weight_decay": flag(
                "decoupled_weight_decay", settings["decoupled_weight_decay"], func="NAdam"
            ),
        }

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.betas
        t = self._t
        product = state.setdefault("mu_product", np.ones((), np.float32))
        g = _first_moment(self, p, state, "exp_avg_sq", self.decoupled_weight_decay)
        _second_moment(self, g, state)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        product *= np.float32(mu)  # rounded to float32, as torch's 0-d state tensor
        denom = np.sqrt(state["exp_avg_sq"] / (1 - beta2**t))
        denom += self.eps
        pi = float(product)
        p.data += (-self.lr * (1.0 - mu) / (1.0 - pi) * g) / denom
        p.data += ((-self.lr * mu_next) / (1.0 - pi * mu_next) * state["exp_avg"]) / denom


class RAdam(_AdamSettings):
    """RAdam, as ``torch.optim.RAdam``: Adam whose adaptive step is switched on, and scaled by
    a rectification r_t, once the variance of its estimate is finite (ρ_t > 5),

        g ← g + λθ   (or θ ← θ(1 − ηλ) first, decoupled_weight_decay)
        m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;  m̂ = m / (1 − β1ᵗ)
        ρ_∞ = 2/(1 − β2) − 1,  ρ_t = ρ_∞ − 2t β2ᵗ / (1 − β2ᵗ)
        ρ_t > 5:  r_t = √((ρ_t − 4)(ρ_t − 2)ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2)ρ_t)),
                  θ ← θ − m̂ η · √(1 − β2ᵗ)/(√v + ε) · r_t
        else:     θ ← θ − m̂ η

    Parameters: ``lr`` η (1e-3), ``betas`` ((0.9, 0.999)), ``eps`` ε >= 0 (1e-8),
    ``weight_decay`` λ >= 0 (0), ``decoupled_weight_decay`` (False). Buffers: "exp_avg" m,
    "exp_avg_sq" v.
    """

    _buffers = ("exp_avg", "exp_avg_sq")
    _buffers_from_step_one = True
    _flags = ("decoupled_weight_decay",)
    _extra = ("decoupled_weight_decay",)
    decoupled_weight_decay: bool

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, decoupled_weight_decay=decoupled_weight_decay
        )

    def _configure_extra(self, settings: dict[str, Any]) -> dict[str, Any]:
        decoupled = settings["decoupled_weight_decay"]
        return {"decoupled_weight_decay": flag("decoupled_weight_decay", decoupled, func="RAdam")}

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.betas
        t = self._t
        g = _first_moment(self, p, state, "exp_avg_sq", self.decoupled_weight_decay)
        _second_moment(self, g, state)
        bias_correction2 = 1 - beta2**t
        m_hat = state["exp_avg"] / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2**t) / bias_correction2
        if rho_t > 5.0:
            rect = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            root = np.sqrt(state["exp_avg_sq"])
            root += self.eps
            p.data -= m_hat * self.lr * (bias_correction2**0.5 / root) * rect
        else:
            p.data -= m_hat * self.lr
