"""Pooling layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import int_pair
from .module import Module


def _pool_arg(name: str, value: Any, *, minimum: int, func: str) -> int | tuple[int, int]:
    """Validate an int-or-pair argument, keeping the form it was given in (for the repr)."""
    pair = int_pair(name, value, minimum=minimum, func=func)
    return pair[0] if isinstance(value, (int, np.integer)) else pair


class _Pool2d(Module):
    _func: str

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        self.kernel_size = _pool_arg("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = (
            self.kernel_size
            if stride is None
            else _pool_arg("stride", stride, minimum=1, func=func)
        )
        self.padding = _pool_arg("padding", padding, minimum=0, func=func)
        k, p = (
            int_pair("kernel_size", kernel_size, minimum=1, func=func),
            int_pair("padding", padding, minimum=0, func=func),
        )
        if p[0] > k[0] // 2 or p[1] > k[1] // 2:
            raise ValueError(
                f"{func}: padding: expected at most half the window (<= {(k[0] // 2, k[1] // 2)}),"
                f" got {padding!r} for kernel_size {kernel_size!r}"
            )

    def _args(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}


class MaxPool2d(_Pool2d):
    """Max pooling, as ``torch.nn.MaxPool2d`` (no dilation, floor mode):
    Y[β,c,i,j] = max over the window (k1, k2) at stride s of X padded with −∞.

    Input (B, C, m, n) or (C, m, n); output (B, C, floor((m+2p−k1)/s)+1, …). The backward
    pass routes each G[β,c,i,j] to the window's first maximal element.

    >>> MaxPool2d(2)
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    """

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = max_pool2d(x) with this layer's window, stride and padding."""
        y = ops.max_pool2d(x, **self._args())
        return y, x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X: each G[β,c,i,j] added to its window's (first) maximal element."""
        x = ctx
        return ops.max_pool2d_backward(grad_output, x, **self._args())

    def extra_repr(self) -> str:
        """``kernel_size, stride, padding`` and the fixed ``dilation=1, ceil_mode=False``, as
        ``torch.nn.MaxPool2d`` prints them."""
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            "dilation=1, ceil_mode=False"
        )


class AvgPool2d(_Pool2d):
    """Average pooling, as ``torch.nn.AvgPool2d`` with its defaults (zero padding counted in
    the divisor): Y[β,c,i,j] = (1/(k1 k2)) Σ over the window of X padded with 0.

    Input (B, C, m, n) or (C, m, n); output as MaxPool2d's. Backward spreads G/(k1 k2) over
    each window.

    >>> AvgPool2d(2)
    AvgPool2d(kernel_size=2, stride=2, padding=0)
    """

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = avg_pool2d(x) with this layer's window, stride and padding."""
        y = ops.avg_pool2d(x, **self._args())
        return y, x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X: G[β,c,i,j]/(k1 k2) added to every element of window (i, j)."""
        x = ctx
        return ops.avg_pool2d_backward(grad_output, x, **self._args())

    def extra_repr(self) -> str:
        """``kernel_size=k, stride=s, padding=p``, as ``torch.nn.AvgPool2d`` prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePool2d(Module):
    _op: Any
    _backward: Any

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        func = type(self).__name__
        sizes = output_size if isinstance(output_size, tuple) else (output_size, output_size)
        if len(sizes) != 2 or not all(
            n is None or (isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1)
            for n in sizes
        ):
            raise ValueError(
                f"{func}: output_size: expected an int >= 1 or a pair of them (None keeps the "
                f"input's size), got {output_size!r}"
            )
        self.output_size = output_size

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = the adaptive pooling of x to ``output_size``; the context is x."""
        return type(self)._op(x, self.output_size), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X from G (see the op's backward)."""
        return type(self)._backward(grad_output, ctx, self.output_size)

    def extra_repr(self) -> str:
        """``output_size=…`` as given, as ``torch.nn`` prints it."""
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Adaptive average pooling, as ``torch.nn.AdaptiveAvgPool2d``: output cell i of n over
    an input of length H averages ``[floor(i·H/n), ceil((i+1)·H/n))`` (SPEC.md, Wave 2) on
    each axis; ``AdaptiveAvgPool2d(1)`` is global average pooling.

    >>> AdaptiveAvgPool2d((1, 1))
    AdaptiveAvgPool2d(output_size=(1, 1))
    """

    _op = staticmethod(ops.adaptive_avg_pool2d)
    _backward = staticmethod(ops.adaptive_avg_pool2d_backward)


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Adaptive max pooling, as ``torch.nn.AdaptiveMaxPool2d`` (without indices): the
    maximum over the same cells as :class:`AdaptiveAvgPool2d`."""

    _op = staticmethod(ops.adaptive_max_pool2d)
    _backward = staticmethod(ops.adaptive_max_pool2d_backward)
