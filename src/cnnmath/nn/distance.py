"""Modules comparing two inputs, as ``torch.nn.CosineSimilarity`` and
``torch.nn.PairwiseDistance``: the heads of siamese and metric-learning networks, nodes of
two inputs in a :class:`Graph` (the arithmetic is :mod:`cnnmath.ops.distance`'s)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import flag, real_number
from ..ops.distance import norm_order
from .module import Module


class CosineSimilarity(Module):
    """s = Σ_i (x1_i / n1)(x2_i / n2) along ``dim``, n_j = max(‖x_j‖₂, ε), as
    ``torch.nn.CosineSimilarity(dim=1, eps=1e-8)``: x1, x2 of one shape, s that shape without
    ``dim``. Backward: (∂ℓ/∂x1, ∂ℓ/∂x2), ``ops.cosine_similarity_backward``'s.

    >>> CosineSimilarity(dim=0)(np.array([1.0, 1.0]), np.array([2.0, 0.0])).round(6)
    np.float64(0.707107)
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"CosineSimilarity: dim: expected an int, got {dim!r:.40}")
        self.dim = int(dim)
        self.eps = real_number("eps", eps, func="CosineSimilarity", low=0.0)

    def forward_ctx(self, x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, Any]:
        """The similarity along ``dim``; the context is both inputs."""
        return ops.cosine_similarity(x1, x2, self.dim, self.eps), (x1, x2)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂ℓ/∂x1, ∂ℓ/∂x2) from G = ∂ℓ/∂s."""
        x1, x2 = ctx
        return ops.cosine_similarity_backward(grad_output, x1, x2, self.dim, self.eps)

    def extra_repr(self) -> str:
        """Empty at the defaults, as ``torch.nn.CosineSimilarity`` prints nothing."""
        return ""


class PairwiseDistance(Module):
    """d = ‖x1 − x2 + ε‖_p along the last axis, as ``torch.nn.PairwiseDistance(p=2.0,
    eps=1e-6, keepdim=False)`` (ε added to each difference): x1, x2 of one shape (…, D),
    d of shape (…) (or (…, 1) with ``keepdim``). Backward: (∂ℓ/∂x1, ∂ℓ/∂x2),
    ``ops.pairwise_distance_backward``'s.

    >>> PairwiseDistance(eps=0.0)(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]))
    array([5.])
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = norm_order(p, func="PairwiseDistance")
        self.eps = real_number("eps", eps, func="PairwiseDistance", low=0.0)
        self.keepdim = flag("keepdim", keepdim, func="PairwiseDistance")

    def forward_ctx(self, x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, Any]:
        """The distance of each pair of rows; the context is both inputs."""
        d = ops.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
        return d, (x1, x2)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂ℓ/∂x1, ∂ℓ/∂x2) from G = ∂ℓ/∂d."""
        x1, x2 = ctx
        return ops.pairwise_distance_backward(
            grad_output, x1, x2, self.norm, self.eps, self.keepdim
        )

    def extra_repr(self) -> str:
        """Empty, as ``torch.nn.PairwiseDistance`` prints nothing."""
        return ""
