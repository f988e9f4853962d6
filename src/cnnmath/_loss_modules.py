"""The losses as objects, as ``torch.nn``'s loss modules: ``criterion = CrossEntropyLoss(
label_smoothing=0.1)`` fixes the options once, and ``loss, grad = criterion(logits, y)`` is
``losses.cross_entropy(logits, y, label_smoothing=0.1)`` — the same ``(loss, ∂loss/∂input)``
pair every loss in :mod:`cnnmath.losses` returns, so ``model.backward(grad)`` follows, and
``train.fit(..., loss=criterion)`` takes one.

They are plain callables, not :class:`cnnmath.nn.Module` s: they hold no parameters, and their
``weight`` / ``pos_weight`` are not written into a model's ``state_dict`` (PyTorch keeps them
as buffers of the loss module, which training scripts do not save). The options after
``weight`` are keyword-only, because PyTorch's positional order still holds its deprecated
``size_average`` and ``reduce``, which are not taken here (``HuberLoss``, which never had
them, takes ``reduction`` and ``delta`` by position too); in general the options PyTorch
places before ``size_average`` are positional here, the others keyword-only. The losses of
three arrays (``TripletMarginLoss``, ``CosineEmbeddingLoss``, ``MarginRankingLoss``,
``GaussianNLLLoss``) are called with the three, as PyTorch's, and return their function's
tuple of gradients. ``reduction`` is checked when the
object is built; every other option is checked by the loss function on the first call, with
that function's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._margin_losses import (
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from ._pointwise_losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)
from ._reductions import _reduction

LossValue = tuple[float | np.ndarray, np.ndarray]


class _Loss:
    """A loss function with its keyword options bound; calling it returns (loss, grad)."""

    _function: Callable[..., LossValue]

    def __init__(self, **options: Any) -> None:
        _reduction(options["reduction"], type(self).__name__)
        self.options = options

    def __call__(self, input: np.ndarray, target: Any) -> LossValue:
        return type(self)._function(input, target, **self.options)

    def forward(self, input: np.ndarray, target: Any) -> LossValue:
        """The same as calling the object (PyTorch's spelling)."""
        return self(input, target)

    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CrossEntropyLoss(_Loss):
    """``losses.cross_entropy`` (logits (N, K, …), class indices or probabilities) with
    ``weight`` per class, ``ignore_index``, ``reduction`` and ``label_smoothing`` fixed.

    >>> import numpy as np
    >>> criterion = CrossEntropyLoss(label_smoothing=0.1)
    >>> criterion
    CrossEntropyLoss()
    >>> loss, grad = criterion(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(loss, 6), grad.shape
    (1.386294, (2, 4))
    """

    @staticmethod
    def _function(input: np.ndarray, target: Any, **options: Any) -> LossValue:
        from .losses import cross_entropy  # losses imports this module for its namespace

        return cross_entropy(input, target, **options)

    def __init__(
        self,
        weight: np.ndarray | None = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )


class NLLLoss(_Loss):
    """``losses.nll_loss`` (log-probabilities (N, K, …), class indices) with ``weight``,
    ``ignore_index`` and ``reduction`` fixed."""

    @staticmethod
    def _function(input: np.ndarray, target: Any, **options: Any) -> LossValue:
        from .losses import nll_loss

        return nll_loss(input, target, **options)

    def __init__(
        self, weight: np.ndarray | None = None, *, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction)


class L1Loss(_Loss):
    """``losses.l1_loss``: mean absolute error, ``reduction`` fixed."""

    _function = staticmethod(l1_loss)

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class MSELoss(_Loss):
    """``losses.mse_loss``: mean squared error, ``reduction`` fixed."""

    _function = staticmethod(mse_loss)

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class SmoothL1Loss(_Loss):
    """``losses.smooth_l1_loss`` with ``reduction`` and ``beta`` fixed."""

    _function = staticmethod(smooth_l1_loss)

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction=reduction, beta=beta)


class HuberLoss(_Loss):
    """``losses.huber_loss`` with ``reduction`` and ``delta`` fixed."""

    _function = staticmethod(huber_loss)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction, delta=delta)


class BCELoss(_Loss):
    """``losses.binary_cross_entropy`` (probabilities in [0, 1]) with ``weight`` and
    ``reduction`` fixed."""

    _function = staticmethod(binary_cross_entropy)

    def __init__(self, weight: np.ndarray | None = None, *, reduction: str = "mean") -> None:
        super().__init__(weight=weight, reduction=reduction)


class BCEWithLogitsLoss(_Loss):
    """``losses.binary_cross_entropy_with_logits`` with ``weight``, ``reduction`` and
    ``pos_weight`` fixed: the multi-label and mask loss on raw scores."""

    _function = staticmethod(binary_cross_entropy_with_logits)

    def __init__(
        self,
        weight: np.ndarray | None = None,
        *,
        reduction: str = "mean",
        pos_weight: np.ndarray | None = None,
    ) -> None:
        super().__init__(weight=weight, reduction=reduction, pos_weight=pos_weight)


class KLDivLoss(_Loss):
    """``losses.kl_div`` (input log-probabilities) with ``reduction`` and ``log_target``
    fixed; ``reduction="batchmean"`` is the Kullback–Leibler divergence per example."""

    _function = staticmethod(kl_div)

    def __init__(self, *, reduction: str = "mean", log_target: bool = False) -> None:
        if reduction not in ("mean", "sum", "none", "batchmean"):
            raise ValueError(
                f"KLDivLoss: reduction: expected 'mean', 'sum', 'none' or 'batchmean', got "
                f"{reduction!r}"
            )
        self.options = {"reduction": reduction, "log_target": log_target}


class _ThreeInputLoss(_Loss):
    """A loss of three arrays (called ``criterion(a, b, c)``), options bound."""

    def __call__(  # type: ignore[override]
        self, first: np.ndarray, second: np.ndarray, third: Any
    ) -> Any:
        return type(self)._function(first, second, third, **self.options)

    def forward(  # type: ignore[override]
        self, first: np.ndarray, second: np.ndarray, third: Any
    ) -> Any:
        """The same as calling the object (PyTorch's spelling)."""
        return self(first, second, third)


class TripletMarginLoss(_ThreeInputLoss):
    """``losses.triplet_margin_loss`` with ``margin``, ``p``, ``eps``, ``swap`` and
    ``reduction`` fixed; ``criterion(anchor, positive, negative)`` returns
    ``(loss, (grad_anchor, grad_positive, grad_negative))``."""

    _function = staticmethod(triplet_margin_loss)

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        *,
        reduction: str = "mean",
    ) -> None:
        super().__init__(margin=margin, p=p, eps=eps, swap=swap, reduction=reduction)


class CosineEmbeddingLoss(_ThreeInputLoss):
    """``losses.cosine_embedding_loss`` with ``margin`` and ``reduction`` fixed;
    ``criterion(input1, input2, target)`` returns ``(loss, (grad_input1, grad_input2))``."""

    _function = staticmethod(cosine_embedding_loss)

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean") -> None:
        super().__init__(margin=margin, reduction=reduction)


class MarginRankingLoss(_ThreeInputLoss):
    """``losses.margin_ranking_loss`` with ``margin`` and ``reduction`` fixed;
    ``criterion(input1, input2, target)`` returns ``(loss, (grad_input1, grad_input2))``."""

    _function = staticmethod(margin_ranking_loss)

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean") -> None:
        super().__init__(margin=margin, reduction=reduction)


class HingeEmbeddingLoss(_Loss):
    """``losses.hinge_embedding_loss`` (targets 1 and −1) with ``margin`` and ``reduction``
    fixed."""

    _function = staticmethod(hinge_embedding_loss)

    def __init__(self, margin: float = 1.0, *, reduction: str = "mean") -> None:
        super().__init__(margin=margin, reduction=reduction)


class SoftMarginLoss(_Loss):
    """``losses.soft_margin_loss`` (targets 1 and −1) with ``reduction`` fixed."""

    _function = staticmethod(soft_margin_loss)

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """``losses.multilabel_soft_margin_loss`` with ``weight`` and ``reduction`` fixed."""

    _function = staticmethod(multilabel_soft_margin_loss)

    def __init__(self, weight: np.ndarray | None = None, *, reduction: str = "mean") -> None:
        super().__init__(weight=weight, reduction=reduction)


class MultiMarginLoss(_Loss):
    """``losses.multi_margin_loss`` (logits (N, C), class indices) with ``p``, ``margin``,
    ``weight`` and ``reduction`` fixed."""

    _function = staticmethod(multi_margin_loss)

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: np.ndarray | None = None,
        *,
        reduction: str = "mean",
    ) -> None:
        super().__init__(p=p, margin=margin, weight=weight, reduction=reduction)


class GaussianNLLLoss(_ThreeInputLoss):
    """``losses.gaussian_nll_loss`` with ``full``, ``eps`` and ``reduction`` fixed (all
    keyword-only, as PyTorch's); ``criterion(input, target, var)`` returns
    ``(loss, (grad_input, grad_var))``."""

    _function = staticmethod(gaussian_nll_loss)

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(full=full, eps=eps, reduction=reduction)


class PoissonNLLLoss(_Loss):
    """``losses.poisson_nll_loss`` with ``log_input``, ``full``, ``eps`` and ``reduction``
    fixed."""

    _function = staticmethod(poisson_nll_loss)

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        *,
        eps: float = 1e-8,
        reduction: str = "mean",
    ) -> None:
        super().__init__(log_input=log_input, full=full, eps=eps, reduction=reduction)
