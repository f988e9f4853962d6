"""Result 3: RGB to grayscale is a 1×1 convolution.

The (1, 3, 1, 1) filter of BT.601's weights (and BT.709's) gives the weighted sum
w_R·R + w_G·G + w_B·B at every pixel; the weights sum to 1, so white stays white — which the
original's typo 0.581 (for 0.587) breaks.

Claims: ``r3.luma.weights``, ``r3.luma.white``, ``r3.luma.fails.typo``.
"""

from __future__ import annotations

import numpy as np

from ..filters import BT601, BT709, to_grayscale
from ._common import identity, rel_error, scalar
from .claim import MIN_GAP, TOLERANCE, Claim, ClaimOutcome

__all__ = ["ORIGINAL_TYPO_WEIGHTS", "claims"]

#: The original's green weight, a transcription error for BT.601's 0.587.
ORIGINAL_TYPO_WEIGHTS = (0.299, 0.581, 0.114)


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
            errors[f"{label}, {name}"] = rel_error(
                to_grayscale(X, weights), _luma_formula(X, weights)
            )
    return identity(errors)


def _white_to_gray(weights: tuple[float, float, float]) -> float:
    white = np.full((3, 1, 1), 255.0)
    return scalar(to_grayscale(white, weights))


def _check_white_stays_white(photo: np.ndarray | None = None) -> ClaimOutcome:
    gray = _white_to_gray(BT601)
    error = abs(gray - 255.0) / 255.0
    detail = (
        f"white 255 → {gray!r}; 0.299 + 0.587 + 0.114 = {sum(BT601)!r} in float64 "
        "(BT.709 likewise: " + repr(_white_to_gray(BT709)) + ")"
    )
    return ClaimOutcome(error, bool(error <= TOLERANCE), None, detail, TOLERANCE)


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
    return ClaimOutcome(gap, bool(gap > MIN_GAP), counterexample, detail, MIN_GAP)


def claims() -> list[Claim]:
    """Result 3's claims."""
    return [
        Claim(
            "r3.luma.weights",
            3,
            "the 1×1 filter gives luma 0.299 R + 0.587 G + 0.114 B (and BT.709)",
            _check_luma,
        ),
        Claim(
            "r3.luma.white",
            3,
            "with 0.587 white stays white (the weights sum to 1)",
            _check_white_stays_white,
        ),
        Claim(
            "r3.luma.fails.typo",
            3,
            "0.581 (the original's typo) does not keep white white",
            _check_typo_fails,
        ),
    ]
