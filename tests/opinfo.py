"""Op records: each op described once, as data, for the generic tests in test_op_records.py.

An :class:`OpRecord` names an op's fast function, its literal oracle (``cnnmath.reference``),
its PyTorch counterpart, its sample inputs, its error inputs and its tolerances. The generic
tests check every record the same way: forward against the oracle and PyTorch, every gradient
against the oracle, PyTorch and finite differences, dtype kept, inputs left alone, views
(non-contiguous, negative strides) equal to contiguous copies, non-finite values as PyTorch
has them, bad input rejected with a message naming the argument. A new op joins by adding a
record to one of the family modules in ``tests/records/``.

Calling conventions a record adapts its op to (with a lambda where the op differs):

- ``op(*arrays, **kwargs)``: the forward; ``arrays`` are the sample's positional arrays
  (``None`` for an absent optional one, such as a bias). It returns an array, or a tuple whose
  first element is the differentiable output.
- ``backward(g, *arrays, **kwargs)``: the gradients of ``Σ op(...) · g``, one per entry of
  ``grad_args`` whose array is not ``None``, in that order (a single array when there is one).
- ``torch(torch_module, *tensors, **kwargs)``: the same computation in PyTorch.

Sample arrays are float64 masters; the tests cast every floating array to the dtype under test
(integer arrays, such as class labels or indices, are left as they are).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One call: positional ``arrays`` (float64 masters; ``None`` for an absent optional one),
    keyword ``kwargs``, and a short ``name`` for the test id."""

    name: str
    arrays: tuple[np.ndarray | None, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorCase:
    """A bad call, the exception it must raise and a regex its message must match."""

    name: str
    call: Callable[[], Any]
    exception: type[BaseException]
    match: str


@dataclass(frozen=True)
class OpRecord:
    """Everything the generic tests need to know about one op.

    Attributes
    ----------
    name : the op's public name (``"conv2d"``), the prefix of every test id.
    op, reference : fast and literal forwards, same calling convention.
    samples : a function returning the sample list (built lazily, seeded).
    torch : the PyTorch counterpart, or None where PyTorch has none.
    backward, reference_backward : gradients as described in the module docstring; None for
        an op without a backward (a non-differentiable op).
    grad_args : positions in ``arrays`` that take gradients.
    errors : a function returning the error cases.
    tol : factor on the dtype tolerance of tests/helpers.py, per dtype (float32 ops that
        accumulate long sums may need a few ulps more).
    nonfinite : the non-finite values planted in the first array for the NaN/±inf test
        against PyTorch (an empty tuple: the record's docstring-documented reason applies).
    mutates : positions in ``arrays`` the op updates in place by contract (batch norm's
        running statistics); all others must be left untouched.
    fd_rtol : the finite-difference bound (relative to the numerical gradient's scale).
    """

    name: str
    op: Callable[..., Any]
    reference: Callable[..., Any] | None
    samples: Callable[[], Sequence[Sample]]
    torch: Callable[..., Any] | None = None
    backward: Callable[..., Any] | None = None
    reference_backward: Callable[..., Any] | None = None
    grad_args: tuple[int, ...] = (0,)
    errors: Callable[[], Sequence[ErrorCase]] = lambda: ()
    tol: dict[Any, float] = field(default_factory=dict)
    nonfinite: tuple[float, ...] = (np.nan, np.inf, -np.inf)
    mutates: tuple[int, ...] = ()
    fd_rtol: float = 1e-6

    def factor(self, dtype: Any) -> float:
        return self.tol.get(np.dtype(dtype).type, 1.0)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    """A float64 standard-normal array: the usual sample data."""
    return np.random.default_rng(seed).standard_normal(shape)


def torch_functional(name: str) -> Callable[..., Any]:
    """The counterpart ``torch.nn.functional.<name>(*tensors, **kwargs)``."""

    def call(torch: Any, *tensors: Any, **kwargs: Any) -> Any:
        return getattr(torch.nn.functional, name)(*tensors, **kwargs)

    call.__name__ = f"torch.nn.functional.{name}"
    return call


def first(output: Any) -> np.ndarray:
    """The differentiable output of an op that may return a tuple."""
    return output[0] if isinstance(output, tuple) else output


def as_tuple(grads: Any) -> tuple[np.ndarray, ...]:
    return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)


def cast(arrays: Sequence[np.ndarray | None], dtype: Any) -> list[np.ndarray | None]:
    """Floating arrays to ``dtype`` (fresh copies); integer arrays and None as they are."""
    out: list[np.ndarray | None] = []
    for a in arrays:
        if a is not None and np.issubdtype(a.dtype, np.floating):
            out.append(a.astype(dtype))
        else:
            out.append(None if a is None else a.copy())
    return out


def present(record: OpRecord, arrays: Sequence[np.ndarray | None]) -> list[int]:
    """The positions of ``grad_args`` whose array is given (not None)."""
    return [i for i in record.grad_args if arrays[i] is not None]
