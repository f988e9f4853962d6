"""Pooling layers: max, average, power-average (LPPool1d/2d/3d), max-unpooling, adaptive,
fractional max (FractionalMaxPool2d/3d)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import ops
from .._checks import check_float_array, int_pair, int_triple, positive_int
from ..ops.pool.fractional import _output_spec as _fractional_output
from ..ops.pool.fractional import _windows as _fractional_windows
from ..ops.pool.lp_pool import _norm_type
from ..ops.pool.unpool import _ints as _spatial  # an int or rank ints, each >= minimum
from ._common import as_generator
from .module import Module


class _Pooled(NamedTuple):
    """The context of MaxPool2d: its input x, the forward's choice I in training mode
    (``max_pool2d(..., return_indices=True)``; None in eval mode), and after a fused ReLU
    its output y."""

    x: np.ndarray
    indices: np.ndarray | None
    y: np.ndarray | None = None


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


def _flag(func: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name}: expected a bool, got {value!r}")
    return bool(value)


def _y_grad(func: str, grad_output: Any, with_indices: bool) -> Any:
    """G of a layer returning (Y, I) when ``with_indices``: grad_output is G or (G, G_I), G_I
    None (or zeros from an op that reads I: integers take no gradient); G None when only I
    was read (the caller's ∂ℓ/∂X is then 0)."""
    if with_indices and isinstance(grad_output, (tuple, list)):
        if len(grad_output) != 2:
            raise TypeError(
                f"{func}.backward: grad_output: expected G or (G, None), one gradient "
                f"per output (Y, indices), got {len(grad_output)} values"
            )
        return grad_output[0]
    return grad_output


class MaxPool2d(_Pool2d):
    """Max pooling, as ``torch.nn.MaxPool2d``: Y[β,c,i,j] = max over the window of k1×k2 taps
    d apart, at (s·i − p, s·j − p), of X padded with −∞.

    Input (B, C, m, n) or (C, m, n); output (B, C, H_out, W_out) with
    H_out = ⌊(m + 2p − d(k1 − 1) − 1)/s⌋ + 1 (⌈·⌉ with ``ceil_mode``, a last window that
    starts in the padding dropped). The backward pass routes each G[β,c,i,j] to the window's
    first maximal element.

    ``return_indices=True`` (SegNet's encoder, for a :class:`MaxUnpool2d` in the decoder)
    makes the layer return the pair (Y, I), as PyTorch's: I int64 of Y's shape, the
    position u·n + v in its (m, n) plane of x of the element window (i, j) chose (0-based,
    padding not counted; the first maximum in row-major window order, or the last NaN).
    In a :class:`Graph` the two are two values, ``y, indices = g.add(pool, "conv1")``
    (``extra_outputs`` = ("indices",)); the backward takes (G, None) — I is an integer,
    which takes no gradient — or G alone. A :class:`Sequential` passes one array from layer
    to layer, so it cannot carry I: it refuses the layer, pointing to a Graph.

    >>> MaxPool2d(2)
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> MaxPool2d(2, return_indices=True)(np.array([[[[1.0, 4.0], [3.0, 2.0]]]]))
    (array([[[[4.]]]]), array([[[[1]]]]))
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        func = "MaxPool2d"
        self.dilation = _pool_arg("dilation", dilation, minimum=1, func=func)
        self.return_indices = _flag(func, "return_indices", return_indices)
        self.ceil_mode = _flag(func, "ceil_mode", ceil_mode)

    def _args(self) -> dict[str, Any]:
        return {**super()._args(), "dilation": self.dilation, "ceil_mode": self.ceil_mode}

    @property
    def extra_outputs(self) -> tuple[str, ...]:  # type: ignore[override]
        """("indices",) with ``return_indices``: the layer returns (Y, I); else ()."""
        return ("indices",) if self.return_indices else ()

    def _pool(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(Y, I): in training mode (and whenever the indices are returned) the forward also
        keeps each window's choice I, so that the backward routes G by it instead of finding
        the maxima again (as PyTorch's autograd keeps its indices); in eval mode I is None —
        inference skips the work of the choice, and a backward there finds it again from x
        (the same gradient)."""
        if self.training or self.return_indices:
            return ops.max_pool2d(x, **self._args(), return_indices=True)
        return ops.max_pool2d(x, **self._args()), None

    def forward_ctx(self, x: np.ndarray) -> tuple[Any, Any]:
        """Y = max_pool2d(x) with this layer's window, stride, padding, dilation and mode;
        the pair (Y, I) with ``return_indices``."""
        y, indices = self._pool(x)
        return ((y, indices) if self.return_indices else y), _Pooled(x, indices)

    def backward_ctx(self, ctx: Any, grad_output: Any) -> np.ndarray:
        """∂ℓ/∂X: each G[β,c,i,j] added to its window's (first) maximal element, the one
        the forward chose (found again from x after an eval-mode forward). After a fused
        ReLU (`forward_relu_ctx`) G is first masked where the pooled maximum was <= 0.
        With ``return_indices`` grad_output is G or (G, G_I), G_I None (or zeros from an
        op that reads I: the indices are integers, without gradient), G None when only I
        was read (then ∂ℓ/∂X = 0)."""
        grad_output = _y_grad("MaxPool2d", grad_output, self.return_indices)
        if grad_output is None:
            return np.zeros_like(ctx.x)
        if ctx.y is not None:
            y = ctx.y
            self._check_grad_output(grad_output, y.shape, y.dtype)
            grad_output = ops.relu_backward(grad_output, y)  # y = max(M, 0): 0 where M <= 0
        return ops.max_pool2d_backward(grad_output, ctx.x, **self._args(), indices=ctx.indices)

    def forward_relu_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """ReLU then this pooling, as one step: Y = max(max_pool2d(x), 0).

        The same Y as max_pool2d(max(x, 0)) bit for bit: max(·, 0) is monotone, so it
        commutes with the window maximum, and it runs on the pooled output, a quarter of
        x for 2×2 windows. The gradient is the same too: where the window's maximum M is
        > 0 its first maximal element is the same in x and in max(x, 0), and ReLU passes G
        there; where M <= 0 the ReLU's derivative is 0 at every element of the window. So
        ∂ℓ/∂x = max_pool2d_backward(G masked where Y = 0, x) (NaN follows PyTorch: a NaN
        maximum passes G to the NaN, as it would through both layers).
        """
        x = check_float_array("x", x, func="relu")
        m, indices = self._pool(x)
        zero = m.dtype.type(0)
        y = np.maximum(m, zero) if np.may_share_memory(m, x) else np.maximum(m, zero, out=m)
        return y, _Pooled(x, indices, y)

    def extra_repr(self) -> str:
        """``kernel_size, stride, padding, dilation, ceil_mode``, as ``torch.nn.MaxPool2d``
        prints them."""
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class _Averaging:
    """The averaging options of AvgPool2d and AvgPool3d, checked and set once for both."""

    ceil_mode: bool
    count_include_pad: bool
    divisor_override: int | None

    def _set_averaging(self, ceil_mode: Any, count_include_pad: Any, divisor_override: Any) -> None:
        func = type(self).__name__
        self.ceil_mode = _flag(func, "ceil_mode", ceil_mode)
        self.count_include_pad = _flag(func, "count_include_pad", count_include_pad)
        self.divisor_override = (
            None
            if divisor_override is None
            else positive_int("divisor_override", divisor_override, func=func)
        )

    def _averaging(self) -> dict[str, Any]:
        """The options as the pooling ops take them."""
        return {
            "ceil_mode": self.ceil_mode,
            "count_include_pad": self.count_include_pad,
            "divisor_override": self.divisor_override,
        }


class AvgPool2d(_Averaging, _Pool2d):
    """Average pooling, as ``torch.nn.AvgPool2d``: Y[β,c,i,j] = (1/D) Σ over the k1×k2
    window of X padded with 0, where the divisor D is ``divisor_override`` if given, else
    k1·k2 with ``count_include_pad`` (the default) and the number of in-image elements of the
    window without it; windows are clipped to the padded input (PyTorch's rule in
    ``ceil_mode``).

    Input (B, C, m, n) or (C, m, n); output (B, C, ⌊(m + 2p − k1)/s⌋ + 1, …) (⌈·⌉ with
    ``ceil_mode``). Backward spreads G/D over each window.

    >>> AvgPool2d(2)
    AvgPool2d(kernel_size=2, stride=2, padding=0)
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self._set_averaging(ceil_mode, count_include_pad, divisor_override)

    def _args(self) -> dict[str, Any]:
        return {**super()._args(), **self._averaging()}

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = avg_pool2d(x) with this layer's window, stride, padding and divisor rule."""
        y = ops.avg_pool2d(x, **self._args())
        return y, x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X: G[β,c,i,j]/D added to every element of window (i, j)."""
        x = ctx
        return ops.avg_pool2d_backward(grad_output, x, **self._args())

    def extra_repr(self) -> str:
        """``kernel_size=k, stride=s, padding=p``, as ``torch.nn.AvgPool2d`` prints them
        (it leaves the other options out)."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePool2d(Module):
    """An adaptive pooling layer over ``_axes`` spatial axes (2 here; 3 for the volumetric
    layers): ``output_size`` an int or one size per axis, None keeping the input's."""

    _op: Any
    _backward: Any
    _axes = 2
    return_indices = False

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        func = type(self).__name__
        if isinstance(output_size, list):  # torch takes a list as a tuple too
            output_size = tuple(output_size)
        sizes = output_size if isinstance(output_size, tuple) else (output_size,) * self._axes
        if len(sizes) != self._axes or not all(
            n is None or (isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1)
            for n in sizes
        ):
            several = "a pair" if self._axes == 2 else "a triple"
            raise ValueError(
                f"{func}: output_size: expected an int >= 1 or {several} of them (None keeps "
                f"the input's size), got {output_size!r}"
            )
        self.output_size = output_size

    @property
    def extra_outputs(self) -> tuple[str, ...]:  # type: ignore[override]
        """("indices",) for a max pooling with ``return_indices``: it returns (Y, I)."""
        return ("indices",) if self.return_indices else ()

    def forward_ctx(self, x: np.ndarray) -> tuple[Any, Any]:
        """Y = the adaptive pooling of x to ``output_size`` (the pair (Y, I) with
        ``return_indices``); the context is x."""
        if self.return_indices:
            return type(self)._op(x, self.output_size, return_indices=True), x
        return type(self)._op(x, self.output_size), x

    def backward_ctx(self, ctx: Any, grad_output: Any) -> np.ndarray:
        """∂ℓ/∂X from G (see the op's backward); G or (G, None) with ``return_indices``."""
        grad_output = _y_grad(type(self).__name__, grad_output, self.return_indices)
        if grad_output is None:
            return np.zeros_like(ctx)
        return type(self)._backward(grad_output, ctx, self.output_size)

    def extra_repr(self) -> str:
        """``output_size=…`` as given, as ``torch.nn`` prints it."""
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Adaptive average pooling, as ``torch.nn.AdaptiveAvgPool2d``: output cell i of n over
    an input of length H averages ``[floor(i·H/n), ceil((i+1)·H/n))`` (0-based) on
    each axis; ``AdaptiveAvgPool2d(1)`` is global average pooling.

    >>> AdaptiveAvgPool2d((1, 1))
    AdaptiveAvgPool2d(output_size=(1, 1))
    """

    _op = staticmethod(ops.adaptive_avg_pool2d)
    _backward = staticmethod(ops.adaptive_avg_pool2d_backward)


class _AdaptiveMax:
    """``return_indices`` of the adaptive max poolings (all ranks), checked once."""

    return_indices: bool

    def _set_indices(self, return_indices: Any) -> None:
        self.return_indices = _flag(type(self).__name__, "return_indices", return_indices)


class AdaptiveMaxPool2d(_AdaptiveMax, _AdaptivePool2d):
    """Adaptive max pooling, as ``torch.nn.AdaptiveMaxPool2d``: the maximum over the same
    cells as :class:`AdaptiveAvgPool2d`. ``return_indices=True`` returns (Y, I) as PyTorch's,
    I the position u·W + v in its (H, W) plane of x of each cell's (first) maximum — two
    values in a :class:`Graph`, as :class:`MaxPool2d`'s.

    >>> AdaptiveMaxPool2d(1, return_indices=True)(np.array([[[[1.0, 4.0], [3.0, 2.0]]]]))
    (array([[[[4.]]]]), array([[[[1]]]]))
    """

    _op = staticmethod(ops.adaptive_max_pool2d)
    _backward = staticmethod(ops.adaptive_max_pool2d_backward)

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self._set_indices(return_indices)


class _MaxUnpool(Module):
    """Max unpooling over ``_rank`` spatial axes (see :class:`MaxUnpool2d`)."""

    _rank = 2
    _op: Any
    _backward: Any
    _sizes = "(H, W)"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        func, r = type(self).__name__, self._rank
        self.kernel_size = _spatial("kernel_size", kernel_size, r, minimum=1, func=func)
        self.stride = (
            self.kernel_size
            if stride is None
            else _spatial("stride", stride, r, minimum=1, func=func)
        )
        self.padding = _spatial("padding", padding, r, minimum=0, func=func)

    def _args(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    def _size(self, output_size: Any) -> Any:
        """output_size as the op takes it: None, a tuple of ints, or the last ``_rank`` sizes
        of a float array (of 2 axes or more: a signal's tensor is (C, L) at least)."""
        r = self._rank
        least = max(r, 2)  # a signal's tensor has a channel axis at least: (C, L)
        if isinstance(output_size, np.ndarray):
            if np.issubdtype(output_size.dtype, np.floating) and output_size.ndim >= least:
                return output_size.shape[-r:]
            if np.issubdtype(output_size.dtype, np.integer) and output_size.ndim == 1:
                return tuple(int(v) for v in output_size)
            axes = self._sizes.strip("()")
            raise TypeError(
                f"{type(self).__name__}.forward: output_size: expected None, {self._sizes} or "
                f"(N, C, {axes}) as ints or a 1-D integer array, or a float array of {least} or "
                f"more axes whose last {r} are {self._sizes}, got an array of dtype "
                f"{output_size.dtype} and shape {output_size.shape}"
            )
        return output_size

    def forward_ctx(
        self, x: np.ndarray, indices: np.ndarray, output_size: Any = None
    ) -> tuple[np.ndarray, Any]:
        """Y = max_unpool(x, indices) with this layer's geometry (and output size)."""
        size = self._size(output_size)
        try:
            y = type(self)._op(x, indices, **self._args(), output_size=size)
        except (TypeError, ValueError) as e:
            if not isinstance(output_size, np.ndarray) or "output_size" not in str(e):
                raise
            raise type(e)(
                f"{e} (read from output_size, an array of dtype {output_size.dtype} and shape "
                f"{output_size.shape})"
            ) from None
        return y, (x, indices, size, output_size is not None)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> Any:
        """(∂ℓ/∂X, None[, None]): G gathered at the indices; no gradient for the indices."""
        x, indices, size, sized = ctx
        grad_x = type(self)._backward(grad_output, x, indices, **self._args(), output_size=size)
        return (grad_x, None, None) if sized else (grad_x, None)

    def extra_repr(self) -> str:
        """``kernel_size, stride, padding`` as tuples, as ``torch.nn.MaxUnpool*d`` prints
        them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(_MaxUnpool):
    """Max unpooling, as ``torch.nn.MaxUnpool2d``: the partial inverse of a
    :class:`MaxPool2d` with ``return_indices=True`` (SegNet's decoder upsampling).

    Y[β,c] = 0 except Y[β,c].flat[I[β,c,i,j]] = X[β,c,i,j]: each value goes back to the
    position u·W_out + v its index names in its (H_out, W_out) plane (the later one in
    row-major order where two coincide, as PyTorch's CPU kernel). kernel_size, stride
    (default kernel_size) and padding are the pool's; they give the output size
    H_out = (h − 1)·s − 2p + k1 (likewise W_out), unless ``output_size`` picks one of the
    sizes within a stride of it (the pool's input size when the pool dropped a remainder).

    ``forward(x, indices, output_size=None)`` as PyTorch's: x (B, C, h, w) or (C, h, w)
    float, indices an integer array of x's shape. ``output_size`` is (H, W) or
    (N, C, H, W) — as ints, or as a 1-D integer array — or, since a :class:`Graph` node
    reads values, a float array of 2 or more axes whose last two are (H, W) (only they are
    read): the tensor the pool read, batched (B, C, H, W) or not (C, H, W), SegNet's
    ``output_size=x.size()``, as ``g.add(unpool, "dec", "pool_indices", "conv1")``.
    Backward: ∂ℓ/∂X[β,c,i,j] = G[β,c].flat[I[β,c,i,j]] (a gather); None for the indices
    (integers: no gradient) and for ``output_size`` (only its shape is read).

    >>> MaxUnpool2d(2)(np.array([[[5.0]]]), np.array([[[3]]]))
    array([[[0., 0.],
            [0., 5.]]])
    """

    _op = staticmethod(ops.max_unpool2d)
    _backward = staticmethod(ops.max_unpool2d_backward)
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__(kernel_size, stride, padding)


class MaxUnpool1d(_MaxUnpool):
    """Max unpooling of signals, as ``torch.nn.MaxUnpool1d``: the partial inverse of a
    :class:`MaxPool1d` with ``return_indices=True``. Y[β,c] = 0 except
    Y[β,c,I[β,c,i]] = X[β,c,i]; L_out = (l − 1)·s − 2p + k unless ``output_size`` ((L,),
    (N, C, L), or a float array whose last axis is L: the pool's input) picks a size within
    a stride of it. ``forward(x, indices, output_size=None)``: x (B, C, l) or (C, l).
    Backward: ∂ℓ/∂X[β,c,i] = G[β,c,I[β,c,i]]; None for the indices and ``output_size``.

    >>> MaxUnpool1d(2)(np.array([[5.0, 7.0]]), np.array([[1, 2]]))
    array([[0., 5., 7., 0.]])
    """

    _rank = 1
    _sizes = "(L,)"
    _op = staticmethod(ops.max_unpool1d)
    _backward = staticmethod(ops.max_unpool1d_backward)

    def __init__(
        self,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] | None = None,
        padding: int | tuple[int] = 0,
    ) -> None:
        super().__init__(kernel_size, stride, padding)


class MaxUnpool3d(_MaxUnpool):
    """Max unpooling of volumes, as ``torch.nn.MaxUnpool3d``: the partial inverse of a
    :class:`MaxPool3d` with ``return_indices=True``. Y[β,c] = 0 except
    Y[β,c].flat[I[β,c,t,i,j]] = X[β,c,t,i,j], the position (t'·H_out + u)·W_out + v in its
    (D_out, H_out, W_out) volume; D_out = (d − 1)·s0 − 2p0 + k0 (likewise H_out, W_out)
    unless ``output_size`` ((D, H, W), (N, C, D, H, W), or a float array whose last three
    axes are (D, H, W)) picks sizes within a stride of them. ``forward(x, indices,
    output_size=None)``: x (B, C, d, h, w) or (C, d, h, w). Backward: the gather
    G[β,c].flat[I]; None for the indices and ``output_size``.

    >>> MaxUnpool3d(2)(np.ones((1, 1, 1, 1)), np.array([[[[7]]]])).shape
    (1, 2, 2, 2)
    """

    _rank = 3
    _sizes = "(D, H, W)"
    _op = staticmethod(ops.max_unpool3d)
    _backward = staticmethod(ops.max_unpool3d_backward)

    def __init__(
        self,
        kernel_size: int | tuple[int, int, int],
        stride: int | tuple[int, int, int] | None = None,
        padding: int | tuple[int, int, int] = 0,
    ) -> None:
        super().__init__(kernel_size, stride, padding)


class _LPPool(Module):
    """Power-average pooling over ``_rank`` window axes: the arguments kept as given (PyTorch
    prints them so: ``stride=None`` for the default), checked as the op checks them."""

    _rank: int

    def __init__(
        self,
        norm_type: float,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] | None = None,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        _norm_type(norm_type, func=func)
        _spatial("kernel_size", kernel_size, self._rank, minimum=1, func=func)
        if stride is not None:
            _spatial("stride", stride, self._rank, minimum=1, func=func)
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = _flag(func, "ceil_mode", ceil_mode)

    def _args(self) -> dict[str, Any]:
        return {
            "norm_type": self.norm_type,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "ceil_mode": self.ceil_mode,
        }

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Y = lp_pool{rank}d(x) with this layer's p, window and stride; the context is x."""
        op = getattr(ops, f"lp_pool{self._rank}d")
        return op(x, **self._args()), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X, PyTorch autograd's (the op's backward: NaN at X = 0 for p < 1)."""
        backward = getattr(ops, f"lp_pool{self._rank}d_backward")
        return backward(grad_output, ctx, **self._args())

    def extra_repr(self) -> str:
        """As ``torch.nn.LPPool{rank}d`` prints: every argument as given."""
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPool):
    """Power-average pooling of signals, as ``torch.nn.LPPool1d``:
    Y[β,c,i] = (Σ of X^p over the k taps from s·i)^(1/p) (``ops.lp_pool1d``: a ``ceil_mode``
    window that runs past x has its sum scaled by k/(its taps in x), as PyTorch's); p = inf is
    the maximum of |X|. Input (B, C, L) or (C, L); L_out = ⌊(L − k)/s⌋ + 1 (⌈·⌉ with
    ``ceil_mode``).

    >>> LPPool1d(2, 3)
    LPPool1d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)
    """

    _rank = 1


class LPPool2d(_LPPool):
    """Power-average pooling, as ``torch.nn.LPPool2d``:
    Y[β,c,i,j] = (Σ of X^p over the k1×k2 window)^(1/p) (``ops.lp_pool2d``: PyTorch's
    avg_pool2d of X^p times k1·k2, to the power 1/p); p = inf is the maximum of |X|. Input
    (B, C, m, n) or (C, m, n); output (B, C, ⌊(m − k1)/s⌋ + 1, …) (⌈·⌉ with ``ceil_mode``).

    >>> LPPool2d(2, 3)
    LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)
    """

    _rank = 2


class LPPool3d(_LPPool):
    """Power-average pooling of volumes, as ``torch.nn.LPPool3d``:
    Y = (Σ of X^p over the k0×k1×k2 window)^(1/p) (``ops.lp_pool3d``); p = inf is the
    maximum of |X|. Input (B, C, D, H, W) or (C, D, H, W).

    >>> LPPool3d(1.5, (2, 2, 3), 2)
    LPPool3d(norm_type=1.5, kernel_size=(2, 2, 3), stride=2, ceil_mode=False)
    """

    _rank = 3


class _FractionalMaxPool(Module):
    """Fractional max pooling over ``_rank`` spatial axes (see :class:`FractionalMaxPool2d`)."""

    _rank: int
    rng: np.random.Generator

    def __init__(
        self,
        kernel_size: Any,
        output_size: Any = None,
        output_ratio: Any = None,
        return_indices: bool = False,
        _random_samples: np.ndarray | None = None,
        *,
        rng: Any = None,
    ) -> None:
        super().__init__()
        func, r = type(self).__name__, self._rank
        sizes = int_pair if r == 2 else int_triple
        self.kernel_size = sizes("kernel_size", kernel_size, minimum=1, func=func)
        self.return_indices = _flag(func, "return_indices", return_indices)
        self.output_size, self.output_ratio = _fractional_output(
            output_size, output_ratio, r, func=func
        )
        if _random_samples is not None:
            check_float_array("_random_samples", _random_samples, func=func)
            if _random_samples.ndim != 3 or _random_samples.shape[2] != r:
                raise ValueError(
                    f"{func}: _random_samples: expected shape (N, C, {r}), got "
                    f"{_random_samples.shape}"
                )
        self._random_samples = _random_samples
        self.register_generator("rng", as_generator(rng, func=func))

    def _args(self) -> dict[str, Any]:
        return {
            "kernel_size": self.kernel_size,
            "output_size": self.output_size,
            "output_ratio": self.output_ratio,
        }

    @property
    def extra_outputs(self) -> tuple[str, ...]:  # type: ignore[override]
        """("indices",) with ``return_indices``: the layer returns (Y, I); else ()."""
        return ("indices",) if self.return_indices else ()

    def _draw(self, x: np.ndarray) -> np.ndarray | None:
        """This call's samples: the fixed ``_random_samples`` if given, else one u ~ U[0, 1)
        per (image, channel, axis) drawn from ``self.rng`` in x's dtype — after x and the
        window are checked, so a refused call draws nothing (the op checks the rest)."""
        if self._random_samples is not None:
            return self._random_samples
        func = f"{type(self).__name__}.forward"
        check_float_array("x", x, func=func)
        r = self._rank
        _fractional_windows(x, **self._args(), rank=r, func=func)
        batch = 1 if x.ndim == r + 1 else x.shape[0]
        return self.rng.random((batch, x.shape[-r - 1], r), dtype=x.dtype)

    def forward_ctx(self, x: np.ndarray) -> tuple[Any, Any]:
        """Y = fractional_max_pool{rank}d(x) with fresh samples (or the fixed ones); the pair
        (Y, I) with ``return_indices``. The context is x and the choice I."""
        op = getattr(ops, f"fractional_max_pool{self._rank}d")
        y, indices = op(x, **self._args(), return_indices=True, _random_samples=self._draw(x))
        return ((y, indices) if self.return_indices else y), (x, indices)

    def backward_ctx(self, ctx: Any, grad_output: Any) -> np.ndarray:
        """∂ℓ/∂X: each G added to the element its window chose in the forward (read from I).
        With ``return_indices`` grad_output is G or (G, None); G None gives 0."""
        x, indices = ctx
        grad_output = _y_grad(type(self).__name__, grad_output, self.return_indices)
        if grad_output is None:
            return np.zeros_like(x)
        backward = getattr(ops, f"fractional_max_pool{self._rank}d_backward")
        return backward(grad_output, x, **self._args(), indices=indices)

    def spatial_window(self) -> tuple[None, str]:
        """No fixed window: receptive fields, tiles and the like refuse the layer."""
        return None, (
            "draws pseudo-random windows at every call (fractional max pooling), so no "
            "output pixel has a fixed receptive field"
        )


class FractionalMaxPool2d(_FractionalMaxPool):
    """Fractional max pooling (Graham 2014), as ``torch.nn.FractionalMaxPool2d``: max
    pooling with k1×k2 windows whose starts step pseudo-randomly by ⌊α⌋ or ⌊α⌋ + 1,
    α = (m − k1)/(H − 1), so that H windows span m rows (likewise the columns): the output
    size is any (H, W) with H + k1 − 1 <= m and W + k2 − 1 <= n (``output_size``), or
    (⌊m·r1⌋, ⌊n·r2⌋) for ``output_ratio`` in (0, 1) — exactly one of the two.

    Every forward (training or eval, as PyTorch's) draws one sample u ∈ [0, 1) per (image,
    channel, axis) from the generator ``self.rng`` (``rng=``: a Generator, an int seed, or
    None for the package's default generator, which ``cnnmath.manual_seed`` seeds; declared
    with ``register_generator``), unless ``_random_samples`` (B, C, 2) fixes them, as
    PyTorch's argument: ``ops.fractional_max_pool2d`` says how u sets the windows. The
    backward routes each G to its window's chosen element (the first maximum, or the last
    NaN), kept from the forward. ``return_indices=True`` returns (Y, I), I the positions
    u·n + v as :class:`MaxPool2d`'s (for a :class:`MaxUnpool2d`), two values in a
    :class:`Graph`. Input (B, C, m, n) or (C, m, n).

    ``_random_samples`` is kept as an attribute, not a buffer (``register_buffer`` takes no
    name starting with "_"): it is not in ``state_dict`` nor converted by ``to``.
    Receptive fields and tiled execution refuse the layer: its windows change each call.

    >>> FractionalMaxPool2d(3, output_ratio=0.5)
    FractionalMaxPool2d()
    """

    _rank = 2

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        output_size: int | tuple[int, int] | None = None,
        output_ratio: float | tuple[float, float] | None = None,
        return_indices: bool = False,
        _random_samples: np.ndarray | None = None,
        *,
        rng: Any = None,
    ) -> None:
        super().__init__(
            kernel_size, output_size, output_ratio, return_indices, _random_samples, rng=rng
        )


class FractionalMaxPool3d(_FractionalMaxPool):
    """Fractional max pooling of volumes, as ``torch.nn.FractionalMaxPool3d``: as
    :class:`FractionalMaxPool2d` with k0×k1×k2 windows over (depth, height, width), one
    sample per axis (``_random_samples`` (B, C, 3): depth, height, width), output sizes with
    D + k0 <= d, H + k1 <= m, W + k2 <= n (PyTorch's 3-D check). Input (B, C, d, m, n) or
    (C, d, m, n); I the positions (t·m + u)·n + v, for a :class:`MaxUnpool3d`.

    >>> FractionalMaxPool3d(2, output_size=(2, 3, 3), return_indices=True)
    FractionalMaxPool3d()
    """

    _rank = 3

    def __init__(
        self,
        kernel_size: int | tuple[int, int, int],
        output_size: int | tuple[int, int, int] | None = None,
        output_ratio: float | tuple[float, float, float] | None = None,
        return_indices: bool = False,
        _random_samples: np.ndarray | None = None,
        *,
        rng: Any = None,
    ) -> None:
        super().__init__(
            kernel_size, output_size, output_ratio, return_indices, _random_samples, rng=rng
        )
