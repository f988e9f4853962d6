"""Einstein summation (``numpy.einsum``, ``torch.einsum``, ONNX's Einsum) and its gradient.

An equation such as ``"bij,bjk->bik"`` gives each axis of each operand a label (a letter);
the output keeps the labels after ``->`` in that order and sums the product of the operands
over every other label:

    Y[o] = Σ_{labels not in the output} Π_k X_k[labels of operand k],

so ``"ij,jk->ik"`` is a matrix product, ``"ii->i"`` a diagonal, ``"ii"`` a trace, ``"ij->"`` a
sum. A label repeated within one operand takes its diagonal; ``...`` stands for the axes an
operand has beyond its letters (right-aligned and broadcast across operands, as NumPy's
leading axes); an axis of size 1 broadcasts against the same label's size elsewhere. Without
``->`` (implicit output) the output is ``...`` followed by the labels that appear exactly once,
in ASCII order (upper case first), as NumPy, PyTorch and ONNX order them. Spaces are ignored.

Y is linear in each operand, so the gradient of operand k is the einsum of G = ∂ℓ/∂Y with
the other operands, written onto k's labels:

    ∂ℓ/∂X_k[labels of k] = Σ_{labels of neither k nor … } G[o] · Π_{j≠k} X_j[labels of j].

Three cases need more than that one einsum: a label of k that appears nowhere else (summed out
of k alone) does not change the sum, so its gradient is broadcast back along that axis; an
axis of size 1 broadcast to n collects the sum of its n gradients; and a label repeated in k
(a diagonal) receives the gradient on the diagonal only, zeros elsewhere.
"""

from __future__ import annotations

import math
import string
from typing import NamedTuple

import numpy as np

from .._checks import check_float_array, check_same_dtype

__all__ = ["einsum", "einsum_backward"]

_LETTERS = string.ascii_letters  # the labels NumPy's einsum accepts (52)
_ELLIPSIS = "..."


class _Plan(NamedTuple):
    """An equation resolved against operand shapes: each operand's labels (one letter per
    axis, ``...`` replaced by letters the equation does not use), the output's labels, and
    each label's size (the largest over the operands: sizes 1 broadcast)."""

    inputs: tuple[str, ...]
    output: str
    sizes: dict[str, int]

    def equation(self) -> str:
        return f"{','.join(self.inputs)}->{self.output}"


def split_equation(
    equation: str, n_operands: int | None, *, prefix: str = "einsum: equation"
) -> tuple[list[str], str | None]:
    """The equation's terms (one per operand, ``...`` kept) and its output (None when
    implicit), spaces removed; a ValueError beginning with ``prefix`` (which names the
    equation) when it is not of the form ``term,term,…[->output]`` with letters and at most
    one ``...`` per term, when an output label repeats or appears in no term, when inputs
    have ``...`` and the output has not, or (``n_operands`` given) when there is not one
    term per operand. (``cnnmath.onnx`` checks an Einsum node's equation with it at load.)"""

    def error(what: str) -> ValueError:
        return ValueError(f"{prefix}: expected {what}, got {equation!r}")

    if not isinstance(equation, str):
        raise TypeError(f"{prefix}: expected a str, got {type(equation).__name__}")
    text = equation.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    output = rhs if arrow else None
    for term in [*terms, *([] if output is None else [output])]:
        rest = term.replace(_ELLIPSIS, "", 1)
        if any(c not in _LETTERS for c in rest):
            bad = next(c for c in rest if c not in _LETTERS)
            raise error(
                f"terms of letters a-z, A-Z and at most one '...', separated by ',' with at "
                f"most one '->' (found {bad!r} in {term!r})"
            )
    if n_operands is not None and len(terms) != n_operands:
        raise error(f"one comma-separated term per operand ({n_operands}), found {len(terms)}")
    if output is not None:
        letters = output.replace(_ELLIPSIS, "")
        repeated = sorted({c for c in letters if letters.count(c) > 1})
        if repeated:
            raise error(f"each output label once, {repeated} repeat")
        inputs = set(lhs)
        missing = sorted({c for c in letters if c not in inputs})
        if missing:
            raise error(f"output labels that appear in the inputs, {missing} do not")
        if _ELLIPSIS not in output and any(_ELLIPSIS in t for t in terms):
            raise error(
                "'...' in the output when an input has it (as NumPy and onnxruntime: sum its "
                "axes with their own labels instead)"
            )
    return terms, output


def _plan(func: str, equation: str, shapes: list[tuple[int, ...]]) -> _Plan:
    """The equation resolved against the operands' ``shapes`` (see ``_Plan``)."""
    terms, output = split_equation(equation, len(shapes), prefix=f"{func}: equation")
    ranks = []  # how many axes each operand's '...' covers
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        n = len(term.replace(_ELLIPSIS, ""))
        if (len(shape) != n) if _ELLIPSIS not in term else (len(shape) < n):
            expected = f"{n} axes" if _ELLIPSIS not in term else f"at least {n} axes"
            raise ValueError(
                f"{func}: operands[{i}]: expected {expected} for term {term!r} of equation "
                f"{equation!r}, got shape {shape}"
            )
        ranks.append(len(shape) - n if _ELLIPSIS in term else 0)
    used = set(equation)
    free = [c for c in _LETTERS if c not in used]
    E = max(ranks, default=0)
    if E > len(free):
        raise ValueError(
            f"{func}: equation: expected at most {len(_LETTERS)} labels in all, got "
            f"{equation!r} with {E} axes under '...' and {len(_LETTERS) - len(free)} letters"
        )
    broadcast = "".join(free[:E])  # the '...' axes, right-aligned across operands
    inputs = tuple(t.replace(_ELLIPSIS, broadcast[E - r :]) for t, r in zip(terms, ranks))
    if output is None:
        counts = "".join(terms).replace(_ELLIPSIS, "")
        once = sorted(c for c in set(counts) if counts.count(c) == 1)
        ellipsis = any(_ELLIPSIS in t for t in terms)
        output = (broadcast if ellipsis else "") + "".join(once)
    else:
        output = output.replace(_ELLIPSIS, broadcast)
    sizes: dict[str, int] = {}
    where: dict[str, int] = {}
    for i, (labels, shape) in enumerate(zip(inputs, shapes)):
        mine: dict[str, int] = {}
        for axis, (label, n) in enumerate(zip(labels, shape)):
            if mine.setdefault(label, n) != n:
                raise ValueError(
                    f"{func}: operands[{i}]: expected equal sizes for label {label!r}, repeated "
                    f"in term {terms[i]!r} (a diagonal), got shape {shape}"
                )
            m = sizes.get(label, 1)
            if n != m and 1 not in (n, m):
                # a letter standing for '...' is no label the caller wrote: name the ellipsis
                what = (
                    f"the dimensions under '...' (axis {axis})"
                    if label in broadcast
                    else f"label {label!r}"
                )
                raise ValueError(
                    f"{func}: operands[{i}]: expected size {m} (or 1) for {what}, as in "
                    f"operands[{where[label]}], got {n} (shape {shape}, equation {equation!r})"
                )
            if n != 1 or label not in sizes:
                sizes[label], where[label] = n, i
    return _Plan(inputs, output, sizes)


def einsum_shape(equation: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of ``einsum(equation, *operands)`` for operands of ``shapes``, without
    computing it (``cnnmath.onnx`` refuses an output larger than memory before allocating it);
    the ValueErrors of ``einsum`` for an equation that does not fit the shapes."""
    plan = _plan("einsum", equation, [tuple(s) for s in shapes])
    return tuple(plan.sizes[label] for label in plan.output)


def _check_operands(func: str, operands: tuple[np.ndarray, ...]) -> np.dtype:
    if not operands:
        raise TypeError(f"{func}: operands: expected at least one array, got none")
    for i, x in enumerate(operands):
        check_float_array(f"operands[{i}]", x, func=func)
    return check_same_dtype(func, **{f"operands[{i}]": x for i, x in enumerate(operands)})


def einsum(equation: str, *operands: np.ndarray) -> np.ndarray:
    """Y[o] = Σ_{labels not in the output} Π_k X_k[labels of k], as
    ``torch.einsum(equation, *operands)`` and ``numpy.einsum`` (see the module docstring).

    equation: a str such as ``"bij,bjk->bik"`` (letters, ``,``, at most one ``->``, at most one
    ``...`` per term; spaces ignored), one term per operand, a term's letters one per axis
    (``...`` for the rest). operands: float32 or float64 arrays of one dtype. Y: the output
    labels' sizes, in that order; the operands' dtype; a new array. Three or more operands
    are contracted pairwise in the order NumPy's ``optimize`` picks, so where an operand holds
    ±inf an output can be ±inf in one order and NaN (inf − inf) in another, as between NumPy
    and PyTorch; NaN propagates in any order.

    >>> einsum("ij,jk->ik", np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    >>> float(einsum("ii", np.array([[1.0, 2.0], [3.0, 4.0]])))  # the trace
    5.0
    """
    func = "einsum"
    dtype = _check_operands(func, operands)
    return _contract(_plan(func, equation, [x.shape for x in operands]), operands, dtype)


def integer_einsum(equation: str, *operands: np.ndarray) -> np.ndarray:
    """Y[o] = Σ_{labels not in the output} Π_k X_k[labels of k] for integer operands (ONNX's
    Einsum of int32, int64 and the other integer types; ``cnnmath.onnx`` loads it with
    this): ``einsum``'s equations and shapes, computed in the operands' integer type.

    operands: ndarrays of one integer dtype (int8 … int64, uint8 … uint64). Y: the output
    labels' sizes, that dtype, a new array. A product or sum that overflows wraps modulo
    2^bits (two's complement for the signed types), as NumPy's and onnxruntime's integer
    arithmetic: arithmetic modulo 2^bits is exact, so the result is the true sum reduced
    modulo 2^bits whatever the order of the contraction. Where (terms summed per output) ·
    Π_k max|X_k| < 2^53, every partial sum is an integer float64 holds exactly, and the
    contraction runs in float64 on BLAS (NumPy's integer products do not use it: a 512² int32
    product takes ~30× as long); otherwise in the integer type. No gradient: integers take
    none (``einsum_backward`` takes floats only).

    >>> integer_einsum("ij,j->i", np.array([[1, 2], [3, 4]]), np.array([10, 1])).tolist()
    [12, 34]
    >>> int(integer_einsum("i,i", np.array([2**31 - 1], np.int32), np.array([2], np.int32)))
    -2
    """
    func = "integer_einsum"
    if not operands:
        raise TypeError(f"{func}: operands: expected at least one array, got none")
    for i, x in enumerate(operands):
        if not isinstance(x, np.ndarray) or isinstance(x, np.ma.MaskedArray):
            raise TypeError(
                f"{func}: operands[{i}]: expected a plain numpy.ndarray of an integer dtype, "
                f"got {type(x).__name__}"
            )
        if x.dtype.kind not in "iu":
            raise TypeError(
                f"{func}: operands[{i}]: expected an integer dtype (int8 … int64, uint8 … "
                f"uint64), got {x.dtype}"
            )
    dtype = check_same_dtype(func, **{f"operands[{i}]": x for i, x in enumerate(operands)})
    plan = _plan(func, equation, [x.shape for x in operands])
    terms = math.prod(n for label, n in plan.sizes.items() if label not in plan.output)
    if all(x.size for x in operands) and terms * math.prod(map(_largest, operands)) < 2**53:
        # every partial sum is then an integer below 2^53, which float64 holds exactly, in
        # whatever order BLAS adds: the exact result, wrapped into the type by the casts
        y = np.einsum(plan.equation(), *(x.astype(np.float64) for x in operands), optimize=True)
        return np.asarray(y).astype(np.int64).astype(dtype)
    return _contract(plan, operands, dtype)


def _largest(x: np.ndarray) -> int:
    """max |x| as a Python integer (no overflow at the type's minimum)."""
    return max(-int(x.min()), int(x.max()))


def _contract(plan: _Plan, operands: tuple[np.ndarray, ...], dtype: np.dtype) -> np.ndarray:
    """The einsum of checked operands of one ``dtype`` by their resolved ``plan``, as a new
    array of that dtype."""
    y = np.asarray(np.einsum(plan.equation(), *operands, optimize=len(operands) > 1), dtype)
    if any(np.may_share_memory(y, x) for x in operands):  # a transpose or diagonal: a view
        y = y.copy()
    return y


def einsum_backward(
    equation: str, grad_output: np.ndarray, *operands: np.ndarray
) -> tuple[np.ndarray, ...]:
    """∂ℓ/∂X_k of Y = ``einsum(equation, *operands)`` for every operand k, given
    G = ∂ℓ/∂Y (Y's shape and dtype):

        ∂ℓ/∂X_k[labels of k] = Σ_{other labels} G[o] · Π_{j≠k} X_j[labels of j],

    broadcast back along labels that only k has and that the output sums out, summed over
    an axis of size 1 that broadcast, and written on the diagonal (zeros elsewhere) where k
    repeats a label. Returns one array per operand, each of its shape and dtype.

    >>> a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    >>> [g.tolist() for g in einsum_backward("i,j->ij", np.ones((2, 3)), a, b)]
    [[12.0, 12.0], [3.0, 3.0, 3.0]]
    """
    func = "einsum_backward"
    dtype = _check_operands(func, operands)
    plan = _plan(func, equation, [x.shape for x in operands])
    G = check_float_array("grad_output", grad_output, func=func)
    expected = tuple(plan.sizes[label] for label in plan.output)
    if G.shape != expected or G.dtype != dtype:
        raise ValueError(
            f"{func}: grad_output: expected the output's shape {expected} and dtype {dtype}, "
            f"got {G.shape} and {G.dtype}"
        )
    grads = []
    for k, (X_k, labels) in enumerate(zip(operands, plan.inputs)):
        others = [j for j in range(len(operands)) if j != k]
        unique = "".join(dict.fromkeys(labels))  # k's labels, each once (its diagonal)
        seen = set(plan.output).union(*(plan.inputs[j] for j in others))
        size_k = [X_k.shape[labels.index(c)] for c in unique]
        # an axis of size 1 broadcast against n: the n gradients add up, so the einsum sums
        # the label (never building the n of them); a label only k has is summed out of k
        # alone: the sum does not depend on it, so its gradient is broadcast back
        kept = "".join(
            c for c, n in zip(unique, size_k) if c in seen and (n != 1 or plan.sizes[c] == 1)
        )
        terms = ",".join([plan.output, *(plan.inputs[j] for j in others)])
        dX = np.einsum(
            f"{terms}->{kept}", G, *(operands[j] for j in others), optimize=len(others) > 0
        )
        dX = np.expand_dims(dX, [p for p, c in enumerate(unique) if c not in kept])
        dX = np.broadcast_to(dX, size_k)
        if len(unique) == len(labels):
            grads.append(np.array(dX, dtype=dtype, order="C"))  # never a view of G
            continue
        # a repeated label: the gradient lies on the diagonal, a strided view of zeros
        full = np.zeros(X_k.shape, dtype)
        strides = [sum(s for a, s in zip(labels, full.strides) if a == c) for c in unique]
        diagonal = np.lib.stride_tricks.as_strided(full, size_k, strides, writeable=True)
        diagonal[...] = dX
        grads.append(full)
    return tuple(grads)
