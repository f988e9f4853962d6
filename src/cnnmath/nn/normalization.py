"""Normalisation layers: BatchNorm1d/2d (running statistics as buffers), InstanceNorm1d/2d/3d,
GroupNorm, LayerNorm, RMSNorm, LocalResponseNorm."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._checks import check_float_array, positive_int
from ._common import _float_dtype, _real_arg
from .module import Module
from .parameter import Parameter

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "LocalResponseNorm",
    "RMSNorm",
]


def _flag(cls: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{cls}: {name}: expected a bool, got {value!r}")
    return bool(value)


class _BatchNorm(Module):
    """Batch normalisation over channel axis 1, as ``torch.nn.BatchNorm*``.

    Training: y = γ (x − μ)/√(σ² + ε) + β with the batch's per-channel mean μ and biased
    variance σ² (over batch and space); with ``track_running_stats`` the buffers are updated

        running_mean ← (1 − f) running_mean + f μ,  running_var ← (1 − f) running_var + f σ² m/(m−1)

    with f = ``momentum``, or f = 1/``num_batches_tracked`` (the cumulative average) when
    ``momentum=None``; ``num_batches_tracked`` (int64, 0-d) counts training calls.
    Evaluation: the affine map by the running statistics (batch statistics when
    ``track_running_stats=False``). Parameters ``weight`` γ = 1 and ``bias`` β = 0 (C,) when
    ``affine``; buffers ``running_mean`` = 0, ``running_var`` = 1, ``num_batches_tracked`` = 0.
    """

    _axes: tuple[int, ...] = ()
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    num_batches_tracked: np.ndarray | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = type(self).__name__
        self.num_features = positive_int("num_features", num_features, func=func)
        self.eps = _real_arg(func, "eps", eps, positive=True)
        self.momentum = None if momentum is None else _real_arg(func, "momentum", momentum)
        if self.momentum is not None and not 0.0 <= self.momentum <= 1.0:
            raise ValueError(
                f"{func}: momentum: expected a number in [0, 1] or None, got {momentum!r}"
            )
        self.affine = _flag(func, "affine", affine)
        self.track_running_stats = _flag(func, "track_running_stats", track_running_stats)
        with_bias = _flag(func, "bias", bias)
        dt = _float_dtype(dtype, func=func)
        C = self.num_features
        self.weight = Parameter(np.ones(C, dt)) if self.affine else None
        self.bias = Parameter(np.zeros(C, dt)) if self.affine and with_bias else None
        track = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(C, dt) if track else None)
        self.register_buffer("running_var", np.ones(C, dt) if track else None)
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64) if track else None)

    def reset_running_stats(self) -> None:
        """Reset the buffers in place, as PyTorch's: ``running_mean`` = 0, ``running_var`` = 1,
        ``num_batches_tracked`` = 0 (nothing without ``track_running_stats``)."""
        if self.running_mean is not None and self.running_var is not None:
            self.running_mean[...] = 0
            self.running_var[...] = 1
        if self.num_batches_tracked is not None:
            self.num_batches_tracked[...] = 0

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the parameters or running statistics, which the input must have."""
        if self.weight is not None:
            return self.weight.dtype
        return self.running_mean.dtype if self.running_mean is not None else np.dtype(np.float32)

    def _check_input(self, x: Any) -> None:
        func = f"{type(self).__name__}.forward"
        check_float_array("x", x, func=func)
        if x.ndim not in self._axes:
            layouts = ["(N, C)", "(N, C, L)", "(N, C, H, W)", "(N, C, D, H, W)"]
            shapes = " or ".join(layouts[n - 2] for n in self._axes)
            raise ValueError(f"{func}: x: expected shape {shapes}, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{func}: x: expected {self.num_features} channels on axis 1, got shape {x.shape}"
            )
        if (self.affine or self.track_running_stats) and x.dtype != self.dtype:
            raise TypeError(
                f"{func}: x: expected dtype {self.dtype} (the layer's), got {x.dtype}; convert x "
                f"with x.astype(numpy.{self.dtype}) or the model with .to(numpy.{x.dtype})"
            )

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = batch_norm(x, …); in training with tracked statistics, updates the buffers
        (num_batches_tracked first, as PyTorch). The context is (x, the statistics used)."""
        self._check_input(x)
        weight = self.weight.data if self.weight is not None else None
        bias = self.bias.data if self.bias is not None else None
        use_batch = self.training or self.running_mean is None
        count = None
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked += 1
            count = int(self.num_batches_tracked) if self.momentum is None else None
        # in training the running statistics are written, never read: the context needs none
        rm, rv = self.running_mean, self.running_var
        stats = (None, None) if use_batch or rm is None or rv is None else (rm.copy(), rv.copy())
        y = ops.batch_norm(
            x,
            self.running_mean if self.track_running_stats else None,
            self.running_var if self.track_running_stats else None,
            weight,
            bias,
            training=use_batch,
            momentum=self.momentum,
            eps=self.eps,
            num_batches_tracked=count,
        )
        return y, (x, use_batch, stats)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x by the closed form through μ and σ² (training) or of the affine map (eval);
        adds ∂ℓ/∂γ = Σ g x̂ and ∂ℓ/∂β = Σ g."""
        x, use_batch, (mean, var) = ctx
        weight = self.weight.data if self.weight is not None else None
        grad_x, grad_w, grad_b = ops.batch_norm_backward(
            grad_output, x, mean, var, weight, training=use_batch, eps=self.eps
        )
        if self.weight is not None:
            self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        return grad_x

    def extra_repr(self) -> str:
        """As ``torch.nn.BatchNorm2d`` prints: ``C, eps=…, momentum=…, affine=…, bias=…,
        track_running_stats=…``."""
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of a (N, C, H, W) batch, per channel, as ``torch.nn.BatchNorm2d``.

    >>> BatchNorm2d(64)
    BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    """

    _axes = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of a (N, C) or (N, C, L) batch, per channel, as
    ``torch.nn.BatchNorm1d``."""

    _axes = (2, 3)


class InstanceNorm2d(_BatchNorm):
    """Instance normalisation, as ``torch.nn.InstanceNorm2d`` (style transfer, image-to-image
    generators): each image's channel normalised over its own pixels,

        y[n, c] = γ_c (x[n, c] − μ_nc)/√(σ²_nc + ε) + β_c,   μ_nc, σ²_nc over (H, W) (biased),

    which is ``ops.group_norm`` with one group per channel. PyTorch's defaults: no
    parameters (``affine=False``; with ``affine=True``, γ = 1 and β = 0 of shape (C,)) and no
    running statistics (``track_running_stats=False``), so training and evaluation agree.
    With ``track_running_stats=True`` training also updates the buffers as PyTorch does —
    each image's statistics folded in by ``momentum`` and the results averaged over the batch,

        running_mean ← (1 − f) running_mean + f · mean_n μ_nc,
        running_var ← (1 − f) running_var + f · mean_n σ²_nc · HW/(HW − 1),

    f = ``momentum`` (None: 0, the buffers kept; ``num_batches_tracked`` is not counted) —
    and evaluation normalises by those buffers (the batch-norm affine map).
    Input (N, C, H, W) or one image (C, H, W); with neither γ nor buffers any C is taken.

    >>> InstanceNorm2d(3)
    InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=False)
    """

    _axes = (3, 4)
    _layouts = "(N, C, H, W) or (C, H, W)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        *,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, bias=bias, dtype=dtype
        )

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = group_norm(x, C, γ, β, eps), or the affine map by the running statistics in
        evaluation when they are tracked; training with tracked statistics updates them. Runs
        on the (N, C, ·, W) view of x (a signal's L as (1, L), a volume's D and H merged); the
        context is (that view, x's shape, the statistics used or None)."""
        func = f"{type(self).__name__}.forward"
        check_float_array("x", x, func=func)
        if x.ndim not in self._axes:
            raise ValueError(f"{func}: x: expected shape {self._layouts}, got {x.shape}")
        xb = x[None] if x.ndim == self._axes[0] else x
        if (self.affine or self.track_running_stats) and xb.shape[1] != self.num_features:
            raise ValueError(
                f"{func}: x: expected {self.num_features} channels (num_features), got shape "
                f"{x.shape}"
            )
        if (self.affine or self.track_running_stats) and x.dtype != self.dtype:
            raise TypeError(f"{func}: x: expected dtype {self.dtype} (the layer's), got {x.dtype}")
        rows = int(np.prod(xb.shape[2:-1], dtype=np.int64))  # 1 for a signal
        xv = xb.reshape(xb.shape[0], xb.shape[1], rows, xb.shape[-1])
        weight = self.weight.data if self.weight is not None else None
        bias = self.bias.data if self.bias is not None else None
        rm, rv = self.running_mean, self.running_var
        if rm is not None and rv is not None and not self.training:
            y = ops.batch_norm(xv, rm, rv, weight, bias, training=False, eps=self.eps)
            stats: Any = (rm.copy(), rv.copy())
        else:
            if rm is not None and rv is not None:
                self._update_running_stats(xv, rm, rv, x.shape)
            y = ops.group_norm(xv, xv.shape[1], weight, bias, self.eps)
            stats = None
        return y.reshape(x.shape), (xv, x.shape, stats)

    def _update_running_stats(
        self, x: np.ndarray, rm: np.ndarray, rv: np.ndarray, shape: tuple[int, ...]
    ) -> None:
        HW = x.shape[2] * x.shape[3]
        if HW < 2:
            raise ValueError(
                f"{type(self).__name__}.forward: x: expected more than one pixel per image to "
                f"update the running variance in training, got shape {shape}"
            )
        f = 0.0 if self.momentum is None else self.momentum
        t = x.dtype.type
        mean = x.mean(axis=(2, 3))
        var = x.var(axis=(2, 3), ddof=1)
        rm[...] = (t(1 - f) * rm + t(f) * mean).mean(axis=0)
        rv[...] = (t(1 - f) * rv + t(f) * var).mean(axis=0)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x through each image's statistics (or of the affine map, in evaluation with
        running statistics), on the forward's view; adds ∂ℓ/∂γ and ∂ℓ/∂β."""
        x, shape, stats = ctx
        self._check_grad_output(grad_output, shape, x.dtype)
        g = grad_output.reshape(x.shape)
        weight = self.weight.data if self.weight is not None else None
        if stats is None:
            grad_x, grad_w, grad_b = ops.group_norm_backward(g, x, x.shape[1], weight, eps=self.eps)
        else:
            grad_x, grad_w, grad_b = ops.batch_norm_backward(
                g, x, stats[0], stats[1], weight, training=False, eps=self.eps
            )
        if self.weight is not None:
            self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        return grad_x.reshape(shape)


class InstanceNorm1d(InstanceNorm2d):
    """Instance normalisation of signals, as ``torch.nn.InstanceNorm1d``: each channel of
    each signal normalised over its own L samples (PyTorch's defaults and running
    statistics as :class:`InstanceNorm2d`, which runs on the (…, C, 1, L) view). Input
    (N, C, L) or one signal (C, L).

    >>> InstanceNorm1d(4, affine=True)
    InstanceNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=False)
    """

    _axes = (2, 3)
    _layouts = "(N, C, L) or (C, L)"


class InstanceNorm3d(InstanceNorm2d):
    """Instance normalisation of volumes, as ``torch.nn.InstanceNorm3d`` (nnU-Net's 3-D
    U-Nets: Conv3d, InstanceNorm3d, LeakyReLU): each channel of each volume normalised over
    its own D·H·W voxels,

        y[n, c] = γ_c (x[n, c] − μ_nc)/√(σ²_nc + ε) + β_c,   μ_nc, σ²_nc over (D, H, W) (biased),

    with PyTorch's defaults (no γ, β, no running statistics) and, with
    ``track_running_stats=True``, PyTorch's running statistics (the variance's correction
    DHW/(DHW − 1)), as :class:`InstanceNorm2d`, which runs on the (…, C, D·H, W) view.
    Input (N, C, D, H, W) or one volume (C, D, H, W).

    >>> InstanceNorm3d(8, affine=True)
    InstanceNorm3d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=False)
    """

    _axes = (4, 5)
    _layouts = "(N, C, D, H, W) or (C, D, H, W)"


class GroupNorm(Module):
    """Group normalisation, as ``torch.nn.GroupNorm``: channels split into ``num_groups``
    groups; each sample's group normalised by its own mean and (biased) variance over the
    group's channels and space, then y = γ_c x̂ + β_c per channel. No running statistics:
    training and evaluation agree. ``weight`` = 1, ``bias`` = 0 (C,) when ``affine``."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        *,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "GroupNorm"
        self.num_groups = positive_int("num_groups", num_groups, func=func)
        self.num_channels = positive_int("num_channels", num_channels, func=func)
        if self.num_channels % self.num_groups:
            raise ValueError(
                f"{func}: num_channels: expected a multiple of num_groups={self.num_groups}, "
                f"got {num_channels}"
            )
        self.eps = _real_arg(func, "eps", eps, positive=True)
        self.affine = _flag(func, "affine", affine)
        with_bias = _flag(func, "bias", bias)
        dt = _float_dtype(dtype, func=func)
        C = self.num_channels
        self.weight = Parameter(np.ones(C, dt)) if self.affine else None
        self.bias = Parameter(np.zeros(C, dt)) if self.affine and with_bias else None

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = group_norm(x, num_groups, γ, β, eps); the context is x."""
        if self.weight is not None and isinstance(x, np.ndarray):  # (without γ: any C, as torch)
            self._check_input_channels(x, self.num_channels, "num_channels")
        weight = self.weight.data if self.weight is not None else None
        bias = self.bias.data if self.bias is not None else None
        return ops.group_norm(x, self.num_groups, weight, bias, self.eps), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x through each group's statistics; adds ∂ℓ/∂γ and ∂ℓ/∂β."""
        weight = self.weight.data if self.weight is not None else None
        grad_x, grad_w, grad_b = ops.group_norm_backward(
            grad_output, ctx, self.num_groups, weight, eps=self.eps
        )
        if self.weight is not None:
            self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        return grad_x

    def extra_repr(self) -> str:
        """``G, C, eps=…, affine=…, bias=…`` as ``torch.nn.GroupNorm`` prints."""
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class LayerNorm(Module):
    """Layer normalisation, as ``torch.nn.LayerNorm``: each sample normalised over its last
    ``len(normalized_shape)`` axes, then y = γ x̂ + β elementwise with γ = 1, β = 0 of shape
    ``normalized_shape`` (when ``elementwise_affine``; ``bias=False`` drops β)."""

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "LayerNorm"
        if isinstance(normalized_shape, (int, np.integer)):
            shape: tuple[Any, ...] = (normalized_shape,)
        elif isinstance(normalized_shape, (tuple, list)):
            shape = tuple(normalized_shape)
        else:
            raise TypeError(
                f"{func}: normalized_shape: expected an int or a tuple of ints, "
                f"got {normalized_shape!r}"
            )
        self.normalized_shape = tuple(positive_int("normalized_shape", n, func=func) for n in shape)
        self.eps = _real_arg(func, "eps", eps, positive=True)
        self.elementwise_affine = _flag(func, "elementwise_affine", elementwise_affine)
        with_bias = _flag(func, "bias", bias)
        dt = _float_dtype(dtype, func=func)
        affine = self.elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape, dt)) if affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dt)) if affine and with_bias else None

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = layer_norm(x, normalized_shape, γ, β, eps); the context is x."""
        weight = self.weight.data if self.weight is not None else None
        bias = self.bias.data if self.bias is not None else None
        return ops.layer_norm(x, self.normalized_shape, weight, bias, self.eps), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x through each sample's statistics; adds ∂ℓ/∂γ and ∂ℓ/∂β."""
        weight = self.weight.data if self.weight is not None else None
        grad_x, grad_w, grad_b = ops.layer_norm_backward(
            grad_output, ctx, self.normalized_shape, weight, eps=self.eps
        )
        if self.weight is not None:
            self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        return grad_x

    def extra_repr(self) -> str:
        """``(n,), eps=…, elementwise_affine=…, bias=…`` as ``torch.nn.LayerNorm`` prints."""
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """RMS normalisation, as ``torch.nn.RMSNorm``: each sample scaled over its last
    ``len(normalized_shape)`` axes by 1/√(mean(x²) + ε), then y = γ x̂ elementwise with γ = 1
    of shape ``normalized_shape`` (when ``elementwise_affine``); no mean subtracted and no β
    (``cnnmath.ops.rms_norm``). ``eps=None``, PyTorch's default, is the machine epsilon of
    the input's dtype, chosen at each call.

    >>> RMSNorm([2, 3])
    RMSNorm((2, 3), eps=None, elementwise_affine=True)
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...] | list[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "RMSNorm"
        if isinstance(normalized_shape, (int, np.integer)):
            shape: tuple[Any, ...] = (normalized_shape,)
        elif isinstance(normalized_shape, (tuple, list)) and normalized_shape:
            shape = tuple(normalized_shape)
        else:
            raise TypeError(
                f"{func}: normalized_shape: expected an int or a non-empty tuple of ints, "
                f"got {normalized_shape!r}"
            )
        self.normalized_shape = tuple(positive_int("normalized_shape", n, func=func) for n in shape)
        if eps is not None:
            eps = _real_arg(func, "eps", eps)
            if eps < 0:
                raise ValueError(f"{func}: eps: expected a finite number >= 0 or None, got {eps!r}")
        self.eps = eps
        self.elementwise_affine = _flag(func, "elementwise_affine", elementwise_affine)
        dt = _float_dtype(dtype, func=func)
        self.weight = Parameter(np.ones(self.normalized_shape, dt)) if elementwise_affine else None

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = rms_norm(x, normalized_shape, γ, eps); the context is x."""
        weight = self.weight.data if self.weight is not None else None
        return ops.rms_norm(x, self.normalized_shape, weight, self.eps), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x through each sample's mean square; adds ∂ℓ/∂γ."""
        weight = self.weight.data if self.weight is not None else None
        grad_x, grad_w = ops.rms_norm_backward(
            grad_output, ctx, self.normalized_shape, weight, eps=self.eps
        )
        if self.weight is not None:
            self.weight.grad += grad_w
        return grad_x

    def extra_repr(self) -> str:
        """``(n,), eps=…, elementwise_affine=…`` as ``torch.nn.RMSNorm`` prints."""
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class LayerNorm2d(LayerNorm):
    """LayerNorm over the channels of each pixel of (N, C, H, W), as torchvision's
    ``LayerNorm2d`` (ConvNeXt's): x permuted to (N, H, W, C), normalised over C with γ, β of
    shape (C,), permuted back — y[n, :, i, j] = γ ⊙ (x[n, :, i, j] − μ)/√(σ² + ε) + β with
    μ, σ² over the C channels of that pixel.

    >>> LayerNorm2d(8, eps=1e-6)
    LayerNorm2d((8,), eps=1e-06, elementwise_affine=True, bias=True)
    """

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """The channels-last LayerNorm of x, returned channels first."""
        check_float_array("x", x, func="LayerNorm2d.forward")
        if x.ndim != 4 or (x.shape[1],) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm2d.forward: x: expected (N, C, H, W) with C = "
                f"{self.normalized_shape[0]}, got shape {x.shape}"
            )
        y, ctx = super().forward_ctx(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2)), ctx

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """LayerNorm's backward on G permuted channels-last, permuted back."""
        if grad_output.ndim != 4:
            raise ValueError(
                f"LayerNorm2d.backward: grad_output: expected (N, C, H, W), got shape "
                f"{grad_output.shape}"
            )
        g = np.ascontiguousarray(grad_output.transpose(0, 2, 3, 1))
        return np.ascontiguousarray(super().backward_ctx(ctx, g).transpose(0, 3, 1, 2))


class LocalResponseNorm(Module):
    """Local response normalisation across channels, as ``torch.nn.LocalResponseNorm``
    (AlexNet, GoogLeNet): y = x · (k + (α/n)·Σ_{c' ∈ W(c)} x_{c'}²)^(−β) over a window of
    n = ``size`` neighbouring channels (``ops.local_response_norm``). No parameters.
    Input (B, C, ...) with at least one axis after C.

    >>> LocalResponseNorm(2)
    LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        func = "LocalResponseNorm"
        self.size = positive_int("size", size, func=func)
        self.alpha = _real_arg(func, "alpha", alpha)
        self.beta = _real_arg(func, "beta", beta)
        self.k = _real_arg(func, "k", k)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = local_response_norm(x, size, alpha, beta, k); the context is x."""
        return ops.local_response_norm(x, self.size, self.alpha, self.beta, self.k), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x through each window's energy."""
        self._check_grad_output(grad_output, ctx.shape, ctx.dtype)
        return ops.local_response_norm_backward(
            grad_output, ctx, self.size, self.alpha, self.beta, self.k
        )

    def extra_repr(self) -> str:
        """``n, alpha=…, beta=…, k=…`` as ``torch.nn.LocalResponseNorm`` prints."""
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
