"""Result 4: max pooling commutes with non-decreasing activations.

Pooling p and activation σ commute when σ(p(X)) = p(σ(X)). In each window N,
max σ(N) = σ(max N) for a non-decreasing σ (σ keeps order), and likewise for min. The claims
follow the activation registry (:data:`cnnmath.ops.ACTIVATIONS`), so an activation added
there joins result 4 with no change here:

* every σ flagged ``non_decreasing`` — ``r4.max.commutes.<name>``: max pooling commutes
  with it (checked on signed random tensors and the photograph, several windows, strides
  and −∞ paddings);
* every other σ — ``r4.max.fails.<name>``: it does not, and the check finds and returns a
  counterexample (a 2×2 window holding the dip and a value below it);
* a non-decreasing σ with σ(0) ≠ 0 — ``r4.zeropad.max.fails.<name>``: zero-padded max
  pooling does not commute with it;
* a non-decreasing σ computed as x itself above a cut-off (a ``threshold`` in its record's
  ``params``, as PyTorch's softplus) — ``r4.max.cutoff.<name>``: across the cut-off the
  computed σ drops by log1p(e^−β·t)/β, so the identity fails there by at most that.

**Which registry entries take part.** Result 4 is about an elementwise σ: ℝ → ℝ that the
record alone determines. An entry whose function needs a second argument without a default
— an array of learnable values such as prelu's ``weight`` — defines no such σ and is left
out (:func:`left_out` names them, ``cnnmath verify`` prints a note). Parameters with
defaults take the values in the record's ``params``.

Then the claims about the whole family: min pooling (``r4.min.commutes``), non-increasing σ
(``r4.swap.nonincreasing``), zero-padded max pooling with σ(0) = 0
(``r4.zeropad.max.commutes``), average pooling and Jensen (``r4.avg.fails.jensen``,
``r4.avg.commutes.affine``, ``r4.zeropad.avg.fails.affine``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..filters import to_grayscale
from ..ops import avg_pool2d, max_pool2d
from ..ops.activations import ACTIVATIONS, Activation
from ._common import identity, random, rel_error, scalar, window_list
from .claim import MIN_GAP, Claim, ClaimOutcome

__all__ = ["NON_INCREASING", "POOL_CASES", "ZERO_PAD_CASE", "activations", "claims", "left_out"]

Sigma = Callable[[np.ndarray], np.ndarray]

#: (kernel_size, stride, padding) tried for max and min pooling: −∞ padding up to half the
#: window, overlapping and non-overlapping windows, non-square ones.
POOL_CASES: tuple[tuple[Any, Any, Any], ...] = (
    (2, None, 0),
    (3, 2, 1),
    ((3, 2), (1, 2), (1, 0)),
    (5, 1, 2),
)

#: Non-increasing activations: σ(max N) = min σ(N) and σ(min N) = max σ(N).
NON_INCREASING: dict[str, Sigma] = {"−x": np.negative, "exp(−x)": lambda x: np.exp(-x)}

#: Zero-padded pooling: kernel 3, stride 2, padding 1, so every border window holds pad.
ZERO_PAD_CASE = (3, 2, 1)


# ============================================================================ the registry


def _of_x_alone(activation: Activation) -> bool:
    """Whether ``activation.f`` can be called as f(x): every parameter after the first has a
    default (a callable without a signature, such as a NumPy ufunc, counts as f(x))."""
    try:
        parameters = list(inspect.signature(activation.f).parameters.values())
    except (TypeError, ValueError):
        return True
    required = [
        p
        for p in parameters[1:]
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    return not required


def activations() -> list[Activation]:
    """The registry's entries that result 4 is about (σ of x alone), in registry order."""
    return [a for a in ACTIVATIONS.values() if _of_x_alone(a)]


def left_out() -> list[str]:
    """Names of the registry's entries left out of result 4: their σ needs an argument
    besides x (prelu's weight).

    >>> "relu" in left_out()
    False
    """
    return [name for name, a in ACTIVATIONS.items() if not _of_x_alone(a)]


def _non_decreasing() -> list[Activation]:
    return [a for a in activations() if a.non_decreasing]


def _sigma_at_zero(activation: Activation) -> float:
    return scalar(activation.f(np.zeros(())))


def _cut_off(activation: Activation) -> float | None:
    """The ``threshold`` above which σ is computed as x (softplus's), from the record's
    params; None when it has none."""
    threshold = activation.params.get("threshold")
    return None if threshold is None else float(threshold)


# ============================================================================ data


def _signed_data(photo: np.ndarray | None) -> dict[str, np.ndarray]:
    """Inputs on both sides of 0, where the activations bend: random normal ×2 and the
    photograph's luma stretched to [−4, 4] (the dips of GELU, SiLU, Mish included)."""
    data = {
        "random (2,3,12,14)": random(40, (2, 3, 12, 14), 2.0),
        "random (1,2,9,9)": random(41, (1, 2, 9, 9), 2.0),
    }
    if photo is not None:
        data["the photograph's luma ×8 − 4 (1,1,600,512)"] = 8.0 * to_grayscale(photo)[None] - 4.0
    return data


def _negative_data(photo: np.ndarray | None) -> dict[str, np.ndarray]:
    """Inputs below 0 everywhere, where a zero pad is the window's maximum."""
    data = {"random −|N| − 0.1 (2,3,10,10)": -np.abs(random(42, (2, 3, 10, 10))) - 0.1}
    if photo is not None:
        data["the photograph's luma − 1.5"] = to_grayscale(photo)[None] - 1.5
    return data


def _min_pool2d(
    x: np.ndarray, kernel_size: Any, stride: Any = None, padding: Any = 0
) -> np.ndarray:
    """min over each window, +∞ padding: min N = −max(−N)."""
    return -max_pool2d(-x, kernel_size, stride, padding)


def _commutes(
    sigma: Sigma,
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
            errors[f"{name}, window {k}, stride {s or k}, padding {p}"] = rel_error(lhs, rhs)
    return errors


# ============================================================================ max pooling


def _max_pool_commutes(activation: Activation) -> Callable[..., ClaimOutcome]:
    def check(photo: np.ndarray | None = None) -> ClaimOutcome:
        data = _signed_data(photo)
        outcome = identity(_commutes(activation.f, max_pool2d, max_pool2d, data))
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
            outcome.max_abs_error,
            outcome.passed,
            None,
            f"{outcome.detail}; {domain}",
            outcome.bound,
        )

    return check


# Softplus as PyTorch computes it: x itself where β·x > t (t = 20), log(1 + e^βx)/β below.
# At t the value drops by log1p(e^−βt)/β ≈ 2.1e-9 (β = 1), so the computed σ is
# non-decreasing except across t: a window {a, b} with b ≤ t < a gives σ(max N) = a <
# σ(b) = max σ(N). The gap is at most the drop: σ(b) ≤ σ(t) = t + drop and a > t (plus one
# ulp of t for rounding).


def _beta(activation: Activation) -> float:
    return float(activation.params.get("beta", 1.0))


def _drop(activation: Activation, threshold: float) -> float:
    """How far the computed σ falls at its cut-off: log1p(e^−t)/β at x = t/β."""
    return math.log1p(math.exp(-threshold)) / _beta(activation)


def _short(value: float) -> str:
    """2.1e-09 → 2.1e-9."""
    return f"{value:.1e}".replace("e-0", "e-").replace("e+0", "e+")


def _offset(x: float, t: float) -> str:
    """x written from t: "t", "t + 3.6e-15", "t − 1e-09"."""
    d = float(x) - t
    return "t" if d == 0 else f"t {'+' if d > 0 else '−'} {abs(d):.2g}"


def _cut_off_statement(activation: Activation, threshold: float) -> str:
    return (
        f"{activation.name}'s cut-off at {threshold:g} (PyTorch's) does not commute "
        f"exactly: gap ≤ {_short(_drop(activation, threshold))}"
    )


def _dip_search(
    sigma: Sigma, dip: float | None, grid: np.ndarray | None = None
) -> tuple[float, float]:
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
    return float(grid[i]), float(grid[int(np.argmax(s[: i + 1]))])


def _cut_off_breaks(activation: Activation, threshold: float) -> Callable[..., ClaimOutcome]:
    def check(photo: np.ndarray | None = None) -> ClaimOutcome:
        sigma = activation.f
        t = threshold / _beta(activation)  # where σ switches to x
        drop = _drop(activation, threshold)  # σ's fall at t
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
        lhs = scalar(sigma(max_pool2d(window, 2)))  # σ(max N) = σ(a) = a
        rhs = scalar(max_pool2d(sigma(window), 2))  # max σ(N) = σ(b)
        gap = rhs - lhs
        # Every pooling case on data straddling t: no gap beyond the drop.
        straddling = {
            f"t + 1e-8·N(0, 1) {shape}": t + random(44 + i, shape, 1e-8)
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
        X32 = (t + random(46, (2, 3, 12, 14), 4e-6)).astype(np.float32)
        in_float32 = float(np.abs(sigma(max_pool2d(X32, 2)) - max_pool2d(sigma(X32), 2)).max())
        counterexample = {
            "activation": activation.name,
            "threshold": threshold,
            "window": window_list(window[0, 0]),
            "max_pool": a,
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
        return ClaimOutcome(gap, passed, counterexample, detail, bound)

    return check


def _max_pool_fails(activation: Activation) -> Callable[..., ClaimOutcome]:
    def check(photo: np.ndarray | None = None) -> ClaimOutcome:
        sigma = activation.f
        a, b = _dip_search(sigma, activation.minimum_at)
        window = np.array([[[[a, b], [b, b]]]])  # one 2×2 window: its maximum is a
        lhs = scalar(sigma(max_pool2d(window, 2)))  # σ(max N) = σ(a)
        rhs = scalar(max_pool2d(sigma(window), 2))  # max σ(N) = σ(b)
        gap = abs(lhs - rhs)
        # How often it happens on real data (2×2 windows, stride 2).
        seen = []
        for name, X in _signed_data(photo).items():
            differ = sigma(max_pool2d(X, 2)) != max_pool2d(sigma(X), 2)
            seen.append(f"{int(differ.sum())}/{differ.size} windows of {name}")
        counterexample = {
            "activation": activation.name,
            "window": window_list(window[0, 0]),
            "max_pool": a,
            "sigma_of_max_pool": lhs,
            "max_pool_of_sigma": rhs,
        }
        detail = (
            f"window [[{a:.4g}, {b:.4g}], [{b:.4g}, {b:.4g}]]: σ(max N) = {lhs:.4g} < "
            f"max σ(N) = {rhs:.4g}; differs in " + "; ".join(seen)
        )
        return ClaimOutcome(gap, bool(gap > MIN_GAP), counterexample, detail, MIN_GAP)

    return check


# ============================================================================ min pooling, σ ↓


def _check_min_pool(photo: np.ndarray | None = None) -> ClaimOutcome:
    data = _signed_data(photo)
    errors = {}
    for activation in _non_decreasing():
        for case, e in _commutes(activation.f, _min_pool2d, _min_pool2d, data).items():
            errors[f"{activation.name}, {case}"] = e
    return identity(errors)


def _check_swap(photo: np.ndarray | None = None) -> ClaimOutcome:
    data = _signed_data(photo)
    errors = {}
    for name, sigma in NON_INCREASING.items():
        for case, e in _commutes(sigma, max_pool2d, _min_pool2d, data).items():
            errors[f"σ = {name}, σ(max) = min σ, {case}"] = e
        for case, e in _commutes(sigma, _min_pool2d, max_pool2d, data).items():
            errors[f"σ = {name}, σ(min) = max σ, {case}"] = e
    return identity(errors)


# ============================================================================ zero padding
# The pad enters the window as the value 0, whose image σ(0) may not be 0.


def _zero_padded(
    pool: Callable[..., np.ndarray], X: np.ndarray, k: int, s: int, p: int
) -> tuple[np.ndarray, np.ndarray]:
    Xz = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))  # zeros, not −∞
    return pool(Xz, k, s, 0), Xz


def _worst_window(
    Xz: np.ndarray, lhs: np.ndarray, rhs: np.ndarray, k: int, s: int
) -> tuple[tuple[int, ...], np.ndarray]:
    """Index of the largest |lhs − rhs| and the (padded) input window that produced it."""
    idx = tuple(int(v) for v in np.unravel_index(int(np.argmax(np.abs(lhs - rhs))), lhs.shape))
    beta, c, i, j = idx
    return idx, Xz[beta, c, s * i : s * i + k, s * j : s * j + k]


def _zero_padded_gap(sigma: Sigma, X: np.ndarray) -> tuple[float, dict[str, Any]]:
    """σ(p₀(X)) against p₀(σ(X)), p₀ zero-padded max pooling: the largest gap, its window."""
    k, s, p = ZERO_PAD_CASE
    pooled, Xz = _zero_padded(max_pool2d, X, k, s, p)
    lhs = sigma(pooled)
    rhs, _ = _zero_padded(max_pool2d, sigma(X), k, s, p)
    idx, window = _worst_window(Xz, lhs, rhs, k, s)
    gap = float(np.abs(lhs - rhs)[idx])
    return gap, {
        "window": window_list(window),
        "padding": "zeros",
        "sigma_of_pool": float(lhs[idx]),
        "pool_of_sigma": float(rhs[idx]),
    }


def _zero_padded_max_fails(activation: Activation) -> Callable[..., ClaimOutcome]:
    def check(photo: np.ndarray | None = None) -> ClaimOutcome:
        found = {
            name: _zero_padded_gap(activation.f, X) for name, X in _negative_data(photo).items()
        }
        name = min(found, key=lambda n: found[n][0])  # the weakest evidence decides
        gap, window = found[name]
        counterexample = {"activation": activation.name, "data": name, **window}
        detail = (
            f"σ(0) = {_sigma_at_zero(activation):.4g}; on {name}: σ(max N) = "
            f"{window['sigma_of_pool']:.4g} ≠ max σ(N) = {window['pool_of_sigma']:.4g} "
            f"(kernel 3, stride 2, zero padding 1)"
        )
        return ClaimOutcome(gap, bool(gap > MIN_GAP), counterexample, detail, MIN_GAP)

    return check


def _check_zero_padded_max_holds(photo: np.ndarray | None = None) -> ClaimOutcome:
    """σ(0) = 0 and σ non-decreasing: padding σ(X) with 0 is σ of X padded with 0."""
    k, s, p = ZERO_PAD_CASE
    data = {**_signed_data(photo), **_negative_data(photo)}
    errors = {}
    for activation in _non_decreasing():
        if _sigma_at_zero(activation) != 0.0:
            continue
        for name, X in data.items():
            lhs = activation.f(_zero_padded(max_pool2d, X, k, s, p)[0])
            rhs = _zero_padded(max_pool2d, activation.f(X), k, s, p)[0]
            errors[f"{activation.name}, {name}"] = rel_error(lhs, rhs)
    outcome = identity(errors)
    names = ", ".join(dict.fromkeys(e.split(",")[0] for e in errors))
    return ClaimOutcome(
        outcome.max_abs_error,
        outcome.passed,
        None,
        f"σ in {{{names}}}; {outcome.detail}",
        outcome.bound,
    )


# ============================================================================ average pooling


def _is_affine(sigma: Sigma) -> bool:
    """σ(x) = σ(0) + (σ(1) − σ(0))·x on a grid of [−5, 5], to rounding."""
    x = np.linspace(-5.0, 5.0, 1001)
    s0, s1 = scalar(sigma(np.zeros(()))), scalar(sigma(np.ones(())))
    return bool(np.allclose(sigma(x), s0 + (s1 - s0) * x, rtol=0, atol=1e-12))


def _check_average_fails(photo: np.ndarray | None = None) -> ClaimOutcome:
    """Jensen: avg σ(N) = σ(avg N) for every window only if σ is affine on the values."""
    data = _signed_data(photo)
    k = 2
    counterexample: dict[str, Any] = {}
    gaps: dict[str, float] = {}
    for activation in activations():
        if _is_affine(activation.f):
            continue
        best_gap, best_window = 0.0, None
        for X in data.values():
            lhs = activation.f(avg_pool2d(X, k))
            rhs = avg_pool2d(activation.f(X), k)
            idx, window = _worst_window(X, lhs, rhs, k, k)
            gap = float(np.abs(lhs - rhs)[idx])
            if gap > best_gap:
                best_gap = gap
                best_window = {
                    "window": window_list(window),
                    "sigma_of_avg": float(lhs[idx]),
                    "avg_of_sigma": float(rhs[idx]),
                }
        gaps[activation.name] = best_gap
        counterexample[activation.name] = best_window
    weakest = min(gaps, key=lambda name: gaps[name])
    detail = f"{len(gaps)} non-affine activations, 2×2 windows; largest gap per σ: " + ", ".join(
        f"{n} {g:.2g}" for n, g in gaps.items()
    )
    return ClaimOutcome(
        gaps[weakest], bool(gaps[weakest] > MIN_GAP), counterexample, detail, MIN_GAP
    )


def _affine(x: np.ndarray) -> np.ndarray:
    """σ(x) = 2x + 1: affine, non-decreasing, σ(0) = 1 ≠ 0."""
    return 2.0 * x + 1.0


def _check_average_affine(photo: np.ndarray | None = None) -> ClaimOutcome:
    data = _signed_data(photo)
    errors = {}
    for name, X in data.items():
        for k, s in ((2, None), (3, 1), ((2, 3), (2, 1))):
            errors[f"{name}, window {k}, stride {s or k}"] = rel_error(
                _affine(avg_pool2d(X, k, s)), avg_pool2d(_affine(X), k, s)
            )
    return identity(errors)


def _check_zero_padded_average_fails(photo: np.ndarray | None = None) -> ClaimOutcome:
    """With zero padding the pad contributes 0 to avg σ(N) but σ(0) = 1 to σ(avg N)."""
    X = random(43, (1, 1, 6, 6), 2.0)
    k, s, p = ZERO_PAD_CASE
    lhs = _affine(avg_pool2d(X, k, s, p))
    rhs = avg_pool2d(_affine(X), k, s, p)
    Xz = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))
    idx, window = _worst_window(Xz, lhs, rhs, k, s)
    gap = float(np.abs(lhs - rhs)[idx])
    counterexample = {
        "activation": "2x + 1",
        "window": window_list(window),
        "padding": "zeros",
        "sigma_of_avg": float(lhs[idx]),
        "avg_of_sigma": float(rhs[idx]),
    }
    detail = (
        f"kernel 3, stride 2, zero padding 1: a corner window holds 5 zeros, so σ(avg N) − "
        f"avg σ(N) = 5/9 = {gap:.4g}"
    )
    return ClaimOutcome(gap, bool(gap > MIN_GAP), counterexample, detail, MIN_GAP)


# ============================================================================ the list


def claims() -> list[Claim]:
    """Result 4's claims: the registry's first (commutes, its cut-off, fails), then the family's."""
    found = []
    for activation in _non_decreasing():
        found.append(
            Claim(
                f"r4.max.commutes.{activation.name}",
                4,
                f"max pooling commutes with {activation.name}",
                _max_pool_commutes(activation),
            )
        )
        threshold = _cut_off(activation)
        if threshold is not None:  # the floating-point caveat, as a claim of its own
            found.append(
                Claim(
                    f"r4.max.cutoff.{activation.name}",
                    4,
                    _cut_off_statement(activation, threshold),
                    _cut_off_breaks(activation, threshold),
                )
            )
    for activation in activations():
        if not activation.non_decreasing:
            found.append(
                Claim(
                    f"r4.max.fails.{activation.name}",
                    4,
                    f"max pooling does not commute with {activation.name}",
                    _max_pool_fails(activation),
                )
            )
    found += [
        Claim(
            "r4.min.commutes",
            4,
            "min pooling commutes with every non-decreasing σ",
            _check_min_pool,
        ),
        Claim(
            "r4.swap.nonincreasing",
            4,
            "a non-increasing σ (−x, exp(−x)) turns max pooling into min",
            _check_swap,
        ),
    ]
    for activation in _non_decreasing():
        if _sigma_at_zero(activation) != 0.0:
            found.append(
                Claim(
                    f"r4.zeropad.max.fails.{activation.name}",
                    4,
                    f"zero-padded max pooling does not commute with {activation.name} (σ(0) ≠ 0)",
                    _zero_padded_max_fails(activation),
                )
            )
    found += [
        Claim(
            "r4.zeropad.max.commutes",
            4,
            "zero-padded max pooling commutes with non-decreasing σ, σ(0) = 0",
            _check_zero_padded_max_holds,
        ),
        Claim(
            "r4.avg.fails.jensen",
            4,
            "average pooling does not commute with a non-affine σ (Jensen)",
            _check_average_fails,
        ),
        Claim(
            "r4.avg.commutes.affine",
            4,
            "average pooling commutes with the affine σ(x) = 2x + 1",
            _check_average_affine,
        ),
        Claim(
            "r4.zeropad.avg.fails.affine",
            4,
            "zero-padded average pooling does not commute with σ(x) = 2x + 1",
            _check_zero_padded_average_fails,
        ),
    ]
    return found
