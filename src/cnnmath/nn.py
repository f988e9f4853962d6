"""Layers with explicit forward and backward passes, composed by ``Sequential``.

Every layer is a :class:`Module`. ``forward(x)`` (also ``layer(x)``) computes the output and
keeps what the backward pass needs; ``backward(G)``, with ``G = ∂ℓ/∂y`` of the output's
shape, returns ``∂ℓ/∂x`` and *adds* each parameter's gradient into ``parameter.grad`` (the
chain rule's sum over every use, as PyTorch's autograd accumulates). The numbers come from
:mod:`cnnmath.ops`; this module only wires them up and keeps state.

Parameter names, shapes, default initialisation and ``repr`` follow ``torch.nn``: a
``Sequential`` here and the same architecture in PyTorch have the same ``state_dict`` keys
("0.weight", "0.bias", "3.weight", …) and shapes, so weights move between them as they are.

Default initialisation (PyTorch's ``reset_parameters``): the weight is
``kaiming_uniform_(a=√5)``, whose bound gain·√(3/fan_in) with gain = √(2/(1 + a²)) = √(1/3)
reduces to 1/√fan_in, and the bias is U(−1/√fan_in, 1/√fan_in), so

    weight, bias ~ U(−1/√fan_in, 1/√fan_in),   fan_in = C_in·f1·f2 (Conv2d), in_features (Linear).

Randomness comes from ``rng=``: a ``numpy.random.Generator``, an int seed, or None (fresh
entropy). The draws are NumPy's, so a seed reproduces weights here, not PyTorch's own draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from . import ops
from ._checks import FLOAT_DTYPES, check_float_array, int_pair, positive_int
from .ops import activations as _act

__all__ = [
    "ELU",
    "GELU",
    "ACTIVATION_LAYERS",
    "AvgPool2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Identity",
    "IncompatibleKeys",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "Mish",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softplus",
    "StateDictError",
    "Tanh",
    "activation_layer",
    "as_generator",
]


# ---------------------------------------------------------------------------------------------
# Small pieces: random generators, parameters, state-dict errors


def as_generator(rng: Any, *, func: str = "rng") -> np.random.Generator:
    """``rng`` as a ``numpy.random.Generator``: a Generator is returned as it is, an int
    (>= 0) seeds a new one, None draws fresh entropy."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)):
        raise TypeError(
            f"{func}: rng: expected a numpy.random.Generator, an int seed or None, "
            f"got {type(rng).__name__} {rng!r}"
        )
    if rng < 0:
        raise ValueError(f"{func}: rng: expected a seed >= 0, got {rng}")
    return np.random.default_rng(int(rng))


def _float_dtype(dtype: Any, *, func: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{func}: dtype: expected numpy.float32 or numpy.float64, got {dtype!r}")
    return dt


class Parameter:
    """A trainable array: ``data`` (float32 or float64 ndarray, used as given, not copied)
    and ``grad``, an array of zeros of the same shape and dtype into which backward passes
    add ∂ℓ/∂data."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray) -> None:
        check_float_array("data", data, func="Parameter")
        self.data = data
        self.grad = np.zeros_like(data)

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


class StateDictError(KeyError, ValueError):
    """A state dict does not fit the module: a missing or unexpected key, or a value of the
    wrong shape or dtype. It is both a ``KeyError`` and a ``ValueError``; the message names
    the key and, for a mismatch, what the module expects and what was given."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class IncompatibleKeys(NamedTuple):
    """Keys ``load_state_dict(..., strict=False)`` skipped, as PyTorch returns them."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _uniform(
    rng: np.random.Generator, bound: float, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    """U(−bound, bound) samples, drawn in float64 and rounded to ``dtype``."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Module


def key_mismatch(expected: Iterable[str], given: Iterable[str]) -> tuple[list[str], list[str], str]:
    """Compare a model's parameter names with a state_dict's: (missing, unexpected, words).

    ``missing`` are expected keys not given, ``unexpected`` given keys not expected (each in
    its own order); ``words`` describes both ("missing key(s) [...] and unexpected key(s)
    [...]"), or is "" when the sets are equal.
    """
    expected, given = list(expected), list(given)
    expected_set, given_set = set(expected), set(given)
    missing = [k for k in expected if k not in given_set]
    unexpected = [k for k in given if k not in expected_set]
    parts = [f"missing key(s) {missing}"] * bool(missing)
    parts += [f"unexpected key(s) {unexpected}"] * bool(unexpected)
    return missing, unexpected, " and ".join(parts)


class Module:
    """Base class: a differentiable map with optional parameters and sub-modules.

    Subclasses define ``forward(x)`` and ``backward(grad_output) -> grad_input``. Attributes
    holding a :class:`Parameter` are the module's own parameters and attributes holding a
    :class:`Module` its children, both in the order they were assigned (names starting with
    "_" are private and skipped); ``named_parameters`` walks them as PyTorch does.
    """

    training: bool = True

    def __init__(self) -> None:
        self.training = True

    # -- the computation -------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = f(x); keeps what ``backward`` needs. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x from G = ∂ℓ/∂y (y's shape) for the last ``forward``; adds each parameter's
        ∂ℓ/∂θ into its ``grad``. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def _cached(self, *names: str) -> tuple[Any, ...]:
        """The values ``forward`` stored, or a RuntimeError when backward comes first."""
        values = tuple(getattr(self, name, None) for name in names)
        if any(v is None for v in values):
            raise RuntimeError(
                f"{type(self).__name__}.backward: called before forward; run forward(x) first "
                "so the layer has the input its gradient depends on"
            )
        return values

    def _check_grad_output(self, grad_output: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
        func = f"{type(self).__name__}.backward"
        check_float_array("grad_output", grad_output, func=func)
        if grad_output.shape != shape or grad_output.dtype != dtype:
            raise ValueError(
                f"{func}: grad_output: expected the forward output's shape {shape} and dtype "
                f"{dtype}, got shape {grad_output.shape} and dtype {grad_output.dtype}"
            )

    def _check_input_dtype(self, x: Any, dtype: np.dtype) -> None:
        """x must be a float array of the layer's parameter dtype (no silent casts)."""
        func = f"{type(self).__name__}.forward"
        check_float_array("x", x, func=func)
        if x.dtype != dtype:
            raise TypeError(
                f"{func}: x: expected dtype {dtype} (the layer's parameters), got {x.dtype}; "
                f"convert x with x.astype(numpy.{dtype}) or the model with .to(numpy.{x.dtype})"
            )

    # -- structure ---------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, child module) pairs in assignment order."""
        for name, value in vars(self).items():
            if isinstance(value, Module) and not name.startswith("_"):
                yield name, value

    def children(self) -> list[Module]:
        """The direct sub-modules, in ``named_children`` order."""
        return [child for _, child in self.named_children()]

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(name, Parameter) pairs: own parameters first, then each child's under
        "childname." — "weight", "bias"; in a Sequential "0.weight", "0.bias", "3.weight".
        A Parameter shared by several modules is listed once, under its first name (as
        PyTorch's default)."""
        seen: set[int] = set()
        for name, p in self._walk_parameters(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _walk_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter) and not name.startswith("_"):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child._walk_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        """All parameters, in ``named_parameters`` order."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """The number of scalar parameters, Σ size over ``parameters()``."""
        return sum(p.size for p in self.parameters())

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to zero (in place)."""
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Module:
        """Training mode (``training = True``) for this module and all children; returns self.
        Only Dropout behaves differently between the two modes."""
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode: expected a bool, got {mode!r}")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode (``training = False``); same as ``train(False)``."""
        return self.train(False)

    def to(self, dtype: Any) -> Module:
        """Convert every parameter (data and grad) to ``dtype`` (float32 or float64) in
        place of the old arrays; returns self. Cached forward values are dropped."""
        dt = _float_dtype(dtype, func=f"{type(self).__name__}.to")
        for module in [self, *self._descendants()]:
            for name, value in list(vars(module).items()):
                if isinstance(value, Parameter):
                    value.data = value.data.astype(dt)
                    value.grad = value.grad.astype(dt)
                elif name.startswith("_cache"):
                    setattr(module, name, None)
            if "dtype" in vars(module):
                vars(module)["dtype"] = dt
        return self

    def _descendants(self) -> list[Module]:
        found = []
        for child in self.children():
            found.append(child)
            found.extend(child._descendants())
        return found

    # -- state dict --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """{name: copy of parameter data} with PyTorch's names and shapes."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy ``state_dict``'s arrays into the parameters (in place).

        Every value must have its parameter's shape and dtype (no silent casts: convert with
        ``.astype``). With ``strict`` (default) the keys must be exactly ``state_dict()``'s;
        otherwise missing and unexpected keys are skipped and returned. Everything is checked
        before anything is copied, so a failed load leaves the module unchanged.

        Raises StateDictError (a KeyError and a ValueError) naming the key, with the expected
        and the given shape or dtype.
        """
        func = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{func}: state_dict: expected a mapping of str to arrays, got "
                f"{type(state_dict).__name__}"
            )
        own = dict(self.named_parameters())
        missing, unexpected, mismatch = key_mismatch(own, state_dict)
        if strict and mismatch:
            raise StateDictError(
                f"{func}: state_dict: {mismatch}; expected exactly the keys {list(own)}"
            )
        values = {}
        for key, p in own.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            if value.shape != p.shape:
                raise StateDictError(
                    f"{func}: state_dict[{key!r}]: expected shape {p.shape}, "
                    f"got shape {value.shape}"
                )
            if value.dtype != p.dtype:
                raise StateDictError(
                    f"{func}: state_dict[{key!r}]: expected dtype {p.dtype}, got dtype "
                    f"{value.dtype} (shape {value.shape}); convert with .astype(numpy."
                    f"{p.dtype}) or the model with .to(numpy.{value.dtype})"
                )
            values[key] = value
        for key, value in values.items():
            own[key].data[...] = value
        return IncompatibleKeys(missing, unexpected)

    # -- repr ----------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text between the parentheses of ``repr`` (PyTorch's convention)."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


# ---------------------------------------------------------------------------------------------
# Layers with parameters


def _pair_repr(pair: tuple[int, int]) -> str:
    return f"({pair[0]}, {pair[1]})"


class Conv2d(Module):
    """2-D convolution (cross-correlation) layer, as ``torch.nn.Conv2d`` with groups = 1:

        Y[β,o,i,j] = Σ_g Σ_a Σ_c w[o,g,a,c] · X̃[β, g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1] + b[o]

    Parameters: ``weight`` (C_out, C_in, f1, f2), ``bias`` (C_out,) unless ``bias=False``,
    both ~ U(−1/√fan_in, 1/√fan_in) with fan_in = C_in·f1·f2. Input (B, C_in, m, n) or one
    image (C_in, m, n), in the layer's dtype; output (B, C_out, H_out, W_out) with
    H_out = floor((m + 2p − d(f1−1) − 1)/s) + 1. ``padding`` may be an int, a pair,
    ``"valid"`` or ``"same"`` (stride 1).

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
        bias: bool = True,
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "Conv2d"
        self.in_channels = positive_int("in_channels", in_channels, func=func)
        self.out_channels = positive_int("out_channels", out_channels, func=func)
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
        if not isinstance(bias, bool):
            raise TypeError(f"{func}: bias: expected a bool, got {bias!r}")
        self.dtype = _float_dtype(dtype, func=func)
        generator = as_generator(rng, func=func)
        f1, f2 = self.kernel_size
        fan_in = self.in_channels * f1 * f2
        bound = 1.0 / np.sqrt(fan_in)
        shape = (self.out_channels, self.in_channels, f1, f2)
        self.weight = Parameter(_uniform(generator, bound, shape, self.dtype))
        bias_shape = (self.out_channels,)
        self.bias = Parameter(_uniform(generator, bound, bias_shape, self.dtype)) if bias else None
        self._cache_x: np.ndarray | None = None

    def _geometry_args(self) -> dict[str, Any]:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Y = conv2d(x, weight, bias) with this layer's stride, padding and dilation."""
        self._check_input_dtype(x, self.weight.dtype)
        bias = self.bias.data if self.bias is not None else None
        y = ops.conv2d(x, self.weight.data, bias, **self._geometry_args())
        self._cache_x = x
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X from G = ∂ℓ/∂Y; adds ∂ℓ/∂w and ∂ℓ/∂b (Σ over batch and space of G) into the
        parameters' grads (see ``ops.conv2d_backward``)."""
        (x,) = self._cached("_cache_x")
        grad_x, grad_w, grad_b = ops.conv2d_backward(
            grad_output, x, self.weight.data, **self._geometry_args()
        )
        self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        return grad_x

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
        if self.bias is None:
            s += ", bias=False"
        return s


class Linear(Module):
    """Dense layer, as ``torch.nn.Linear``: y = x Wᵀ + b, y[..., o] = Σ_i W[o,i] x[..., i] + b[o].

    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,) unless
    ``bias=False``, both ~ U(−1/√in_features, 1/√in_features). Input (*, in_features) in the
    layer's dtype (a batch is (B, in_features); put a ``Flatten()`` before it after a
    convolution); output (*, out_features).

    >>> Linear(400, 120, rng=0)
    Linear(in_features=400, out_features=120, bias=True)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        func = "Linear"
        self.in_features = positive_int("in_features", in_features, func=func)
        self.out_features = positive_int("out_features", out_features, func=func)
        if not isinstance(bias, bool):
            raise TypeError(f"{func}: bias: expected a bool, got {bias!r}")
        self.dtype = _float_dtype(dtype, func=func)
        generator = as_generator(rng, func=func)
        bound = 1.0 / np.sqrt(self.in_features)
        self.weight = Parameter(
            _uniform(generator, bound, (self.out_features, self.in_features), self.dtype)
        )
        bias_shape = (self.out_features,)
        self.bias = Parameter(_uniform(generator, bound, bias_shape, self.dtype)) if bias else None
        self._cache_x: np.ndarray | None = None

    def _check_input(self, x: Any) -> None:
        func = "Linear.forward"
        self._check_input_dtype(x, self.weight.dtype)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            hint = ""
            if x.ndim > 2 and int(np.prod(x.shape[1:])) == self.in_features:
                hint = "; flatten the trailing axes first (put a Flatten() before this Linear)"
            raise ValueError(
                f"{func}: x: expected shape (*, in_features={self.in_features}), e.g. (B, "
                f"{self.in_features}), got shape {x.shape}{hint}"
            )

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = x Wᵀ + b (``ops.linear``)."""
        self._check_input(x)
        bias = self.bias.data if self.bias is not None else None
        y = ops.linear(x, self.weight.data, bias)
        self._cache_x = x
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G W; adds ∂ℓ/∂W = Σ Gᵀx and ∂ℓ/∂b = Σ G (over all leading axes)."""
        (x,) = self._cached("_cache_x")
        grad_x, grad_w, grad_b = ops.linear_backward(grad_output, x, self.weight.data)
        self.weight.grad += grad_w
        if self.bias is not None:
            self.bias.grad += grad_b
        return grad_x

    def extra_repr(self) -> str:
        """``in_features=n, out_features=m, bias=True|False``, as ``torch.nn.Linear`` prints."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


# ---------------------------------------------------------------------------------------------
# Pooling, reshaping, dropout


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
        self._cache_x: np.ndarray | None = None

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

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Y = max_pool2d(x) with this layer's window, stride and padding."""
        y = ops.max_pool2d(x, **self._args())
        self._cache_x = x
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X: each G[β,c,i,j] added to its window's (first) maximal element."""
        (x,) = self._cached("_cache_x")
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

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Y = avg_pool2d(x) with this layer's window, stride and padding."""
        y = ops.avg_pool2d(x, **self._args())
        self._cache_x = x
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂X: G[β,c,i,j]/(k1 k2) added to every element of window (i, j)."""
        (x,) = self._cached("_cache_x")
        return ops.avg_pool2d_backward(grad_output, x, **self._args())

    def extra_repr(self) -> str:
        """``kernel_size=k, stride=s, padding=p``, as ``torch.nn.AvgPool2d`` prints them."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``: (B, C, H, W) →
    (B, C·H·W) with the defaults. Backward reshapes G back to the input's shape.

    >>> Flatten()(np.zeros((4, 16, 5, 5))).shape
    (4, 400)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"Flatten: {name}: expected an int, got {value!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._cache_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x reshaped with axes start_dim..end_dim merged (a view when x is contiguous)."""
        func = "Flatten.forward"
        check_float_array("x", x, func=func)
        n = max(x.ndim, 1)
        start = self.start_dim % n if -n <= self.start_dim < n else None
        end = self.end_dim % n if -n <= self.end_dim < n else None
        if start is None or end is None or start > end:
            raise ValueError(
                f"{func}: x: expected an array with axes start_dim={self.start_dim} <= "
                f"end_dim={self.end_dim}, got shape {x.shape}"
            )
        shape = x.shape
        y = x.reshape(*shape[:start], -1, *shape[end + 1 :]) if x.ndim else x.reshape(1)
        self._cache_shape = shape
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """G reshaped back to the input's shape."""
        (shape,) = self._cached("_cache_shape")
        func = "Flatten.backward"
        check_float_array("grad_output", grad_output, func=func)
        if grad_output.size != int(np.prod(shape)):
            raise ValueError(
                f"{func}: grad_output: expected {int(np.prod(shape))} elements (input shape "
                f"{shape}), got shape {grad_output.shape}"
            )
        return grad_output.reshape(shape)

    def extra_repr(self) -> str:
        """``start_dim=a, end_dim=b``, as ``torch.nn.Flatten`` prints them."""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout, as ``torch.nn.Dropout``: in training mode each element is kept with
    probability 1 − p and scaled by 1/(1 − p) (zeroed otherwise), so E[y] = x; in evaluation
    mode it is the identity. Backward applies the same mask and scale to G.

    The mask is drawn from ``rng`` (Generator, int seed or None) at every training forward.
    """

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        super().__init__()
        if isinstance(p, (bool, np.bool_)) or not isinstance(
            p, (int, float, np.floating, np.integer)
        ):
            raise TypeError(f"Dropout: p: expected a probability in [0, 1], got {p!r}")
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"Dropout: p: expected a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self._rng = as_generator(rng, func="Dropout")
        self._cache_scale: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Training: x·mask/(1 − p), mask ~ Bernoulli(1 − p) per element; eval: x."""
        check_float_array("x", x, func="Dropout.forward")
        if not self.training or self.p == 0.0:
            scale = np.ones((), dtype=x.dtype)
        elif self.p == 1.0:
            scale = np.zeros(x.shape, dtype=x.dtype)
        else:
            keep = self._rng.random(x.shape) >= self.p
            scale = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        self._cache_scale = scale
        return x * scale

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """G·mask/(1 − p) with the forward pass's mask (G itself in eval mode)."""
        (scale,) = self._cached("_cache_scale")
        check_float_array("grad_output", grad_output, func="Dropout.backward")
        if scale.ndim and grad_output.shape != scale.shape:
            raise ValueError(
                f"Dropout.backward: grad_output: expected shape {scale.shape}, "
                f"got {grad_output.shape}"
            )
        return grad_output * scale

    def extra_repr(self) -> str:
        """``p=…, inplace=False`` (never in place here), as ``torch.nn.Dropout`` prints."""
        return f"p={self.p}, inplace=False"


# ---------------------------------------------------------------------------------------------
# Activations: one layer per entry of the registry (cnnmath.ops.activations)


class _Activation(Module):
    """y = σ(x) elementwise; backward G·σ′(x). σ and σ′ come from the registry."""

    name: str = ""

    def __init__(self) -> None:
        super().__init__()
        self._cache_x: np.ndarray | None = None

    def _f(self, x: np.ndarray) -> np.ndarray:
        return ops.get_activation(self.name).f(x)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return ops.get_activation(self.name).df(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = σ(x) elementwise; x any shape, float32 or float64."""
        y = self._f(x)
        self._cache_x = x
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G ⊙ σ′(x), G of x's shape and dtype."""
        (x,) = self._cached("_cache_x")
        self._check_grad_output(grad_output, x.shape, x.dtype)
        return grad_output * self._df(x)


class Identity(_Activation):
    """y = x (``torch.nn.Identity``); backward passes G through."""

    name = "identity"

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = x (the same array)."""
        check_float_array("x", x, func="Identity.forward")
        self._cache_x = x
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x = G (G of x's shape and dtype)."""
        (x,) = self._cached("_cache_x")
        self._check_grad_output(grad_output, x.shape, x.dtype)
        return grad_output


class ReLU(_Activation):
    """y = max(x, 0) elementwise (``torch.nn.ReLU``); σ′(0) = 0."""

    name = "relu"


class Sigmoid(_Activation):
    """y = 1/(1 + exp(−x)) elementwise (``torch.nn.Sigmoid``)."""

    name = "sigmoid"


class Tanh(_Activation):
    """y = tanh(x) elementwise (``torch.nn.Tanh``)."""

    name = "tanh"


class SiLU(_Activation):
    """y = x·sigmoid(x) elementwise (``torch.nn.SiLU``)."""

    name = "silu"


class Mish(_Activation):
    """y = x·tanh(log(1 + eˣ)) elementwise (``torch.nn.Mish``)."""

    name = "mish"


class GELU(_Activation):
    """y = x·Φ(x), the exact GELU (``torch.nn.GELU()`` with approximate='none')."""

    name = "gelu"

    def extra_repr(self) -> str:
        """``approximate='none'``: the exact erf form, as ``torch.nn.GELU()`` prints."""
        return "approximate='none'"


def _real_arg(cls: str, name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{cls}: {name}: expected a real number, got {value!r}")
    number = float(value)
    if not np.isfinite(number) or (positive and number <= 0):
        raise ValueError(
            f"{cls}: {name}: expected a finite number{' > 0' if positive else ''}, got {value!r}"
        )
    return number


class LeakyReLU(_Activation):
    """y = x if x > 0 else negative_slope·x (``torch.nn.LeakyReLU``, slope 0.01 by default)."""

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = _real_arg("LeakyReLU", "negative_slope", negative_slope)

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.leaky_relu(x, negative_slope=self.negative_slope)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.leaky_relu_grad(x, negative_slope=self.negative_slope)

    def extra_repr(self) -> str:
        """``negative_slope=α``, as ``torch.nn.LeakyReLU`` prints it."""
        return f"negative_slope={self.negative_slope}"


class ELU(_Activation):
    """y = x if x > 0 else α(eˣ − 1) (``torch.nn.ELU``, α = 1 by default)."""

    name = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = _real_arg("ELU", "alpha", alpha)

    def _f(self, x: np.ndarray) -> np.ndarray:
        return _act.elu(x, alpha=self.alpha)

    def _df(self, x: np.ndarray) -> np.ndarray:
        return _act.elu_grad(x, alpha=self.alpha)

    def extra_repr(self) -> str:
        """``alpha=α``, as ``torch.nn.ELU`` prints it."""
        return f"alpha={self.alpha}"


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


ACTIVATION_LAYERS: dict[str, type[_Activation]] = {
    cls.name: cls
    for cls in (Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, ELU, GELU, SiLU, Mish)
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


# ---------------------------------------------------------------------------------------------
# Sequential


class Sequential(Module):
    """Layers applied in order: forward y = f_L(…f_2(f_1(x))), backward the chain rule in
    reverse, G_{l−1} = f_l.backward(G_l). Children are named "0", "1", … as in PyTorch, so
    parameters are "0.weight", "0.bias", …

    Supports ``len``, iteration and indexing (an int gives a layer, a slice a Sequential
    sharing the layers).
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        self._layers: list[Module] = []
        for layer in layers:
            self.append(layer)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """("0", first layer), ("1", second layer), …: the layers in order, named by position
        (as ``torch.nn.Sequential``, and as the keys of ``state_dict``)."""
        for i, layer in enumerate(self._layers):
            yield str(i), layer

    def append(self, layer: Module) -> Sequential:
        """Add a layer at the end; returns self.

        A layer object may appear only once in the whole tree: it keeps its last input for
        the backward pass, so a second use would overwrite what the first one needs (PyTorch
        allows reuse because autograd records every call; here use a new instance).
        """
        i = len(self._layers)
        if not isinstance(layer, Module):
            raise TypeError(
                f"Sequential: layers[{i}]: expected a cnnmath.nn.Module, got "
                f"{type(layer).__name__} {layer!r}"
            )
        present = {id(m) for m in [self, *self._descendants()]}
        for module in [layer, *layer._descendants()]:
            if id(module) in present:
                raise ValueError(
                    f"Sequential: layers[{i}]: {type(module).__name__} object already used in "
                    "this Sequential; a layer keeps its input for backward, so each position "
                    f"needs its own instance (e.g. {type(module).__name__}(...) again)"
                )
        self._layers.append(layer)
        return self

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            view = Sequential()
            view._layers = self._layers[index]  # shares the layers (checked unique already)
            return view
        return self._layers[index]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = f_L(…f_1(x)): each layer's forward in order (each keeps its own input)."""
        for layer in self._layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """∂ℓ/∂x from G = ∂ℓ/∂y: each layer's backward in reverse order; every layer adds
        its parameters' gradients on the way."""
        grad = grad_output
        for layer in reversed(self._layers):
            grad = layer.backward(grad)
        return grad
