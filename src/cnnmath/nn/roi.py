"""RoIAlign and RoIPool layers, as ``torchvision.ops.RoIAlign`` / ``RoIPool``: graph nodes of
two inputs, the feature map and the boxes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import int_pair
from .module import Module

__all__ = ["RoIAlign", "RoIPool"]


class RoIAlign(Module):
    """RoIAlign layer, as ``torchvision.ops.RoIAlign``: ``forward(x, boxes)`` =
    ``ops.roi_align(x, boxes, output_size, spatial_scale, sampling_ratio, aligned)``, each
    output bin (i, j) of box k the mean of G_h × G_w bilinear samples of X[n_k] in it:

        Y[k, c, i, j] = 1/max(G_h·G_w, 1) · Σ_{a, b} bilinear(X[n_k, c], y_{ia}, x_{jb}).

    x (N, C, H, W); boxes (K, 5) [n, x1, y1, x2, y2] or a list of N arrays (K_n, 4); output
    (K, C, P_h, P_w). Backward: (∂ℓ/∂X, None) — the boxes get no gradient, as in torchvision.

    >>> RoIAlign((7, 7), spatial_scale=0.0625, sampling_ratio=2)
    RoIAlign(output_size=(7, 7), spatial_scale=0.0625, sampling_ratio=2, aligned=False)
    """

    def __init__(
        self,
        output_size: int | tuple[int, int],
        spatial_scale: float,
        sampling_ratio: int,
        aligned: bool = False,
    ) -> None:
        super().__init__()
        self.output_size = int_pair("output_size", output_size, minimum=1, func="RoIAlign")
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        # the op validates the rest; fail at construction, not at the first call
        ops.roi_align(np.zeros((1, 1, 1, 1)), np.zeros((0, 5)), **self._args())

    def _args(self) -> dict[str, Any]:
        return {
            "output_size": self.output_size,
            "spatial_scale": self.spatial_scale,
            "sampling_ratio": self.sampling_ratio,
            "aligned": self.aligned,
        }

    def forward_ctx(self, x: np.ndarray, boxes: Any) -> tuple[np.ndarray, Any]:
        """Y = roi_align(x, boxes) with this layer's geometry."""
        return ops.roi_align(x, boxes, **self._args()), (x.shape, x.dtype, boxes)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> Any:
        """(∂ℓ/∂X, None): each sample's share of its bin's gradient to its four pixels."""
        shape, dtype, boxes = ctx
        grad = ops.roi_align_backward(grad_output.astype(dtype), shape, boxes, **self._args())
        return grad, None

    def extra_repr(self) -> str:
        """The four arguments, as torchvision prints them."""
        return (
            f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
            f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}"
        )


class RoIPool(Module):
    """RoIPool layer, as ``torchvision.ops.RoIPool``: ``forward(x, boxes)`` =
    ``ops.roi_pool(x, boxes, output_size, spatial_scale)[0]``, the max of X[n_k, c] over each
    bin of the rounded box (0 for an empty bin). Backward: (∂ℓ/∂X, None), each output's
    gradient to its argmax.

    >>> RoIPool(7, 0.5)
    RoIPool(output_size=(7, 7), spatial_scale=0.5)
    """

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float) -> None:
        super().__init__()
        self.output_size = int_pair("output_size", output_size, minimum=1, func="RoIPool")
        self.spatial_scale = spatial_scale
        ops.roi_pool(np.zeros((1, 1, 1, 1)), np.zeros((0, 5)), **self._args())

    def _args(self) -> dict[str, Any]:
        return {"output_size": self.output_size, "spatial_scale": self.spatial_scale}

    def forward_ctx(self, x: np.ndarray, boxes: Any) -> tuple[np.ndarray, Any]:
        """Y = roi_pool(x, boxes); the argmax is kept for the backward."""
        y, argmax = ops.roi_pool(x, boxes, **self._args())
        return y, (x.shape, x.dtype, boxes, argmax)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> Any:
        """(∂ℓ/∂X, None): each gradient added at its argmax."""
        shape, dtype, boxes, argmax = ctx
        return ops.roi_pool_backward(grad_output.astype(dtype), shape, boxes, argmax), None

    def extra_repr(self) -> str:
        """output_size and spatial_scale, as torchvision prints them."""
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"
