"""Results 1–4 and 6 of SPEC.md as executable claims (what ``cnnmath verify`` runs).

A :class:`Claim` is one statement in words with the function that checks it. Each check
takes the photograph (``photo``: RGB, (3, H, W), float64 in [0, 1]) or ``None`` and always
runs on random tensors too (fixed seeds, float64); it returns a :class:`ClaimOutcome`.

Two kinds of claim, both phrased so that they pass when the mathematics is as SPEC.md says:

* an identity ("max pooling commutes with relu"): ``max_abs_error`` is the largest
  difference between the two sides, relative to the data's scale,
  max|got − want| / max|want| (SPEC.md's measure); it passes at ≤ :data:`TOLERANCE` = 1e-12
  (result 6's finite differences: ≤ :data:`FD_TOLERANCE` = 1e-7);
* a failure the SPEC predicts ("max pooling does not commute with gelu"): the check
  searches for a counterexample and returns it (the input window and both values);
  ``max_abs_error`` is then the gap the counterexample shows, and the claim passes when
  that gap is a real one, above :data:`MIN_GAP` = 1e-6 — far beyond rounding. One such
  claim is about floating point, not the mathematics: softplus computed as PyTorch does (x
  itself above 20) drops by log1p(e^−20) ≈ 2.1e-9 at 20, so max pooling does not commute
  with it exactly across 20; that claim passes when its counterexample's gap is above 0 and
  no gap found exceeds the drop (plus one ulp of 20).

:func:`run_all` runs every claim of :func:`all_claims` and returns the rows that
``cnnmath verify --json`` prints.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .filters import (
    BT601,
    BT709,
    average_pool_by_conv,
    image_gradient,
    to_grayscale,
)
from .ops import avg_pool2d, max_pool2d
from .ops.activations import ACTIVATIONS, Activation

__all__ = [
    "FD_TOLERANCE",
    "MIN_GAP",
    "TOLERANCE",
    "Claim",
    "ClaimOutcome",
    "all_claims",
    "load_photo",
    "run_all",
    "run_claim",
]

#: An identity holds when its error, relative to the data's scale, is at most this (float64).
TOLERANCE = 1e-12
#: Result 6 against central finite differences (step 1e-6): relative error at most this.
FD_TOLERANCE = 1e-7
#: A predicted failure is shown when the counterexample's gap exceeds this.
MIN_GAP = 1e-6

#: The original's green weight, a transcription error for BT.601's 0.587.
ORIGINAL_TYPO_WEIGHTS = (0.299, 0.581, 0.114)


@dataclass(frozen=True)
class ClaimOutcome:
    """What a check found.

    max_abs_error : for an identity, max|got − want| / max|want| over every case tried (inf
        when the shapes differ); for a predicted failure, the gap its counterexample shows.
    passed : whether the claim holds.
    counterexample : for a predicted failure, the window(s) and both values (JSON-ready:
        plain floats, lists and str); None otherwise.
    detail : one or two lines for people: what was tried, where the worst case was.
    """

    max_abs_error: float
    passed: bool
    counterexample: dict | None = None
    detail: str = ""


@dataclass(frozen=True)
class Claim:
    """One statement of SPEC.md with its check.

    result : the SPEC's result number (1, 2, 3, 4 or 6); several claims may share one.
    claim : the statement in words, phrased so that it passes when the maths is right.
    check : ``check(photo=None) -> ClaimOutcome``; ``photo`` is the RGB photograph
        (3, H, W) in [0, 1], or None for random tensors only.
    """

    result: int
    claim: str
    check: Callable[..., ClaimOutcome]


# =============================================================================== helpers


def _rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """max|got − want| / max|want| (the absolute difference when want is all zero)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf
    diff = float(np.abs(got - want).max(initial=0.0))
    scale = float(np.abs(want).max(initial=0.0))
    return diff / scale if scale > 0 else diff


def _identity(errors: dict[str, float], tolerance: float = TOLERANCE) -> ClaimOutcome:
    """An identity checked on several named cases: the worst case decides."""
    worst = max(errors, key=errors.get)
    error = errors[worst]
    cases = f"{len(errors)} cases"
    if any("photograph" in name for name in errors):
        cases += " (the photograph among them)"
    if error == 0:
        detail = f"{cases}, all exactly equal"
    else:
        detail = f"{cases}; worst {error:.1e} on {worst}"
    return ClaimOutcome(error, bool(error <= tolerance), None, detail)


def _float(v: Any) -> float:
    return float(np.asarray(v).item())


def _window_list(w: np.ndarray) -> list:
    return [[float(v) for v in row] for row in np.asarray(w, dtype=np.float64)]


def _random(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal(shape)


def _shape(a: np.ndarray) -> str:
    return "(" + ",".join(map(str, a.shape)) + ")"


# ================================================================================ result 1


def _check_finite_differences(photo: np.ndarray | None = None) -> ClaimOutcome:
    """conv2d(X, [w1, w2], padding=1) against the differences written with NumPy slicing."""
    cases = {
        f"random {_shape(x)}": x
        for x in (_random(1, (3, 1, 11, 16)), _random(2, (1, 1, 2, 9)), _random(3, (2, 1, 1, 1)))
    }
    if photo is not None:
        cases["the photograph's luma (1,1,600,512)"] = to_grayscale(photo)[None]
    errors = {}
    for name, X in cases.items():
        Y1, Y2 = image_gradient(X)
        Xz = np.pad(X, ((0, 0), (0, 0), (0, 1), (0, 1)))  # X[m+1, ·] = X[·, n+1] = 0
        m, n = X.shape[2:]
        want1 = Xz[:, :, 1 : m + 1, :n] - X  # X[i+1, j] − X[i, j]
        want2 = Xz[:, :, :m, 1 : n + 1] - X  # X[i, j+1] − X[i, j]
        errors[name] = max(_rel_error(Y1, want1), _rel_error(Y2, want2))
    return _identity(errors)


# ================================================================================ result 2


def _block_mean(X: np.ndarray, k: int) -> np.ndarray:
    """k×k means of non-overlapping blocks by reshaping, after dropping the rows and columns
    that no full block covers (the floor): an independent witness for average pooling."""
    N, C, H, W = X.shape
    h, w = H // k, W // k
    return X[:, :, : h * k, : w * k].reshape(N, C, h, k, w, k).mean(axis=(3, 5))


def _average_pool_cases(photo: np.ndarray | None, *, divides: bool) -> dict[str, tuple]:
    if divides:
        cases = {
            f"C={C}, k={k}, random (2,{C},12,12)": (_random(10 + C + k, (2, C, 12, 12)), k)
            for C in (1, 3, 5)
            for k in (2, 3, 4)
        }
        if photo is not None:
            cases.update({f"the photograph, k={k}": (photo[None], k) for k in (2, 4, 8)})
    else:
        cases = {
            f"C={C}, k={k}, random (2,{C},13,11)": (_random(20 + C + k, (2, C, 13, 11)), k)
            for C in (1, 3)
            for k in (2, 3, 4, 5)
        }
        if photo is not None:
            cases["the photograph, k=7 (600/7, 512/7 not whole)"] = (photo[None], 7)
    return cases


def _check_average_pool(photo: np.ndarray | None = None) -> ClaimOutcome:
    """conv2d with δ(c,d)/k², stride k, against avg_pool2d and against block means."""
    errors = {}
    for name, (X, k) in _average_pool_cases(photo, divides=True).items():
        Y = average_pool_by_conv(X, k)
        errors[name] = max(_rel_error(Y, avg_pool2d(X, k)), _rel_error(Y, _block_mean(X, k)))
    return _identity(errors)


def _check_average_pool_floor(photo: np.ndarray | None = None) -> ClaimOutcome:
    """k not dividing n: same output shape floor(n/k), same numbers (the leftover dropped)."""
    errors, sizes = {}, {}
    for name, (X, k) in _average_pool_cases(photo, divides=False).items():
        Y, P = average_pool_by_conv(X, k), avg_pool2d(X, k)
        (m, n), (h, w) = X.shape[2:], Y.shape[2:]
        sizes[f"{m}×{n} → {h}×{w} (k={k})"] = None
        errors[name] = max(_rel_error(Y, P), _rel_error(Y, _block_mean(X, k)))
    outcome = _identity(errors)
    detail = f"{outcome.detail}; sizes {', '.join(sizes)}"
    return ClaimOutcome(outcome.max_abs_error, outcome.passed, None, detail)


# ================================================================================ result 3


def _luma_formula(X: np.ndarray, weights: tuple[float, float, float]) -> np.ndarray:
    """w_R·R + w_G·G + w_B·B written out, for (N, 3, H, W): (N, 1, H, W)."""
    w_R, w_G, w_B = weights
    R, G, B = X[:, 0:1], X[:, 1:2], X[:, 2:3]
    return w_R * R + w_G * G + w_B * B


def _check_luma(photo: np.ndarray | None = None) -> ClaimOutcome:
    rng = np.random.default_rng(30)
    images = {"random (2,3,7,9)": rng.uniform(0, 1, (2, 3, 7, 9))}
    if photo is not None:
        images["the photograph (3,600,512)"] = photo[None]
    errors = {}
    for label, weights in (("BT.601", BT601), ("BT.709", BT709)):
        for name, X in images.items():
            errors[f"{label}, {name}"] = _rel_error(
                to_grayscale(X, weights), _luma_formula(X, weights)
            )
    return _identity(errors)


def _white_to_gray(weights: tuple[float, float, float]) -> float:
    white = np.full((3, 1, 1), 255.0)
    return _float(to_grayscale(white, weights))


def _check_white_stays_white(photo: np.ndarray | None = None) -> ClaimOutcome:
    gray = _white_to_gray(BT601)
    error = abs(gray - 255.0) / 255.0
    detail = (
        f"white 255 → {gray!r}; 0.299 + 0.587 + 0.114 = {sum(BT601)!r} in float64 "
        "(BT.709 likewise: " + repr(_white_to_gray(BT709)) + ")"
    )
    return ClaimOutcome(error, bool(error <= TOLERANCE), None, detail)


def _check_typo_fails(photo: np.ndarray | None = None) -> ClaimOutcome:
    gray = _white_to_gray(ORIGINAL_TYPO_WEIGHTS)
    gap = abs(gray - 255.0) / 255.0
    counterexample = {
        "weights": list(ORIGINAL_TYPO_WEIGHTS),
        "weights_sum": sum(ORIGINAL_TYPO_WEIGHTS),
        "white": 255.0,
        "gray": gray,
    }
    detail = f"0.299 + 0.581 + 0.114 = {sum(ORIGINAL_TYPO_WEIGHTS):.3f}: white 255 → {gray:.2f}"
    return ClaimOutcome(gap, bool(gap > MIN_GAP), counterexample, detail)


# ================================================================================ result 4
#
# Pooling p and activation σ commute when σ(p(X)) = p(σ(X)). In each window N:
# max σ(N) = σ(max N) for non-decreasing σ (σ keeps order), and likewise for min.

#: (kernel_size, stride, padding) tried for max and min pooling: −∞ padding up to half the
#: window, overlapping and non-overlapping windows, non-square ones.
POOL_CASES = ((2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 0)), (5, 1, 2))


def _signed_data(photo: np.ndarray | None) -> dict[str, np.ndarray]:
    """Inputs on both sides of 0, where the activations bend: random normal ×2 and the
    photograph's luma stretched to [−4, 4] (the dips of GELU, SiLU, Mish included)."""
    data = {
        "random (2,3,12,14)": _random(40, (2, 3, 12, 14), 2.0),
        "random (1,2,9,9)": _random(41, (1, 2, 9, 9), 2.0),
    }
    if photo is not None:
        data["the photograph's luma ×8 − 4 (1,1,600,512)"] = 8.0 * to_grayscale(photo)[None] - 4.0
    return data


def _min_pool2d(x: np.ndarray, kernel_size, stride=None, padding=0) -> np.ndarray:
    """min over each window, +∞ padding: min N = −max(−N)."""
    return -max_pool2d(-x, kernel_size, stride, padding)


def _commutes(
    sigma: Callable[[np.ndarray], np.ndarray],
    outer: Callable[..., np.ndarray],
    inner: Callable[..., np.ndarray],
    data: dict[str, np.ndarray],
) -> dict[str, float]:
    """Errors of σ(outer(X)) = inner(σ(X)) for every input and every pooling case."""
    errors = {}
    for name, X in data.items():
        sigma_X = sigma(X)
        for k, s, p in POOL_CASES:
            lhs = sigma(outer(X, k, s, p))
            rhs = inner(sigma_X, k, s, p)
            errors[f"{name}, window {k}, stride {s or k}, padding {p}"] = _rel_error(lhs, rhs)
    return errors


def _max_pool_commutes(activation: Activation) -> Callable[..., ClaimOutcome]:
    def check(photo: np.ndarray | None = None) -> ClaimOutcome:
        data = _signed_data(photo)
        outcome = _identity(_commutes(activation.f, max_pool2d, max_pool2d, data))
        lo = min(float(X.min()) for X in data.values())
        hi = max(float(X.max()) for X in data.values())
        domain = f"inputs in [{lo:.3g}, {hi:.3g}]"
        threshold = _cut_off(activation)
        if threshold is not None:  # the claim's domain: the computed σ drops across it
            domain += (
                f", below {activation.name}'s cut-off at {threshold:g} (across it "
                "the next claim applies)"
            )
        return ClaimOutcome(
            outcome.max_abs_error, outcome.passed, None, f"{outcome.detail}; {domain}"
        )

    return check


# Softplus as PyTorch computes it: x itself where x > t (t = 20), log(1 + eˣ) below. At t
# the value drops by log1p(e^−t) ≈ 2.1e-9, so the computed σ is non-decreasing except
# across t: a window {a, b} with b ≤ t < a gives σ(max N) = a < σ(b) = max σ(N). The gap is
# at most the drop: σ(b) ≤ σ(t) = t + log1p(e^−t) and a > t (plus one ulp of t for rounding).


def _cut_off(activation: Activation) -> float | None:
    """The ``threshold`` above which σ is computed as x (softplus's), or None."""
    try:
        parameter = inspect.signature(activation.f).parameters.get("threshold")
    except (TypeError, ValueError):  # a callable without a signature
        return None
    if parameter is None or not isinstance(parameter.default, (int, float)):
        return None
    return float(parameter.default)


def _short(value: float) -> str:
    """2.1e-09 → 2.1e-9."""
    return f"{value:.1e}".replace("e-0", "e-").replace("e+0", "e+")


def _offset(x: float, t: float) -> str:
    """x written from t: "t", "t + 3.6e-15", "t − 1e-09"."""
    d = float(x) - t
    return "t" if d == 0 else f"t {'+' if d > 0 else '−'} {abs(d):.2g}"


def _cut_off_claim(activation: Activation, threshold: float) -> str:
    drop = math.log1p(math.exp(-threshold))
    return (
        f"{activation.name}'s cut-off at {threshold:g} (PyTorch's) does not commute "
        f"exactly: gap ≤ {_short(drop)}"
    )


def _cut_off_breaks(activation: Activation, threshold: float) -> Callable[..., ClaimOutcome]:
    def check(photo: np.ndarray | None = None) -> ClaimOutcome:
        sigma = activation.f
        t = threshold
        drop = math.log1p(math.exp(-t))  # σ's fall at t
        ulp = float(np.spacing(t))  # the distance from t to the next float
        bound = drop + ulp  # σ(b) − a for b ≤ t < a, rounding included
        grid = np.concatenate(
            [
                t + ulp * np.arange(-64, 65),  # the 129 floats around t, t itself among them
                t + np.linspace(-1e-8, 1e-8, 2001),
                np.linspace(t - 1.0, t + 1.0, 2001),
            ]
        )
        a, b = _dip_search(sigma, None, grid)  # the largest σ(b) − σ(a), b < a
        window = np.array([[[[a, b], [b, b]]]])  # one 2×2 window: its maximum is a
        lhs = _float(sigma(max_pool2d(window, 2)))  # σ(max N) = σ(a) = a
        rhs = _float(max_pool2d(sigma(window), 2))  # max σ(N) = σ(b)
        gap = rhs - lhs
        # Every pooling case on data straddling t: no gap beyond the drop.
        straddling = {
            f"t + 1e-8·N(0, 1) {shape}": t + _random(44 + i, shape, 1e-8)
            for i, shape in enumerate(((2, 3, 12, 14), (1, 2, 9, 9)))
        }
        pooled = {}  # absolute gaps |σ(maxpool X) − maxpool σ(X)|
        for name, X in straddling.items():
            sigma_X = sigma(X)
            for k, s, p in POOL_CASES:
                pooled[f"{name}, window {k}"] = float(
                    np.abs(sigma(max_pool2d(X, k, s, p)) - max_pool2d(sigma_X, k, s, p)).max()
                )
        worst = max(pooled.values())
        # float32 (steps of 1.9e-6 near 20): the drop is below half a step and rounds away.
        X32 = (t + _random(46, (2, 3, 12, 14), 4e-6)).astype(np.float32)
        in_float32 = float(np.abs(sigma(max_pool2d(X32, 2)) - max_pool2d(sigma(X32), 2)).max())
        counterexample = {
            "activation": activation.name,
            "threshold": t,
            "window": _window_list(window[0, 0]),
            "max_pool": float(a),
            "sigma_of_max_pool": lhs,
            "max_pool_of_sigma": rhs,
            "gap": gap,
            "bound": drop,
        }
        detail = (
            f"window [[{_offset(a, t)}, {_offset(b, t)}], …] (t = {t:g}): σ(max N) = {lhs!r} < "
            f"max σ(N) = {rhs!r}, a gap of {gap:.3g} ({gap / abs(rhs):.1g} relative, above "
            f"the 1e-12 of an identity); on {len(pooled)} poolings of data straddling t the "
            f"largest gap is {worst:.3g} ≤ log1p(e^−{t:g}) = {drop:.4g}; in float32 the drop "
            f"rounds away (gap {in_float32:g})"
        )
        passed = bool(0.0 < gap <= bound and worst <= bound)
        return ClaimOutcome(gap, passed, counterexample, detail)

    return check


def _dip_search(
    sigma: Callable[[np.ndarray], np.ndarray], dip: float | None, grid: np.ndarray | None = None
):
    """The two-element window {a, b}, b < a, that maximises max σ(N) − σ(max N) = σ(b) − σ(a),
    over a grid (default [−10, 10], step 0.001) plus the registry's dip point: for each a the
    best b below it is the running maximum of σ."""
    grid = np.linspace(-10.0, 10.0, 20001) if grid is None else np.asarray(grid, np.float64)
    if dip is not None:
        grid = np.append(grid, dip)
    grid = np.unique(grid)  # sorted
    s = sigma(grid)
    best_below = np.maximum.accumulate(s)  # max σ(b) over b ≤ a
    i = int(np.argmax(best_below - s))
    a = grid[i]
    b = grid[int(np.argmax(s[: i + 1]))]
    return a, b


def _max_pool_fails(activation: Activation) -> Callable[..., ClaimOutcome]:
    def check(photo: np.ndarray | None = None) -> ClaimOutcome:
        sigma = activation.f
        a, b = _dip_search(sigma, activation.minimum_at)
        window = np.array([[[[a, b], [b, b]]]])  # one 2×2 window: its maximum is a
        lhs = _float(sigma(max_pool2d(window, 2)))  # σ(max N) = σ(a)
        rhs = _float(max_pool2d(sigma(window), 2))  # max σ(N) = σ(b)
        gap = abs(lhs - rhs)
        # How often it happens on real data (2×2 windows, stride 2).
        seen = []
        for name, X in _signed_data(photo).items():
            differ = sigma(max_pool2d(X, 2)) != max_pool2d(sigma(X), 2)
            seen.append(f"{int(differ.sum())}/{differ.size} windows of {name}")
        counterexample = {
            "activation": activation.name,
            "window": _window_list(window[0, 0]),
            "max_pool": float(a),
            "sigma_of_max_pool": lhs,
            "max_pool_of_sigma": rhs,
        }
        detail = (
            f"window [[{a:.4g}, {b:.4g}], [{b:.4g}, {b:.4g}]]: σ(max N) = {lhs:.4g} < "
            f"max σ(N) = {rhs:.4g}; differs in " + "; ".join(seen)
        )
        return ClaimOutcome(gap, bool(gap > MIN_GAP), counterexample, detail)

    return check


def _check_min_pool(photo: np.ndarray | None = None) -> ClaimOutcome:
    data = _signed_data(photo)
    errors = {}
    for activation in _non_decreasing():
        for case, e in _commutes(activation.f, _min_pool2d, _min_pool2d, data).items():
            errors[f"{activation.name}, {case}"] = e
    return _identity(errors)


#: Non-increasing activations: σ(max N) = min σ(N) and σ(min N) = max σ(N).
NON_INCREASING = {"−x": np.negative, "exp(−x)": lambda x: np.exp(-x)}


def _check_swap(photo: np.ndarray | None = None) -> ClaimOutcome:
    data = _signed_data(photo)
    errors = {}
    for name, sigma in NON_INCREASING.items():
        for case, e in _commutes(sigma, max_pool2d, _min_pool2d, data).items():
            errors[f"σ = {name}, σ(max) = min σ, {case}"] = e
        for case, e in _commutes(sigma, _min_pool2d, max_pool2d, data).items():
            errors[f"σ = {name}, σ(min) = max σ, {case}"] = e
    return _identity(errors)


# Zero-padded pooling: the pad enters the window as the value 0, whose image σ(0) may not be 0.

ZERO_PAD_CASE = (3, 2, 1)  # kernel 3, stride 2, padding 1: every border window holds pad


def _zero_padded(pool: Callable[..., np.ndarray], X: np.ndarray, k: int, s: int, p: int):
    Xz = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))  # zeros, not −∞
    return pool(Xz, k, s, 0), Xz


def _worst_window(Xz: np.ndarray, lhs: np.ndarray, rhs: np.ndarray, k: int, s: int):
    """Index of the largest |lhs − rhs| and the (padded) input window that produced it."""
    idx = np.unravel_index(int(np.argmax(np.abs(lhs - rhs))), lhs.shape)
    beta, c, i, j = (int(v) for v in idx)
    return idx, Xz[beta, c, s * i : s * i + k, s * j : s * j + k]


def _zero_padded_gap(sigma, pool, X: np.ndarray) -> tuple[float, dict]:
    """σ(p₀(X)) against p₀(σ(X)), p₀ zero-padded pooling: the largest gap and its window."""
    k, s, p = ZERO_PAD_CASE
    pooled, Xz = _zero_padded(pool, X, k, s, p)
    lhs = sigma(pooled)
    rhs, _ = _zero_padded(pool, sigma(X), k, s, p)
    idx, window = _worst_window(Xz, lhs, rhs, k, s)
    gap = float(np.abs(lhs - rhs)[idx])
    return gap, {
        "window": _window_list(window),
        "padding": "zeros",
        "sigma_of_pool": float(lhs[idx]),
        "pool_of_sigma": float(rhs[idx]),
    }


def _negative_data(photo: np.ndarray | None) -> dict[str, np.ndarray]:
    """Inputs below 0 everywhere, where a zero pad is the window's maximum."""
    data = {"random −|N| − 0.1 (2,3,10,10)": -np.abs(_random(42, (2, 3, 10, 10))) - 0.1}
    if photo is not None:
        data["the photograph's luma − 1.5"] = to_grayscale(photo)[None] - 1.5
    return data


def _zero_padded_max_fails(activation: Activation) -> Callable[..., ClaimOutcome]:
    def check(photo: np.ndarray | None = None) -> ClaimOutcome:
        found = {
            name: _zero_padded_gap(activation.f, max_pool2d, X)
            for name, X in _negative_data(photo).items()
        }
        name = min(found, key=lambda n: found[n][0])  # the weakest evidence decides
        gap, window = found[name]
        counterexample = {"activation": activation.name, "data": name, **window}
        detail = (
            f"σ(0) = {_float(activation.f(np.zeros(()))):.4g}; on {name}: σ(max N) = "
            f"{window['sigma_of_pool']:.4g} ≠ max σ(N) = {window['pool_of_sigma']:.4g} "
            f"(kernel 3, stride 2, zero padding 1)"
        )
        return ClaimOutcome(gap, bool(gap > MIN_GAP), counterexample, detail)

    return check


def _check_zero_padded_max_holds(photo: np.ndarray | None = None) -> ClaimOutcome:
    """σ(0) = 0 and σ non-decreasing: padding σ(X) with 0 is σ of X padded with 0."""
    k, s, p = ZERO_PAD_CASE
    data = {**_signed_data(photo), **_negative_data(photo)}
    errors = {}
    for activation in _non_decreasing():
        if _float(activation.f(np.zeros(()))) != 0.0:
            continue
        for name, X in data.items():
            lhs = activation.f(_zero_padded(max_pool2d, X, k, s, p)[0])
            rhs = _zero_padded(max_pool2d, activation.f(X), k, s, p)[0]
            errors[f"{activation.name}, {name}"] = _rel_error(lhs, rhs)
    outcome = _identity(errors)
    names = ", ".join(dict.fromkeys(e.split(",")[0] for e in errors))
    return ClaimOutcome(
        outcome.max_abs_error, outcome.passed, None, f"σ in {{{names}}}; {outcome.detail}"
    )


def _is_affine(sigma: Callable[[np.ndarray], np.ndarray]) -> bool:
    """σ(x) = σ(0) + (σ(1) − σ(0))·x on a grid of [−5, 5], to rounding."""
    x = np.linspace(-5.0, 5.0, 1001)
    s0, s1 = _float(sigma(np.zeros(()))), _float(sigma(np.ones(())))
    return bool(np.allclose(sigma(x), s0 + (s1 - s0) * x, rtol=0, atol=1e-12))


def _check_average_fails(photo: np.ndarray | None = None) -> ClaimOutcome:
    """Jensen: avg σ(N) = σ(avg N) for every window only if σ is affine on the values."""
    data = _signed_data(photo)
    k = 2
    counterexample, gaps = {}, {}
    for activation in ACTIVATIONS.values():
        if _is_affine(activation.f):
            continue
        best = (0.0, None)
        for X in data.values():
            lhs = activation.f(avg_pool2d(X, k))
            rhs = avg_pool2d(activation.f(X), k)
            idx, window = _worst_window(X, lhs, rhs, k, k)
            gap = float(np.abs(lhs - rhs)[idx])
            if gap > best[0]:
                best = (
                    gap,
                    {
                        "window": _window_list(window),
                        "sigma_of_avg": float(lhs[idx]),
                        "avg_of_sigma": float(rhs[idx]),
                    },
                )
        gaps[activation.name] = best[0]
        counterexample[activation.name] = best[1]
    weakest = min(gaps, key=gaps.get)
    detail = f"{len(gaps)} non-affine activations, 2×2 windows; largest gap per σ: " + ", ".join(
        f"{n} {g:.2g}" for n, g in gaps.items()
    )
    return ClaimOutcome(gaps[weakest], bool(gaps[weakest] > MIN_GAP), counterexample, detail)


def _affine(x: np.ndarray) -> np.ndarray:
    """σ(x) = 2x + 1: affine, non-decreasing, σ(0) = 1 ≠ 0."""
    return 2.0 * x + 1.0


def _check_average_affine(photo: np.ndarray | None = None) -> ClaimOutcome:
    data = _signed_data(photo)
    errors = {}
    for name, X in data.items():
        for k, s in ((2, None), (3, 1), ((2, 3), (2, 1))):
            errors[f"{name}, window {k}, stride {s or k}"] = _rel_error(
                _affine(avg_pool2d(X, k, s)), avg_pool2d(_affine(X), k, s)
            )
    return _identity(errors)


def _check_zero_padded_average_fails(photo: np.ndarray | None = None) -> ClaimOutcome:
    """With zero padding the pad contributes 0 to avg σ(N) but σ(0) = 1 to σ(avg N)."""
    X = _random(43, (1, 1, 6, 6), 2.0)
    k, s, p = ZERO_PAD_CASE
    lhs = _affine(avg_pool2d(X, k, s, p))
    rhs = avg_pool2d(_affine(X), k, s, p)
    Xz = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))
    idx, window = _worst_window(Xz, lhs, rhs, k, s)
    gap = float(np.abs(lhs - rhs)[idx])
    counterexample = {
        "activation": "2x + 1",
        "window": _window_list(window),
        "padding": "zeros",
        "sigma_of_avg": float(lhs[idx]),
        "avg_of_sigma": float(rhs[idx]),
    }
    detail = (
        f"kernel 3, stride 2, zero padding 1: a corner window holds 5 zeros, so σ(avg N) − "
        f"avg σ(N) = 5/9 = {gap:.4g}"
    )
    return ClaimOutcome(gap, bool(gap > MIN_GAP), counterexample, detail)


def _non_decreasing() -> list[Activation]:
    return [a for a in ACTIVATIONS.values() if a.non_decreasing]


# ================================================================================ result 6

#: A small MLP for result 6: sizes n_0..n_L, hidden activations, three inputs.
MLP_SIZES = (4, 6, 5, 1)
MLP_ACTIVATIONS = ("sigmoid", "tanh", "gelu")


def _mlp_cases():
    from .mlp import MLP  # result 6's module; imported here so results 1–4 never need it

    rng = np.random.default_rng(60)
    for seed, name in enumerate(MLP_ACTIVATIONS):
        yield (
            name,
            MLP(list(MLP_SIZES), activation=name, seed=seed),
            rng.standard_normal((3, MLP_SIZES[0])),
        )


def _jacobian_arrays(J) -> dict[str, np.ndarray]:
    arrays = {}
    for kind in ("dA", "db", "dy"):
        for l, a in enumerate(getattr(J, kind)):
            arrays[f"{kind}[{l}]"] = a
    return arrays


def _check_mlp_literal_vs_efficient(photo: np.ndarray | None = None) -> ClaimOutcome:
    errors = {}
    for name, net, x in _mlp_cases():
        batch = _jacobian_arrays(net.jacobians(x, method="efficient"))
        for beta in range(x.shape[0]):  # the literal form takes one example at a time
            literal = _jacobian_arrays(net.jacobians(x[beta], method="literal"))
            for key, want in literal.items():
                errors[f"σ = {name}, example {beta}, {key}"] = _rel_error(batch[key][beta], want)
    return _identity(errors)


def _check_mlp_finite_differences(photo: np.ndarray | None = None) -> ClaimOutcome:
    from .gradcheck import numerical_vjp
    from .mlp import MLP

    errors = {}
    for name, net, x in _mlp_cases():
        L = net.L

        def y_L(x0, *params, name=name, L=L):
            return MLP.from_params(list(params[:L]), list(params[L:]), name).forward(x0)

        for beta in range(x.shape[0]):
            inputs = [x[beta], *net.A, *net.b]
            numeric = numerical_vjp(y_L, inputs, np.array(1.0))
            want = {"dy[0]": numeric[0]}
            want.update({f"dA[{l}]": numeric[1 + l] for l in range(L)})
            want.update({f"db[{l}]": numeric[1 + L + l] for l in range(L)})
            for method in ("literal", "efficient"):
                got = _jacobian_arrays(net.jacobians(x[beta], method=method))
                for key, w in want.items():
                    errors[f"σ = {name}, {method}, example {beta}, {key}"] = _rel_error(got[key], w)
    return _identity(errors, FD_TOLERANCE)


# ================================================================================ the list


def all_claims() -> list[Claim]:
    """Every claim, in the SPEC's order. Result 4's rows follow the activation registry:
    one "commutes" claim per non-decreasing σ, one "does not commute" per other σ."""
    claims = [
        Claim(
            1,
            "conv with w1, w2, zero padding 1 gives the forward differences Y1, Y2",
            _check_finite_differences,
        ),
        Claim(2, "the δ(c,d)/k² filter, stride k, equals k×k average pooling", _check_average_pool),
        Claim(
            2,
            "when k does not divide n, it and avg_pool2d both floor n/k",
            _check_average_pool_floor,
        ),
        Claim(3, "the 1×1 filter gives luma 0.299 R + 0.587 G + 0.114 B (and BT.709)", _check_luma),
        Claim(3, "with 0.587 white stays white (the weights sum to 1)", _check_white_stays_white),
        Claim(3, "0.581 (the original's typo) does not keep white white", _check_typo_fails),
    ]
    for activation in ACTIVATIONS.values():
        if activation.non_decreasing:
            claims.append(
                Claim(
                    4,
                    f"max pooling commutes with {activation.name}",
                    _max_pool_commutes(activation),
                )
            )
            threshold = _cut_off(activation)
            if threshold is not None:  # the floating-point caveat, as a claim of its own
                claims.append(
                    Claim(
                        4,
                        _cut_off_claim(activation, threshold),
                        _cut_off_breaks(activation, threshold),
                    )
                )
    for activation in ACTIVATIONS.values():
        if not activation.non_decreasing:
            claims.append(
                Claim(
                    4,
                    f"max pooling does not commute with {activation.name}",
                    _max_pool_fails(activation),
                )
            )
    claims += [
        Claim(4, "min pooling commutes with every non-decreasing σ", _check_min_pool),
        Claim(4, "a non-increasing σ (−x, exp(−x)) turns max pooling into min", _check_swap),
    ]
    for activation in _non_decreasing():
        if _float(activation.f(np.zeros(()))) != 0.0:
            claims.append(
                Claim(
                    4,
                    f"zero-padded max pooling does not commute with {activation.name} (σ(0) ≠ 0)",
                    _zero_padded_max_fails(activation),
                )
            )
    claims += [
        Claim(
            4,
            "zero-padded max pooling commutes with non-decreasing σ, σ(0) = 0",
            _check_zero_padded_max_holds,
        ),
        Claim(
            4, "average pooling does not commute with a non-affine σ (Jensen)", _check_average_fails
        ),
        Claim(4, "average pooling commutes with the affine σ(x) = 2x + 1", _check_average_affine),
        Claim(
            4,
            "zero-padded average pooling does not commute with σ(x) = 2x + 1",
            _check_zero_padded_average_fails,
        ),
        Claim(
            6,
            "backprop: literal Jacobians (diag) equal the efficient batched ones",
            _check_mlp_literal_vs_efficient,
        ),
        Claim(
            6,
            "backprop: the Jacobians equal central finite differences (≤ 1e-7)",
            _check_mlp_finite_differences,
        ),
    ]
    return claims


def load_photo(use_photo: bool | None) -> tuple[np.ndarray | None, list[str]]:
    """The photograph for the checks, and notes on what was skipped.

    use_photo : True — load it (an ImportError naming the extra when it cannot be); False —
        None, with a note; None — load it when the ``image`` and ``plot`` extras import, else
        None with a note naming the extra.

    Returns (photo or None, notes); photo is RGB (3, 600, 512) float64 in [0, 1].
    """
    if use_photo is False:
        return None, [
            "skipped the photograph (not requested): every claim ran on random tensors only"
        ]
    from .data import sample_image

    try:
        return sample_image(), []
    except ImportError as exc:
        if use_photo:
            raise
        return None, [f"skipped the photograph ({exc}); every claim ran on random tensors only"]


def _json_number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def run_claim(claim: Claim, photo: np.ndarray | None = None) -> dict:
    """One claim as a row of ``verify --json``; a check that raises is a failed claim whose
    detail names the exception (max_abs_error None)."""
    start = time.perf_counter()
    try:
        outcome = claim.check(photo)
    except Exception as exc:  # a crash is reported as a failure, not hidden
        outcome = ClaimOutcome(math.inf, False, None, f"raised {type(exc).__name__}: {exc}")
    row = {
        "result": claim.result,
        "claim": claim.claim,
        "max_abs_error": _json_number(outcome.max_abs_error),
        "passed": bool(outcome.passed),
        "detail": outcome.detail,
        "seconds": round(time.perf_counter() - start, 4),
    }
    if outcome.counterexample is not None:
        row["counterexample"] = outcome.counterexample
    return row


def run_all(
    use_photo: bool | None = None, claims: Iterable[Claim] | None = None
) -> tuple[list[dict], list[str]]:
    """Run every claim; return (rows, notes).

    Parameters
    ----------
    use_photo : True — use the photograph (ImportError naming the extra if it cannot be
        loaded); False — random tensors only; None (default) — the photograph when the
        ``image`` and ``plot`` extras import, else random tensors only, with a note.
    claims : the claims to run, default :func:`all_claims`.

    Returns
    -------
    rows : one dict per claim, in order, with keys ``result`` (int), ``claim`` (str),
        ``max_abs_error`` (float, or None when not finite), ``passed`` (bool), ``detail``
        (str), ``seconds`` (float), and ``counterexample`` (dict) where there is one — the
        JSON of ``cnnmath verify --json``.
    notes : human-readable lines about what was skipped ("skipped the photograph ...").
    """
    photo, notes = load_photo(use_photo)
    rows = [run_claim(claim, photo) for claim in (all_claims() if claims is None else claims)]
    return rows, notes
