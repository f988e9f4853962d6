"""Volumetric (3-D) layers for video and medical volumes (N, C, D, H, W), as ``torch.nn``'s:
Conv3d, ConvTranspose3d, MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d,
BatchNorm3d, Dropout3d.

The numbers come from :mod:`cnnmath.ops.volumetric` (a 3-D correlation as the sum over its
depth taps of 2-D ones) and :mod:`cnnmath.ops.conv_transpose3d` (its adjoint, tap by tap);
parameters, buffers, state_dict keys and reprs are PyTorch's, so weights move between the two
libraries as they are: Conv3d's weight is (C_out, C_in/groups, f0, f1, f2), ConvTranspose3d's
(C_in, C_out/groups, f0, f1, f2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import check_float_array, int_triple
from ..ops._geometry import same_pads
from ..ops.pad import pad_axes, pad_axes_backward
from ._common import (
    _channels,
    _conv_parameters,
    _float_dtype,
    _padding_mode,
    _uniform,
    as_generator,
)
from .dropout import Dropout
from .module import Module
from .normalization import _BatchNorm
from .parameter import Parameter
from .pooling import _AdaptiveMax, _AdaptivePool2d, _Averaging, _flag, _Pooled, _y_grad

__all__ = [
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool3d",
    "AvgPool3d",
    "BatchNorm3d",
    "Conv3d",
    "ConvTranspose3d",
    "Dropout3d",
    "MaxPool3d",
]


def _as_given(name: str, value: Any, *, minimum: int, func: str) -> int | tuple[int, int, int]:
    """An int-or-triple argument, validated, kept in the form it came in (for the repr)."""
    triple = int_triple(name, value, minimum=minimum, func=func)
    return triple[0] if isinstance(value, (int, np.integer)) else triple


def _volume_input(func: str, x: Any, channels: int) -> None:
    check_float_array("x", x, func=func)
    if x.ndim not in (4, 5):
        raise ValueError(
            f"{func}: x: expected shape (N, C, D, H, W) or (C, D, H, W), got shape {x.shape}"
        )
    if x.shape[-4] != channels:
        raise ValueError(f"{func}: x: expected {channels} channels, got shape {x.shape}")


class Conv3d(Module):
    """3-D convolution (cross-correlation), as ``torch.nn.Conv3d``:

        Y[β,o,t,i,j] = Σ_g Σ_e Σ_a Σ_c w[o,g,e,a,c] · X̃[β, k·C_g+g, s0·t+d0·e, s1·i+d1·a, s2·j+d2·c]
                       + b[o]   (0-based; groups as ``Conv2d``),

    X̃ padded (``padding``: an int, a triple, ``"valid"`` or ``"same"`` for stride 1).
    Parameters ``weight`` (C_out, C_in/G, f0, f1, f2) and ``bias`` (C_out,)
    ~ U(−1/√fan_in, 1/√fan_in), fan_in = (C_in/G)·f0·f1·f2, PyTorch's law. Input
    (N, C_in, D, H, W) or (C_in, D, H, W). Runs ``ops.conv3d``.

    ``padding_mode`` says what the border X̃ holds, as in PyTorch: ``"zeros"`` (the default),
    or the volume's own voxels ``"reflect"``-ed, ``"replicate"``-d or wrapped around
    (``"circular"``) on the depth, height and width axes: X̃ = ``ops.pad.pad_axes(X, pads,
    (-3, -2, -1), mode)`` and Y the unpadded correlation of X̃; the backward adds each border
    cell's gradient into the voxel it copied (``pad_axes_backward``).

    >>> Conv3d(2, 4, 3, padding=1, rng=0)
    Conv3d(2, 4, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] | str = 0,
        dilation: int | tuple[int, int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "Conv3d"
        self.in_channels, self.out_channels, self.groups = _channels(
            func, in_channels, out_channels, groups
        )
        self.kernel_size = int_triple("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = int_triple("stride", stride, minimum=1, func=func)
        self.dilation = int_triple("dilation", dilation, minimum=1, func=func)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"{func}: padding: expected an int, a triple, 'valid' or 'same', "
                    f"got {padding!r}"
                )
            if padding == "same" and self.stride != (1, 1, 1):
                raise ValueError(f"{func}: padding: 'same' needs stride 1, got {self.stride}")
            self.padding: tuple[int, int, int] | str = padding
        else:
            self.padding = int_triple("padding", padding, minimum=0, func=func)
        self.padding_mode = _padding_mode(func, padding_mode)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight, self.bias = _conv_parameters(func, shape, bias, rng, dtype)

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype, which the input must have."""
        return self.weight.dtype

    def _args(self) -> dict[str, Any]:
        return {
            "stride": self.stride,
            "padding": self.padding if self.padding_mode == "zeros" else 0,
            "dilation": self.dilation,
            "groups": self.groups,
        }

    def border(self) -> tuple[tuple[int, int], ...]:
        """The padding as (before, after) on depth, height and width — ``"same"`` resolved for
        the kernel (the extra cell of an even kernel after, as PyTorch)."""
        if isinstance(self.padding, str):
            if self.padding == "same":
                return same_pads(self.kernel_size, self.dilation)
            return ((0, 0),) * 3  # "valid"
        return tuple((p, p) for p in self.padding)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = conv3d(x, weight, bias); the context is x (and X̃, the padded x, under a
        ``padding_mode``)."""
        func = "Conv3d.forward"
        _volume_input(func, x, self.in_channels)
        self._check_input_dtype(x, self.weight.dtype)
        bias = self.bias.data if self.bias is not None else None
        if self.padding_mode == "zeros":  # the zeros are the correlation's own padding
            return ops.conv3d(x, self.weight.data, bias, **self._args()), x
        x_pad = pad_axes(x, self.border(), (-3, -2, -1), self.padding_mode)
        return ops.conv3d(x_pad, self.weight.data, bias, **self._args()), (x, x_pad)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X from G; adds ∂ℓ/∂w and ∂ℓ/∂b into the parameters' grads; through the
        border's copies (``pad_axes_backward``) under a ``padding_mode``."""
        x, x_pad = ctx if isinstance(ctx, tuple) else (ctx, ctx)
        grad_x, grad_w, grad_b = ops.conv3d_backward(
            grad_output, x_pad, self.weight.data, **self._args()
        )
        self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        if x_pad is not x:
            grad_x = pad_axes_backward(grad_x, x, self.border(), (-3, -2, -1), self.padding_mode)
        return grad_x

    def extra_repr(self) -> str:
        """As ``torch.nn.Conv3d`` prints: triples, the defaults left out."""
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif self.padding != (0, 0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class ConvTranspose3d(Module):
    """3-D transposed convolution layer, as ``torch.nn.ConvTranspose3d``: the adjoint of
    Conv3d's map from input to output (its ``grad_x``), each input voxel scattering
    ``x[β,h,t,i,j]·w[h,o,:,:,:]`` into the output at (s0·t − p0, s1·i − p1, s2·j − p2) with
    taps d apart (0-based; per group with ``groups`` = G; see ``ops.conv_transpose3d``):

        Y[β, k·C_out/G + o, s0·t + d0·e − p0, s1·i + d1·a − p1, s2·j + d2·c − p2]
            += x[β,h,t,i,j] · w[h,o,e,a,c]   (+ b[o]).

    Parameters: ``weight`` (C_in, C_out/G, f0, f1, f2), ``bias`` (C_out,) unless
    ``bias=False``, both ~ U(−1/√fan_in, 1/√fan_in) with PyTorch's fan_in = weight.shape[1]·
    f0·f1·f2 = (C_out/G)·f0·f1·f2. Input (N, C_in, D, H, W) or (C_in, D, H, W); output depth
    D_out = (D − 1)·s0 − 2p0 + d0(f0 − 1) + output_padding0 + 1 (likewise H_out, W_out).
    ``output_padding`` (< stride or dilation) picks among the input sizes a strided Conv3d
    maps to the same output size. ``padding_mode``: "zeros" only, as in PyTorch.

    >>> ConvTranspose3d(16, 8, 2, stride=2, rng=0)  # 2x upsampling of a volume
    ConvTranspose3d(16, 8, kernel_size=(2, 2, 2), stride=(2, 2, 2))
    >>> ConvTranspose3d(16, 8, 2, stride=2, rng=0)(np.ones((1, 16, 3, 4, 5), np.float32)).shape
    (1, 8, 6, 8, 10)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] = 1,
        padding: int | tuple[int, int, int] = 0,
        output_padding: int | tuple[int, int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int, int] = 1,
        padding_mode: str = "zeros",
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "ConvTranspose3d"
        self.in_channels, self.out_channels, self.groups = _channels(
            func, in_channels, out_channels, groups
        )
        self.kernel_size = int_triple("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = int_triple("stride", stride, minimum=1, func=func)
        if isinstance(padding, str):
            raise TypeError(
                f"{func}: padding: expected an int or a triple of ints (no 'valid' or 'same' "
                f"for the transposed convolution, as in PyTorch), got {padding!r}"
            )
        self.padding = int_triple("padding", padding, minimum=0, func=func)
        self.output_padding = int_triple("output_padding", output_padding, minimum=0, func=func)
        self.dilation = int_triple("dilation", dilation, minimum=1, func=func)
        if any(q >= max(s, d) for q, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(
                f"{func}: output_padding: expected less than stride or dilation on each axis "
                f"(stride {self.stride}, dilation {self.dilation}), got {self.output_padding}"
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
        per_group = self.out_channels // self.groups
        shape = (self.in_channels, per_group, *self.kernel_size)
        bound = 1.0 / np.sqrt(int(np.prod(shape[1:])))
        self.weight = Parameter(_uniform(generator, bound, shape, dt))
        bias_shape = (self.out_channels,)
        self.bias = Parameter(_uniform(generator, bound, bias_shape, dt)) if bias else None

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype, which the input must have."""
        return self.weight.dtype

    def _args(self) -> dict[str, Any]:
        return {
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "groups": self.groups,
            "dilation": self.dilation,
        }

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = conv_transpose3d(x, weight, bias) with this layer's geometry; the context is x."""
        _volume_input("ConvTranspose3d.forward", x, self.in_channels)
        self._check_input_dtype(x, self.weight.dtype)
        bias = self.bias.data if self.bias is not None else None
        return ops.conv_transpose3d(x, self.weight.data, bias, **self._args()), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X (a Conv3d of G with the same weight) from G = ∂ℓ/∂Y; adds ∂ℓ/∂w and
        ∂ℓ/∂b = Σ G over batch and space (see ``ops.conv_transpose3d_backward``)."""
        grad_x, grad_w, grad_b = ops.conv_transpose3d_backward(
            grad_output, ctx, self.weight.data, **self._args()
        )
        self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        return grad_x

    def extra_repr(self) -> str:
        """As ``torch.nn.ConvTranspose3d`` prints: ``in, out, kernel_size, stride``, then
        padding, dilation, output_padding, groups and ``bias=False`` when not the default."""
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class _Pool3d(Module):
    def __init__(self, kernel_size: Any, stride: Any, padding: Any) -> None:
        super().__init__()
        func = type(self).__name__
        self.kernel_size = _as_given("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = (
            self.kernel_size
            if stride is None
            else _as_given("stride", stride, minimum=1, func=func)
        )
        self.padding = _as_given("padding", padding, minimum=0, func=func)
        k = int_triple("kernel_size", kernel_size, minimum=1, func=func)
        p = int_triple("padding", padding, minimum=0, func=func)
        if any(p_ > f // 2 for p_, f in zip(p, k)):
            raise ValueError(
                f"{func}: padding: expected at most half the window "
                f"(<= {tuple(f // 2 for f in k)}), got {padding!r} for kernel_size "
                f"{kernel_size!r}"
            )

    def _args(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}


class MaxPool3d(_Pool3d):
    """Max pooling over 3-D windows, as ``torch.nn.MaxPool3d``: Y[β,c,t,i,j] = the maximum of
    the f0×f1×f2 window, taps d apart, at (s0·t − p0, s1·i − p1, s2·j − p2), X padded with
    −∞. The backward routes each G to the element PyTorch's walk chose (first maximum in
    (depth, row, column) order). ``return_indices=True`` returns (Y, I) as PyTorch's: I the
    position (t·H + u)·W + v in its (D, H, W) volume of x of each window's choice (padding
    not counted), for a :class:`MaxUnpool3d`; two values in a :class:`Graph`, as
    :class:`MaxPool2d`'s, and the backward takes G or (G, None).

    >>> MaxPool3d(2)
    MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] | None = None,
        padding: int | tuple[int, int, int] = 0,
        dilation: int | tuple[int, int, int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        func = "MaxPool3d"
        self.dilation = _as_given("dilation", dilation, minimum=1, func=func)
        self.return_indices = _flag(func, "return_indices", return_indices)
        self.ceil_mode = _flag(func, "ceil_mode", ceil_mode)

    def _args(self) -> dict[str, Any]:
        return {**super()._args(), "dilation": self.dilation, "ceil_mode": self.ceil_mode}

    @property
    def extra_outputs(self) -> tuple[str, ...]:  # type: ignore[override]
        """("indices",) with ``return_indices``: the layer returns (Y, I); else ()."""
        return ("indices",) if self.return_indices else ()

    def forward_ctx(self, x: np.ndarray) -> tuple[Any, Any]:
        """Y = max_pool3d(x), (Y, I) with ``return_indices``; in training the choice I is
        kept for the backward."""
        if self.training or self.return_indices:
            y, indices = ops.max_pool3d(x, **self._args(), return_indices=True)
            return ((y, indices) if self.return_indices else y), _Pooled(x, indices)
        return ops.max_pool3d(x, **self._args()), _Pooled(x, None)

    def backward_ctx(self, ctx: Any, grad_output: Any) -> np.ndarray:
        """∂ℓ/∂X: each G added to the element its window chose (G or (G, None) with
        ``return_indices``; zeros when only I was read)."""
        grad_output = _y_grad("MaxPool3d", grad_output, self.return_indices)
        if grad_output is None:
            return np.zeros_like(ctx.x)
        return ops.max_pool3d_backward(grad_output, ctx.x, **self._args(), indices=ctx.indices)

    def extra_repr(self) -> str:
        """As ``torch.nn.MaxPool3d`` prints."""
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool3d(_Averaging, _Pool3d):
    """Average pooling over 3-D windows, as ``torch.nn.AvgPool3d``: Y = (1/D) Σ over the
    f0×f1×f2 window of X padded with 0; D is ``divisor_override`` if given, else the taps
    inside the padded input (``count_include_pad``, the default) or inside x. Backward
    spreads G/D over each window.

    >>> AvgPool3d(2)
    AvgPool3d(kernel_size=2, stride=2, padding=0)
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] | None = None,
        padding: int | tuple[int, int, int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self._set_averaging(ceil_mode, count_include_pad, divisor_override)

    def _args(self) -> dict[str, Any]:
        return {**super()._args(), **self._averaging()}

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = avg_pool3d(x); the context is x."""
        return ops.avg_pool3d(x, **self._args()), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X: G/D added to every element of its window."""
        return ops.avg_pool3d_backward(grad_output, ctx, **self._args())

    def extra_repr(self) -> str:
        """``kernel_size, stride, padding``, as ``torch.nn.AvgPool3d`` prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePool3d(_AdaptivePool2d):
    _axes = 3


class AdaptiveAvgPool3d(_AdaptivePool3d):
    """Adaptive average pooling, as ``torch.nn.AdaptiveAvgPool3d``: output cell t of n over a
    length D averages [⌊t·D/n⌋, ⌈(t+1)·D/n⌉) on each axis; ``AdaptiveAvgPool3d(1)`` is global
    average pooling.

    >>> AdaptiveAvgPool3d(1)
    AdaptiveAvgPool3d(output_size=1)
    """

    _op = staticmethod(ops.adaptive_avg_pool3d)
    _backward = staticmethod(ops.adaptive_avg_pool3d_backward)


class AdaptiveMaxPool3d(_AdaptiveMax, _AdaptivePool3d):
    """Adaptive max pooling, as ``torch.nn.AdaptiveMaxPool3d``: the maximum over the cells of
    :class:`AdaptiveAvgPool3d`; ``return_indices=True`` returns (Y, I), I the position
    (t·H + u)·W + v in its (D, H, W) volume of x of each cell's maximum, as PyTorch's."""

    _op = staticmethod(ops.adaptive_max_pool3d)
    _backward = staticmethod(ops.adaptive_max_pool3d_backward)

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self._set_indices(return_indices)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of a (N, C, D, H, W) batch, per channel (statistics over batch,
    depth, height and width), as ``torch.nn.BatchNorm3d``; running statistics as
    ``BatchNorm2d``'s (unbiased variance, momentum or cumulative average).

    >>> BatchNorm3d(8)
    BatchNorm3d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    """

    _axes = (5,)


class Dropout3d(Dropout):
    """Channel dropout for volumes, as ``torch.nn.Dropout3d``: in training each whole volume
    x[n, c] of a (N, C, D, H, W) batch (or x[c] of one (C, D, H, W) volume) is kept with
    probability 1 − p and scaled by 1/(1 − p), or zeroed. Evaluation: the identity.

    >>> Dropout3d(0.2)
    Dropout3d(p=0.2, inplace=False)
    """

    def _mask_shape(self, x: np.ndarray) -> tuple[int, ...]:
        if x.ndim not in (4, 5):
            raise ValueError(
                f"Dropout3d.forward: x: expected shape (N, C, D, H, W) or (C, D, H, W), "
                f"got {x.shape}"
            )
        return x.shape[:-3] + (1, 1, 1)
