"""The tour's computing: every number and array the report shows, as plain data.

Nothing here draws or writes HTML (that is :mod:`cnnmath.tour.render`); each function takes
the photograph (RGB, (3, H, W), float64 in [0, 1]) or earlier results and returns a frozen
record. Claims are found in the verification rows by their stable ids
(:func:`cnnmath.results.by_id`): a claim the report needs that is missing raises
:class:`cnnmath.results.MissingClaimError` naming its id — a reworded statement changes
nothing, a renamed or dropped id stops the tour rather than silently losing a row.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import results
from ..recipes import RECIPE

__all__ = [
    "CUT_OFF_ID",
    "EXAMPLE_ID",
    "PLOTTED",
    "POOL_K",
    "TRAINING_RUN",
    "ActivationFacts",
    "ActivationRow",
    "Arithmetic",
    "Backprop",
    "Fields",
    "Gradient",
    "Grayscale",
    "Pooling",
    "Training",
    "Verification",
    "activations",
    "arithmetic",
    "backprop",
    "fields",
    "gradient",
    "grayscale",
    "pooling",
    "training",
    "verification",
]

POOL_K = 8  # result 2's window on the photograph: 600×512 → 75×64

#: (epochs, training images or None for all 1,437): the full recipe of ``cnnmath train``
#: (about 11 s on one core), and a quick run for tests and a first look: 3 epochs of every
#: image (under a second) reach about 87 % on the held-out images, where 2 of 480 stayed
#: at chance, which read as a failure
TRAINING_RUN: dict[bool, tuple[int, int | None]] = {
    False: (RECIPE["epochs"], None),
    True: (3, None),
}

#: The claim whose counterexample result 4's paragraph spells out, and the floating-point
#: exception it mentions.
EXAMPLE_ID = "r4.max.fails.gelu"
CUT_OFF_ID = "r4.max.cutoff.softplus"

#: The activations drawn in result 4's figure (those in the registry).
PLOTTED = ("relu", "sigmoid", "tanh", "gelu", "silu", "mish")

Rows = Sequence[Mapping[str, Any]]


# ---------------------------------------------------------------------------- results 1-3


@dataclass(frozen=True)
class Gradient:
    """Result 1 on the photograph's luma: the channels Y1, Y2 (each (H, W)), the largest
    difference from the slicing formula, and the colour limit (99th percentile of |Y|)."""

    photo: np.ndarray
    y1: np.ndarray
    y2: np.ndarray
    error: float
    limit: float


def gradient(photo: np.ndarray) -> Gradient:
    """Y1, Y2 of the luma by convolution, checked against the differences by slicing."""
    from ..filters import image_gradient, to_grayscale

    luma = to_grayscale(photo)
    y1, y2 = image_gradient(luma)
    # result 1's closed form, written with slicing: an independent check of the convolution
    padded = np.pad(luma[0], ((0, 1), (0, 1)))
    err1 = float(np.abs(y1[0] - (padded[1:, :-1] - padded[:-1, :-1])).max())
    err2 = float(np.abs(y2[0] - (padded[:-1, 1:] - padded[:-1, :-1])).max())
    interior = np.concatenate([np.abs(y1[0, :-1]).ravel(), np.abs(y2[0, :, :-1]).ravel()])
    return Gradient(photo, y1[0], y2[0], max(err1, err2), float(np.quantile(interior, 0.99)))


@dataclass(frozen=True)
class Grayscale:
    """Result 3: BT.601 and BT.709 luma ((H, W) each), their difference, the largest error
    against the weighted sum written out, the colour limit and the BT.601 weights' sum."""

    y601: np.ndarray
    y709: np.ndarray
    difference: np.ndarray
    error: float
    limit: float
    white: float


def grayscale(photo: np.ndarray) -> Grayscale:
    """Both lumas by 1×1 convolution, BT.601 checked against its weighted sum."""
    from ..filters import BT601, BT709, to_grayscale

    y601 = to_grayscale(photo, BT601)[0]
    y709 = to_grayscale(photo, BT709)[0]
    direct = BT601[0] * photo[0] + BT601[1] * photo[1] + BT601[2] * photo[2]
    difference = y601 - y709
    return Grayscale(
        y601,
        y709,
        difference,
        float(np.abs(y601 - direct).max()),
        max(float(np.abs(difference).max()), 1e-12),
        sum(BT601),
    )


@dataclass(frozen=True)
class Pooling:
    """Result 2 with window and stride k: by convolution and by avg_pool2d ((3, h, w)
    each), |difference| maxed over channels ((h, w)), and its largest value."""

    k: int
    by_conv: np.ndarray
    by_pool: np.ndarray
    difference: np.ndarray
    error: float


def pooling(photo: np.ndarray, k: int = POOL_K) -> Pooling:
    """k×k average pooling of the colour photograph, both ways."""
    from ..filters import average_pool_by_conv
    from ..ops import avg_pool2d

    by_conv = average_pool_by_conv(photo, k)
    by_pool = avg_pool2d(photo, k)
    difference = np.abs(by_conv - by_pool).max(axis=0)
    return Pooling(k, by_conv, by_pool, difference, float(difference.max()))


# ---------------------------------------------------------------------------- the claims


@dataclass(frozen=True)
class Verification:
    """Every claim's row (``verify --json``'s), in order, and notes on what was skipped."""

    rows: list[dict[str, Any]]
    notes: list[str]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if not row["passed"]]


def verification(
    photo: np.ndarray | None, note: Callable[[str], None] = lambda text: None
) -> Verification:
    """Run every claim of :func:`cnnmath.results.all_claims` (on random tensors, and on the
    photograph unless it is None); ``note`` hears "i/n claims checked" every 2 s."""
    notes = (
        []
        if photo is not None
        else ["quick run: the claims were checked on random tensors only, not on the photograph"]
    )
    notes += results.notes()
    claims = results.all_claims()
    rows = []
    last = time.perf_counter()
    for i, claim in enumerate(claims, start=1):
        rows.append(results.run_claim(claim, photo))
        if time.perf_counter() - last > 2.0:
            note(f"{i}/{len(claims)} claims checked")
            last = time.perf_counter()
    return Verification(rows, notes)


@dataclass(frozen=True)
class ActivationRow:
    """One activation in result 4's table, with the claim about it (looked up by id)."""

    name: str
    formula: str
    non_decreasing: bool
    claim_id: str
    measured: float | None
    passed: bool
    counterexample: dict[str, Any] | None


@dataclass(frozen=True)
class ActivationFacts:
    """Result 4 for the report.

    table : one row per activation of result 4, in registry order.
    identities : the errors of the "commutes" claims (None where not finite).
    example : the counterexample of :data:`EXAMPLE_ID` (GELU's window).
    cut_off_gap : the gap of :data:`CUT_OFF_ID` (softplus's cut-off), or None.
    curves : x, and σ(x) for each plotted activation: (name, values, non-decreasing,
        (dip x, dip σ) or None).
    """

    table: list[ActivationRow]
    identities: list[float | None]
    example: dict[str, Any]
    cut_off_gap: float | None
    x: np.ndarray
    curves: list[tuple[str, np.ndarray, bool, tuple[float, float] | None]]


def activations(rows: Rows) -> ActivationFacts:
    """Result 4's table, example and curves, from the verification rows.

    Each activation that result 4 is about (:func:`cnnmath.results.result4.activations`)
    must have its claim, ``r4.max.commutes.<name>`` or ``r4.max.fails.<name>``, as must
    :data:`EXAMPLE_ID` and :data:`CUT_OFF_ID`: a missing one raises
    :class:`cnnmath.results.MissingClaimError` naming it.
    """
    from ..ops.activations import ACTIVATIONS

    table = []
    for act in results.result4.activations():
        verdict = "commutes" if act.non_decreasing else "fails"
        claim_id = f"r4.max.{verdict}.{act.name}"
        row = results.by_id(rows, claim_id)
        table.append(
            ActivationRow(
                act.name,
                act.formula,
                act.non_decreasing,
                claim_id,
                row["max_abs_error"],
                bool(row["passed"]),
                row.get("counterexample"),
            )
        )
    identities = [r.measured for r in table if r.non_decreasing]
    example = dict(results.by_id(rows, EXAMPLE_ID)["counterexample"])
    cut_off_gap = results.by_id(rows, CUT_OFF_ID)["max_abs_error"]
    x = np.linspace(-4.0, 2.5, 651)
    curves = []
    for name in PLOTTED:
        plotted = ACTIVATIONS.get(name)
        if plotted is None:
            continue
        dip: tuple[float, float] | None = None
        if plotted.minimum_at is not None:
            m = plotted.minimum_at
            dip = (m, float(plotted.f(np.array(m))))
        curves.append((name, plotted.f(x), plotted.non_decreasing, dip))
    return ActivationFacts(table, identities, example, cut_off_gap, x, curves)


# ---------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Training:
    """A training run of the digits CNN: the history (one dict per epoch), the held-out
    accuracy at the end, the model's repr, epochs, training images, the recipe's epochs."""

    history: list[dict[str, Any]]
    test_accuracy: float
    model_repr: str
    epochs: int
    n_train: int
    full_epochs: int


def _train(quick: bool, progress: bool) -> tuple[list[dict[str, Any]], float, str, int, int]:
    """Train the digits CNN briefly; return (history rows, test accuracy, model, epochs, n)."""
    from .. import recipes
    from ..data import load_digits

    epochs, limit = TRAINING_RUN[quick]
    n_train = len(load_digits("train")[1]) if limit is None else limit
    with contextlib.redirect_stdout(sys.stderr):  # epoch lines are progress: stdout stays clean
        model, history, test_accuracy = recipes.train_digits(
            epochs=epochs, seed=0, progress=progress, limit=limit
        )
    return [dict(r) for r in history], float(test_accuracy), repr(model), epochs, n_train


def training(quick: bool, progress: bool) -> Training:
    """The full recipe of ``cnnmath train`` (seed 0), or with ``quick`` the short run of
    :data:`TRAINING_RUN`; epoch lines go to stderr when ``progress``."""
    history, test_accuracy, model_repr, epochs, n_train = _train(quick, progress)
    return Training(history, test_accuracy, model_repr, epochs, n_train, RECIPE["epochs"])


# ---------------------------------------------------------------------------- pictures of filters


#: The input side on which result 1's and result 2's filters are drawn, and result 2's k there
#: (the photograph's k = 8 would make a picture of 64 cells per window).
ARITHMETIC_SIZE = 6
ARITHMETIC_K = 2


@dataclass(frozen=True)
class Arithmetic:
    """The read-maps (:func:`cnnmath.explain.read_map`) of result 1's filters (3×3, padding
    1, stride 1) and of result 2's (k×k, stride k, no padding), on a small input."""

    result_1: Any
    result_2: Any


def arithmetic() -> Arithmetic:
    """Probe conv2d with result 1's and result 2's geometry."""
    from ..explain import read_map

    n = (ARITHMETIC_SIZE, ARITHMETIC_SIZE)
    k = ARITHMETIC_K
    return Arithmetic(
        read_map("conv", n, kernel=3, stride=1, padding=1),
        read_map("conv", n, kernel=k, stride=k, padding=0),
    )


# ---------------------------------------------------------------------------- result 6

#: The small MLP drawn in result 6's figure: n_0..n_L, its activation and seed.
MLP_SIZES = (4, 5, 3, 1)
MLP_ACTIVATION = "tanh"
LITERAL_ID = "r6.backprop.literal"
FINITE_ID = "r6.backprop.finite_differences"


@dataclass(frozen=True)
class Backprop:
    """Result 6 on a small MLP: per hidden layer l = 1..L−1, C_l = diag(σ'_l), B_l =
    (∂y_L/∂y_l)ᵀ y_{l−1}ᵀ, the literal product C_l B_l and the efficient ∂y_L/∂A_l (outer
    product δ_l ⊗ y_{l−1}, batched), their largest difference; and the two claims' rows."""

    sizes: tuple[int, ...]
    activation: str
    C: list[np.ndarray]
    B: list[np.ndarray]
    literal: list[np.ndarray]
    efficient: list[np.ndarray]
    difference: float
    claims: list[dict[str, Any]]


def backprop(rows: Rows) -> Backprop:
    """C_l, B_l and ∂y_L/∂A_l both ways for :data:`MLP_SIZES` (seed 0, x drawn from seed 1);
    the rows of :data:`LITERAL_ID` and :data:`FINITE_ID` (a missing one raises)."""
    from ..mlp import MLP

    net = MLP(list(MLP_SIZES), activation=MLP_ACTIVATION, seed=0)
    x = np.random.default_rng(1).uniform(-1.0, 1.0, MLP_SIZES[0])
    literal = net.jacobians(x, method="literal")
    efficient = net.jacobians(x[None], method="efficient")
    ys, zs = net._forward_kept(x)
    C, B, products, fast = [], [], [], []
    for l in range(1, net.L):  # hidden layers, the formulas' index
        C.append(np.diag(net.activation.df(zs[l - 1])))
        B.append(np.outer(literal.dy[l], ys[l - 1]))
        products.append(literal.dA[l - 1])
        fast.append(efficient.dA[l - 1][0])
    difference = max(float(np.abs(a - b).max()) for a, b in zip(products, fast))
    claims = [dict(results.by_id(rows, claim_id)) for claim_id in (LITERAL_ID, FINITE_ID)]
    return Backprop(MLP_SIZES, MLP_ACTIVATION, C, B, products, fast, difference, claims)


# ---------------------------------------------------------------------------- receptive fields


@dataclass(frozen=True)
class Fields:
    """The digits CNN's receptive fields (:func:`cnnmath.receptive_field` on (1, 8, 8)): the
    table as text, a digit, and for each spatial layer that changes the field (a
    convolution or pooling) its name, type, output shape and the field — (top, left, bottom,
    right), inclusive, possibly in the padding — of its unit ``unit``."""

    table: str
    digit: np.ndarray
    label: int
    unit: tuple[int, int]
    layers: list[tuple[str, str, tuple[int, ...], tuple[int, int, int, int]]]


def fields() -> Fields:
    """Receptive fields of the digits network, one test digit to draw them on."""
    from ..data import load_digits
    from ..models import lenet
    from ..receptive import receptive_field

    table = receptive_field(lenet(0), (1, 8, 8))
    images, labels = load_digits("test")
    unit = (1, 1)
    layers: list[tuple[str, str, tuple[int, ...], tuple[int, int, int, int]]] = []
    for f in table[1:]:
        if f.layer not in ("Conv2d", "MaxPool2d") or len(f.shape) != 3:
            continue
        top, bottom = f.interval(unit[0], 0)
        left, right = f.interval(unit[1], 1)
        layers.append((f.name, f.layer, f.shape, (top, left, bottom, right)))
    return Fields(str(table), np.asarray(images[0, 0], float), int(labels[0]), unit, layers)
