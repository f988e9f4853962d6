"""AffineGrid and GridSample: the spatial transformer's grid generator and sampler as wiring
ops of a :class:`Graph` (``torch.nn.functional.affine_grid`` / ``grid_sample``, which PyTorch
has as functions only; ONNX's AffineGrid and GridSample).

A spatial transformer is three nodes: a localisation network maps the image X to θ (N, 2, 3),
``AffineGrid`` maps θ to a sampling grid, and ``GridSample`` reads X at the grid's points::

    g = nn.Graph()
    g.add(localisation, "x", name="loc")            # (N, 6)
    g.add(nn.Unflatten(1, (2, 3)), "loc", name="theta")
    g.add(nn.AffineGrid(), "theta", "x", name="grid")  # the grid of X's size
    g.add(nn.GridSample(), "x", "grid", name="warped")

Backward runs through both: ∂ℓ/∂X collects the sampler's share and the localisation
network's, and ∂ℓ/∂θ trains the localisation network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import ops
from .._checks import check_float_array
from ..ops.grid_sample import MODES, PADDING_MODES, _size
from .module import Module

__all__ = ["AffineGrid", "GridSample"]


def _flag(func: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: align_corners: expected a bool, got {value!r}")
    return bool(value)


class AffineGrid(Module):
    """The sampling grid of affine maps θ (N, 2, 3): g[n, i, j] = θ_n · (x_j, y_i, 1)ᵀ, a
    (N, H, W, 2) array (``ops.affine_grid``). The output size (N, C, H, W) is ``size`` when
    given; without it the node takes a second input, the image to be sampled, and uses its
    shape — ``affine_grid(theta, x.size())`` — with no gradient flowing to that image.
    Backward: ∂ℓ/∂θ_n = Σ_{i, j} ∂ℓ/∂g[n, i, j] (x_j, y_i, 1). A wiring op (``functional``).

    >>> theta = np.array([[[1.0, 0, 0], [0, 1.0, 0]]])
    >>> AffineGrid(align_corners=True)(theta, np.zeros((1, 3, 2, 4))).shape
    (1, 2, 4, 2)
    """

    functional = True

    def __init__(self, size: Sequence[int] | None = None, align_corners: bool = False) -> None:
        super().__init__()
        self.align_corners = _flag("AffineGrid", align_corners)
        self.size = None if size is None else _size(size, "AffineGrid")

    def forward_ctx(self, theta: np.ndarray, *like: np.ndarray) -> tuple[np.ndarray, Any]:
        """The grid; the context is the size and, without ``size``, the image's shape."""
        func = "AffineGrid.forward"
        if self.size is not None and like:
            raise ValueError(
                f"{func}: inputs: expected θ alone (size is fixed), got {1 + len(like)}"
            )
        if self.size is None:
            if len(like) != 1:
                raise ValueError(
                    f"{func}: inputs: expected θ and the image to sample (no size given), got "
                    f"{1 + len(like)} arrays"
                )
            check_float_array("x", like[0], func=func)
            if like[0].ndim != 4:
                raise ValueError(
                    f"{func}: x: expected a 4-D image batch (N, C, H, W), got shape {like[0].shape}"
                )
        size = self.size if self.size is not None else like[0].shape
        grid = ops.affine_grid(theta, size, self.align_corners)
        return grid, (size, None if self.size is not None else like[0].dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> Any:
        """∂ℓ/∂θ, and 0 for the image whose shape was read."""
        size, like_dtype = ctx
        grad_theta = ops.affine_grid_backward(grad_output, size, self.align_corners)
        return grad_theta if like_dtype is None else (grad_theta, np.zeros(size, like_dtype))

    def extra_repr(self) -> str:
        """The fixed output size, if any, and align_corners."""
        size = "" if self.size is None else f"size={self.size}, "
        return f"{size}align_corners={self.align_corners}"


class GridSample(Module):
    """Sample X (N, C, H, W) at a grid's points (N, H_out, W_out, 2) in normalised
    coordinates: Y (N, C, H_out, W_out) (``ops.grid_sample``: ``mode`` "bilinear", "nearest"
    or "bicubic", ``padding_mode`` "zeros", "border" or "reflection"). Two inputs, X and the
    grid; backward gives both gradients. A wiring op (``functional``).

    >>> GridSample(mode="bicubic")
    GridSample(mode='bicubic', padding_mode='zeros', align_corners=False)
    """

    functional = True

    def __init__(
        self, mode: str = "bilinear", padding_mode: str = "zeros", align_corners: bool = False
    ) -> None:
        super().__init__()
        func = "GridSample"
        if mode not in MODES:
            raise ValueError(
                f"{func}: mode: expected 'bilinear', 'nearest' or 'bicubic', got {mode!r}"
            )
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"{func}: padding_mode: expected 'zeros', 'border' or 'reflection', got "
                f"{padding_mode!r}"
            )
        self.mode, self.padding_mode = mode, padding_mode
        self.align_corners = _flag(func, align_corners)

    def _options(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "padding_mode": self.padding_mode,
            "align_corners": self.align_corners,
        }

    def forward_ctx(self, x: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = grid_sample(X, grid); the context is (X, grid)."""
        return ops.grid_sample(x, grid, **self._options()), (x, grid)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂ℓ/∂X, ∂ℓ/∂grid)."""
        x, grid = ctx
        return ops.grid_sample_backward(grad_output, x, grid, **self._options())

    def extra_repr(self) -> str:
        """mode, padding_mode and align_corners."""
        return (
            f"mode={self.mode!r}, padding_mode={self.padding_mode!r}, "
            f"align_corners={self.align_corners}"
        )
