"""Flatten and Unflatten: merge axes, or split one (reshapes, and their inverses)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import check_float_array
from .module import Module


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``: (B, C, H, W) →
    (B, C·H·W) with the defaults. Backward reshapes G back to the input's shape.

    >>> Flatten()(np.zeros((4, 16, 5, 5))).shape
    (4, 400)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"Flatten: {name}: expected an int, got {value!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """x reshaped with axes start_dim..end_dim merged (a view when x is contiguous)."""
        func = "Flatten.forward"
        check_float_array("x", x, func=func)
        n = max(x.ndim, 1)
        start = self.start_dim % n if -n <= self.start_dim < n else None
        end = self.end_dim % n if -n <= self.end_dim < n else None
        if start is None or end is None or start > end:
            raise ValueError(
                f"{func}: x: expected an array with axes start_dim={self.start_dim} <= "
                f"end_dim={self.end_dim}, got shape {x.shape}"
            )
        shape = x.shape
        merged = math.prod(shape[start : end + 1])  # not -1: an empty batch has none to infer
        y = x.reshape(*shape[:start], merged, *shape[end + 1 :]) if x.ndim else x.reshape(1)
        return y, (shape, y.shape, x.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """G, of the output's shape and dtype, reshaped back to the input's shape."""
        shape, out_shape, dtype = ctx
        self._check_grad_output(grad_output, out_shape, dtype)
        return grad_output.reshape(shape)

    def extra_repr(self) -> str:
        """``start_dim=a, end_dim=b``, as ``torch.nn.Flatten`` prints them."""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size``, as ``torch.nn.Unflatten``: (B, 400) →
    (B, 16, 5, 5) with ``Unflatten(1, (16, 5, 5))`` (one entry may be −1, inferred). The
    inverse of Flatten; backward reshapes G back.

    >>> Unflatten(1, (16, 5, 5))(np.zeros((4, 400))).shape
    (4, 16, 5, 5)
    """

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]) -> None:
        super().__init__()
        if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"Unflatten: dim: expected an int, got {dim!r}")
        sizes = unflattened_size
        if (
            not isinstance(sizes, (tuple, list))
            or not sizes
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in sizes)
            or any(v < 1 and v != -1 for v in sizes)
            or sum(v == -1 for v in sizes) > 1
        ):
            raise ValueError(
                f"Unflatten: unflattened_size: expected a tuple of sizes >= 1 (one may be -1), "
                f"got {unflattened_size!r}"
            )
        self.dim, self.unflattened_size = int(dim), tuple(int(v) for v in sizes)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """x reshaped with axis ``dim`` split (a view when x is contiguous)."""
        func = "Unflatten.forward"
        check_float_array("x", x, func=func)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(
                f"{func}: dim: expected an axis of x (shape {x.shape}), got {self.dim}"
            )
        d = self.dim % x.ndim
        n, sizes = x.shape[d], list(self.unflattened_size)
        known = math.prod(v for v in sizes if v != -1)
        if -1 in sizes and known and n % known == 0:
            sizes[sizes.index(-1)] = n // known
        if math.prod(sizes) != n or -1 in sizes:
            raise ValueError(
                f"{func}: x: expected axis {self.dim} of size {math.prod(self.unflattened_size)}"
                f" (unflattened_size {self.unflattened_size}), got shape {x.shape}"
            )
        y = x.reshape(*x.shape[:d], *sizes, *x.shape[d + 1 :])
        return y, (x.shape, y.shape, x.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """G reshaped back to the input's shape."""
        shape, out_shape, dtype = ctx
        self._check_grad_output(grad_output, out_shape, dtype)
        return grad_output.reshape(shape)

    def extra_repr(self) -> str:
        """``dim=d, unflattened_size=(…)``, as ``torch.nn.Unflatten`` prints them."""
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Permute(Module):
    """Reorder the axes, y = x.transpose(dims), as ``torchvision.ops.Permute``: ConvNeXt's
    (N, C, H, W) → (N, H, W, C), so that LayerNorm and Linear act on each pixel's channels,
    and back. Backward: G transposed by the inverse permutation. Its ``repr`` prints no
    arguments, as torchvision's does.

    >>> Permute((0, 2, 3, 1))(np.zeros((2, 3, 4, 5))).shape
    (2, 4, 5, 3)
    """

    def __init__(self, dims: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        n = len(dims) if isinstance(dims, (tuple, list)) else 0
        axes = [
            int(d) % n
            if isinstance(d, (int, np.integer)) and not isinstance(d, bool) and -n <= d < n
            else -1
            for d in (dims if n else ())
        ]
        if not n or sorted(axes) != list(range(n)):
            raise ValueError(
                f"Permute: dims: expected a permutation of the axes (negative ones counted from "
                f"the end, as torch.permute), got {dims!r}"
            )
        self.dims = tuple(axes)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """x with its axes in the order ``dims`` (a new contiguous array)."""
        func = "Permute.forward"
        check_float_array("x", x, func=func)
        if x.ndim != len(self.dims):
            raise ValueError(
                f"{func}: x: expected {len(self.dims)} axes (dims={self.dims}), got shape {x.shape}"
            )
        return np.ascontiguousarray(x.transpose(self.dims)), (x.shape, x.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """G transposed back: ∂ℓ/∂x = Gᵀ by the inverse permutation."""
        shape, dtype = ctx
        out_shape = tuple(shape[d] for d in self.dims)
        self._check_grad_output(grad_output, out_shape, dtype)
        return np.ascontiguousarray(grad_output.transpose(np.argsort(self.dims)))
