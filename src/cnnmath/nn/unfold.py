"""Unfold and Fold: an image's sliding windows as columns (im2col) and back (col2im)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import int_pair
from .module import Module

__all__ = ["Fold", "Unfold"]


def _arg(value: Any) -> Any:
    """An int, or a pair as a tuple: the form PyTorch's repr echoes."""
    return tuple(value) if isinstance(value, (tuple, list)) else value


class _Windows(Module):
    """The geometry shared by Unfold and Fold, checked once and echoed by ``repr``."""

    def __init__(self, kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> None:
        super().__init__()
        func = type(self).__name__
        int_pair("kernel_size", kernel_size, minimum=1, func=func)
        int_pair("dilation", dilation, minimum=1, func=func)
        int_pair("padding", padding, minimum=0, func=func)
        int_pair("stride", stride, minimum=1, func=func)
        self.kernel_size, self.dilation = _arg(kernel_size), _arg(dilation)
        self.padding, self.stride = _arg(padding), _arg(stride)

    def _geometry(self) -> dict[str, Any]:
        return {
            "kernel_size": self.kernel_size,
            "dilation": self.dilation,
            "padding": self.padding,
            "stride": self.stride,
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._geometry().items())


class Unfold(_Windows):
    """The sliding windows of a batch of images as columns, as ``torch.nn.Unfold``:
    (N, C, H, W) → (N, C·k1·k2, L), L windows (``ops.unfold``: column l = i·W_out + j holds
    window (i, j), channel by channel, row by row). No parameters; backward: fold(G), each
    window entry's gradient added into the pixel it copied.

    A convolution is this layer followed by a product: ``Linear``'s weight applied to each
    column is conv2d with that weight reshaped (O, C, k1, k2).

    >>> Unfold(kernel_size=(2, 3), stride=2)
    Unfold(kernel_size=(2, 3), dilation=1, padding=0, stride=2)
    >>> Unfold(3, padding=1)(np.zeros((1, 2, 5, 5))).shape
    (1, 18, 25)
    """

    def __init__(
        self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
    ) -> None:
        super().__init__(kernel_size, dilation, padding, stride)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """U = unfold(x); the context is x's shape and U's shape and dtype."""
        u = ops.unfold(x, **self._geometry())
        return u, (x.shape, u.shape, u.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = fold(G) into x's shape."""
        x_shape, shape, dtype = ctx
        self._check_grad_output(grad_output, shape, dtype)
        return ops.unfold_backward(grad_output, x_shape, **self._geometry())


class Fold(_Windows):
    """Columns summed back into images (overlap-add), as ``torch.nn.Fold``: (N, C·k1·k2, L)
    → (N, C, H, W), (H, W) = ``output_size`` (``ops.fold``: each column entry added into the
    pixel its window entry covers, overlaps summed, padding dropped). No parameters;
    backward: unfold(G).

    ``Fold(output_size, k)(Unfold(k)(x))`` is x times the number of windows covering each
    pixel (x itself when the windows tile the image: stride = kernel size).

    >>> Fold(output_size=(4, 5), kernel_size=2)
    Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, stride=1)
    """

    def __init__(
        self,
        output_size: Any,
        kernel_size: Any,
        dilation: Any = 1,
        padding: Any = 0,
        stride: Any = 1,
    ) -> None:
        int_pair("output_size", output_size, minimum=1, func="Fold")
        self.output_size = _arg(output_size)
        super().__init__(kernel_size, dilation, padding, stride)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = fold(x, output_size); the context is y's shape and dtype."""
        y = ops.fold(x, self.output_size, **self._geometry())
        return y, (y.shape, y.dtype)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = unfold(G) with the same windows."""
        shape, dtype = ctx
        self._check_grad_output(grad_output, shape, dtype)
        return ops.fold_backward(grad_output, **self._geometry())

    def extra_repr(self) -> str:
        """output_size, then the window geometry Unfold prints."""
        return f"output_size={self.output_size}, " + super().extra_repr()
