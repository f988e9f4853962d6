"""Adam and AdamW (decoupled weight decay), the moments of all parameters updated at once."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, Params, _call, _real


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


class _AdamSettings(Optimizer):
    """The settings Adam and its variants share, by torch's names: ``lr`` η, ``betas``
    (β1, β2) each in [0, 1), ``eps`` ε >= 0 and ``weight_decay`` λ >= 0; a variant adds its
    own after them (``_extra``, checked by ``_configure_extra``)."""

    _extra: tuple[str, ...] = ()

    def __init__(
        self,
        params: Params,
        lr: float,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
        **extra: Any,
    ) -> None:
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(
                f"{type(self).__name__}: betas: expected a pair (beta1, beta2), got {betas!r}"
            )
        self._set_defaults(
            lr=lr, beta1=betas[0], beta2=betas[1], eps=eps, weight_decay=weight_decay, **extra
        )

    def hyperparameters(self) -> dict[str, float | bool]:
        """{"lr", "beta1", "beta2", "eps", "weight_decay"} and the variant's own settings: the
        constructor's settings, betas split in two, as Python numbers."""
        return {
            "lr": self.lr,
            "beta1": self.betas[0],
            "beta2": self.betas[1],
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            **{name: getattr(self, name) for name in self._extra},
        }

    def _configure(self, **settings: Any) -> None:
        owner = type(self).__name__
        betas = (
            _real(owner, "betas[0]", settings["beta1"], high=1.0, high_open=True),
            _real(owner, "betas[1]", settings["beta2"], high=1.0, high_open=True),
        )
        eps = _real(owner, "eps", settings["eps"])
        weight_decay = _real(owner, "weight_decay", settings["weight_decay"])
        extra = self._configure_extra(settings)
        self.lr = settings["lr"]
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        for name, value in extra.items():
            setattr(self, name, value)

    def _configure_extra(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The variant's own settings (``_extra``), validated; assigns nothing."""
        return {}

    def __repr__(self) -> str:
        extra = "".join(f", {name}={getattr(self, name)}" for name in self._extra)
        return (
            f"{type(self).__name__}(lr={self.lr}, betas={self.betas}, eps={self.eps}, "
            f"weight_decay={self.weight_decay}{extra})"
        )


class Adam(_AdamSettings):
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
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.betas
        t = self._t
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

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter (the class docstring's formula); a ``closure`` is
        called first and its loss returned, as the base class's ``step``. When the
        parameters share a dtype the moments of all of them live in one flat array each and
        the update runs once over all of them (`_flat`): the same operations in the same
        order on each element as parameter by parameter, so the same bits, in a dozen NumPy
        calls per step instead of a dozen per parameter. With a parameter that sits a step
        out (frozen, or without a gradient: see the base class), or parameter groups, the
        update runs parameter by parameter (group by group, each with its settings), from
        the first such step on: the parameters' step counts then differ.

        The closure runs before the path is chosen: which parameters have a gradient is
        what its backward leaves."""
        loss = None if closure is None else _call(closure, type(self).__name__)
        frozen = self._sat_out or not all(p._stepped() for p in self.params)
        flat = None if frozen or len(self._members) > 1 else self._flat()
        if flat is None:
            super().step()
            return loss
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
        return loss

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


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay, θ ← θ(1 − ηλ) before
    the Adam step (λ = 0.01 by default, as PyTorch), instead of adding λθ to the gradient."""

    _decoupled = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
