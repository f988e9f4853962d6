"""What the checks of every result share: the error measure, the identity verdict, seeded
random tensors and JSON-ready conversions. Private to :mod:`cnnmath.results`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .claim import TOLERANCE, ClaimOutcome


def rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """max|got − want| / max|want| (the absolute difference when want is all zero; inf when
    the shapes differ).

    >>> rel_error(np.array([1.0, 2.5]), np.array([1.0, 2.0]))
    0.25
    """
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf
    diff = float(np.abs(got - want).max(initial=0.0))
    scale = float(np.abs(want).max(initial=0.0))
    return diff / scale if scale > 0 else diff


def identity(errors: dict[str, float], tolerance: float = TOLERANCE) -> ClaimOutcome:
    """An identity checked on several named cases: the worst case decides, and a NaN error
    (a case that produced NaN) is the worst of all.

    >>> identity({"a": 0.0, "b": 3e-13}).passed
    True
    >>> identity({"a": 0.0, "b": float("nan")}).passed
    False
    """
    worst = max(errors, key=lambda name: (math.isnan(errors[name]), errors[name]))
    error = errors[worst]
    cases = f"{len(errors)} cases"
    if any("photograph" in name for name in errors):
        cases += " (the photograph among them)"
    if error == 0:
        detail = f"{cases}, all exactly equal"
    else:
        detail = f"{cases}; worst {error:.1e} on {worst}"
    return ClaimOutcome(error, bool(error <= tolerance), None, detail, tolerance)


def scalar(v: Any) -> float:
    """A 0-d array or a one-element one as a Python float."""
    return float(np.asarray(v).item())


def window_list(w: np.ndarray) -> list[list[float]]:
    """A 2-D window as nested lists of Python floats (JSON-ready)."""
    return [[float(v) for v in row] for row in np.asarray(w, dtype=np.float64)]


def random(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """scale · N(0, 1) in float64, from its own seed."""
    return scale * np.random.default_rng(seed).standard_normal(shape)


def shape_text(a: np.ndarray) -> str:
    """(2, 3, 4) → "(2,3,4)"."""
    return "(" + ",".join(map(str, a.shape)) + ")"
