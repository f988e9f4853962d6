"""Mixing images and labels: MixUp and CutMix (a batch mixed with itself rolled by one,
soft labels mixed alike), their deterministic halves and the choice between them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._checks import check_same_dtype, positive_int, real_number
from ._args import _image_batch, _image_shape, _rng

# ---------------------------------------------------------------------------------------------
# MixUp and CutMix: a batch mixed with itself rolled by one, its labels mixed alike
#
# Every image β is paired with image β − 1 (image 0 with image B − 1): the batch rolled by one
# along its batch axis, torchvision v2's ``roll(1, 0)``. The pairing is by position, so the
# batch must already be shuffled (``fit``'s batches are). One λ, and for CutMix one box, for
# the whole batch, as torchvision v2 draws them.

#: A label-aware augmentation, ``(x, y, rng) -> (x̃, ỹ)``: what ``fit(..., mix=...)`` takes.
Mix = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _probabilities(y: Any, x: np.ndarray, num_classes: Any, func: str) -> np.ndarray:
    """The labels as class probabilities A (B, K) in x's dtype: one-hot rows of class indices
    y (B,) in [0, num_classes), or soft labels y (B, K) of x's dtype as given (num_classes
    None or K)."""
    B = x.shape[0]
    if not isinstance(y, np.ndarray) or y.dtype == np.bool_ or y.dtype.kind not in "iuf":
        got = f"{type(y).__name__}" + (f" of dtype {y.dtype}" if isinstance(y, np.ndarray) else "")
        raise TypeError(
            f"{func}: y: expected class indices (B,) as an integer numpy.ndarray, or class "
            f"probabilities (B, K) of x's dtype {x.dtype}, got {got}"
        )
    K = None if num_classes is None else positive_int("num_classes", num_classes, func=func)
    if y.dtype.kind == "f":
        check_same_dtype(func, x=x, y=y)
        if y.ndim != 2 or y.shape[0] != B:
            raise ValueError(
                f"{func}: y: expected class probabilities of shape (B, K) with B = {B} (x's "
                f"batch), got shape {y.shape}"
            )
        if K is not None and y.shape[1] != K:
            raise ValueError(
                f"{func}: num_classes: expected the K = {y.shape[1]} columns of the class "
                f"probabilities y {y.shape} (or None), got {K}"
            )
        return y
    if y.shape != (B,):
        raise ValueError(
            f"{func}: y: expected class indices of shape (B,) = ({B},), one per image of x "
            f"{x.shape}, got shape {y.shape}"
        )
    if K is None:
        raise ValueError(
            f"{func}: num_classes: expected an int >= 1 (the K of the one-hot labels) for class "
            "indices y, got None; it may be None only for class probabilities y (B, K)"
        )
    bad = (y < 0) | (y >= K)
    if bad.any():
        b = int(np.argmax(bad))
        raise ValueError(
            f"{func}: y: expected class indices in [0, {K - 1}] (num_classes = {K}), got "
            f"y[{b}] = {int(y[b])}"
        )
    one_hot = np.zeros((B, K), dtype=x.dtype)
    one_hot[np.arange(B), y] = 1
    return one_hot


def _mix_rolled(a: np.ndarray, lam: float) -> np.ndarray:
    """λ·a + (1 − λ)·roll(a, 1, axis 0) in a's dtype, in torchvision's order of operations
    (the rolled term times 1 − λ, plus a times λ: the same roundings)."""
    dt = a.dtype.type
    return np.roll(a, 1, axis=0) * dt(1.0 - lam) + a * dt(lam)


def _mix_inputs(x: Any, y: Any, num_classes: Any, func: str, *, box: bool = False) -> np.ndarray:
    """x checked as a (B, C, H, W) float batch (with H, W >= 1 where a box is cut from it)
    and y as its labels: their probabilities."""
    _image_batch(x, func)
    if box and min(x.shape[2:]) < 1:
        raise ValueError(
            f"{func}: x: expected images with H, W >= 1 for CutMix's box (B, C, H, W), got "
            f"shape {x.shape}"
        )
    return _probabilities(y, x, num_classes, func)


def mixup(
    x: np.ndarray, y: np.ndarray, lam: float, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MixUp (Zhang et al., 2018) of a batch with itself rolled by one, for a given λ:

        x̃[β] = λ·x[β] + (1 − λ)·x[β − 1],    ỹ[β] = λ·a[β] + (1 − λ)·a[β − 1]

    with β − 1 taken modulo B (image 0 is paired with image B − 1: torchvision v2's
    ``roll(1, 0)``) and a the labels as class probabilities: one-hot rows e_{y_β} of class
    indices, or soft labels as given (so a mixed batch can be mixed again). This is
    torchvision.transforms.v2's ``MixUp`` with its draw of λ made explicit
    (``random_mixup`` draws it).

    x : (B, C, H, W) float32 or float64. y : (B,) integer class indices in [0, num_classes),
    or (B, K) class probabilities of x's dtype. lam : λ in [0, 1]. num_classes : K, needed
    for class indices (None, or K, for probabilities). Returns (x̃ like x, ỹ (B, K) in x's
    dtype) — torchvision gives float32 labels for class indices whatever the images' dtype;
    here they take the images' dtype, the one the model's logits and the loss have.

    >>> x = np.arange(2.0).reshape(2, 1, 1, 1)
    >>> x_mixed, y_mixed = mixup(x, np.array([0, 2]), 0.75, num_classes=3)
    >>> x_mixed.ravel().tolist(), y_mixed.tolist()
    ([0.25, 0.75], [[0.75, 0.0, 0.25], [0.25, 0.0, 0.75]])
    """
    func = "mixup"
    a = _mix_inputs(x, y, num_classes, func)
    lam = real_number("lam", lam, func=func, low=0.0, high=1.0)
    return _mix_rolled(x, lam), _mix_rolled(a, lam)


def _cutmix_box(box: Any, H: int, W: int, func: str) -> tuple[int, int, int, int]:
    """(top, left, height, width), whole numbers, a box inside an H×W image (sides >= 0)."""
    values = np.zeros(0)
    if isinstance(box, (tuple, list, np.ndarray)):
        try:
            values = np.asarray(box)
        except ValueError:  # ragged: numpy's "inhomogeneous shape"
            pass
    booleans = values.shape == (4,) and any(isinstance(v, (bool, np.bool_)) for v in box)
    if values.shape != (4,) or values.dtype.kind not in "iu" or booleans:
        raise TypeError(f"{func}: box: expected 4 integers (top, left, height, width), got {box!r}")
    top, left, height, width = (int(v) for v in values)
    if min(top, left, height, width) < 0 or top + height > H or left + width > W:
        raise ValueError(
            f"{func}: box: expected a box inside the {H}×{W} images (top, left, height, width "
            f">= 0, top + height <= {H}, left + width <= {W}), got {(top, left, height, width)}"
        )
    return top, left, height, width


def cutmix(
    x: np.ndarray, y: np.ndarray, box: Sequence[int], num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """CutMix (Yun et al., 2019) of a batch with itself rolled by one, for a given box: the
    box of image β − 1 pasted into image β, the labels mixed by the area kept,

        x̃[β, c, i, j] = x[β − 1, c, i, j] inside the box, x[β, c, i, j] outside,
        λ = 1 − h·w / (H·W),    ỹ[β] = λ·a[β] + (1 − λ)·a[β − 1]

    for the box rows top <= i < top + h, columns left <= j < left + w — one box for the whole
    batch, as torchvision v2 draws it — with β − 1 modulo B (``roll(1, 0)``) and a the labels
    as class probabilities (one-hot rows of class indices, or soft labels as given). This is
    torchvision.transforms.v2's ``CutMix`` with its box made explicit (``random_cutmix_box``
    draws it); λ is the fraction of each image that stays its own, torchvision's
    ``lam_adjusted`` (the Beta draw only sizes the box).

    x : (B, C, H, W) float32 or float64, H, W >= 1. y : (B,) integer class indices in
    [0, num_classes), or (B, K) class probabilities of x's dtype. box : (top, left, height,
    width), integers, inside the images; torchvision's box (x1, y1, x2, y2) is (y1, x1,
    y2 − y1, x2 − x1); an empty box (height or width 0) leaves the batch as it is, λ = 1.
    num_classes : K, needed for class indices. Returns (x̃ like x, ỹ (B, K) in x's dtype).

    >>> x = np.stack([np.zeros((1, 2, 2)), np.ones((1, 2, 2))])
    >>> x_mixed, y_mixed = cutmix(x, np.array([0, 1]), (0, 0, 1, 2), num_classes=2)
    >>> x_mixed[0, 0].tolist(), y_mixed[0].tolist()  # image 1's top row pasted into image 0
    ([[1.0, 1.0], [0.0, 0.0]], [0.5, 0.5])
    """
    func = "cutmix"
    a = _mix_inputs(x, y, num_classes, func, box=True)
    return _cutmix(x, a, _cutmix_box(box, x.shape[2], x.shape[3], func))


def _cutmix(
    x: np.ndarray, a: np.ndarray, box: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``cutmix`` of checked arguments, a the labels as probabilities: the box of the batch
    rolled by one pasted in (one slice assignment for the whole batch), a mixed by λ."""
    top, left, h, w = (int(v) for v in box)
    H, W = x.shape[2:]
    inside = (slice(None), slice(None), slice(top, top + h), slice(left, left + w))
    x_mixed = x.copy()
    x_mixed[inside] = np.roll(x[inside], 1, axis=0)
    return x_mixed, _mix_rolled(a, 1.0 - h * w / (H * W))


def _random_mixup(
    x: np.ndarray, a: np.ndarray, rng: np.random.Generator, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """``random_mixup`` of checked arguments: λ ~ Beta(α, α), then ``mixup``'s blend."""
    lam = float(rng.beta(alpha, alpha))
    return _mix_rolled(x, lam), _mix_rolled(a, lam)


def _alpha(alpha: Any, func: str, name: str = "alpha", *, zero: bool = False) -> float:
    """α of Beta(α, α): a finite number > 0 (>= 0 where 0 switches the mix off)."""
    return real_number(name, alpha, func=func, low=0.0, low_open=not zero)


def random_cutmix_box(
    rng: np.random.Generator, shape: Sequence[int], alpha: float = 1.0
) -> np.ndarray:
    """The box ``random_cutmix`` pastes, torchvision v2 ``CutMix``'s rule: λ ~ Beta(α, α),
    a centre (r_y, r_x) uniform over the pixels (r_x ~ U{0, …, W − 1}, then
    r_y ~ U{0, …, H − 1}), half sides ⌊r·W⌋ and ⌊r·H⌋ with r = ½·√(1 − λ), the box clipped
    to the image:

        left = max(r_x − ⌊r·W⌋, 0),  right = min(r_x + ⌊r·W⌋, W)    (top, bottom alike)

    so its area is about (1 − λ)·H·W away from the edges, smaller where it is clipped (which
    is why ``cutmix`` recomputes λ from the box). One box for the whole batch.

    shape : the batch's shape (B, C, H, W) — x.shape. alpha : α > 0. Returns a (4,) intp
    array (top, left, height, width) = (y1, x1, y2 − y1, x2 − x1) in torchvision's names.
    Draws one Beta(α, α) variate, then two integers (r_x, then r_y) from ``rng``.

    >>> random_cutmix_box(np.random.default_rng(0), (8, 3, 32, 32)).shape
    (4,)
    """
    func = "random_cutmix_box"
    _rng(rng, func)
    _, H, W = _image_shape(shape, func)
    return _draw_cutmix_box(rng, H, W, _alpha(alpha, func))


def _draw_cutmix_box(rng: np.random.Generator, H: int, W: int, alpha: float) -> np.ndarray:
    """``random_cutmix_box`` of checked arguments."""
    lam = float(rng.beta(alpha, alpha))
    r_x, r_y = int(rng.integers(W)), int(rng.integers(H))
    r = 0.5 * math.sqrt(1.0 - lam)
    half_w, half_h = int(r * W), int(r * H)
    x1, x2 = max(r_x - half_w, 0), min(r_x + half_w, W)
    y1, y2 = max(r_y - half_h, 0), min(r_y + half_h, H)
    return np.array([y1, x1, y2 - y1, x2 - x1], dtype=np.intp)


def random_mixup(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    alpha: float = 1.0,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MixUp with λ ~ Beta(α, α): ``mixup(x, y, λ, num_classes)``, torchvision v2's
    ``MixUp(alpha=α, num_classes=K)`` on a batch (one λ for the whole batch).

    x : (B, C, H, W) float32 or float64; y : (B,) class indices or (B, K) probabilities of
    x's dtype; rng : a ``numpy.random.Generator``; alpha : α > 0 (1: λ uniform on [0, 1];
    small α: λ near 0 or 1, light mixing); num_classes : K (needed for class indices).
    Returns (x̃, ỹ (B, K)) as ``mixup``. Draws one Beta(α, α) variate from ``rng``, after
    every argument is checked. For ``fit(..., mix=...)`` fix the options with
    ``functools.partial(random_mixup, alpha=0.2, num_classes=10)``.

    >>> x, y = np.zeros((4, 3, 8, 8)), np.array([0, 1, 2, 0])
    >>> [a.shape for a in random_mixup(x, y, np.random.default_rng(0), num_classes=3)]
    [(4, 3, 8, 8), (4, 3)]
    """
    func = "random_mixup"
    a = _mix_inputs(x, y, num_classes, func)
    _rng(rng, func)
    return _random_mixup(x, a, rng, _alpha(alpha, func))


def random_cutmix(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    alpha: float = 1.0,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """CutMix with torchvision's random box: ``cutmix(x, y, random_cutmix_box(rng, x.shape,
    alpha), num_classes)``, torchvision v2's ``CutMix(alpha=α, num_classes=K)`` on a batch
    (one box for the whole batch, λ = 1 − its area / (H·W)).

    x : (B, C, H, W) float32 or float64, H, W >= 1; y : (B,) class indices or (B, K)
    probabilities of x's dtype; rng : a ``numpy.random.Generator``; alpha : α > 0;
    num_classes : K (needed for class indices). Returns (x̃, ỹ (B, K)) as ``cutmix``. Draws
    what ``random_cutmix_box`` draws (one Beta variate, two integers), after every argument
    is checked.

    >>> x, y = np.zeros((4, 3, 8, 8)), np.array([0, 1, 2, 0])
    >>> [a.shape for a in random_cutmix(x, y, np.random.default_rng(0), num_classes=3)]
    [(4, 3, 8, 8), (4, 3)]
    """
    func = "random_cutmix"
    a = _mix_inputs(x, y, num_classes, func, box=True)
    _rng(rng, func)
    box = _draw_cutmix_box(rng, x.shape[2], x.shape[3], _alpha(alpha, func))
    return _cutmix(x, a, box)


def random_mix(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    num_classes: int | None = None,
    mixup_alpha: float = 1.0,
    cutmix_alpha: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """MixUp or CutMix, one of them per batch, each with probability ½: torchvision's
    classification recipe, ``v2.RandomChoice([MixUp(alpha=mixup_alpha, num_classes=K),
    CutMix(alpha=cutmix_alpha, num_classes=K)])`` (``references/classification``'s
    ``--mixup-alpha`` / ``--cutmix-alpha``). An α of 0 leaves that one out, as the recipe
    does (``mixup_alpha=0`` gives CutMix on every batch); not both.

    x : (B, C, H, W) float32 or float64 (H, W >= 1 unless cutmix_alpha = 0); y : (B,) class
    indices or (B, K) probabilities of x's dtype; rng : a ``numpy.random.Generator``;
    num_classes : K (needed for class indices); mixup_alpha, cutmix_alpha : α >= 0 of each,
    at least one > 0. Returns (x̃, ỹ (B, K)) as ``mixup`` / ``cutmix``. With both α > 0 it
    draws one integer (the choice, MixUp 0, CutMix 1), then the chosen one's draws
    (``random_mixup`` / ``random_cutmix``); with one α = 0 it draws no choice, only the
    other one's draws. Every argument is checked before the first draw.
    For ``fit``: ``mix=functools.partial(random_mix, num_classes=10, mixup_alpha=0.2)``.

    >>> x, y = np.zeros((4, 3, 8, 8)), np.array([0, 1, 2, 0])
    >>> [a.shape for a in random_mix(x, y, np.random.default_rng(0), num_classes=3)]
    [(4, 3, 8, 8), (4, 3)]
    """
    func = "random_mix"
    alphas = {
        "mixup": _alpha(mixup_alpha, func, "mixup_alpha", zero=True),
        "cutmix": _alpha(cutmix_alpha, func, "cutmix_alpha", zero=True),
    }
    chosen = [name for name, alpha in alphas.items() if alpha > 0]
    if not chosen:
        raise ValueError(
            f"{func}: mixup_alpha, cutmix_alpha: expected at least one > 0 (an α of 0 leaves "
            f"that mix out), got {mixup_alpha!r} and {cutmix_alpha!r}"
        )
    a = _mix_inputs(x, y, num_classes, func, box="cutmix" in chosen)
    _rng(rng, func)
    # the choice is drawn only between two (numpy's integers(1) would draw nothing either)
    name = chosen[int(rng.integers(2))] if len(chosen) == 2 else chosen[0]
    if name == "mixup":
        return _random_mixup(x, a, rng, alphas[name])
    return _cutmix(x, a, _draw_cutmix_box(rng, x.shape[2], x.shape[3], alphas[name]))
