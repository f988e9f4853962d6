"""Parameter: a trainable array and the gradient backward passes add into it."""

from __future__ import annotations

import numpy as np

from .._checks import check_float_array


class Parameter:
    """A trainable array: ``data`` (float32 or float64 ndarray, used as given, not copied)
    and ``grad``, an array of zeros of the same shape and dtype into which backward passes
    add ∂ℓ/∂data.

    ``grad`` may be replaced by an array of data's shape and dtype, or set to None, as
    PyTorch's ``p.grad = None`` clears a gradient: here that is a fresh array of zeros (the
    next backward adds to zero; an optimiser's step still applies to the parameter, where
    PyTorch's skips a parameter whose gradient is None). Anything else is refused.

    ``requires_grad`` (True by default; ``Module.requires_grad_`` sets it for a whole model)
    freezes the parameter when False, as in PyTorch: backward passes leave its ``grad``
    untouched, the layers that only a frozen part of the model needs are skipped, and the
    optimisers do not update it (PyTorch's frozen parameter has no gradient, which its
    optimisers skip)."""

    __slots__ = ("data", "_grad", "_requires_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool = True) -> None:
        check_float_array("data", data, func="Parameter")
        self.data = data
        self._grad = np.zeros_like(data)
        self.requires_grad = requires_grad

    @property
    def requires_grad(self) -> bool:
        """Whether backward passes compute ∂ℓ/∂data and optimisers update data."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{self!r}.requires_grad: expected True or False, got {value!r:.40}")
        self._requires_grad = bool(value)

    @property
    def grad(self) -> np.ndarray:
        """∂ℓ/∂data accumulated by the backward passes since the last ``zero_grad``."""
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray | None) -> None:
        if value is self._grad:  # ``p.grad += g`` in a backward: the same array back
            return
        if value is None:
            self._grad = np.zeros_like(self.data)
            return
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"{self!r}.grad: expected a numpy.ndarray of shape {self.data.shape} and "
                f"dtype {self.data.dtype}, or None to clear it, got {type(value).__name__}"
            )
        if value.shape != self.data.shape or value.dtype != self.data.dtype:
            raise ValueError(
                f"{self!r}.grad: expected shape {self.data.shape} and dtype {self.data.dtype} "
                f"(the data's), got shape {value.shape} and dtype {value.dtype}"
            )
        if not value.flags.writeable:
            raise ValueError(
                f"{self!r}.grad: expected a writeable array (backward passes add into it), "
                "got a read-only one; pass a copy"
            )
        self._grad = value

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
