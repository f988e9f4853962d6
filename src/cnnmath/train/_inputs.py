"""fit's and evaluate's arguments checked before any step: (X, y) pairs (finite X, class
indices >= 0, or any targets with a loss of the user's), labels against the model's K,
``output_weights``, and what a mix returns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import check_float_array


def _check_data(
    name: str, data: Any, *, func: str, any_targets: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): X a float array with N >= 1 rows, all finite; y integer class indices >= 0 of
    shape (N,) or (N, d1, ...) (per pixel), or with ``any_targets`` (a loss of the user's)
    any integer or float array with N rows."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{func}: {name}: expected a pair (X, y), got {type(data).__name__}")
    X, y = data
    check_float_array(f"{name}[0] (X)", X, func=func)
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(
            f"{func}: {name}: expected X with a leading batch axis of N >= 1 examples, got "
            f"shape {X.shape}"
        )
    integer = isinstance(y, np.ndarray) and y.dtype != np.bool_ and y.dtype.kind in "iu"
    if any_targets:
        if not isinstance(y, np.ndarray) or y.dtype.kind not in "iuf":
            raise TypeError(
                f"{func}: {name}: expected y as an integer or float array of targets, got "
                f"{y.dtype if isinstance(y, np.ndarray) else type(y).__name__}"
            )
    elif not integer:
        got = y.dtype if isinstance(y, np.ndarray) else type(y).__name__
        raise TypeError(
            f"{func}: {name}: expected y as an integer array of class indices, got {got}"
            + ("; for other targets pass loss= (e.g. losses.mse_loss)" if got != "bool" else "")
        )
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{func}: {name}: expected y of shape ({X.shape[0]},) or ({X.shape[0]}, …), "
            f"targets for each example of X {X.shape}, got {y.shape}"
        )
    bad = ~np.isfinite(X.reshape(X.shape[0], -1)).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{func}: {name}: X has non-finite values (NaN or inf) in {int(bad.sum())} "
            f"example(s), the first at index {int(np.argmax(bad))}"
        )
    if integer and not any_targets:
        _check_labels_nonnegative(name, y, func=func)
    return X, (y.astype(np.int64, copy=False) if integer else y)


def _check_labels_nonnegative(name: str, y: np.ndarray, *, func: str) -> None:
    if y.size and y.min() < 0:
        first = tuple(int(i) for i in np.argwhere(y < 0)[0])
        at = ", ".join(map(str, first))
        raise ValueError(
            f"{func}: {name}: expected class indices >= 0 in y, got y[{at}] = {int(y[first])}"
        )


def _check_labels_fit(name: str, y: np.ndarray, K: int, *, func: str) -> None:
    if y.size and y.max() >= K:
        first = tuple(int(i) for i in np.argwhere(y >= K)[0])
        at = ", ".join(map(str, first))
        raise ValueError(
            f"{func}: {name}: expected class indices in [0, {K - 1}] for a model with K = {K} "
            f"outputs, got y[{at}] = {int(y[first])}"
        )


def _output_weights(weights: Any, *, func: str) -> tuple[float, ...] | None:
    """``output_weights`` checked: None, or finite numbers >= 0 (at least one)."""
    if weights is None:
        return None
    try:
        values = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        raise TypeError(
            f"{func}: output_weights: expected a sequence of numbers, got {weights!r}"
        ) from None
    if not values or not all(math.isfinite(w) and w >= 0 for w in values):
        raise ValueError(
            f"{func}: output_weights: expected one or more finite numbers >= 0, got {weights!r}"
        )
    return values


def _mixed(result: Any, x: np.ndarray, K: int | None, func: str) -> tuple[np.ndarray, np.ndarray]:
    """(x̃, ỹ) as the mix returned them, checked: a pair, x̃ of x's shape and dtype, ỹ class
    probabilities (B, K) of x's dtype (K the model's outputs, once known)."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"{func}: mix: expected a function (x, y, rng) -> (x, y_soft) returning a pair, "
            f"got a {type(result).__name__} from it"
        )
    x_mixed, y_soft = result
    if not isinstance(x_mixed, np.ndarray) or x_mixed.shape != x.shape or x_mixed.dtype != x.dtype:
        got = (
            f"shape {x_mixed.shape} of dtype {x_mixed.dtype}"
            if isinstance(x_mixed, np.ndarray)
            else type(x_mixed).__name__
        )
        raise ValueError(
            f"{func}: mix: expected images of the batch's shape {x.shape} and dtype {x.dtype}, "
            f"got {got}"
        )
    B = x.shape[0]
    shape_ok = (
        isinstance(y_soft, np.ndarray)
        and y_soft.ndim == 2
        and y_soft.shape[0] == B
        and (K is None or y_soft.shape[1] == K)
    )
    if shape_ok and y_soft.dtype.kind == "f" and y_soft.dtype != x.dtype:
        raise ValueError(
            f"{func}: mix: expected soft labels of dtype {x.dtype}, the images' (and the "
            f"model's), got {y_soft.dtype}"
        )
    if not shape_ok or y_soft.dtype != x.dtype:
        got = (
            f"shape {y_soft.shape} of dtype {y_soft.dtype}"
            if isinstance(y_soft, np.ndarray)
            else type(y_soft).__name__
        )
        shape = f"(B, K) = ({B}, K)" if K is None else f"(B, K) = ({B}, {K}), K the model's outputs"
        raise ValueError(
            f"{func}: mix: expected soft labels of shape {shape}, of dtype {x.dtype} (give the "
            f"mix num_classes = K), got {got}"
        )
    return x_mixed, y_soft
