"""The argument checks the three norms share (messages "func: arg: expected ..., got ...")."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..._checks import check_float_array, real_number

# ---------------------------------------------------------------------------------------------
# Validation (messages "func: arg: expected ..., got ...")


def _check_x(x: Any, *, func: str) -> tuple[int, int, int]:
    """x is (N, C, *): return N, C and L = the product of the spatial axes (1 for (N, C))."""
    check_float_array("x", x, func=func)
    if x.ndim < 2:
        raise ValueError(
            f"{func}: x: expected an array (N, C, *) with at least 2 axes, got {x.ndim}-D with "
            f"shape {x.shape}; add a batch axis with x[None]"
        )
    return x.shape[0], x.shape[1], math.prod(x.shape[2:])


def _check_vector(name: str, a: Any, length: int, what: str, *, func: str) -> None:
    check_float_array(name, a, func=func)
    if a.shape != (length,):
        raise ValueError(f"{func}: {name}: expected shape ({length},) ({what}), got {a.shape}")


def _check_flag(name: str, value: Any, *, func: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_eps(eps: Any, *, func: str) -> float:
    return real_number("eps", eps, func=func, low=0.0, low_open=True)


def _check_grad_output(grad_output: Any, x: np.ndarray, *, func: str) -> None:
    check_float_array("grad_output", grad_output, func=func)
    if grad_output.shape != x.shape:
        raise ValueError(
            f"{func}: grad_output: expected x's shape {x.shape} (the forward output's), "
            f"got {grad_output.shape}"
        )
