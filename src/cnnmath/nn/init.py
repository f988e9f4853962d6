"""Weight initialisation in place, as ``torch.nn.init``: the same names, arguments, fans and
gains, with NumPy's draws from ``rng=`` (a Generator, an int seed, or None for fresh entropy).

Each function takes ``tensor``, a float32 or float64 ndarray or a :class:`Parameter` (its
``data`` is written), fills it in place and returns the array. Samples are drawn in the
array's own dtype, as the layers' own initialisation is (float32 draws need no float64 copy;
float64 draws are exactly ``rng.uniform``'s and ``rng.normal``'s), except ``orthogonal_``'s,
whose QR factorisation is done in float64 and rounded.

The fans of a weight of shape (O, C, k1, …) are

    fan_in = C·k1·…,   fan_out = O·k1·…

(PyTorch's: a grouped convolution's weight (O, C/g, k1, k2) has fan_in (C/g)·k1·k2, and
fan_out ignores the groups). The variance-preserving schemes pick a standard deviation σ
from them; the uniform variants draw from U(−√3·σ, √3·σ), whose standard deviation is σ:

    xavier (Glorot):  σ = gain·√(2 / (fan_in + fan_out))
    kaiming (He):     σ = gain / √fan,  fan = fan_in ("fan_in") or fan_out ("fan_out")

with ``gain = calculate_gain(nonlinearity, a)``. For example, a ReLU network initialised with
``kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`` (torchvision's ResNets) draws
w ~ N(0, 2/fan_out), keeping the activations' second moment from layer to layer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import check_float_array
from ._common import as_generator, fill_normal, fill_uniform
from .parameter import Parameter

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def _array(tensor: Any, func: str) -> np.ndarray:
    if isinstance(tensor, Parameter):
        return tensor.data
    return check_float_array("tensor", tensor, func=func)


def _real(value: Any, name: str, func: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{func}: {name}: expected a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{func}: {name}: expected a finite number, got {value!r}")
    return number


def _fill(w: np.ndarray, values: Any) -> np.ndarray:
    w[...] = np.asarray(values).astype(w.dtype, copy=False)
    return w


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain g that scales a variance-preserving initialisation for ``nonlinearity``:

    linear, conv*, conv_transpose*, sigmoid: 1;  tanh: 5/3;  relu: √2;
    leaky_relu with negative slope a (``param``, default 0.01): √(2 / (1 + a²));  selu: 3/4.

    For ReLU, E[relu(z)²] = E[z²]/2 for z symmetric about 0, so g² = 2 undoes the halving.
    """
    func = "calculate_gain"
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _real(param, "param", func)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"{func}: nonlinearity: expected one of {', '.join(_LINEAR)}, tanh, relu, leaky_relu, "
        f"selu, got {nonlinearity!r}"
    )


def _fans(w: np.ndarray, func: str) -> tuple[int, int]:
    """(fan_in, fan_out) = (C·k1·…, O·k1·…) of a weight (O, C, k1, …)."""
    if w.ndim < 2:
        raise ValueError(
            f"{func}: tensor: expected at least 2 dimensions to have fans, got shape {w.shape}"
        )
    receptive = math.prod(w.shape[2:])
    return w.shape[1] * receptive, w.shape[0] * receptive


def _fan(w: np.ndarray, mode: str, func: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{func}: mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(w, func)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0, *, rng: Any = None) -> np.ndarray:
    """Fill ``tensor`` with draws from U(a, b), a ≤ b."""
    func = "uniform_"
    w = _array(tensor, func)
    a, b = _real(a, "a", func), _real(b, "b", func)
    if a > b:
        raise ValueError(f"{func}: a, b: expected a <= b, got a = {a}, b = {b}")
    return fill_uniform(w, as_generator(rng, func=func), a, b)


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, *, rng: Any = None) -> np.ndarray:
    """Fill ``tensor`` with draws from N(mean, std²), std ≥ 0."""
    func = "normal_"
    w = _array(tensor, func)
    mean, std = _real(mean, "mean", func), _real(std, "std", func)
    if std < 0:
        raise ValueError(f"{func}: std: expected a number >= 0, got {std}")
    return fill_normal(w, as_generator(rng, func=func), mean, std)


def trunc_normal_(
    tensor: Any,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    rng: Any = None,
) -> np.ndarray:
    """Fill ``tensor`` with draws from N(mean, std²) conditioned on a ≤ w ≤ b (``a`` and
    ``b`` are bounds on the values, not in units of std, as PyTorch's).

    Drawn by rejection: the values outside [a, b] are drawn again until none is left, which
    is exactly the conditional distribution. [a, b] must hold some of the mass (it must not
    lie more than 8 std from the mean), or the redraws would not end.
    """
    func = "trunc_normal_"
    w = _array(tensor, func)
    mean, std = _real(mean, "mean", func), _real(std, "std", func)
    a, b = _real(a, "a", func), _real(b, "b", func)
    if std <= 0:
        raise ValueError(f"{func}: std: expected a number > 0, got {std}")
    if not a < b:
        raise ValueError(f"{func}: a, b: expected a < b, got a = {a}, b = {b}")
    if (a - mean) / std > 8 or (b - mean) / std < -8:
        raise ValueError(
            f"{func}: a, b: expected [a, b] within 8 std of the mean, got [{a}, {b}] for "
            f"mean {mean}, std {std}"
        )
    generator = as_generator(rng, func=func)
    values = fill_normal(np.empty(w.size, w.dtype), generator, mean, std)
    outside = np.flatnonzero((values < a) | (values > b))
    while outside.size:
        values[outside] = fill_normal(np.empty(outside.size, w.dtype), generator, mean, std)
        outside = outside[(values[outside] < a) | (values[outside] > b)]
    w[...] = values.reshape(w.shape)
    return w


def constant_(tensor: Any, val: float) -> np.ndarray:
    """Fill ``tensor`` with ``val``."""
    w = _array(tensor, "constant_")
    w[...] = _real(val, "val", "constant_")
    return w


def zeros_(tensor: Any) -> np.ndarray:
    """Fill ``tensor`` with 0."""
    w = _array(tensor, "zeros_")
    w[...] = 0
    return w


def ones_(tensor: Any) -> np.ndarray:
    """Fill ``tensor`` with 1."""
    w = _array(tensor, "ones_")
    w[...] = 1
    return w


def eye_(tensor: Any) -> np.ndarray:
    """Fill the 2-D ``tensor`` (m, n) with the identity: w[i, j] = [i = j] (a Linear layer
    that copies its first min(m, n) inputs)."""
    func = "eye_"
    w = _array(tensor, func)
    if w.ndim != 2:
        raise ValueError(f"{func}: tensor: expected 2 dimensions, got shape {w.shape}")
    w[...] = 0
    np.fill_diagonal(w, 1)
    return w


def dirac_(tensor: Any, groups: int = 1) -> np.ndarray:
    """Fill the convolution weight ``tensor`` (O, C, k1[, k2[, k3]]) with the Dirac delta,
    so that the convolution copies its input: with O/groups = o filters per group,

        w[g·o + d, d, c1, c2, …] = 1  for d < min(o, C), (c1, c2, …) = (k1//2, k2//2, …),

    and 0 elsewhere. A convolution with padding k//2 (odd k), stride 1 and this weight maps x
    to x for its first min(o, C) channels of each group (and 0 for the rest).
    """
    func = "dirac_"
    w = _array(tensor, func)
    if w.ndim not in (3, 4, 5):
        raise ValueError(f"{func}: tensor: expected 3, 4 or 5 dimensions, got shape {w.shape}")
    if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{func}: groups: expected an int, got {groups!r}")
    if groups < 1 or w.shape[0] % groups:
        raise ValueError(
            f"{func}: groups: expected a positive divisor of the {w.shape[0]} output channels, "
            f"got {groups}"
        )
    per_group = w.shape[0] // groups
    d = np.arange(min(per_group, w.shape[1]))
    out = (np.arange(groups)[:, None] * per_group + d).ravel()
    centre = tuple(k // 2 for k in w.shape[2:])
    w[...] = 0
    w[(out, np.tile(d, groups)) + centre] = 1
    return w


def _xavier_std(w: np.ndarray, gain: float, func: str) -> float:
    fan_in, fan_out = _fans(w, func)
    return _real(gain, "gain", func) * math.sqrt(2.0 / max(fan_in + fan_out, 1))


def _kaiming_std(w: np.ndarray, a: float, mode: str, nonlinearity: str, func: str) -> float:
    fan = _fan(w, mode, func)
    return calculate_gain(nonlinearity, a) / math.sqrt(max(fan, 1))  # 0 only when empty


def xavier_uniform_(tensor: Any, gain: float = 1.0, *, rng: Any = None) -> np.ndarray:
    """Glorot's uniform initialisation: w ~ U(−√3·σ, √3·σ), σ = gain·√(2/(fan_in + fan_out))."""
    func = "xavier_uniform_"
    w = _array(tensor, func)
    std = _xavier_std(w, gain, func)
    bound = math.sqrt(3.0) * std
    return fill_uniform(w, as_generator(rng, func=func), -bound, bound)


def xavier_normal_(tensor: Any, gain: float = 1.0, *, rng: Any = None) -> np.ndarray:
    """Glorot's normal initialisation: w ~ N(0, σ²), σ = gain·√(2/(fan_in + fan_out))."""
    func = "xavier_normal_"
    w = _array(tensor, func)
    std = _xavier_std(w, gain, func)
    return fill_normal(w, as_generator(rng, func=func), 0.0, std)


def kaiming_uniform_(
    tensor: Any,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng: Any = None,
) -> np.ndarray:
    """He's uniform initialisation: w ~ U(−√3·σ, √3·σ), σ = gain/√fan, gain =
    ``calculate_gain(nonlinearity, a)`` (``a`` the leaky ReLU's negative slope). The layers'
    default, ``a=√5``, gives the bound 1/√fan_in."""
    func = "kaiming_uniform_"
    w = _array(tensor, func)
    bound = math.sqrt(3.0) * _kaiming_std(w, a, mode, nonlinearity, func)
    return fill_uniform(w, as_generator(rng, func=func), -bound, bound)


def kaiming_normal_(
    tensor: Any,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng: Any = None,
) -> np.ndarray:
    """He's normal initialisation: w ~ N(0, σ²), σ = gain/√fan, gain =
    ``calculate_gain(nonlinearity, a)``."""
    func = "kaiming_normal_"
    w = _array(tensor, func)
    std = _kaiming_std(w, a, mode, nonlinearity, func)
    return fill_normal(w, as_generator(rng, func=func), 0.0, std)


def orthogonal_(tensor: Any, gain: float = 1.0, *, rng: Any = None) -> np.ndarray:
    """A (scaled) random orthogonal matrix: ``tensor`` viewed as (rows, cols) = (O, C·k1·…)
    gets W = gain·Q with orthonormal rows (rows ≤ cols) or columns (rows > cols), so
    W·Wᵀ = gain²·I or WᵀW = gain²·I. Q comes from the QR factorisation of a standard normal
    matrix, with each column's sign set by R's diagonal so that Q is uniformly (Haar)
    distributed."""
    func = "orthogonal_"
    w = _array(tensor, func)
    if w.ndim < 2:
        raise ValueError(f"{func}: tensor: expected at least 2 dimensions, got shape {w.shape}")
    gain = _real(gain, "gain", func)
    rows = w.shape[0]
    cols = w.size // rows if rows else 0
    if rows == 0 or cols == 0:
        return w
    z = as_generator(rng, func=func).normal(size=(rows, cols))
    if rows < cols:
        z = z.T
    q, r = np.linalg.qr(z)
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    if rows < cols:
        q = q.T
    return _fill(w, (gain * q).reshape(w.shape))
