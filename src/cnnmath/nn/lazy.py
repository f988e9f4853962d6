"""Lazy modules, as PyTorch's ``nn.LazyConv2d``, ``nn.LazyLinear``, ``nn.LazyBatchNorm2d``, …:
layers whose input size is read off their first input.

"Dive into Deep Learning" (d2l.ai) and many tutorials write their CNNs this way,

    net = nn.Sequential(nn.LazyConv2d(6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
                        ..., nn.Flatten(), nn.LazyLinear(120), nn.Sigmoid(), nn.LazyLinear(10))
    net(X)  # the "dry run": every layer learns its input size

so that no one has to work out by hand that the first Linear reads 16·5·5 = 400 features.

**Before the first forward** a lazy module holds :class:`UninitializedParameter` s (no
shape, no values; ``model.parameters()`` yields them, as PyTorch's does), its inferred size
is 0 (``LazyLinear(in_features=0, out_features=10, bias=True)``, PyTorch's ``repr``) and a
norm's running statistics are empty placeholders. ``to(dtype)`` sets the dtype the
parameters will have; ``backward`` fails (no forward yet); an optimiser refuses the
uninitialised parameters (make it after the dry run).

**At the first forward** the module reads its size from the input x,

    in_features = x.shape[-1] (Linear),   in_channels = x.shape[-(d+1)] (Conv/ConvTranspose, d
    spatial axes: a batch or one unbatched sample),   num_features = x.shape[1] (BatchNorm;
    InstanceNorm: x.shape[0] for one unbatched sample),

builds its parameters exactly as the eager class would with the same ``rng`` and dtype —
``LazyConv2d(6, 5, rng=0)`` called on 1-channel input has ``Conv2d(1, 6, 5, rng=0)``'s
weights — writes them into the very UninitializedParameter objects it held (references
taken before stay valid), and becomes the eager class (PyTorch's ``cls_to_become``):
``type(m) is nn.Conv2d``, with its ``repr``, ``state_dict`` keys, backward, ONNX export and
summary. What the module was given before — a momentum, eps, stride or padding set after
construction, a buffer registered, a hook — stays, as PyTorch's lazy module keeps it. A
first forward that fails (an input of the wrong rank, of the wrong dtype, or fewer channels
than ``groups``) leaves the module lazy and the ``rng`` Generator as it was.

``load_state_dict`` into a lazy module that has not run reads the size from the loaded
shapes instead (a weight's input features or channels, a norm's C) and makes the module
eager at once (PyTorch keeps the Lazy class, with size 0, until the forward).

With one Generator shared by several layers, the lazy layers draw at the first forward,
after the eager layers drew at construction: the weights differ from an eager model's built
with the same Generator (PyTorch's lazy modules have the same caveat). An int seed per
layer gives each layer its eager twin's weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._checks import check_float_array
from ._common import as_generator
from .conv import Conv2d, ConvTranspose2d
from .layers1d import Conv1d, ConvTranspose1d
from .layers3d import BatchNorm3d, Conv3d, ConvTranspose3d
from .linear import Linear
from .module import Module, StateDictError
from .normalization import BatchNorm1d, BatchNorm2d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .parameter import Parameter, UninitializedParameter, unmaterialize

__all__ = [
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
    "LazyLinear",
]

_ABSENT = object()


def _placeholder(held: Any, value: Any) -> bool:
    """Whether ``held`` is a floating buffer's empty placeholder (size unknown) that the
    eager module's ``value`` fills."""
    return (
        isinstance(held, np.ndarray)
        and held.size == 0
        and np.issubdtype(held.dtype, np.floating)
        and isinstance(value, np.ndarray)
        and value.size > 0
    )


class _LazyModule(Module):
    """The lazy mechanism shared by every lazy layer (placed before the eager class in the
    bases: ``class LazyConv2d(_LazyModule, Conv2d)``, so its ``forward_ctx`` comes first)."""

    #: the eager class this one becomes at its first forward
    cls_to_become: Any = None
    #: the constructor argument read off the input ("in_channels", …)
    _infers = ""
    #: the input ranks the eager class takes, and their layouts for the error message
    _ranks: tuple[int, ...] = ()
    _layouts = ""
    #: the state_dict entries that tell the inferred size, and how many axes they have
    _size_keys: tuple[str, ...] = ("weight",)
    _size_rank = 1

    def _lazy_init(self, probe: int, kwargs: dict[str, Any], dtype: Any) -> None:
        """Set up as the eager class would with the inferred size ``probe`` (a valid one,
        drawn with a fixed seed: the arguments are checked now, and ``repr`` and the
        attributes are the eager class's), then drop what depends on the size: the
        parameters become UninitializedParameters, the floating buffers empty placeholders
        of their dtype, the inferred size 0."""
        name = type(self).__name__
        probe_kwargs = dict(kwargs)
        if "rng" in kwargs:
            if kwargs["rng"] is not None:
                as_generator(kwargs["rng"], func=name)  # checked now, used at the forward
            probe_kwargs["rng"] = 0
        try:
            self.cls_to_become.__init__(self, probe, **probe_kwargs, dtype=dtype)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name}: {error}") from None
        setattr(self, self._infers, 0)
        for key, p in list(self._own_parameters()):
            setattr(self, key, UninitializedParameter(p.requires_grad, p.dtype))
        for key, value in list(self._own_buffers()):
            if np.issubdtype(value.dtype, np.floating):
                setattr(self, key, np.empty(0, value.dtype))
        self._lazy = {"kwargs": kwargs, "dtype": dtype}

    # -- the size ------------------------------------------------------------------------------
    def _axis(self, x: np.ndarray) -> int:
        """The axis of x that holds the inferred size."""
        return 1

    def _inferred(self, x: Any) -> int:
        """The inferred size read off the first input; a clear error, before anything
        changes, for an input it cannot be read from."""
        func = f"{type(self).__name__}.forward"
        check_float_array("x", x, func=func)
        if x.ndim not in self._ranks:
            raise ValueError(
                f"{func}: x: expected shape {self._layouts} (the first input tells "
                f"{self._infers}), got shape {x.shape}; the module stays lazy"
            )
        return int(x.shape[self._axis(x)])

    def _size_from(self, shape: tuple[int, ...]) -> int:
        """The inferred size from a loaded ``_size_keys`` entry's shape."""
        return shape[0]

    # -- becoming the eager class --------------------------------------------------------------
    def _planned_dtype(self) -> Any:
        """The dtype the parameters will have: an UninitializedParameter's or a placeholder
        buffer's (``to`` changes both), else the constructor's."""
        for _, p in self._own_parameters():
            return p.dtype
        for _, value in self._own_buffers():
            if np.issubdtype(value.dtype, np.floating):
                return value.dtype
        return self._lazy["dtype"]

    def _materialize(self, size: int, source: str) -> None:
        """Build the eager module of inferred size ``size`` (with this module's rng and
        dtype), take from it what depends on the size — the size itself, its parameters'
        values written into this module's UninitializedParameters (which become Parameters
        in place), the floating buffers — and become its class. Everything else stays this
        module's, as PyTorch's lazy module keeps it: a momentum, eps, stride or padding set
        before the first forward, a buffer registered then, a hook."""
        eager = self.cls_to_become
        try:
            fresh = eager(size, **self._lazy["kwargs"], dtype=self._planned_dtype())
        except (TypeError, ValueError) as error:
            name = type(self).__name__
            raise type(error)(f"{name}: {self._infers}={size} from {source}: {error}") from None
        own = vars(self)
        for key, value in vars(fresh).items():
            held = own.get(key, _ABSENT)
            if isinstance(held, UninitializedParameter) and isinstance(value, Parameter):
                held.materialize(value.shape)
                held.data[...] = value.data
            elif key == self._infers or held is _ABSENT or _placeholder(held, value):
                setattr(self, key, value)
            # else: the module's own, as PyTorch's lazy module keeps it (a momentum, a
            # stride or a buffer set before the first forward; a parameter replaced by hand)
        del self._lazy
        self.__class__ = eager

    def _undo(self) -> Callable[[], None]:
        """What puts this lazy module back as it is now: its class, its attributes, its
        UninitializedParameters (in place) and its rng Generator's state."""
        cls, state = type(self), dict(vars(self))
        params = [
            (p, p.dtype) for _, p in self._own_parameters() if isinstance(p, UninitializedParameter)
        ]
        rng = self._lazy["kwargs"].get("rng")
        drawn = rng.bit_generator.state if isinstance(rng, np.random.Generator) else None

        def restore() -> None:
            for p, dtype in params:
                unmaterialize(p, dtype)
            self.__class__ = cls
            vars(self).clear()
            vars(self).update(state)
            if drawn is not None:
                rng.bit_generator.state = drawn

        return restore

    def _becoming(self, size: int, source: str) -> Callable[[], None]:
        """Materialise with ``size`` (read off ``source``); return what undoes it (already
        undone on failure)."""
        restore = self._undo()
        try:
            self._materialize(size, source)
        except BaseException:
            restore()
            raise
        return restore

    def forward_ctx(self, *inputs: Any, **kwargs: Any) -> tuple[Any, Any]:
        """The first forward: infer the size from the input, become the eager module and
        run its forward. Should that forward fail, the module is lazy again."""
        x: Any = inputs[0] if inputs else None
        restore = self._becoming(self._inferred(x), f"x of shape {np.shape(x)}")
        try:
            return self.forward_ctx(*inputs, **kwargs)  # now the eager class's
        except BaseException:
            restore()
            raise

    def _materialize_from_state(
        self, state_dict: Mapping[str, Any], prefix: str, func: str
    ) -> Callable[[], None] | None:
        """Become eager with the size the state_dict's ``_size_keys`` entries tell (None
        when none is there: the module stays lazy)."""
        for key in self._size_keys:
            if prefix + key not in state_dict:
                continue
            shape = tuple(np.shape(state_dict[prefix + key]))
            if len(shape) != self._size_rank:
                raise StateDictError(
                    f"{func}: state_dict[{prefix + key!r}]: expected {self._size_rank} axes "
                    f"(the {type(self).__name__}'s {key} tells its {self._infers}), got shape "
                    f"{shape}"
                )
            return self._becoming(self._size_from(shape), f"state_dict[{prefix + key!r}]")
        given = [prefix + key for key, _ in self._own_parameters() if prefix + key in state_dict]
        if given:  # (PyTorch loads those alone and lists the size's key as missing)
            raise StateDictError(
                f"{func}: state_dict: {given} without {prefix + self._size_keys[0]!r}: a "
                f"{type(self).__name__} not yet run reads its {self._infers} from that entry; "
                "give it, or run one forward pass first"
            )
        return None


# -- Linear ---------------------------------------------------------------------------------------
class LazyLinear(_LazyModule, Linear):
    """:class:`Linear` with ``in_features`` = x.shape[-1] of the first input x (*, in):
    y = x Wᵀ + b, W (out_features, in_features). Becomes a ``Linear``.

    >>> import numpy as np
    >>> layer = LazyLinear(10, rng=0)
    >>> layer
    LazyLinear(in_features=0, out_features=10, bias=True)
    >>> layer(np.ones((2, 400), np.float32)).shape, layer
    ((2, 10), Linear(in_features=400, out_features=10, bias=True))
    """

    cls_to_become = Linear
    _infers = "in_features"
    _size_rank = 2

    def __init__(
        self, out_features: int, bias: bool = True, *, rng: Any = None, dtype: Any = None
    ) -> None:
        self._lazy_init(1, {"out_features": out_features, "bias": bias, "rng": rng}, dtype)

    def _inferred(self, x: Any) -> int:
        func = "LazyLinear.forward"
        check_float_array("x", x, func=func)
        if x.ndim == 0:
            raise ValueError(
                f"{func}: x: expected shape (*, in_features), e.g. (B, in_features) (the "
                f"first input tells in_features), got shape {x.shape}; the module stays lazy"
            )
        return int(x.shape[-1])

    def _size_from(self, shape: tuple[int, ...]) -> int:
        return shape[1]  # W (out_features, in_features)


# -- convolutions ---------------------------------------------------------------------------------
class _LazyConv(_LazyModule):
    """A convolution's laziness: in_channels = x.shape[-(d+1)] of a batch (N, C, *space) or
    of one sample (C, *space), d spatial axes; from a loaded weight (C_out, C_in/G, *k),
    C_in = weight.shape[1]·G."""

    _infers = "in_channels"

    def _conv_init(self, kwargs: dict[str, Any], dtype: Any) -> None:
        groups = kwargs["groups"]
        ok = isinstance(groups, (int, np.integer)) and not isinstance(groups, bool) and groups > 0
        self._lazy_init(int(groups) if ok else 1, kwargs, dtype)

    def _axis(self, x: np.ndarray) -> int:
        return -self._ranks[0]

    def _size_from(self, shape: tuple[int, ...]) -> int:
        return shape[1] * int(self._lazy["kwargs"]["groups"])


class _LazyConvTranspose(_LazyConv):
    """A transposed convolution's laziness: in_channels as a convolution's from the input;
    from a loaded weight (C_in, C_out/G, *k), C_in = weight.shape[0]."""

    def _size_from(self, shape: tuple[int, ...]) -> int:
        return shape[0]


def _conv_kwargs(out_channels: Any, kernel_size: Any, **rest: Any) -> dict[str, Any]:
    return {"out_channels": out_channels, "kernel_size": kernel_size, **rest}


class LazyConv1d(_LazyConv, Conv1d):
    """:class:`Conv1d` with ``in_channels`` = C of the first input (N, C, L) or (C, L);
    weight (C_out, C/groups, k). Becomes a ``Conv1d``.

    >>> LazyConv1d(4, 3)
    LazyConv1d(0, 4, kernel_size=(3,), stride=(1,))
    """

    cls_to_become = Conv1d
    _ranks, _layouts, _size_rank = (2, 3), "(N, C, L) or (C, L)", 3

    def __init__(
        self,
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
        dtype: Any = None,
    ) -> None:
        kwargs = _conv_kwargs(
            out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
            groups=groups, bias=bias, padding_mode=padding_mode, rng=rng,
        )  # fmt: skip
        self._conv_init(kwargs, dtype)


class LazyConv2d(_LazyConv, Conv2d):
    """:class:`Conv2d` with ``in_channels`` = C of the first input (N, C, H, W) or
    (C, H, W); weight (C_out, C/groups, f1, f2). Becomes a ``Conv2d``.

    >>> LazyConv2d(6, 5, padding=2)
    LazyConv2d(0, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
    """

    cls_to_become = Conv2d
    _ranks, _layouts, _size_rank = (3, 4), "(N, C, H, W) or (C, H, W)", 4

    def __init__(
        self,
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
        dtype: Any = None,
    ) -> None:
        kwargs = _conv_kwargs(
            out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
            groups=groups, bias=bias, padding_mode=padding_mode, rng=rng,
        )  # fmt: skip
        self._conv_init(kwargs, dtype)


class LazyConv3d(_LazyConv, Conv3d):
    """:class:`Conv3d` with ``in_channels`` = C of the first input (N, C, D, H, W) or
    (C, D, H, W); weight (C_out, C/groups, f0, f1, f2). Becomes a ``Conv3d``.

    >>> LazyConv3d(8, 3, padding=1)
    LazyConv3d(0, 8, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1))
    """

    cls_to_become = Conv3d
    _ranks, _layouts, _size_rank = (4, 5), "(N, C, D, H, W) or (C, D, H, W)", 5

    def __init__(
        self,
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
        dtype: Any = None,
    ) -> None:
        kwargs = _conv_kwargs(
            out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
            groups=groups, bias=bias, padding_mode=padding_mode, rng=rng,
        )  # fmt: skip
        self._conv_init(kwargs, dtype)


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """:class:`ConvTranspose1d` with ``in_channels`` = C of the first input (N, C, L) or
    (C, L); weight (C, C_out/groups, k). Becomes a ``ConvTranspose1d``.

    >>> LazyConvTranspose1d(4, 3, stride=2)
    LazyConvTranspose1d(0, 4, kernel_size=(3,), stride=(2,))
    """

    cls_to_become = ConvTranspose1d
    _ranks, _layouts, _size_rank = (2, 3), "(N, C, L) or (C, L)", 3

    def __init__(
        self,
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
        dtype: Any = None,
    ) -> None:
        kwargs = _conv_kwargs(
            out_channels, kernel_size, stride=stride, padding=padding,
            output_padding=output_padding, groups=groups, bias=bias, dilation=dilation,
            padding_mode=padding_mode, rng=rng,
        )  # fmt: skip
        self._conv_init(kwargs, dtype)


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """:class:`ConvTranspose2d` with ``in_channels`` = C of the first input (N, C, H, W) or
    (C, H, W); weight (C, C_out/groups, f1, f2). Becomes a ``ConvTranspose2d``.

    >>> LazyConvTranspose2d(8, 2, stride=2)
    LazyConvTranspose2d(0, 8, kernel_size=(2, 2), stride=(2, 2))
    """

    cls_to_become = ConvTranspose2d
    _ranks, _layouts, _size_rank = (3, 4), "(N, C, H, W) or (C, H, W)", 4

    def __init__(
        self,
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
        dtype: Any = None,
    ) -> None:
        kwargs = _conv_kwargs(
            out_channels, kernel_size, stride=stride, padding=padding,
            output_padding=output_padding, groups=groups, bias=bias, dilation=dilation,
            padding_mode=padding_mode, rng=rng,
        )  # fmt: skip
        self._conv_init(kwargs, dtype)


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """:class:`ConvTranspose3d` with ``in_channels`` = C of the first input (N, C, D, H, W)
    or (C, D, H, W); weight (C, C_out/groups, f0, f1, f2). Becomes a ``ConvTranspose3d``.

    >>> LazyConvTranspose3d(8, 2, stride=2)
    LazyConvTranspose3d(0, 8, kernel_size=(2, 2, 2), stride=(2, 2, 2))
    """

    cls_to_become = ConvTranspose3d
    _ranks, _layouts, _size_rank = (4, 5), "(N, C, D, H, W) or (C, D, H, W)", 5

    def __init__(
        self,
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
        dtype: Any = None,
    ) -> None:
        kwargs = _conv_kwargs(
            out_channels, kernel_size, stride=stride, padding=padding,
            output_padding=output_padding, groups=groups, bias=bias, dilation=dilation,
            padding_mode=padding_mode, rng=rng,
        )  # fmt: skip
        self._conv_init(kwargs, dtype)


# -- normalisation --------------------------------------------------------------------------------
class _LazyNorm(_LazyModule):
    """A norm's laziness: num_features = C, axis 1 of the first input (axis 0 of one
    unbatched sample, for InstanceNorm); from a loaded weight, bias or running statistic
    (C,). The defaults are PyTorch's lazy norms': ``affine=True`` and
    ``track_running_stats=True`` — for the LazyInstanceNorms too, whose eager classes
    default to False (PyTorch's code does so, whatever its documentation says; a ported
    model keeps its state_dict keys)."""

    _infers = "num_features"
    _size_keys = ("weight", "bias", "running_mean", "running_var")

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        kwargs = {
            "eps": eps,
            "momentum": momentum,
            "affine": affine,
            "track_running_stats": track_running_stats,
            "bias": bias,
        }
        self._lazy_init(1, kwargs, dtype)

    def _axis(self, x: np.ndarray) -> int:
        unbatched = x.ndim == self._ranks[0] and issubclass(self.cls_to_become, InstanceNorm2d)
        return 0 if unbatched else 1


class LazyBatchNorm1d(_LazyNorm, BatchNorm1d):
    """:class:`BatchNorm1d` with ``num_features`` = C of the first input (N, C) or
    (N, C, L). Becomes a ``BatchNorm1d``."""

    cls_to_become = BatchNorm1d
    _ranks, _layouts = (2, 3), "(N, C) or (N, C, L)"


class LazyBatchNorm2d(_LazyNorm, BatchNorm2d):
    """:class:`BatchNorm2d` with ``num_features`` = C of the first input (N, C, H, W).
    Becomes a ``BatchNorm2d``.

    >>> LazyBatchNorm2d()
    LazyBatchNorm2d(0, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    """

    cls_to_become = BatchNorm2d
    _ranks, _layouts = (4,), "(N, C, H, W)"


class LazyBatchNorm3d(_LazyNorm, BatchNorm3d):
    """:class:`BatchNorm3d` with ``num_features`` = C of the first input (N, C, D, H, W).
    Becomes a ``BatchNorm3d``."""

    cls_to_become = BatchNorm3d
    _ranks, _layouts = (5,), "(N, C, D, H, W)"


class LazyInstanceNorm1d(_LazyNorm, InstanceNorm1d):
    """:class:`InstanceNorm1d` with ``num_features`` = C of the first input (N, C, L) or
    (C, L); PyTorch's lazy defaults ``affine=True``, ``track_running_stats=True``. Becomes
    an ``InstanceNorm1d``."""

    cls_to_become = InstanceNorm1d
    _ranks, _layouts = (2, 3), "(N, C, L) or (C, L)"


class LazyInstanceNorm2d(_LazyNorm, InstanceNorm2d):
    """:class:`InstanceNorm2d` with ``num_features`` = C of the first input (N, C, H, W) or
    (C, H, W); PyTorch's lazy defaults ``affine=True``, ``track_running_stats=True``.
    Becomes an ``InstanceNorm2d``."""

    cls_to_become = InstanceNorm2d
    _ranks, _layouts = (3, 4), "(N, C, H, W) or (C, H, W)"


class LazyInstanceNorm3d(_LazyNorm, InstanceNorm3d):
    """:class:`InstanceNorm3d` with ``num_features`` = C of the first input (N, C, D, H, W)
    or (C, D, H, W); PyTorch's lazy defaults ``affine=True``, ``track_running_stats=True``.
    Becomes an ``InstanceNorm3d``."""

    cls_to_become = InstanceNorm3d
    _ranks, _layouts = (4, 5), "(N, C, D, H, W) or (C, D, H, W)"
