"""Activation layers: one per entry of the registry (cnnmath.ops.activations).

Where PyTorch's activation takes ``inplace`` (ReLU, ReLU6, LeakyReLU, ELU, CELU, SELU, SiLU,
Mish, Hardswish, Hardsigmoid, Hardtanh, Threshold), so does this one: a bool, kept as the
attribute ``inplace`` and shown in ``repr`` as PyTorch shows it, while the output is always
computed out of place (same values; the backward pass reads x, which an in-place forward
would overwrite).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import ops
from .._checks import check_float_array, positive_int
from ..ops import activations as _act
from ._common import _float_dtype, _real_arg, as_generator
from .module import Module
from .parameter import Parameter


class _Activation(Module):
    """y = σ(x) elementwise; backward G·σ′(x). σ and σ′ come from the registry."""

    name: str = ""

    def __init__(self) -> None:
        super().__init__()

    def _set_inplace(self, inplace: Any) -> None:
        """Keep PyTorch's ``inplace`` flag (a bool) for repr; the output is computed out of
        place all the same (see ``_InplaceActivation``)."""
        if not isinstance(inplace, (bool, np.bool_)):
            raise TypeError(
                f"{type(self).__name__}: inplace: expected True or False, got {inplace!r}"
            )
        self.inplace = bool(inplace)

    def _inplace_repr(self) -> str:
        """``, inplace=True`` when set, as PyTorch's activations append it; else nothing."""
        return ", inplace=True" if getattr(self, "inplace", False) else ""

    def _f(self, x: np.ndarray) -> np.ndarray:
        return ops.get_activation(self.name).f(x)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return ops.get_activation(self.name).df(x)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = σ(x) elementwise; x any shape, float32 or float64."""
        y = self._f(x)
        return y, x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G ⊙ σ′(x), G of x's shape and dtype."""
        x = ctx
        self._check_grad_output(grad_output, x.shape, x.dtype)
        return grad_output * self._df(x)


class _InplaceActivation(_Activation):
    """An activation PyTorch gives an ``inplace=False`` argument.

    ``inplace=True`` is accepted so that pasted PyTorch code runs, kept as the attribute
    ``inplace`` and shown in ``repr`` as PyTorch shows it (``ReLU(inplace=True)``), but the
    output is always a new array and x is left untouched: the values are the same as
    PyTorch's in-place ones, and the backward pass needs x (or σ′(x)) anyway, which an
    in-place forward would have overwritten. A non-bool is refused (TypeError).
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self._set_inplace(inplace)

    def extra_repr(self) -> str:
        """``inplace=True`` when set, else nothing, as PyTorch prints it."""
        return "inplace=True" if self.inplace else ""


class Identity(_Activation):
    """y = x (``torch.nn.Identity``); backward passes G through."""

    name = "identity"

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = x (the same array)."""
        check_float_array("x", x, func="Identity.forward")
        return x, x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G (G of x's shape and dtype)."""
        x = ctx
        self._check_grad_output(grad_output, x.shape, x.dtype)
        return grad_output


class ReLU(_InplaceActivation):
    """y = max(x, 0) elementwise (``torch.nn.ReLU``); σ′(0) = 0.

    The backward pass is PyTorch's: ∂ℓ/∂x = G where x > 0 or x is NaN, else 0, in one pass.
    Inside a Sequential, a ReLU followed by a MaxPool2d runs as one fused step (see
    ``MaxPool2d``): the pooling on x, then the ReLU on the (smaller) pooled output.
    """

    name = "relu"

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = max(x, 0), x any shape, float32 or float64; the context is x."""
        return _act.relu(x), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G where x > 0 (or NaN), 0 where x <= 0. ``FUSED``: the MaxPool2d after
        this ReLU already applied it, G passes through."""
        if ctx is FUSED:
            return grad_output
        x = ctx
        self._check_grad_output(grad_output, x.shape, x.dtype)
        return ops.relu_backward(grad_output, x)


#: The context of a ReLU whose MaxPool2d applied it (``Sequential``'s fused step).
FUSED = object()


class Sigmoid(_Activation):
    """y = 1/(1 + exp(−x)) elementwise (``torch.nn.Sigmoid``)."""

    name = "sigmoid"


class Tanh(_Activation):
    """y = tanh(x) elementwise (``torch.nn.Tanh``)."""

    name = "tanh"


class SiLU(_InplaceActivation):
    """y = x·sigmoid(x) elementwise (``torch.nn.SiLU``)."""

    name = "silu"


class Mish(_InplaceActivation):
    """y = x·tanh(log(1 + eˣ)) elementwise (``torch.nn.Mish``)."""

    name = "mish"


class GELU(_Activation):
    """y = x·Φ(x), the exact GELU (``torch.nn.GELU()``), or with ``approximate='tanh'`` the
    form 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))."""

    name = "gelu"

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate: expected 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.gelu(x, approximate=self.approximate)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.gelu_grad(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        """``approximate='none'`` or ``'tanh'``, as ``torch.nn.GELU`` prints."""
        return f"approximate={self.approximate!r}"


class ReLU6(_InplaceActivation):
    """y = min(max(x, 0), 6) elementwise (``torch.nn.ReLU6``); the backward is PyTorch's:
    ∂ℓ/∂x = G where 0 < x < 6, else 0, in one select (``ops.hardtanh_backward``)."""

    name = "relu6"

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G where 0 < x < 6, 0 elsewhere (at both kinks and at NaN)."""
        x = ctx
        self._check_grad_output(grad_output, x.shape, x.dtype)
        return ops.hardtanh_backward(grad_output, x, min_val=0.0, max_val=6.0)


class Hardsigmoid(_InplaceActivation):
    """y = min(max(x/6 + 1/2, 0), 1) elementwise (``torch.nn.Hardsigmoid``)."""

    name = "hardsigmoid"

    def extra_repr(self) -> str:
        """Nothing, ``inplace=True`` or not, as PyTorch prints it."""
        return ""


class Hardswish(_InplaceActivation):
    """y = x·hardsigmoid(x) elementwise (``torch.nn.Hardswish``)."""

    name = "hardswish"

    def extra_repr(self) -> str:
        """Nothing, ``inplace=True`` or not, as PyTorch prints it."""
        return ""


class SELU(_InplaceActivation):
    """y = scale·(x if x > 0 else α(eˣ − 1)) with PyTorch's fixed α, scale (``torch.nn.SELU``)."""

    name = "selu"


class Softsign(_Activation):
    """y = x/(1 + |x|) elementwise (``torch.nn.Softsign``)."""

    name = "softsign"


class CELU(_Activation):
    """y = max(0, x) + min(0, α(e^{x/α} − 1)) (``torch.nn.CELU``, α = 1 by default)."""

    name = "celu"

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = _real_arg("CELU", "alpha", alpha, positive=True)
        self._set_inplace(inplace)

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.celu(x, alpha=self.alpha)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.celu_grad(x, alpha=self.alpha)

    def extra_repr(self) -> str:
        """``alpha=α``, as ``torch.nn.CELU`` prints it."""
        return f"alpha={self.alpha}{self._inplace_repr()}"


class PReLU(Module):
    """y = x if x > 0 else a_c·x with a learnt slope per channel (axis 1), as
    ``torch.nn.PReLU``: ``weight`` of shape (num_parameters,), every entry ``init`` (0.25);
    num_parameters is 1 (one shared slope) or the number of channels."""

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, *, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        # not kept as an attribute: Module.num_parameters() already counts the slopes
        n = positive_int("num_parameters", num_parameters, func="PReLU")
        value = _real_arg("PReLU", "init", init)
        dt = _float_dtype(dtype, func="PReLU")
        self.weight = Parameter(np.full(n, value, dtype=dt))

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = prelu(x, weight); the context is x."""
        return _act.prelu(x, self.weight.data), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G where x > 0, else a_c G; adds ∂ℓ/∂a_c = Σ G x over x ≤ 0 of channel c."""
        grad_x, grad_w = _act.prelu_backward(grad_output, ctx, self.weight.data)
        self.weight.grad += grad_w
        return grad_x

    def extra_repr(self) -> str:
        """``num_parameters=n``, as ``torch.nn.PReLU`` prints it."""
        return f"num_parameters={self.weight.size}"


class LeakyReLU(_Activation):
    """y = x if x > 0 else negative_slope·x (``torch.nn.LeakyReLU``, slope 0.01 by default)."""

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = _real_arg("LeakyReLU", "negative_slope", negative_slope)
        self._set_inplace(inplace)

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.leaky_relu(x, negative_slope=self.negative_slope)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.leaky_relu_grad(x, negative_slope=self.negative_slope)

    def extra_repr(self) -> str:
        """``negative_slope=α``, as ``torch.nn.LeakyReLU`` prints it."""
        return f"negative_slope={self.negative_slope}{self._inplace_repr()}"


class ELU(_Activation):
    """y = x if x > 0 else α(eˣ − 1) (``torch.nn.ELU``, α = 1 by default)."""

    name = "elu"

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = _real_arg("ELU", "alpha", alpha)
        self._set_inplace(inplace)

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.elu(x, alpha=self.alpha)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.elu_grad(x, alpha=self.alpha)

    def extra_repr(self) -> str:
        """``alpha=α``, as ``torch.nn.ELU`` prints it."""
        return f"alpha={self.alpha}{self._inplace_repr()}"


class Softplus(_Activation):
    """y = log(1 + exp(βx))/β, and x where βx > threshold (``torch.nn.Softplus``; β = 1,
    threshold = 20 by default)."""

    name = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = _real_arg("Softplus", "beta", beta, positive=True)
        self.threshold = _real_arg("Softplus", "threshold", threshold)

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.softplus(x, beta=self.beta, threshold=self.threshold)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.softplus_grad(x, beta=self.beta, threshold=self.threshold)

    def extra_repr(self) -> str:
        """``beta=β, threshold=t``, as ``torch.nn.Softplus`` prints them."""
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(_Activation):
    """y = min(max(x, min_val), max_val) elementwise (``torch.nn.Hardtanh``, defaults −1 and
    1); ∂ℓ/∂x = G strictly between the bounds, 0 elsewhere (``ops.hardtanh_backward``).

    ``min_value`` / ``max_value`` are PyTorch's deprecated names of the bounds, taken as
    PyTorch takes them: when given (not None) each overrides ``min_val`` / ``max_val`` and
    warns with a FutureWarning ("keyword argument `min_value` is deprecated and renamed to
    `min_val`").

    >>> Hardtanh(-2, 3)
    Hardtanh(min_val=-2, max_val=3)
    """

    name = "hardtanh"

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: float | None = None,
        max_value: float | None = None,
    ) -> None:
        super().__init__()
        self._set_inplace(inplace)
        low_name, high_name = "min_val", "max_val"  # the names an error message uses
        if min_value is not None:
            warnings.warn(_RENAMED.format("min_value", "min_val"), FutureWarning, stacklevel=2)
            min_val, low_name = min_value, "min_value"
        if max_value is not None:
            warnings.warn(_RENAMED.format("max_value", "max_val"), FutureWarning, stacklevel=2)
            max_val, high_name = max_value, "max_value"
        low = _real_arg("Hardtanh", low_name, min_val)
        high = _real_arg("Hardtanh", high_name, max_val)
        if not low < high:
            raise ValueError(
                f"Hardtanh: {high_name}: expected a number above {low_name}={min_val!r}, "
                f"got {max_val!r}"
            )
        self.min_val, self.max_val = min_val, max_val  # as given: PyTorch's repr echoes them

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.hardtanh(x, min_val=float(self.min_val), max_val=float(self.max_val))

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G where min_val < x < max_val, 0 elsewhere (at both kinks and at NaN)."""
        x = ctx
        self._check_grad_output(grad_output, x.shape, x.dtype)
        return ops.hardtanh_backward(
            grad_output, x, min_val=float(self.min_val), max_val=float(self.max_val)
        )

    def extra_repr(self) -> str:
        """``min_val=…, max_val=…`` as ``torch.nn.Hardtanh`` prints them."""
        return f"min_val={self.min_val}, max_val={self.max_val}{self._inplace_repr()}"


#: PyTorch's warning for Hardtanh's old keyword names (the same words, a FutureWarning).
_RENAMED = "keyword argument `{}` is deprecated and renamed to `{}`"


class RReLU(_Activation):
    """The randomized leaky ReLU (``torch.nn.RReLU(lower=1/8, upper=1/3, inplace=False)``):
    in training each x ≤ 0 gets its own slope a ~ U(lower, upper), drawn at every forward,
    y = a·x (y = x where x > 0); in evaluation mode y = leaky_relu(x, (lower + upper)/2).
    Backward: ∂ℓ/∂x = G where x > 0, a·G where x ≤ 0, with the forward's slopes
    (``ops.activations.rrelu`` / ``rrelu_backward``). No parameters, no buffers.

    The slopes come from the generator ``self.rng``, made from ``rng=`` (Generator, int seed
    or None for the default generator, which ``cnnmath.manual_seed`` seeds) and declared with
    ``register_generator`` as Dropout's is. lower and upper: finite numbers, lower ≤ upper
    (kept as given, as PyTorch's repr echoes them); ``inplace`` as the other activations
    (accepted and shown, computed out of place).

    >>> RReLU(0.1, 0.3)
    RReLU(lower=0.1, upper=0.3)
    """

    rng: np.random.Generator

    def __init__(
        self,
        lower: float = _act.RRELU_LOWER,
        upper: float = _act.RRELU_UPPER,
        inplace: bool = False,
        *,
        rng: Any = None,
    ) -> None:
        super().__init__()
        low = _real_arg("RReLU", "lower", lower)
        high = _real_arg("RReLU", "upper", upper)
        if low > high:
            raise ValueError(f"RReLU: upper: expected a number >= lower={lower!r}, got {upper!r}")
        self.lower, self.upper = lower, upper
        self._set_inplace(inplace)
        self.register_generator("rng", as_generator(rng, func="RReLU"))

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """Training: y = rrelu(x) with slopes drawn from ``self.rng``; eval: leaky_relu with
        slope (lower + upper)/2. The context is (x, the slopes or None, training)."""
        low, high = float(self.lower), float(self.upper)
        if not self.training:
            return _act.rrelu(x, low, high, False), (x, None, False)
        y, slopes = _act.rrelu(x, low, high, True, self.rng, return_slopes=True)
        return y, (x, slopes, True)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G where x > 0, a·G where x ≤ 0 (a: the forward's slopes, or
        (lower + upper)/2 in eval); G of x's shape and dtype."""
        x, slopes, training = ctx
        self._check_grad_output(grad_output, x.shape, x.dtype)
        low, high = float(self.lower), float(self.upper)
        return _act.rrelu_backward(grad_output, x, low, high, training, slopes=slopes)

    def extra_repr(self) -> str:
        """``lower=…, upper=…`` (and ``, inplace=True``), as ``torch.nn.RReLU`` prints them."""
        return f"lower={self.lower}, upper={self.upper}{self._inplace_repr()}"


class LogSigmoid(_Activation):
    """y = log(1/(1 + e^(−x))) = −softplus(−x) elementwise (``torch.nn.LogSigmoid``);
    σ′(x) = sigmoid(−x)."""

    name = "logsigmoid"


def _softmax_dim(dim: int | None, ndim: int) -> int:
    """``dim``, or PyTorch's implicit choice for None: 0 for 0-, 1- and 3-D inputs, else 1."""
    if dim is not None:
        return dim
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """y = softmax(x) along ``dim`` (``torch.nn.Softmax``): y_k = e^(x_k) / Σ_j e^(x_j) over
    each slice, computed stably (``ops.softmax``); ∂ℓ/∂x = y ⊙ (G − Σ_k G_k y_k).
    ``dim=None`` takes PyTorch's implicit axis (0 for a 0-, 1- or 3-D input, else 1);
    ``dim=1`` on (N, C, H, W) turns each pixel's logits into class probabilities.

    >>> Softmax(dim=1)
    Softmax(dim=1)
    """

    log = False

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
            raise TypeError(f"{type(self).__name__}: dim: expected an int or None, got {dim!r}")
        self.dim = None if dim is None else int(dim)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = softmax (or log_softmax) of x along ``dim``; the context is (x, dim, y)."""
        check_float_array("x", x, func=f"{type(self).__name__}.forward")
        dim = _softmax_dim(self.dim, x.ndim)
        y = (ops.log_softmax if self.log else ops.softmax)(x, dim)
        return y, (x, dim, y)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x from the forward's y (as PyTorch's backward, which reads only y)."""
        x, dim, y = ctx
        self._check_grad_output(grad_output, x.shape, x.dtype)
        back = ops.log_softmax_backward if self.log else ops.softmax_backward
        return back(grad_output, x, dim, output=y)

    def extra_repr(self) -> str:
        """``dim=…`` as PyTorch prints it."""
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """y = log softmax(x) along ``dim`` (``torch.nn.LogSoftmax``): y_k = x_k − log Σ_j e^(x_j),
    computed stably (``ops.log_softmax``); ∂ℓ/∂x = G − softmax(x) Σ_k G_k. The input of
    ``losses.nll_loss``.

    >>> LogSoftmax(dim=1)
    LogSoftmax(dim=1)
    """

    log = True


class Softmin(Softmax):
    """y = softmin(x) = softmax(−x) along ``dim`` (``torch.nn.Softmin``): the smallest
    entries get the most weight; ∂ℓ/∂x = −y ⊙ (G − Σ_k G_k y_k).

    >>> Softmin(dim=1)
    Softmin(dim=1)
    """

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = softmax(−x) along ``dim``; the context is (x, dim, y)."""
        check_float_array("x", x, func="Softmin.forward")
        dim = _softmax_dim(self.dim, x.ndim)
        y = ops.softmax(-x, dim)
        return y, (x, dim, y)

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = −(softmax's backward at −x)."""
        x, dim, y = ctx
        self._check_grad_output(grad_output, x.shape, x.dtype)
        return -ops.softmax_backward(grad_output, -x, dim, output=y)


class Softmax2d(Softmax):
    """Softmax over the channels of each pixel (``torch.nn.Softmax2d``): ``Softmax(dim=-3)``
    on (N, C, H, W) or (C, H, W).

    >>> Softmax2d()
    Softmax2d()
    """

    def __init__(self) -> None:
        super().__init__(-3)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = softmax(x) over axis −3; x must be (N, C, H, W) or (C, H, W)."""
        if isinstance(x, np.ndarray) and x.ndim not in (3, 4):
            raise ValueError(
                f"Softmax2d.forward: x: expected shape (N, C, H, W) or (C, H, W), got {x.shape}"
            )
        return super().forward_ctx(x)

    def extra_repr(self) -> str:
        """Nothing: the axis is always the channels', as torch prints it."""
        return ""


class _Shrink(_Activation):
    """The shrinks' common part: σ with parameter λ >= 0 (``lambd``) and the shared σ′."""

    _shrink = ""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = _real_arg(type(self).__name__, "lambd", lambd)
        if self.lambd < 0:
            raise ValueError(f"{type(self).__name__}: lambd: expected a number >= 0, got {lambd!r}")

    def _f(self, x: np.ndarray) -> np.ndarray:
        return getattr(_act, self._shrink)(x, lambd=self.lambd)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.shrink_grad(x, lambd=self.lambd)

    def extra_repr(self) -> str:
        """``λ``, as PyTorch's shrinks print it."""
        return f"{self.lambd}"


class Hardshrink(_Shrink):
    """y = x where |x| > λ, else 0 (``torch.nn.Hardshrink``, λ = 0.5); σ′ = 1 outside
    [−λ, λ], 0 inside (the kinks too)."""

    _shrink = "hardshrink"


class Softshrink(_Shrink):
    """y = x − λ·sign(x) where |x| > λ, else 0 — soft thresholding (``torch.nn.Softshrink``,
    λ = 0.5); σ′ = 1 outside [−λ, λ], 0 inside."""

    _shrink = "softshrink"


class Tanhshrink(_Activation):
    """y = x − tanh(x) (``torch.nn.Tanhshrink``); σ′(x) = tanh²(x)."""

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.tanhshrink(x)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.tanhshrink_grad(x)


class Threshold(_Activation):
    """y = x where x > threshold, else ``value`` (``torch.nn.Threshold(threshold, value)``);
    σ′ = 1 above the threshold, 0 at and below it.

    >>> Threshold(0.1, 20)
    Threshold(threshold=0.1, value=20)
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self._set_inplace(inplace)
        _real_arg("Threshold", "threshold", threshold)
        _real_arg("Threshold", "value", value)
        self.threshold, self.value = threshold, value  # as given: PyTorch's repr echoes them

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.threshold(x, threshold=float(self.threshold), value=float(self.value))

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.threshold_grad(x, threshold=float(self.threshold), value=float(self.value))

    def extra_repr(self) -> str:
        """``threshold=…, value=…``, as ``torch.nn.Threshold`` prints them."""
        return f"threshold={self.threshold}, value={self.value}{self._inplace_repr()}"


class GLU(Module):
    """The gated linear unit (``torch.nn.GLU``, gated CNNs' gate): x split in halves a, b
    along ``dim`` (default −1), y = a ⊙ sigmoid(b) (``ops.glu``); backward
    ``ops.glu_backward``.

    >>> GLU(dim=1)(np.zeros((2, 6, 3))).shape
    (2, 3, 3)
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"GLU: dim: expected an int, got {dim!r}")
        self.dim = int(dim)

    def forward_ctx(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        """y = glu(x, dim); the context is x."""
        return _act.glu(x, self.dim), x

    def backward_ctx(self, ctx: Any, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = glu_backward(G, x, dim)."""
        return _act.glu_backward(grad_output, ctx, self.dim)

    def extra_repr(self) -> str:
        """``dim=…`` as PyTorch prints it."""
        return f"dim={self.dim}"


ACTIVATION_LAYERS: dict[str, type[_Activation]] = {
    cls.name: cls
    for cls in (
        Identity,
        ReLU,
        LeakyReLU,
        Sigmoid,
        Tanh,
        Softplus,
        ELU,
        GELU,
        SiLU,
        Mish,
        ReLU6,
        Hardsigmoid,
        Hardswish,
        SELU,
        CELU,
        Softsign,
        Hardtanh,
        LogSigmoid,
    )
}


def activation_layer(name: str) -> Module:
    """A new layer for the registry name ``name`` ("relu", "gelu", …) with default settings.

    >>> activation_layer("relu")
    ReLU()
    """
    if not isinstance(name, str):
        raise TypeError(f"activation_layer: name: expected a str, got {name!r}")
    if name not in ACTIVATION_LAYERS:
        raise ValueError(
            f"activation_layer: name: expected one of {', '.join(ACTIVATION_LAYERS)}, got {name!r}"
        )
    return ACTIVATION_LAYERS[name]()
