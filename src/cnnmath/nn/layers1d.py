"""1-D layers (signals: audio, sensor series, text embeddings): Conv1d, ConvTranspose1d,
MaxPool1d, AvgPool1d, AdaptiveAvgPool1d, AdaptiveMaxPool1d, as ``torch.nn``'s.

A signal (N, C, L) is an image (N, C, 1, L) of height one, and a 1-D window of k taps is a
1×k window: each layer runs the 2-D op on that view (no copy) and drops the unit axis again,
so the formulas, the speed and the backward passes are the 2-D ones. Parameters keep
PyTorch's 1-D shapes — Conv1d's weight is (C_out, C_in/groups, k) — so state dicts move
between the two libraries as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import check_float_array
from ..ops._geometry import resolve_padding
from ._common import _channels, _conv_parameters, _padding_mode, _uniform, as_generator
from .module import Module
from .parameter import Parameter
from .pooling import _y_grad

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveMaxPool1d",
    "AvgPool1d",
    "Conv1d",
    "ConvTranspose1d",
    "MaxPool1d",
]


def _one(name: str, value: Any, *, minimum: int, func: str) -> int:
    """An int, or PyTorch's one-element tuple, at least ``minimum``."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{func}: {name}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def _as_image(func: str, x: Any, name: str = "x") -> tuple[np.ndarray, bool]:
    """x (N, C, L) or one signal (C, L) as the image (N, C, 1, L) — a view; whether it was
    one signal."""
    x = check_float_array(name, x, func=func)
    if x.ndim not in (2, 3):
        raise ValueError(f"{func}: {name}: expected shape (N, C, L) or (C, L), got {x.shape}")
    one = x.ndim == 2
    return (x[None] if one else x)[:, :, None, :], one


def _as_signal(y: np.ndarray, one: bool) -> np.ndarray:
    """The (N, C, 1, L) result as (N, C, L), or (C, L) for one signal."""
    return y[0, :, 0, :] if one else y[:, :, 0, :]


class Conv1d(Module):
    """1-D convolution (cross-correlation), as ``torch.nn.Conv1d``:

        Y[β, o, i] = Σ_c Σ_a w[o, c, a] · X̃[β, c, s·i + d·a] + b[o]   (0-based; groups as
        ``Conv2d``), L_out = ⌊(L + 2p − d(k − 1) − 1)/s⌋ + 1,

    X̃ the signal with its border (``padding``: an int, ``"valid"`` or ``"same"`` for stride 1;
    ``padding_mode`` zeros, reflect, replicate or circular). Parameters ``weight``
    (C_out, C_in/G, k) and ``bias`` (C_out,) ~ U(−1/√fan_in, 1/√fan_in), fan_in = (C_in/G)·k.
    Input (N, C_in, L) or (C_in, L). Runs ``ops.conv2d`` on the (N, C, 1, L) view.

    >>> Conv1d(2, 4, 5, padding=2, rng=0)
    Conv1d(2, 4, kernel_size=(5,), stride=(1,), padding=(2,))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] | str = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "Conv1d"
        self.in_channels, self.out_channels, self.groups = _channels(
            func, in_channels, out_channels, groups
        )
        self.kernel_size = _one("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = _one("stride", stride, minimum=1, func=func)
        self.dilation = _one("dilation", dilation, minimum=1, func=func)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(
                    f"{func}: padding: expected an int, 'valid' or 'same', got {padding!r}"
                )
            if padding == "same" and self.stride != 1:
                raise ValueError(f"{func}: padding: 'same' needs stride 1, got {self.stride}")
            self.padding: int | str = padding
        else:
            self.padding = _one("padding", padding, minimum=0, func=func)
        self.padding_mode = _padding_mode(func, padding_mode)
        shape = (self.out_channels, self.in_channels // self.groups, self.kernel_size)
        self.weight, self.bias = _conv_parameters(func, shape, bias, rng, dtype)

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype, which the input must have."""
        return self.weight.dtype

    def border(self) -> tuple[int, int]:
        """The padding as (left, right): ``"same"`` puts an even kernel's extra cell after."""
        p = self.padding if isinstance(self.padding, str) else (0, self.padding)
        _, (left, right) = resolve_padding(
            p, (1, self.kernel_size), (1, self.dilation), (1, self.stride), func="Conv1d"
        )
        return left, right

    def _pad_mode(self) -> str | None:
        """``ops.pad2d``'s mode for the border X̃ takes before an unpadded correlation, or
        None where the correlation's own symmetric zeros are the border."""
        if self.padding_mode != "zeros":
            return self.padding_mode
        left, right = self.border()
        return None if left == right else "constant"  # "same" with an even kernel

    def _args(self) -> dict[str, Any]:
        return {
            "stride": (1, self.stride),
            "padding": (0, self.border()[0]) if self._pad_mode() is None else 0,
            "dilation": (1, self.dilation),
            "groups": self.groups,
        }

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = the correlation of X̃ with the weight, plus the bias; the context is (x as an
        image, X̃, whether one signal came)."""
        func = "Conv1d.forward"
        x4, one = _as_image(func, x)
        self._check_input_dtype(x, self.weight.dtype)
        if x4.shape[1] != self.in_channels:
            raise ValueError(
                f"{func}: x: expected {self.in_channels} channels (in_channels), got shape "
                f"{x.shape}"
            )
        mode = self._pad_mode()
        x_pad = x4 if mode is None else ops.pad2d(x4, (*self.border(), 0, 0), mode)
        bias = self.bias.data if self.bias is not None else None
        y = ops.conv2d(x_pad, self.weight.data[:, :, None, :], bias, **self._args())
        return _as_signal(y, one), (x4, x_pad, one)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X from G; adds ∂ℓ/∂w and ∂ℓ/∂b into the parameters' grads."""
        x4, x_pad, one = ctx
        g, _ = _as_image("Conv1d.backward", grad_output, "grad_output")
        grad_x, grad_w, grad_b = ops.conv2d_backward(
            g, x_pad, self.weight.data[:, :, None, :], **self._args()
        )
        self.weight.grad += grad_w[:, :, 0, :]
        if self.bias is not None:
            self.bias.grad += grad_b
        mode = self._pad_mode()
        if mode is not None:
            grad_x = ops.pad2d_backward(grad_x, x4, (*self.border(), 0, 0), mode)
        return _as_signal(grad_x, one)

    def extra_repr(self) -> str:
        """As ``torch.nn.Conv1d`` prints: one-element tuples, the defaults left out."""
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size=({self.kernel_size},), "
            f"stride=({self.stride},)"
        )
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif self.padding:
            s += f", padding=({self.padding},)"
        if self.dilation != 1:
            s += f", dilation=({self.dilation},)"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class ConvTranspose1d(Module):
    """1-D transposed convolution, as ``torch.nn.ConvTranspose1d`` (a 1-D decoder's, a
    vocoder's upsampling): the adjoint of Conv1d's input-to-output map, each input sample
    scattering x[β, c, i]·w[c, o, :] into the output at s·i − p with taps d apart,

        Y[β, o, y] = Σ_c Σ_{i, a: s·i − p + d·a = y} X[β, c, i]·w[c, o, a] + b[o]   (per group),
        L_out = (L − 1)·s − 2p + d(k − 1) + output_padding + 1.

    Parameters ``weight`` (C_in, C_out/G, k) and ``bias`` (C_out,) ~ U(±1/√fan_in),
    fan_in = (C_out/G)·k, as PyTorch's. Input (N, C_in, L) or (C_in, L). Runs
    ``ops.conv_transpose2d`` on the (N, C, 1, L) view. ``padding_mode``: "zeros" only, as in
    PyTorch (which refuses the others for transposed convolutions).

    >>> ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1, rng=0)
    ConvTranspose1d(4, 2, kernel_size=(3,), stride=(2,), padding=(1,), output_padding=(1,))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: int | tuple[int] = 0,
        output_padding: int | tuple[int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int] = 1,
        padding_mode: str = "zeros",
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "ConvTranspose1d"
        self.in_channels, self.out_channels, self.groups = _channels(
            func, in_channels, out_channels, groups
        )
        self.kernel_size = _one("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = _one("stride", stride, minimum=1, func=func)
        self.padding = _one("padding", padding, minimum=0, func=func)
        self.output_padding = _one("output_padding", output_padding, minimum=0, func=func)
        self.dilation = _one("dilation", dilation, minimum=1, func=func)
        if self.output_padding >= max(self.stride, self.dilation):
            raise ValueError(
                f"{func}: output_padding: expected less than stride ({self.stride}) or "
                f"dilation ({self.dilation}), got {self.output_padding}"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"{func}: padding_mode: expected 'zeros' (the only border of a transposed "
                f"convolution, as in PyTorch), got {padding_mode!r}"
            )
        self.padding_mode = "zeros"
        if not isinstance(bias, bool):
            raise TypeError(f"{func}: bias: expected a bool, got {bias!r}")
        shape = (self.in_channels, self.out_channels // self.groups, self.kernel_size)
        generator = as_generator(rng, func=func)
        self.weight, _ = _conv_parameters(func, shape, False, generator, dtype)
        self.bias = None
        if bias:  # (C_out,), drawn after the weight with the weight's bound, as PyTorch's
            bound = 1.0 / np.sqrt(shape[1] * shape[2])
            self.bias = Parameter(_uniform(generator, bound, (self.out_channels,), self.dtype))

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype, which the input must have."""
        return self.weight.dtype

    def _args(self) -> dict[str, Any]:
        return {
            "stride": (1, self.stride),
            "padding": (0, self.padding),
            "output_padding": (0, self.output_padding),
            "groups": self.groups,
            "dilation": (1, self.dilation),
        }

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = conv_transpose2d on the (N, C, 1, L) view; the context is (x as an image,
        whether one signal came)."""
        func = "ConvTranspose1d.forward"
        x4, one = _as_image(func, x)
        self._check_input_dtype(x, self.weight.dtype)
        if x4.shape[1] != self.in_channels:
            raise ValueError(
                f"{func}: x: expected {self.in_channels} channels (in_channels), got shape "
                f"{x.shape}"
            )
        bias = self.bias.data if self.bias is not None else None
        y = ops.conv_transpose2d(x4, self.weight.data[:, :, None, :], bias, **self._args())
        return _as_signal(y, one), (x4, one)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X from G; adds ∂ℓ/∂w and ∂ℓ/∂b into the parameters' grads."""
        x4, one = ctx
        g, _ = _as_image("ConvTranspose1d.backward", grad_output, "grad_output")
        grad_x, grad_w, grad_b = ops.conv_transpose2d_backward(
            g, x4, self.weight.data[:, :, None, :], **self._args()
        )
        self.weight.grad += grad_w[:, :, 0, :]
        if self.bias is not None:
            self.bias.grad += grad_b
        return _as_signal(grad_x, one)

    def extra_repr(self) -> str:
        """As ``torch.nn.ConvTranspose1d`` prints: one-element tuples, defaults left out."""
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size=({self.kernel_size},), "
            f"stride=({self.stride},)"
        )
        for name, default in (("padding", 0), ("dilation", 1), ("output_padding", 0)):
            if getattr(self, name) != default:
                s += f", {name}=({getattr(self, name)},)"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


def _flag(func: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name}: expected a bool, got {value!r}")
    return bool(value)


class _Pool1d(Module):
    """A pooling window of ``kernel_size`` taps every ``stride`` (default: the window),
    ``padding`` on both ends (at most half the window, as PyTorch)."""

    def __init__(
        self, kernel_size: int | tuple[int], stride: int | tuple[int] | None, padding: Any
    ) -> None:
        super().__init__()
        func = type(self).__name__
        self.kernel_size = _one("kernel_size", kernel_size, minimum=1, func=func)
        self.stride = (
            self.kernel_size if stride is None else _one("stride", stride, minimum=1, func=func)
        )
        self.padding = _one("padding", padding, minimum=0, func=func)
        if self.padding > self.kernel_size // 2:
            raise ValueError(
                f"{func}: padding: expected at most half the window (<= "
                f"{self.kernel_size // 2}), got {padding!r} for kernel_size {kernel_size!r}"
            )

    def _window(self) -> dict[str, Any]:
        return {
            "kernel_size": (1, self.kernel_size),
            "stride": (1, self.stride),
            "padding": (0, self.padding),
        }


class MaxPool1d(_Pool1d):
    """Max pooling of a signal, as ``torch.nn.MaxPool1d``: Y[β, c, i] = max of X over the
    k taps d apart from s·i − p, X padded with −∞; L_out = ⌊(L + 2p − d(k − 1) − 1)/s⌋ + 1
    (⌈·⌉ with ``ceil_mode``). The backward routes G to each window's first maximum.
    ``return_indices=True`` returns (Y, I) as PyTorch's: I the position in x's signal of
    each window's choice (padding not counted), for a :class:`MaxUnpool1d`; two values in a
    :class:`Graph`, and the backward takes G or (G, None).

    >>> MaxPool1d(2)
    MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> MaxPool1d(2, return_indices=True)(np.array([[1.0, 4.0, 3.0, 2.0]]))
    (array([[4., 3.]]), array([[1, 2]]))
    """

    def __init__(
        self,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] | None = None,
        padding: int | tuple[int] = 0,
        dilation: int | tuple[int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        func = "MaxPool1d"
        self.dilation = _one("dilation", dilation, minimum=1, func=func)
        self.return_indices = _flag(func, "return_indices", return_indices)
        self.ceil_mode = _flag(func, "ceil_mode", ceil_mode)

    def _args(self) -> dict[str, Any]:
        return {**self._window(), "dilation": (1, self.dilation), "ceil_mode": self.ceil_mode}

    @property
    def extra_outputs(self) -> tuple[str, ...]:  # type: ignore[override]
        """("indices",) with ``return_indices``: the layer returns (Y, I); else ()."""
        return ("indices",) if self.return_indices else ()

    def forward_ctx(self, x: np.ndarray) -> tuple[Any, Any]:
        """Y = max_pool2d of the (N, C, 1, L) view; the context keeps the choice I (the 2-D
        op's position u·L + v with u = 0: the position in the signal)."""
        x4, one = _as_image("MaxPool1d.forward", x)
        y, indices = ops.max_pool2d(x4, **self._args(), return_indices=True)
        y1 = _as_signal(y, one)
        out = (y1, _as_signal(indices, one)) if self.return_indices else y1
        return out, (x4, indices, one)

    def backward_ctx(self, ctx: Any, grad_output: Any) -> np.ndarray:
        """∂ℓ/∂X: each G[β, c, i] added to the maximum the forward chose (G or (G, None)
        with ``return_indices``; zeros when only I was read)."""
        x4, indices, one = ctx
        grad_output = _y_grad("MaxPool1d", grad_output, self.return_indices)
        if grad_output is None:
            return _as_signal(np.zeros_like(x4), one)
        g, _ = _as_image("MaxPool1d.backward", grad_output, "grad_output")
        return _as_signal(ops.max_pool2d_backward(g, x4, **self._args(), indices=indices), one)

    def extra_repr(self) -> str:
        """As ``torch.nn.MaxPool1d`` prints."""
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool1d(_Pool1d):
    """Average pooling of a signal, as ``torch.nn.AvgPool1d``: Y[β, c, i] = (1/D) Σ of the k
    taps from s·i − p of X padded with 0, D = k with ``count_include_pad`` (the default),
    else the taps inside the signal; L_out = ⌊(L + 2p − k)/s⌋ + 1 (⌈·⌉ with ``ceil_mode``).

    >>> AvgPool1d(2)
    AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))
    """

    def __init__(
        self,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] | None = None,
        padding: int | tuple[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode = _flag("AvgPool1d", "ceil_mode", ceil_mode)
        self.count_include_pad = _flag("AvgPool1d", "count_include_pad", count_include_pad)

    def _args(self) -> dict[str, Any]:
        return {
            **self._window(),
            "ceil_mode": self.ceil_mode,
            "count_include_pad": self.count_include_pad,
        }

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = avg_pool2d of the (N, C, 1, L) view; the context is that view."""
        x4, one = _as_image("AvgPool1d.forward", x)
        return _as_signal(ops.avg_pool2d(x4, **self._args()), one), (x4, one)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X: G[β, c, i]/D added to every tap of window i."""
        x4, one = ctx
        g, _ = _as_image("AvgPool1d.backward", grad_output, "grad_output")
        return _as_signal(ops.avg_pool2d_backward(g, x4, **self._args()), one)

    def extra_repr(self) -> str:
        """As ``torch.nn.AvgPool1d`` prints: one-element tuples."""
        return (
            f"kernel_size=({self.kernel_size},), stride=({self.stride},), padding=({self.padding},)"
        )


class _AdaptivePool1d(Module):
    _op: Any
    _backward: Any
    return_indices = False

    def __init__(self, output_size: int | tuple[int]) -> None:
        super().__init__()
        self.output_size = _one("output_size", output_size, minimum=1, func=type(self).__name__)

    @property
    def extra_outputs(self) -> tuple[str, ...]:  # type: ignore[override]
        """("indices",) for a max pooling with ``return_indices``: it returns (Y, I)."""
        return ("indices",) if self.return_indices else ()

    def forward_ctx(self, x: np.ndarray) -> tuple[Any, Any]:
        """Y = the adaptive pooling of the (N, C, 1, L) view to (1, output_size); (Y, I)
        with ``return_indices``, I the position in the signal."""
        x4, one = _as_image(f"{type(self).__name__}.forward", x)
        if self.return_indices:
            y, i = type(self)._op(x4, (1, self.output_size), return_indices=True)
            return (_as_signal(y, one), _as_signal(i, one)), (x4, one)
        return _as_signal(type(self)._op(x4, (1, self.output_size)), one), (x4, one)

    def backward_ctx(self, ctx: Any, grad_output: Any) -> np.ndarray:
        """∂ℓ/∂X from G (the 2-D op's backward on the view); G or (G, None) with
        ``return_indices``."""
        x4, one = ctx
        grad_output = _y_grad(type(self).__name__, grad_output, self.return_indices)
        if grad_output is None:
            return _as_signal(np.zeros_like(x4), one)
        g, _ = _as_image(f"{type(self).__name__}.backward", grad_output, "grad_output")
        return _as_signal(type(self)._backward(g, x4, (1, self.output_size)), one)

    def extra_repr(self) -> str:
        """``output_size=n`` as ``torch.nn`` prints it."""
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool1d):
    """Adaptive average pooling of a signal, as ``torch.nn.AdaptiveAvgPool1d``: output cell
    i of n averages ``[⌊i·L/n⌋, ⌈(i + 1)·L/n⌉)``; ``AdaptiveAvgPool1d(1)`` is the global mean.

    >>> AdaptiveAvgPool1d(1)
    AdaptiveAvgPool1d(output_size=1)
    """

    _op = staticmethod(ops.adaptive_avg_pool2d)
    _backward = staticmethod(ops.adaptive_avg_pool2d_backward)


class AdaptiveMaxPool1d(_AdaptivePool1d):
    """Adaptive max pooling of a signal, as ``torch.nn.AdaptiveMaxPool1d``: the maximum over
    the cells of :class:`AdaptiveAvgPool1d`; ``return_indices=True`` returns (Y, I), I the
    position in x's signal of each cell's (first) maximum, as PyTorch's."""

    _op = staticmethod(ops.adaptive_max_pool2d)
    _backward = staticmethod(ops.adaptive_max_pool2d_backward)

    def __init__(self, output_size: int | tuple[int], return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = _flag("AdaptiveMaxPool1d", "return_indices", return_indices)
