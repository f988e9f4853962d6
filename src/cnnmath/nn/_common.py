"""Helpers shared by the layers: random generators, dtypes, uniform initialisation."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import float_dtype, positive_int
from ..ops._random import default_generator
from .parameter import Parameter


def as_generator(rng: Any, *, func: str = "rng") -> np.random.Generator:
    """``rng`` as a ``numpy.random.Generator``: a Generator is returned as it is, an int
    (>= 0) seeds a new one, None is the package's default generator (fresh entropy until
    ``cnnmath.manual_seed`` seeds it)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return default_generator()
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)):
        raise TypeError(
            f"{func}: rng: expected a numpy.random.Generator, an int seed or None, "
            f"got {type(rng).__name__} {rng!r}"
        )
    if rng < 0:
        raise ValueError(f"{func}: rng: expected a seed >= 0, got {rng}")
    return np.random.default_rng(int(rng))


def _float_dtype(dtype: Any, *, func: str) -> np.dtype:
    """``dtype`` as numpy.float32 or numpy.float64 (``_checks.float_dtype``, which refuses
    what is not a dtype: 'cpu' for one); None is float32, PyTorch's default dtype."""
    return np.dtype(np.float32) if dtype is None else float_dtype("dtype", dtype, func=func)


def _draw_into(w: np.ndarray, draw: Any) -> np.ndarray:
    """``draw(out)`` fills a C-contiguous buffer of w's dtype; w itself when it is one."""
    if w.flags.c_contiguous:
        draw(w)
    else:
        buffer = np.empty(w.shape, w.dtype)
        draw(buffer)
        w[...] = buffer
    return w


def fill_uniform(w: np.ndarray, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """w ← low + (high − low)·u in place, u ~ U[0, 1) drawn in w's own dtype.

    float32 draws take 32 random bits each and need no float64 copy (a 100-million-weight
    layer initialises ~10× faster); float64 draws are exactly ``rng.uniform(low, high)``'s.
    In float32 the values are clipped to [low, high] rounded to float32 (the scaling may
    round one step past either), so ``high`` itself may come out, as PyTorch's ``uniform_``
    may give it.
    """

    def draw(out: np.ndarray) -> None:
        rng.random(out=out, dtype=out.dtype)
        out *= high - low
        out += low
        if out.dtype != np.float64:
            t = out.dtype.type
            np.clip(out, t(low), t(high), out=out)

    return _draw_into(w, draw)


def fill_normal(w: np.ndarray, rng: np.random.Generator, mean: float, std: float) -> np.ndarray:
    """w ← mean + std·z in place, z ~ N(0, 1) drawn in w's own dtype (NumPy's ziggurat has a
    float32 variant: no float64 copy, ~4× faster); float64 draws are exactly
    ``rng.normal(mean, std)``'s."""

    def draw(out: np.ndarray) -> None:
        rng.standard_normal(out=out, dtype=out.dtype)
        out *= std
        out += mean

    return _draw_into(w, draw)


def _uniform(
    rng: np.random.Generator, bound: float, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    """U(−bound, bound) samples of ``dtype``, drawn in that dtype."""
    return fill_uniform(np.empty(shape, dtype), rng, -bound, bound)


def _real_arg(cls: str, name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{cls}: {name}: expected a real number, got {value!r}")
    number = float(value)
    if not np.isfinite(number) or (positive and number <= 0):
        raise ValueError(
            f"{cls}: {name}: expected a finite number{' > 0' if positive else ''}, got {value!r}"
        )
    return number


def _pair_repr(pair: tuple[int, int]) -> str:
    return f"({pair[0]}, {pair[1]})"


def _channels(func: str, in_channels: Any, out_channels: Any, groups: Any) -> tuple[int, int, int]:
    """A convolution's (in_channels, out_channels, groups): positive ints, both channel
    counts multiples of groups."""
    sizes = {
        name: positive_int(name, value, func=func)
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        )
    }
    for name in ("in_channels", "out_channels"):
        if sizes[name] % sizes["groups"]:
            raise ValueError(
                f"{func}: {name}: expected a multiple of groups={sizes['groups']}, "
                f"got {sizes[name]}"
            )
    return sizes["in_channels"], sizes["out_channels"], sizes["groups"]


#: A convolution's border modes, PyTorch's names: zeros, or ``ops.pad2d``'s reflect,
#: replicate, circular.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _padding_mode(func: str, mode: Any) -> str:
    if mode not in PADDING_MODES:
        raise ValueError(
            f"{func}: padding_mode: expected one of {', '.join(PADDING_MODES)}, got {mode!r}"
        )
    return str(mode)


def _conv_parameters(
    func: str, shape: tuple[int, ...], bias: Any, rng: Any, dtype: Any
) -> tuple[Parameter, Parameter | None]:
    """A convolution's weight of ``shape`` (C_out, C_in/G, *kernel) and bias (C_out,) or
    None, both ~ U(−1/√fan_in, 1/√fan_in) with fan_in = C_in/G · Π kernel."""
    if not isinstance(bias, bool):
        raise TypeError(f"{func}: bias: expected a bool, got {bias!r}")
    dt = _float_dtype(dtype, func=func)
    generator = as_generator(rng, func=func)
    bound = 1.0 / np.sqrt(int(np.prod(shape[1:])))
    weight = Parameter(_uniform(generator, bound, shape, dt))
    return weight, (Parameter(_uniform(generator, bound, shape[:1], dt)) if bias else None)
