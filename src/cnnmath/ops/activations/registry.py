"""The registry: the ``Activation`` record, ``ACTIVATIONS`` (name → record) and
``get_activation``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ._elementwise import _real
from .exponential import celu, celu_grad, elu, elu_grad, selu, selu_grad
from .rectifiers import (
    hardtanh,
    hardtanh_grad,
    identity,
    identity_grad,
    leaky_relu,
    leaky_relu_grad,
    relu,
    relu6,
    relu6_grad,
    relu_grad,
)
from .self_gated import (
    GELU_MINIMUM_AT,
    GELU_TANH_MINIMUM_AT,
    HARDSWISH_MINIMUM_AT,
    MISH_MINIMUM_AT,
    SILU_MINIMUM_AT,
    gelu,
    gelu_grad,
    gelu_tanh,
    gelu_tanh_grad,
    hardswish,
    hardswish_grad,
    mish,
    mish_grad,
    silu,
    silu_grad,
)
from .shrinks import step, step_grad
from .sigmoid_like import (
    hardsigmoid,
    hardsigmoid_grad,
    logsigmoid,
    logsigmoid_grad,
    sigmoid,
    sigmoid_grad,
    softplus,
    softplus_grad,
    softsign,
    softsign_grad,
    tanh,
    tanh_grad,
)


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True, repr=False)
class Activation:
    """One activation σ: value ``f(x)``, derivative ``df(x)`` (both elementwise, any shape,
    dtype preserved), and the facts about it that the results (docs/results.md) use.

    Attributes
    ----------
    name : registry key, as in ``torch.nn.functional`` (``"relu"``, ``"gelu"``, ...).
    f, df : σ and σ′ as functions of the input x.
    non_decreasing : whether σ keeps order (x ≤ y ⇒ σ(x) ≤ σ(y)), the hypothesis of result 4
        (max pooling commutes with σ). Refers to the mathematical σ: PyTorch's thresholded
        softplus, which ``softplus`` matches, drops by 2.1e-9 just above x = 20.
    formula : a one-line ASCII formula, for printing.
    minimum_at : for a σ that is not non-decreasing, the location of its dip (the root of
        σ′ below zero); None otherwise.
    differentiable : False when σ′ is zero almost everywhere and useless for gradients
        (``step``); gradient checks skip these.
    params : the keyword parameters ``f`` and ``df`` accept, with their defaults
        (softplus: ``{"beta": 1.0, "threshold": 20.0}``, gelu: ``{"approximate": "none"}``);
        empty for a parameter-free σ. A registry entry is always σ with these defaults;
        GELU's tanh form has its own entry, ``"gelu_tanh"``.

    Calling the record applies σ: ``ACTIVATIONS["relu"](x)`` is ``relu(x)``.
    """

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    non_decreasing: bool
    formula: str
    minimum_at: float | None = None
    differentiable: bool = True
    params: Mapping[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "Activation"
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"{where}: name: expected a non-empty str, got {self.name!r}")
        for field_name in ("f", "df"):
            if not callable(getattr(self, field_name)):
                raise TypeError(
                    f"{where}: {field_name}: expected a callable, got {getattr(self, field_name)!r}"
                )
        for field_name in ("non_decreasing", "differentiable"):
            if not isinstance(getattr(self, field_name), bool):
                raise TypeError(
                    f"{where}: {field_name}: expected a bool, got {getattr(self, field_name)!r}"
                )
        if not isinstance(self.formula, str):
            raise TypeError(f"{where}: formula: expected a str, got {self.formula!r}")
        if self.minimum_at is not None:
            _real("minimum_at", self.minimum_at, where)
            if self.non_decreasing:
                raise ValueError(
                    f"{where}: minimum_at: a non-decreasing activation has no dip, "
                    f"got minimum_at={self.minimum_at!r} with non_decreasing=True"
                )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.f(x)

    def __repr__(self) -> str:
        order = "non-decreasing" if self.non_decreasing else f"dips at x = {self.minimum_at}"
        extra = ", not differentiable" if not self.differentiable else ""
        return f"Activation({self.name!r}: {self.formula}; {order}{extra})"


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", identity, identity_grad, True, "x"),
        Activation("relu", relu, relu_grad, True, "max(x, 0)"),
        Activation(
            "leaky_relu",
            leaky_relu,
            leaky_relu_grad,
            True,
            "x if x > 0 else 0.01*x",
            params={"negative_slope": 0.01},
        ),
        Activation("sigmoid", sigmoid, sigmoid_grad, True, "1 / (1 + exp(-x))"),
        Activation("tanh", tanh, tanh_grad, True, "tanh(x)"),
        Activation(
            "softplus",
            softplus,
            softplus_grad,
            True,
            "log(1 + exp(x)), or x where x > 20",
            params={"beta": 1.0, "threshold": 20.0},
        ),
        Activation("elu", elu, elu_grad, True, "x if x > 0 else exp(x) - 1", params={"alpha": 1.0}),
        Activation(
            "gelu",
            gelu,
            gelu_grad,
            False,
            "x * Phi(x) = 0.5*x*(1 + erf(x/sqrt(2)))",
            minimum_at=GELU_MINIMUM_AT,
            params={"approximate": "none"},
        ),
        Activation("silu", silu, silu_grad, False, "x * sigmoid(x)", minimum_at=SILU_MINIMUM_AT),
        Activation(
            "mish",
            mish,
            mish_grad,
            False,
            "x * tanh(log(1 + exp(x)))",
            minimum_at=MISH_MINIMUM_AT,
        ),
        Activation("step", step, step_grad, True, "1 if x > 0 else 0", differentiable=False),
        Activation("relu6", relu6, relu6_grad, True, "min(max(x, 0), 6)"),
        Activation(
            "hardtanh",
            hardtanh,
            hardtanh_grad,
            True,
            "min(max(x, -1), 1)",
            params={"min_val": -1.0, "max_val": 1.0},
        ),
        Activation("hardsigmoid", hardsigmoid, hardsigmoid_grad, True, "min(max(x + 3, 0), 6) / 6"),
        Activation(
            "hardswish",
            hardswish,
            hardswish_grad,
            False,
            "x * min(max(x + 3, 0), 6) / 6",
            minimum_at=HARDSWISH_MINIMUM_AT,
        ),
        Activation("selu", selu, selu_grad, True, "1.0507*x if x > 0 else 1.7581*(exp(x) - 1)"),
        Activation(
            "celu", celu, celu_grad, True, "x if x > 0 else exp(x) - 1", params={"alpha": 1.0}
        ),
        Activation("softsign", softsign, softsign_grad, True, "x / (1 + |x|)"),
        Activation("logsigmoid", logsigmoid, logsigmoid_grad, True, "-log(1 + exp(-x))"),
        Activation(
            "gelu_tanh",
            gelu_tanh,
            gelu_tanh_grad,
            False,
            "0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x^3)))",
            minimum_at=GELU_TANH_MINIMUM_AT,
        ),
    )
}


def get_activation(name: str | Activation) -> Activation:
    """The registry entry for ``name`` (a key of ``ACTIVATIONS``); an ``Activation`` is
    returned as it is, so that layers can take either.

    >>> get_activation("relu").non_decreasing
    True
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"get_activation: name: expected a str or an Activation, got {name!r}")
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(ACTIVATIONS)
        raise ValueError(
            f"get_activation: name: unknown activation {name!r}; known: {known}"
        ) from None
