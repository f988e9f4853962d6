"""The model in evaluation mode: its main output, the classes K it gives (read from one
image, for a mix), ``predict`` (the argmax class per example), ``evaluate`` (accuracy),
and the held-out loss and accuracy after an epoch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from .._checks import check_float_array, positive_int
from ._inputs import _check_data
from ._objective import _loss_and_grad


def _main(z: Any) -> np.ndarray:
    """A model's main output: the first of several (the logits before auxiliary heads'), or
    its only one."""
    return z[0] if isinstance(z, tuple) else z


def _hits(logits: np.ndarray, labels: np.ndarray) -> tuple[int, int] | None:
    """(right, counted): the examples (or, for labels (B, d1, …) against logits
    (B, K, d1, …), the pixels) whose argmax over the class axis 1 is their label, counting
    only labels in [0, K) (an ignore_index is not counted); None when the labels are not class
    indices of these logits."""
    if labels.dtype.kind not in "iu" or logits.ndim != labels.ndim + 1:
        return None
    if logits.shape[:1] + logits.shape[2:] != labels.shape:
        return None
    counted = (labels >= 0) & (labels < logits.shape[1])
    right = (np.argmax(logits, axis=1) == labels) & counted
    return int(np.sum(right)), int(np.sum(counted))


def _fraction(right: int, counted: int, classes: bool) -> float | None:
    return right / counted if classes and counted else None


def _num_classes(model: nn.Module, x: np.ndarray, func: str) -> int:
    """K, the number of classes of the model's logits (B, K) for the batch x, read from its
    logits for x[:1] in evaluation mode (no BatchNorm statistics updated, no Dropout draw);
    the model's mode is restored afterwards."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        logits = _main(model(x[:1]))
    finally:
        model.train(was_training)
    if not isinstance(logits, np.ndarray) or logits.ndim != 2:
        raise ValueError(
            f"{func}: model: expected logits (B, K) for mix= (one class distribution per "
            f"image), got shape {np.shape(logits)}"
        )
    return int(logits.shape[1])


def predict(model: nn.Module, X: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class indices argmax_k model(X)[β, k], shape (N,) int64, computed in evaluation mode
    (Dropout off, BatchNorm on its running statistics, which stay as they are) and under
    ``nn.no_grad`` in batches of ``batch_size``; the model's mode is restored afterwards."""
    check_float_array("X", X, func="predict")
    batch_size = positive_int("batch_size", batch_size, func="predict")
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with nn.no_grad():  # nothing kept for a backward pass
            out = [
                np.argmax(_main(model(X[k : k + batch_size])), axis=1)
                for k in range(0, X.shape[0], batch_size)
            ]
    finally:
        model.train(was_training)
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Accuracy (1/N) Σ_β [argmax_k model(X)[β, k] = y_β] in evaluation mode.

    X : (N, …) float array in the model's dtype; y : (N,) integer class indices.
    """
    X, y = _check_data("(X, y)", (X, y), func="evaluate")
    return float(np.mean(predict(model, X, batch_size) == y))


def _validation(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    loss_fn: Callable,
    batch_size: int = 512,
    *,
    func: str = "fit",
    one_hot: bool = False,
) -> tuple[float, float | None]:
    """(mean loss, accuracy or None) on held-out data, in evaluation mode; with ``one_hot``
    the loss gets class indices y (N,) as one-hot rows in the logits' dtype (the soft-label
    form a mix trains on), the accuracy still the indices'."""
    was_training = getattr(model, "training", False)
    model.eval()
    total_loss, right, counted, classes = 0.0, 0, 0, True
    try:
        for k in range(0, X.shape[0], batch_size):
            with nn.no_grad():
                logits = _main(model(X[k : k + batch_size]))
            labels = y[k : k + batch_size]
            target = np.eye(logits.shape[1], dtype=logits.dtype)[labels] if one_hot else labels
            value, _ = _loss_and_grad(loss_fn(logits, target), logits, func)
            total_loss += value * labels.shape[0]
            hits = _hits(logits, labels)
            classes = classes and hits is not None
            if hits is not None:
                right, counted = right + hits[0], counted + hits[1]
    finally:
        model.train(was_training)
    return total_loss / X.shape[0], _fraction(right, counted, classes)
