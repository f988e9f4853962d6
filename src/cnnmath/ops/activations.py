"""Activation functions σ and their derivatives σ′, in one registry.

Every function here is elementwise: it takes a float32 or float64 ``numpy.ndarray`` of any
shape (0-d included) and returns a new array of the same shape and dtype. Each value
function ``name(x)`` sits beside its derivative ``name_grad(x)``, which is σ′ as a function
of the input x (not of the output), so that a backward pass is ``grad_out * name_grad(x)``.
Parameters are PyTorch's defaults, and so are the one-sided derivatives at kinks: relu′(0) = 0,
leaky_relu′(0) = 0.01, elu′(0) = 1, softplus′ = 1 above its threshold.

Every function is written to be safe on the whole float range: no overflow or invalid-value
warnings for any finite input (underflow to 0 in a far tail is the right answer and is not
reported either), NaN in gives NaN out (derivatives too), and ±inf give the limits. The
smooth ones are evaluated in float64 and rounded once, so float32 results are as good as
float32 allows, and every σ flagged non-decreasing is non-decreasing as computed, to the
last bit, in both dtypes (tested): result 4 then holds exactly, not just up to rounding.

``ACTIVATIONS`` maps each name to an :class:`Activation` record: value, derivative, whether
σ is non-decreasing (the hypothesis of SPEC.md's result 4: max pooling commutes with σ
exactly when σ keeps order), a formula, and for the non-monotone ones the location of the
dip below zero that makes result 4 fail (a window holding that point and one far below it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from .._checks import check_float_array
from .erf import erfc

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "elu",
    "elu_grad",
    "gelu",
    "gelu_grad",
    "get_activation",
    "identity",
    "identity_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "mish",
    "mish_grad",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "silu",
    "silu_grad",
    "softplus",
    "softplus_grad",
    "step",
    "step_grad",
    "tanh",
    "tanh_grad",
]

_SQRT1_2 = math.sqrt(0.5)  # 1/√2
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Minima of the non-monotone activations: the roots of σ′ below zero, to double precision
# (tests/test_activations.py re-finds them by bisection on σ′).
GELU_MINIMUM_AT = -0.7517915246935645
SILU_MINIMUM_AT = -1.2784645427610738
MISH_MINIMUM_AT = -1.1924312145154952

# Beyond these |x| every tail term below is exactly 0 in float64 (exp(−800) underflows), so
# inputs are clipped there: it keeps x·x finite and avoids inf·0 = NaN at ±inf.
_GAUSS_CLIP = 40.0  # x·φ(x) = 0 beyond, φ the standard normal density
_EXP_CLIP = 800.0  # x·exp(−|x|) = 0 beyond
_SECH_CLIP = 400.0  # sech²(y) = 4·exp(−2|y|)/(1 + exp(−2|y|))² = 0 beyond


def _checked(x: object, func: str) -> np.ndarray:
    return check_float_array("x", x, func=func)


def _wide(x: object, func: str) -> np.ndarray:
    """The checked input in float64 (no copy when it already is). The smooth activations are
    evaluated in float64 and rounded once to the input's dtype: float32 results are then
    correctly rounded almost always, and a non-decreasing σ stays non-decreasing to the last
    bit, which NumPy's own float32 exp and tanh do not quite manage."""
    return _checked(x, func).astype(np.float64, copy=False)


def _out(y: np.ndarray | np.generic, like: np.ndarray) -> np.ndarray:
    """Back to the input's dtype, as an array (ufuncs turn 0-d arrays into scalars); a tiny
    float64 value rounding to a float32 subnormal or 0 is not worth a warning either."""
    with np.errstate(under="ignore"):
        return np.asarray(y).astype(like.dtype, copy=False)


def _quiet() -> np.errstate:
    """Underflow to subnormals or 0 in the far tails is correct: do not report it."""
    return np.errstate(under="ignore")


def _real(name: str, value: object, func: str, *, positive: bool = False) -> float:
    """A finite real number as a Python float (a weak scalar: float32 arrays stay float32)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.floating)):
        raise TypeError(f"{func}: {name}: expected a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or (positive and number <= 0):
        wanted = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{func}: {name}: expected {wanted}, got {value!r}")
    return number


# Shared pieces, on float64 arrays already checked, called inside _quiet().
def _sigmoid_pair(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(σ(x), σ(−x)) = (σ(x), 1 − σ(x)), each as 1/(1 + exp(∓x)).

    This form is a chain of monotone steps (exp, + 1, reciprocal), each rounded
    monotonically, so the computed σ is itself non-decreasing, to the last bit: result 4
    then holds exactly in floating point, not just up to rounding. (The often-used
    e/(1 + e) for x < 0 is not: numerator and denominator round at different places.) exp
    overflows to inf only where σ is below the smallest normal number; σ is then 0.
    """
    with np.errstate(over="ignore", under="ignore"):
        return 1.0 / (1.0 + np.exp(-x)), 1.0 / (1.0 + np.exp(x))


# Above this, log(1 + exp(x)) rounds to x itself (in float64, hence in float32 too).
_SOFTPLUS_LINEAR = 40.0


def _softplus_exact(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)), without a threshold, as log1p(exp(x)): monotone steps again (see
    _sigmoid_pair); x itself above 40, where the two agree to the last bit."""
    return np.where(x > _SOFTPLUS_LINEAR, x, np.log1p(np.exp(np.minimum(x, _SOFTPLUS_LINEAR))))


def _sech2(y: np.ndarray) -> np.ndarray:
    """sech²(y) = 1 − tanh²(y) = 4e/(1 + e)², e = exp(−2|y|): no cancellation near |y| large."""
    e = np.exp(-2.0 * np.minimum(np.abs(y), _SECH_CLIP))
    return 4.0 * e / ((1.0 + e) * (1.0 + e))


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) = ½·erfc(−x/√2): as accurate in the left tail as erfc (1 + erf(x/√2) cancels)."""
    return 0.5 * erfc(np.asarray(-x * _SQRT1_2))


# --------------------------------------------------------------------------- identity
def identity(x: np.ndarray) -> np.ndarray:
    """σ(x) = x, elementwise, any shape; returns a copy of x (same shape and dtype)."""
    return _checked(x, "identity").copy()


def identity_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1, elementwise, any shape (NaN where x is NaN); x's shape and dtype."""
    x = _checked(x, "identity_grad")
    return _out(np.where(np.isnan(x), x, 1), x)


# --------------------------------------------------------------------------- relu
def relu(x: np.ndarray) -> np.ndarray:
    """σ(x) = max(x, 0), elementwise, any shape; returns x's shape and dtype."""
    x = _checked(x, "relu")
    return _out(np.maximum(x, 0), x)


def relu_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1 if x > 0 else 0 (0 at x = 0, as PyTorch's autograd), elementwise, any shape;
    returns x's shape and dtype, NaN where x is NaN."""
    x = _checked(x, "relu_grad")
    return _out(np.heaviside(x, 0.0), x)


# --------------------------------------------------------------------------- leaky_relu
def leaky_relu(x: np.ndarray, *, negative_slope: float = 0.01) -> np.ndarray:
    """σ(x) = x if x > 0 else negative_slope·x, elementwise, any shape; x's shape and dtype.

    ``negative_slope`` defaults to PyTorch's 0.01; the registry entry uses that default.
    """
    x = _checked(x, "leaky_relu")
    slope = _real("negative_slope", negative_slope, "leaky_relu")
    with _quiet():  # slope·x of a tiny x
        return _out(np.where(x > 0, x, slope * x), x)


def leaky_relu_grad(x: np.ndarray, *, negative_slope: float = 0.01) -> np.ndarray:
    """σ′(x) = 1 if x > 0 else negative_slope (negative_slope at x = 0, as PyTorch),
    elementwise, any shape; returns x's shape and dtype, NaN where x is NaN."""
    x = _checked(x, "leaky_relu_grad")
    slope = _real("negative_slope", negative_slope, "leaky_relu_grad")
    # x <= 0 is False for NaN, which then falls through to x itself.
    return _out(np.where(x > 0, 1.0, np.where(x <= 0, slope, x)), x)


# --------------------------------------------------------------------------- sigmoid
def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1/(1 + exp(−x)), elementwise, any shape; returns x's shape and dtype.

    Evaluated as written (in float64), which keeps relative accuracy in both tails and
    makes the computed σ non-decreasing to the last bit, so result 4 holds exactly in
    floating point; it is 0 below x ≈ −709.78, where exp(−x) overflows and σ(x) < 6e-309.
    """
    x64 = _wide(x, "sigmoid")
    with _quiet():
        return _out(_sigmoid_pair(x64)[0], x)


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = σ(x)·(1 − σ(x)) = σ(x)·σ(−x), elementwise, any shape; returns x's shape and
    dtype (accurate in both tails, where 1 − σ(x) would cancel)."""
    x64 = _wide(x, "sigmoid_grad")
    with _quiet():
        s, s_neg = _sigmoid_pair(x64)
        return _out(s * s_neg, x)


# --------------------------------------------------------------------------- tanh
def tanh(x: np.ndarray) -> np.ndarray:
    """σ(x) = tanh(x) = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ), elementwise, any shape; x's shape and dtype."""
    x64 = _wide(x, "tanh")
    return _out(np.tanh(x64), x)


def tanh_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 1 − tanh²(x) = sech²(x), elementwise, any shape; returns x's shape and dtype.

    Computed as 4e/(1 + e)² with e = exp(−2|x|), accurate where 1 − tanh² would cancel.
    """
    x64 = _wide(x, "tanh_grad")
    with _quiet():
        return _out(_sech2(x64), x)


# --------------------------------------------------------------------------- softplus
def softplus(x: np.ndarray, *, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """σ(x) = log(1 + exp(β·x))/β, and x itself where β·x > threshold (PyTorch's rule),
    elementwise, any shape; returns x's shape and dtype.

    Below the threshold it is evaluated as log1p(exp(βx))/β, which is non-decreasing to the
    last bit (βx above 40 is returned as it is: no overflow). Defaults β = 1, threshold = 20
    as in PyTorch. The switch at the threshold drops the value by log1p(exp(−20)) ≈ 2.1e-9
    (at β = 1): PyTorch's softplus, which this matches, is non-decreasing only up to that
    jump (see ``Activation.non_decreasing``); in float32 the jump rounds away.
    """
    x64 = _wide(x, "softplus")
    b = _real("beta", beta, "softplus", positive=True)
    t = _real("threshold", threshold, "softplus")
    with np.errstate(under="ignore", over="ignore"):  # β·x = ±inf only where x is returned
        bx = b * x64
        return _out(np.where(bx > t, x64, _softplus_exact(bx) / b), x)


def softplus_grad(x: np.ndarray, *, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """σ′(x) = sigmoid(β·x), and 1 where β·x > threshold (as PyTorch), elementwise, any
    shape; returns x's shape and dtype."""
    x64 = _wide(x, "softplus_grad")
    b = _real("beta", beta, "softplus_grad", positive=True)
    t = _real("threshold", threshold, "softplus_grad")
    with np.errstate(under="ignore", over="ignore"):
        bx = b * x64
        return _out(np.where(bx > t, 1.0, _sigmoid_pair(bx)[0]), x)


# --------------------------------------------------------------------------- elu
def elu(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ(x) = x if x > 0 else α·(exp(x) − 1), with expm1 for accuracy near 0; α = 1 as
    PyTorch. Elementwise, any shape; returns x's shape and dtype."""
    x64 = _wide(x, "elu")
    a = _real("alpha", alpha, "elu")
    with _quiet():
        return _out(np.where(x64 > 0, x64, a * np.expm1(np.minimum(x64, 0))), x)


def elu_grad(x: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """σ′(x) = 1 if x > 0 else α·exp(x) (α at x = 0, as PyTorch), elementwise, any shape;
    returns x's shape and dtype."""
    x64 = _wide(x, "elu_grad")
    a = _real("alpha", alpha, "elu_grad")
    with _quiet():
        return _out(np.where(x64 > 0, 1.0, a * np.exp(np.minimum(x64, 0))), x)


# --------------------------------------------------------------------------- gelu
def gelu(x: np.ndarray) -> np.ndarray:
    """σ(x) = x·Φ(x) = ½·x·(1 + erf(x/√2)), the exact (not tanh-approximated) GELU,
    elementwise, any shape; returns x's shape and dtype.

    Φ is the standard normal distribution function, computed as ½·erfc(−x/√2) with
    :func:`cnnmath.ops.erf.erfc`. Not monotone: it dips to about −0.170 at x ≈ −0.7518.
    Relative accuracy, value by value, is 1e-15 near 0 and falls to ~1e-13 deep in the left
    tail (x ≈ −25, σ ≈ 1e-130): erfc(y) ≈ exp(−y²) magnifies the rounding of y = −x/√2.
    """
    x64 = _wide(x, "gelu")
    with _quiet():
        xc = np.maximum(x64, -_GAUSS_CLIP)  # x·Φ(x) is 0 to double precision below −38.5
        return _out(xc * _normal_cdf(xc), x)


def gelu_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π) the standard normal density,
    elementwise, any shape; returns x's shape and dtype. Zero at x ≈ −0.7518."""
    x64 = _wide(x, "gelu_grad")
    with _quiet():
        xc = np.clip(x64, -_GAUSS_CLIP, _GAUSS_CLIP)
        return _out(_normal_cdf(x64) + xc * (np.exp(-0.5 * xc * xc) * _INV_SQRT_2PI), x)


# --------------------------------------------------------------------------- silu
def silu(x: np.ndarray) -> np.ndarray:
    """σ(x) = x·sigmoid(x) (SiLU, also called swish), elementwise, any shape; returns x's
    shape and dtype. Not monotone: it dips to about −0.278 at x ≈ −1.2785."""
    x64 = _wide(x, "silu")
    with _quiet():
        xc = np.maximum(x64, -_EXP_CLIP)
        return _out(xc * _sigmoid_pair(xc)[0], x)


def silu_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = s·(1 + x·(1 − s)), s = sigmoid(x), elementwise, any shape; returns x's shape
    and dtype. Zero at x ≈ −1.2785."""
    x64 = _wide(x, "silu_grad")
    with _quiet():
        xc = np.clip(x64, -_EXP_CLIP, _EXP_CLIP)
        s, one_minus_s = _sigmoid_pair(xc)
        return _out(s * (1.0 + xc * one_minus_s), x)


# --------------------------------------------------------------------------- mish
def mish(x: np.ndarray) -> np.ndarray:
    """σ(x) = x·tanh(softplus(x)) = x·tanh(log(1 + eˣ)) (softplus without threshold, as in
    PyTorch's mish), elementwise, any shape; returns x's shape and dtype. Not monotone: it
    dips to about −0.309 at x ≈ −1.1924."""
    x64 = _wide(x, "mish")
    with _quiet():
        xc = np.maximum(x64, -_EXP_CLIP)
        return _out(xc * np.tanh(_softplus_exact(xc)), x)


def mish_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = tanh(sp) + x·sech²(sp)·sigmoid(x), sp = softplus(x), elementwise, any shape;
    returns x's shape and dtype. Zero at x ≈ −1.1924."""
    x64 = _wide(x, "mish_grad")
    with _quiet():
        xc = np.clip(x64, -_EXP_CLIP, _EXP_CLIP)
        sp = _softplus_exact(xc)
        return _out(np.tanh(sp) + xc * _sech2(sp) * _sigmoid_pair(xc)[0], x)


# --------------------------------------------------------------------------- step
def step(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 if x > 0 else 0 (Heaviside, 0 at 0), elementwise, any shape; returns x's
    shape and dtype, NaN where x is NaN."""
    x = _checked(x, "step")
    return _out(np.heaviside(x, 0.0), x)


def step_grad(x: np.ndarray) -> np.ndarray:
    """σ′(x) = 0 wherever it exists (everywhere but x = 0, where 0 is returned too), as
    PyTorch's zero gradient for thresholds; elementwise, any shape; x's shape and dtype,
    NaN where x is NaN. Useless for training: the registry marks step not differentiable."""
    x = _checked(x, "step_grad")
    return _out(np.where(np.isnan(x), x, 0), x)


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True, repr=False)
class Activation:
    """One activation σ: value ``f(x)``, derivative ``df(x)`` (both elementwise, any shape,
    dtype preserved), and the facts about it that the results of SPEC.md use.

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
        (softplus: ``{"beta": 1.0, "threshold": 20.0}``); empty for a parameter-free σ.

    Calling the record applies σ: ``ACTIVATIONS["relu"](x)`` is ``relu(x)``.
    """

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    non_decreasing: bool
    formula: str
    minimum_at: float | None = None
    differentiable: bool = True
    params: Mapping[str, float] = field(default_factory=dict)

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
