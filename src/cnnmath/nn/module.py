"""Module, the base class of every layer, and state-dict errors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._checks import check_float_array
from ._common import _float_dtype
from .parameter import Parameter


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
