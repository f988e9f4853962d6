"""DeformConv2d: a convolution whose taps read the input at learned offsets, as
``torchvision.ops.DeformConv2d``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import check_float_array, int_pair
from ._common import _channels, _conv_parameters
from .module import Module

__all__ = ["DeformConv2d"]


class DeformConv2d(Module):
    """Deformable convolution layer, as ``torchvision.ops.DeformConv2d``: a graph node of two
    or three inputs, (x, offset) or (x, offset, mask), computing
    ``ops.deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask)``:

        Y[β,o,i,j] = b[o] + Σ_c Σ_{a,e} w[o,c,a,e] · m[β,g,a,e,i,j] · X̂[β, c, i·s − p + a·d + Δy,
                                                                       j·s − p + e·d + Δx]

    (X̂ bilinear, 0 outside the image; the offsets (Δy, Δx) and the mask m per offset group g,
    usually computed by an ordinary ``Conv2d`` from the same x, as in deformable ConvNets).
    Parameters ``weight`` (C_out, C_in/groups, kh, kw) and ``bias`` (C_out,) unless
    ``bias=False``, initialised as ``Conv2d``'s (torchvision's law).

    >>> DeformConv2d(2, 3, 3, rng=0)
    DeformConv2d(2, 3, kernel_size=(3, 3), stride=(1, 1))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "DeformConv2d"
        self.in_channels, self.out_channels, self.groups = _channels(
            func, in_channels, out_channels, groups
        )
        self.kernel_size = int_pair("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = int_pair("stride", stride, minimum=1, func=func)
        self.padding = int_pair("padding", padding, minimum=0, func=func)
        self.dilation = int_pair("dilation", dilation, minimum=1, func=func)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight, self.bias = _conv_parameters(func, shape, bias, rng, dtype)

    def _options(self) -> dict[str, Any]:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}

    def forward_ctx(
        self, x: np.ndarray, offset: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, Any]:
        """Y; the context is the inputs."""
        func = "DeformConv2d.forward"
        check_float_array("x", x, func=func)
        self._check_input_dtype(x, self.weight.dtype)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{func}: x: expected (B, {self.in_channels}, H, W), got shape {x.shape}"
            )
        bias = None if self.bias is None else self.bias.data
        y = ops.deform_conv2d(x, offset, self.weight.data, bias, mask=mask, **self._options())
        return y, (x, offset, mask)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> tuple[np.ndarray, ...]:
        """(∂ℓ/∂x, ∂ℓ/∂offset[, ∂ℓ/∂mask]); adds ∂ℓ/∂w and ∂ℓ/∂b into the parameters'
        grads (``ops.deform_conv2d_backward``)."""
        x, offset, mask = ctx
        gx, goffset, gw, gb, gmask = ops.deform_conv2d_backward(
            grad_output, x, offset, self.weight.data, mask=mask, **self._options()
        )
        self.weight.grad += gw
        if self.bias is not None:
            self.bias.grad += gb
        return (gx, goffset) if gmask is None else (gx, goffset, gmask)

    def extra_repr(self) -> str:
        """As torchvision prints it: padding, dilation, groups and bias=False only when they
        are not the defaults."""
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
