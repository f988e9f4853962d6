"""Convolution layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import int_pair
from ..ops._geometry import resolve_padding
from ._common import (
    _channels,
    _conv_parameters,
    _float_dtype,
    _padding_mode,
    _pair_repr,
    _uniform,
    as_generator,
)
from .module import Module
from .parameter import Parameter


class Conv2d(Module):
    """2-D convolution (cross-correlation) layer, as ``torch.nn.Conv2d``; with groups = 1

        Y[β,o,i,j] = Σ_g Σ_a Σ_c w[o,g,a,c] · X̃[β, g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1] + b[o]

    and with ``groups`` = G the channels split into G blocks, output block k reading only
    input block k (depthwise: G = C_in; see ``ops.conv2d``).

    Parameters: ``weight`` (C_out, C_in/G, f1, f2), ``bias`` (C_out,) unless ``bias=False``,
    both ~ U(−1/√fan_in, 1/√fan_in) with fan_in = (C_in/G)·f1·f2. Input (B, C_in, m, n) or one
    image (C_in, m, n), in the layer's dtype; output (B, C_out, H_out, W_out) with
    H_out = floor((m + 2p − d(f1−1) − 1)/s) + 1. ``padding`` may be an int, a pair,
    ``"valid"`` or ``"same"`` (stride 1).

    ``padding_mode`` says what the border X̃ holds, as in PyTorch: ``"zeros"`` (the default),
    or the image's own pixels ``"reflect"``-ed, ``"replicate"``-d or wrapped around
    (``"circular"``): X̃ = ``ops.pad2d(X, pads, mode)`` and Y the unpadded correlation of X̃;
    the backward adds each border cell's gradient into the pixel it copied.

    >>> Conv2d(1, 6, 5, padding=2, rng=0)
    Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "Conv2d"
        self.padding_mode = _padding_mode(func, padding_mode)
        self.in_channels, self.out_channels, self.groups = _channels(
            func, in_channels, out_channels, groups
        )
        self.kernel_size = int_pair("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = int_pair("stride", stride, minimum=1, func=func)
        self.dilation = int_pair("dilation", dilation, minimum=1, func=func)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"{func}: padding: expected an int, a pair, 'valid' or 'same', got {padding!r}"
                )
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(
                    f"{func}: padding: 'same' needs stride 1, got stride={self.stride}"
                )
            self.padding: tuple[int, int] | str = padding
        else:
            self.padding = int_pair("padding", padding, minimum=0, func=func)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight, self.bias = _conv_parameters(func, shape, bias, rng, dtype)

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype, which the input must have."""
        return self.weight.dtype

    def _geometry_args(self) -> dict[str, Any]:
        return {
            "stride": self.stride,
            "padding": self.padding if self.padding_mode == "zeros" else 0,
            "dilation": self.dilation,
            "groups": self.groups,
        }

    def border(self) -> tuple[int, int, int, int]:
        """The padding as PyTorch's (left, right, top, bottom) — ``"same"`` resolved for the
        kernel (the extra cell of an even kernel after)."""
        (top, bottom), (left, right) = resolve_padding(
            self.padding, self.kernel_size, self.dilation, self.stride, func="Conv2d"
        )
        return left, right, top, bottom

    def _padded(self, x: np.ndarray) -> np.ndarray:
        """X̃: x with the layer's border, when ``padding_mode`` is not ``"zeros"`` (the zeros
        are the correlation's own padding)."""
        if self.padding_mode == "zeros":
            return x
        return ops.pad2d(x, self.border(), self.padding_mode)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = conv2d(x, weight, bias) with this layer's stride, padding and dilation; the
        context is x (and X̃, the padded x, under a ``padding_mode``)."""
        self._check_input_dtype(x, self.weight.dtype)
        if x.ndim in (3, 4):
            self._check_input_channels(x, self.in_channels, "in_channels")
        bias = self.bias.data if self.bias is not None else None
        x_pad = self._padded(x)
        y = ops.conv2d(x_pad, self.weight.data, bias, **self._geometry_args())
        return y, (x if x_pad is x else (x, x_pad))

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X from G = ∂ℓ/∂Y; adds ∂ℓ/∂w and ∂ℓ/∂b (Σ over batch and space of G) into the
        parameters' grads (see ``ops.conv2d_backward``); through the border's copies
        (``ops.pad2d_backward``) when ``padding_mode`` is not ``"zeros"``."""
        x, x_pad = ctx if isinstance(ctx, tuple) else (ctx, ctx)
        frozen = not self.weight.requires_grad and not (
            self.bias is not None and self.bias.requires_grad
        )
        if frozen and x_pad is x and not isinstance(self.padding, str) and x.ndim == 4:
            return self._input_gradient(x, grad_output)
        grad_x, grad_w, grad_b = ops.conv2d_backward(
            grad_output, x_pad, self.weight.data, **self._geometry_args()
        )
        self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        if x_pad is not x:
            grad_x = ops.pad2d_backward(grad_x, x, self.border(), self.padding_mode)
        return grad_x

    def _input_gradient(self, x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X alone, for a layer whose parameters are all frozen (a backbone under
        fine-tuning, a model explained by saliency or Grad-CAM, a style-transfer network):
        the transposed convolution of G with the same weight, stride, padding and dilation,

            ∂ℓ/∂X = conv_transpose2d(G, w),  output_padding = m − ((H − 1)s − 2p + d(f − 1) + 1)

        per axis (the rows of X no window reached), the very correlation ``conv2d_backward``
        runs for it, without the filter gradient's half of the products."""
        self._check_grad_output_conv(grad_output, x)
        assert not isinstance(self.padding, str)
        extra = tuple(
            size - ((o - 1) * s - 2 * p + d * (f - 1) + 1)
            for size, o, s, p, d, f in zip(
                x.shape[2:], grad_output.shape[2:], self.stride, self.padding, self.dilation,
                self.kernel_size, strict=True,
            )
        )  # fmt: skip
        return ops.conv_transpose2d(
            grad_output,
            self.weight.data,
            None,
            stride=self.stride,
            padding=self.padding,
            output_padding=extra,
            groups=self.groups,
            dilation=self.dilation,
        )

    def backward_params_ctx(self, ctx: np.ndarray, grad_output: np.ndarray) -> None:
        """∂ℓ/∂w and ∂ℓ/∂b only (no ∂ℓ/∂X: a first layer in training). ∂ℓ/∂w is the
        correlation ``conv2d_backward`` computes for it, called directly: X with its batch
        and channel axes swapped, correlated with G (axes swapped) as the filter, at
        dilation s and stride d, cropped to the kernel,

            ∂ℓ/∂w[o,c,a,b] = Σ_β Σ_i Σ_j G[β,o,i,j] · X̃[β, c, s·i + d·a, s·j + d·b],

        and ∂ℓ/∂b[o] = Σ_{β,i,j} G[β,o,i,j]. Grouped layers and string padding take the
        whole backward pass."""
        x = ctx
        if (
            self.groups != 1
            or isinstance(self.padding, str)
            or isinstance(x, tuple)  # a padding_mode's border: the whole backward pass
            or x.ndim != 4
            or not len(x)
        ):
            super().backward_params_ctx(ctx, grad_output)  # (an empty batch: zero gradients)
            return
        self._check_grad_output_conv(grad_output, x)
        f1, f2 = self.kernel_size
        grad_w = ops.conv2d(
            x.transpose(1, 0, 2, 3),
            grad_output.transpose(1, 0, 2, 3),
            None,
            stride=self.dilation,
            padding=self.padding,
            dilation=self.stride,
        )[:, :, :f1, :f2].transpose(1, 0, 2, 3)
        self.weight.grad += grad_w
        if self.bias is not None:
            # Σ over β, i, j; einsum's loop is ~4x NumPy's sum over three axes on small planes
            self.bias.grad += np.einsum("bohw->o", grad_output)

    def _check_grad_output_conv(self, grad_output: Any, x: np.ndarray) -> None:
        """G must have the forward output's shape and x's dtype (as ``conv2d_backward``
        checks for the whole backward pass)."""
        assert not isinstance(self.padding, str)
        B, _, m, n = x.shape
        (p1, p2), (s1, s2), (d1, d2) = self.padding, self.stride, self.dilation
        f1, f2 = self.kernel_size
        H = (m + 2 * p1 - d1 * (f1 - 1) - 1) // s1 + 1
        W = (n + 2 * p2 - d2 * (f2 - 1) - 1) // s2 + 1
        self._check_grad_output(grad_output, (B, self.out_channels, H, W), x.dtype)

    def extra_repr(self) -> str:
        """``in, out, kernel_size=(f1, f2), stride=(s1, s2)``, then padding, dilation and
        ``bias=False`` only when not the default: as ``torch.nn.Conv2d`` prints them."""
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={_pair_repr(self.kernel_size)}"
            f", stride={_pair_repr(self.stride)}"
        )
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif self.padding != (0, 0):
            s += f", padding={_pair_repr(self.padding)}"
        if self.dilation != (1, 1):
            s += f", dilation={_pair_repr(self.dilation)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class ConvTranspose2d(Module):
    """2-D transposed convolution layer, as ``torch.nn.ConvTranspose2d``: the adjoint of
    Conv2d's map from input to output (its ``grad_x``), each input pixel scattering
    ``x[β,c,i,j]·w[c,o,:,:]`` into the output at (s·i − p, s·j − p) with taps d apart,

        Y[β,o,y,x] = Σ_c Σ_{a,b: s·i − p + d·a = y, s·j − p + d·b = x} X[β,c,i,j] w[c,o,a,b] + b[o]

    (per group with ``groups`` = G; see ``ops.conv_transpose2d``).

    Parameters: ``weight`` (C_in, C_out/G, f1, f2), ``bias`` (C_out,) unless ``bias=False``,
    both ~ U(−1/√fan_in, 1/√fan_in) with PyTorch's fan_in = weight.shape[1]·f1·f2 =
    (C_out/G)·f1·f2. Input (B, C_in, m, n) or (C_in, m, n); output height
    H_out = (m − 1)·s − 2p + d(f1 − 1) + output_padding + 1 (likewise W_out).
    ``output_padding`` (< stride or dilation) picks among the input sizes a strided Conv2d
    maps to the same output size. ``padding_mode``: "zeros" only, as in PyTorch (which
    refuses the others for transposed convolutions).

    >>> ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1, rng=0)
    ConvTranspose2d(16, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
        padding_mode: str = "zeros",
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "ConvTranspose2d"
        self.in_channels, self.out_channels, self.groups = _channels(
            func, in_channels, out_channels, groups
        )
        self.kernel_size = int_pair("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = int_pair("stride", stride, minimum=1, func=func)
        self.padding = int_pair("padding", padding, minimum=0, func=func)
        self.output_padding = int_pair("output_padding", output_padding, minimum=0, func=func)
        self.dilation = int_pair("dilation", dilation, minimum=1, func=func)
        for axis in (0, 1):
            if self.output_padding[axis] >= max(self.stride[axis], self.dilation[axis]):
                raise ValueError(
                    f"{func}: output_padding: expected less than stride or dilation on each "
                    f"axis (stride {self.stride}, dilation {self.dilation}), got "
                    f"{self.output_padding}"
                )
        if padding_mode != "zeros":
            raise ValueError(
                f"{func}: padding_mode: expected 'zeros' (the only border of a transposed "
                f"convolution, as in PyTorch), got {padding_mode!r}"
            )
        self.padding_mode = "zeros"
        if not isinstance(bias, bool):
            raise TypeError(f"{func}: bias: expected a bool, got {bias!r}")
        dt = _float_dtype(dtype, func=func)
        generator = as_generator(rng, func=func)
        f1, f2 = self.kernel_size
        per_group = self.out_channels // self.groups
        bound = 1.0 / np.sqrt(per_group * f1 * f2)
        self.weight = Parameter(
            _uniform(generator, bound, (self.in_channels, per_group, f1, f2), dt)
        )
        bias_shape = (self.out_channels,)
        self.bias = Parameter(_uniform(generator, bound, bias_shape, dt)) if bias else None

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype, which the input must have."""
        return self.weight.dtype

    def _geometry_args(self) -> dict[str, Any]:
        return {
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "groups": self.groups,
            "dilation": self.dilation,
        }

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Y = conv_transpose2d(x, weight, bias) with this layer's geometry; the context is x."""
        self._check_input_dtype(x, self.weight.dtype)
        if x.ndim in (3, 4):
            self._check_input_channels(x, self.in_channels, "in_channels")
        bias = self.bias.data if self.bias is not None else None
        return ops.conv_transpose2d(x, self.weight.data, bias, **self._geometry_args()), x

    def backward_ctx(self, ctx: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X (a Conv2d of G with the same weight) from G = ∂ℓ/∂Y; adds ∂ℓ/∂w and
        ∂ℓ/∂b = Σ G over batch and space (see ``ops.conv_transpose2d_backward``)."""
        grad_x, grad_w, grad_b = ops.conv_transpose2d_backward(
            grad_output, ctx, self.weight.data, **self._geometry_args()
        )
        self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        return grad_x

    def extra_repr(self) -> str:
        """As ``torch.nn.ConvTranspose2d`` prints: ``in, out, kernel_size, stride``, then
        padding, dilation, output_padding, groups and ``bias=False`` when not the default."""
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={_pair_repr(self.kernel_size)}"
            f", stride={_pair_repr(self.stride)}"
        )
        if self.padding != (0, 0):
            s += f", padding={_pair_repr(self.padding)}"
        if self.dilation != (1, 1):
            s += f", dilation={_pair_repr(self.dilation)}"
        if self.output_padding != (0, 0):
            s += f", output_padding={_pair_repr(self.output_padding)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
