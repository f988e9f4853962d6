"""Parameter: a trainable array and the gradient backward passes add into it; and
UninitializedParameter, a lazy module's parameter before its shape is known."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_float_array, float_dtype


class Parameter:
    """A trainable array: ``data`` (float32 or float64 ndarray, used as given, not copied)
    and ``grad``, an array of zeros of the same shape and dtype into which backward passes
    add ∂ℓ/∂data.

    ``grad`` may be replaced by an array of data's shape and dtype, or set to None, as
    PyTorch's ``p.grad = None`` clears a gradient: here that is a fresh array of zeros (the
    next backward adds to zero). Anything else is refused.

    ``has_grad`` stands for PyTorch's ``p.grad is not None``: False at first and after
    ``zero_grad()`` (``set_to_none=True``, the default, as PyTorch's) or ``p.grad = None``;
    True once a backward pass adds into ``grad`` (``p.grad += g``, as every layer does) or
    an array is assigned to it. The optimisers skip a parameter without a gradient (a head
    that sat this batch out, a branch the loss did not use), as PyTorch's skip a grad of
    None: no update, no momentum, no weight decay, and its step count does not advance.
    A gradient written into ``grad`` in place without going through the attribute
    (``np.add(p.grad, g, out=p.grad)``) is still seen where it is not all zeros.

    ``requires_grad`` (True by default; ``Module.requires_grad_`` sets it for a whole model)
    freezes the parameter when False, as in PyTorch: backward passes leave its ``grad``
    untouched, the layers that only a frozen part of the model needs are skipped, and the
    optimisers do not update it (PyTorch's frozen parameter has no gradient, which its
    optimisers skip)."""

    __slots__ = ("data", "_grad", "_requires_grad", "_has_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool = True) -> None:
        check_float_array("data", data, func="Parameter")
        self.data = data
        self._grad = np.zeros_like(data)
        self._has_grad = False
        self.requires_grad = requires_grad

    @property
    def requires_grad(self) -> bool:
        """Whether backward passes compute ∂ℓ/∂data and optimisers update data."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{self!r}.requires_grad: expected True or False, got {value!r:.40}")
        self._requires_grad = bool(value)

    @property
    def grad(self) -> np.ndarray:
        """∂ℓ/∂data accumulated by the backward passes since the last ``zero_grad``."""
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray | None) -> None:
        if value is self._grad:  # ``p.grad += g`` in a backward: the same array back
            self._has_grad = True
            return
        if value is None:
            self._grad = np.zeros_like(self.data)
            self._has_grad = False
            return
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"{self!r}.grad: expected a numpy.ndarray of shape {self.data.shape} and "
                f"dtype {self.data.dtype}, or None to clear it, got {type(value).__name__}"
            )
        if value.shape != self.data.shape or value.dtype != self.data.dtype:
            raise ValueError(
                f"{self!r}.grad: expected shape {self.data.shape} and dtype {self.data.dtype} "
                f"(the data's), got shape {value.shape} and dtype {value.dtype}"
            )
        if not value.flags.writeable:
            raise ValueError(
                f"{self!r}.grad: expected a writeable array (backward passes add into it), "
                "got a read-only one; pass a copy"
            )
        self._grad = value
        self._has_grad = True

    @property
    def has_grad(self) -> bool:
        """Whether this parameter has a gradient since the last ``zero_grad``: PyTorch's
        ``p.grad is not None`` (see the class docstring). Read only."""
        return self._has_grad

    def _holds_gradient(self) -> bool:
        """``has_grad``, or a gradient written into ``grad`` in place (not all zeros)."""
        return self._has_grad or bool(self._grad.any())

    def _stepped(self) -> bool:
        """Whether an optimiser updates this parameter now: trainable, with a gradient."""
        return self._requires_grad and self._holds_gradient()

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
        """``data.size``, the number of scalars (NumPy's attribute; PyTorch's ``p.size()`` is
        the shape: ``p.shape`` here)."""
        return self.data.size

    @property
    def ndim(self) -> int:
        """``data.ndim`` (PyTorch's ``p.ndim``, ``p.dim()``)."""
        return self.data.ndim

    def dim(self) -> int:
        """``data.ndim``, as PyTorch's ``p.dim()``."""
        return self.data.ndim

    def numel(self) -> int:
        """The number of scalars, as PyTorch's ``p.numel()`` (counting a model's parameters:
        ``sum(p.numel() for p in model.parameters())``)."""
        return self.data.size

    def requires_grad_(self, requires_grad: bool = True) -> Parameter:
        """Set ``requires_grad`` (PyTorch's in-place form); returns the parameter."""
        self.requires_grad = requires_grad
        return self

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(p)`` is ``p.data`` (a copy with ``copy=True`` or another dtype; with
        ``copy=False`` another dtype is refused, as NumPy's protocol asks): NumPy functions
        take a parameter as its values, as PyTorch's take a tensor."""
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        if copy is False and dtype is not None and np.dtype(dtype) != self.data.dtype:
            raise ValueError(
                f"Parameter.__array__: copy=False, but dtype {np.dtype(dtype)} needs a copy of "
                f"the {self.data.dtype} values"
            )
        return np.asarray(self.data, dtype=dtype)

    def __getattr__(self, name: str) -> Any:
        # only reached for a missing attribute: a tensor method a ported script calls (a
        # private name, such as an unset slot, is reported as itself)
        if name.startswith("_"):
            raise AttributeError(f"'Parameter' object has no attribute {name!r}")
        hint = f" (p.data.{name})" if hasattr(np.ndarray, name) else ""
        raise AttributeError(
            f"'Parameter' object has no attribute {name!r}: a Parameter is not an array; its "
            f"values are p.data, a numpy.ndarray{hint}, and its gradient p.grad"
        )

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set ``grad`` to zero in place (the array stays the same object). With
        ``set_to_none`` (PyTorch's default) the parameter then has no gradient
        (``has_grad`` False: a step skips it until a backward reaches it); without, a
        gradient it had is now zero, as PyTorch's ``zero_grad(set_to_none=False)`` leaves
        it (a step still applies momentum and weight decay to it), and one it did not have
        it still does not have."""
        self._grad[...] = 0
        if set_to_none:
            self._has_grad = False

    def _astype(self, dtype: np.dtype) -> None:
        """data and grad converted to ``dtype`` (new arrays): ``Module.to``'s step."""
        self.data = self.data.astype(dtype)
        self._grad = self._grad.astype(dtype)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


#: Parameter's own slots, read and written past UninitializedParameter's properties
_DATA = Parameter.__dict__["data"]
_GRAD = Parameter.__dict__["_grad"]

_NOT_YET = (
    "this parameter of a lazy module has no shape yet: run one forward pass first (a lazy "
    "module infers its input size), or load a state_dict into the model"
)


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet, as ``torch.nn.UninitializedParameter``: a
    lazy module's (``LazyConv2d``, ``LazyLinear``, …) before its first forward pass. It is a
    Parameter (``model.parameters()`` yields it, as PyTorch's does), with a dtype
    (``Module.to`` changes it) and ``requires_grad``, but no ``data``, ``grad``, ``shape`` or
    ``size``: reading them raises a RuntimeError that says to run one forward pass first.
    ``zero_grad`` does nothing (there is no gradient yet).

    ``materialize(shape)`` turns this very object into a Parameter of zeros of ``shape``
    (its class becomes :class:`Parameter`), so that the references held elsewhere — a list
    of ``model.parameters()`` taken before the forward — stay valid; the lazy module then
    writes its initial values into ``data``.

    >>> p = UninitializedParameter()
    >>> p
    UninitializedParameter(dtype=float32)
    >>> p.materialize((2, 3))
    >>> type(p).__name__, p.shape
    ('Parameter', (2, 3))
    """

    __slots__ = ()  # Parameter's layout, so that materialize can change the class in place

    def __init__(self, requires_grad: bool = True, dtype: Any = None) -> None:
        dt = (
            np.dtype(np.float32)
            if dtype is None
            else float_dtype("dtype", dtype, func="UninitializedParameter")
        )
        _DATA.__set__(self, np.empty(0, dt))  # a placeholder that only carries the dtype
        _GRAD.__set__(self, None)
        self._has_grad = False
        self.requires_grad = requires_grad

    @property
    def data(self) -> np.ndarray:
        """Refused: no values yet (RuntimeError)."""
        raise RuntimeError(f"UninitializedParameter.data: {_NOT_YET}")

    @data.setter
    def data(self, value: np.ndarray) -> None:
        raise RuntimeError(f"UninitializedParameter.data: {_NOT_YET}")

    @property
    def grad(self) -> np.ndarray:
        """Refused: no gradient yet (RuntimeError)."""
        raise RuntimeError(f"UninitializedParameter.grad: {_NOT_YET}")

    @grad.setter
    def grad(self, value: np.ndarray | None) -> None:
        raise RuntimeError(f"UninitializedParameter.grad: {_NOT_YET}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Refused: no shape yet (RuntimeError)."""
        raise RuntimeError(f"UninitializedParameter.shape: {_NOT_YET}")

    @property
    def size(self) -> int:
        """Refused: no shape yet (RuntimeError)."""
        raise RuntimeError(f"UninitializedParameter.size: {_NOT_YET}")

    @property
    def dtype(self) -> np.dtype:
        """The dtype the parameter will have."""
        dtype: np.dtype = _DATA.__get__(self).dtype
        return dtype

    def _holds_gradient(self) -> bool:
        return False

    def _stepped(self) -> bool:
        return False

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to zero: no gradient yet."""

    def _astype(self, dtype: np.dtype) -> None:
        _DATA.__set__(self, np.empty(0, dtype))

    def materialize(self, shape: tuple[int, ...], dtype: Any = None) -> None:
        """Become a Parameter (this object, in place) of zeros of ``shape`` and of this
        parameter's dtype (or ``dtype``), with a gradient of zeros."""
        func = "UninitializedParameter.materialize"
        dt = self.dtype if dtype is None else float_dtype("dtype", dtype, func=func)
        if not isinstance(shape, tuple) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise TypeError(f"{func}: shape: expected a tuple of ints >= 0, got {shape!r}")
        self.__class__ = Parameter  # type: ignore[assignment]
        self.data = np.zeros(shape, dt)
        self._grad = np.zeros(shape, dt)
        self._has_grad = False

    def __reduce_ex__(self, protocol: Any) -> Any:  # copy.deepcopy: no data slot to read
        return UninitializedParameter, (self.requires_grad, self.dtype)

    def __repr__(self) -> str:
        return f"UninitializedParameter(dtype={self.dtype})"


def unmaterialize(p: Parameter, dtype: np.dtype) -> None:
    """Turn a parameter materialised by a lazy module's failed first call back into the
    UninitializedParameter it was (this object, in place), of ``dtype``."""
    p.__class__ = UninitializedParameter
    _DATA.__set__(p, np.empty(0, dtype))
    _GRAD.__set__(p, None)
    p._has_grad = False
