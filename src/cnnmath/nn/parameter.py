"""Parameter: a trainable array and the gradient backward passes add into it."""

from __future__ import annotations

import numpy as np

from .._checks import check_float_array


class Parameter:
    """A trainable array: ``data`` (float32 or float64 ndarray, used as given, not copied)
    and ``grad``, an array of zeros of the same shape and dtype into which backward passes
    add ∂ℓ/∂data."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray) -> None:
        check_float_array("data", data, func="Parameter")
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self) -> tuple[int, ...]:
        """``data.shape``."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """``data.dtype``."""
        return self.data.dtype

    @property
    def size(self) -> int:
        """``data.size``, the number of scalars."""
        return self.data.size

    def zero_grad(self) -> None:
        """Set ``grad`` to zero in place."""
        self.grad[...] = 0

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
