"""The loss as the loop takes it: (ℓ, G) checked as a loss function returned it, summed over
a model's outputs with their weights, ℓ = Σ_k w_k loss(z_k, y); and which losses take
class indices only (refused with a mix)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import losses

#: Losses that take class indices only, refused by ``fit(..., mix=...)``, whose labels are
#: class probabilities (B, K).
_INDEX_ONLY_LOSSES: tuple[Any, ...] = (
    losses.softmax_cross_entropy,
    losses.nll_loss,
    losses.multi_margin_loss,
)


def _index_only(loss: Any) -> bool:
    """Whether ``loss`` (or the function a functools.partial wraps) takes class indices only."""
    inner = getattr(loss, "func", loss)  # a functools.partial's function
    return isinstance(inner, (losses.NLLLoss, losses.MultiMarginLoss)) or any(
        inner is f for f in _INDEX_ONLY_LOSSES
    )


def _weighted_loss(
    loss_fn: Callable, z: Any, labels: np.ndarray, weights: tuple[float, ...] | None, func: str
) -> tuple[float, Any]:
    """(ℓ, G) of a model's output z: ℓ = Σ_k w_k loss(z_k, y) over its outputs z_k (one
    output, weight 1, without ``weights``), G = (w_k ∂loss/∂z_k)_k (None where w_k = 0; one
    array for one output)."""
    outputs = z if isinstance(z, tuple) else (z,)
    if weights is None:
        if len(outputs) > 1:
            raise ValueError(
                f"{func}: model: it returns {len(outputs)} outputs; pass output_weights with "
                "a weight for each output's loss (torchvision's recipes: GoogLeNet (1, 0.3, "
                "0.3), Inception v3 (1, 0.4), the segmentation networks' aux head (1, 0.5))"
            )
        weights = (1.0,)
    if len(weights) != len(outputs):
        raise ValueError(
            f"{func}: output_weights: expected one weight per model output ({len(outputs)}), "
            f"got {len(weights)}: {weights}"
        )
    total = 0.0
    grads: list[np.ndarray | None] = []
    for out, w in zip(outputs, weights):
        if w == 0:
            grads.append(None)
            continue
        value, grad = _loss_and_grad(loss_fn(out, labels), out, func)
        total += w * value
        grads.append(grad if w == 1 else grad * np.asarray(w, grad.dtype))
    return total, (grads[0] if len(grads) == 1 else tuple(grads))


def _loss_and_grad(result: Any, logits: np.ndarray, func: str) -> tuple[float, np.ndarray]:
    """(ℓ, G) as the loss function returned them, checked: a pair, ℓ a real scalar (a
    reduced loss: a per-example one has no single gradient step), G of the logits' shape."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(
            f"{func}: loss: expected a function returning (loss, ∂loss/∂logits), got a "
            f"{'float' if isinstance(result, float) else type(result).__name__} from it"
        )
    value, grad = result
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "fiu":
        raise TypeError(
            f"{func}: loss: expected a real scalar loss (reduction 'mean' or 'sum'), got "
            f"{type(value).__name__} of shape {np.shape(value)}"
        )
    if np.shape(grad) != logits.shape:
        raise ValueError(
            f"{func}: loss: expected ∂loss/∂logits of the logits' shape {logits.shape}, got "
            f"shape {np.shape(grad)}"
        )
    return float(value), grad
