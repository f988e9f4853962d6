"""An autograder for people who write layers themselves: is my forward right, is my backward?

:func:`check_op` runs your forward (and backward) of one op on a table of small float64
cases — each changing one or two options from PyTorch's defaults — and says, in words, the
first case that fails and where:

    grad_w is wrong when stride = 2 and padding = 1 (x 2×3×7×7, weight 4×3×3×3, bias 4):
    largest error 0.5 at [0, 1, 2, 0] (yours 1.25, expected 0.75, finite differences 0.75)

Three witnesses answer each case. Your forward's output is compared with cnnmath's op, which
agrees with the literal loops of :mod:`cnnmath.reference` on that case (checked as the table
is built). Your backward receives a random, non-uniform upstream gradient G (an all-ones G
hides errors: the gradient of a summed batch-normalised output is zero) and must return
∂φ/∂input for φ = Σ y·G; it is compared with cnnmath's backward, whose own answer is checked
against central finite differences of the op in float64 as the table is built.

An error counts when max|yours − expected| exceeds ``rtol`` times the largest |expected|:
the error relative to the data's scale, as the project's own tests measure it.

:func:`check_module` gradchecks a whole module — its input and every parameter — against
finite differences of its own forward, again with a non-uniform G.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import nn
from ._checks import check_float_array, real_number
from ._samples import SPECS, OpSpec, Sample
from .gradcheck import numerical_vjp

__all__ = ["CaseResult", "Report", "check_module", "check_op", "op_names"]

_TINY = np.finfo(np.float64).tiny
_SELF_CHECK = 1e-6  # cnnmath's backward against finite differences, building the table


@dataclass(frozen=True)
class CaseResult:
    """One case: its ``description`` (options and shapes), the relative ``errors`` of each
    quantity checked (``"forward"``, ``"grad_x"``, …; inf where it could not be compared),
    the first ``failure`` in words (None when it passed) and a ``note`` (e.g. that a
    gradient is zero, so the check cannot see errors in it)."""

    description: str
    errors: dict[str, float]
    failure: str | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        """True when every quantity of the case agreed."""
        return self.failure is None


@dataclass(frozen=True)
class Report:
    """What a check found: ``name`` (the op or module), one :class:`CaseResult` per case,
    and what it was compared with (``witnesses``). True in a boolean context when every
    case passed; ``str(report)`` is a few lines for a person."""

    name: str
    cases: tuple[CaseResult, ...]
    witnesses: str

    @property
    def passed(self) -> bool:
        """True when every case passed."""
        return all(c.passed for c in self.cases)

    @property
    def failures(self) -> list[CaseResult]:
        """The cases that failed, in table order."""
        return [c for c in self.cases if not c.passed]

    @property
    def first_failure(self) -> str | None:
        """The first failing case's message, or None."""
        failed = self.failures
        return failed[0].failure if failed else None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        n = len(self.cases)
        if self.passed:
            lines = [f"{self.name}: all {n} cases passed ({self.witnesses})"]
        else:
            lines = [
                f"{self.name}: {len(self.failures)} of {n} cases failed ({self.witnesses})",
                f"first failure: {self.first_failure}",
            ]
        lines += [f"  {'ok  ' if c.passed else 'FAIL'} {c.description}" for c in self.cases]
        lines += [f"note: {c.note}" for c in self.cases if c.note]
        return "\n".join(lines)


def op_names() -> list[str]:
    """The ops :func:`check_op` has cases for."""
    return sorted(SPECS)


# -- formatting ------------------------------------------------------------------------------
def _shape(a: Any) -> str:
    shape = np.shape(a)
    return "×".join(map(str, shape)) if shape else "scalar"


def _index(idx: tuple[Any, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _value(v: Any) -> str:
    return f"{float(v):.6g}"


def _join_words(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


#: The feature of a pooling case whose ``kernel_size`` is a pair (k1, k2) with k1 ≠ k2: the
#: name ``options=`` takes to keep such cases (``kernel_size`` itself is always passed).
RECTANGULAR = "rectangular"


def _features(spec: OpSpec, sample: Sample) -> set[str]:
    """What a case uses beyond the defaults: its options (less the always-passed ones), the
    optional arrays it gives (cross_entropy's ``weight``), and :data:`RECTANGULAR` for a
    kernel_size (k1, k2) with k1 ≠ k2."""
    given = {n for n, a in zip(spec.arrays, sample.arrays) if n in spec.optional and a is not None}
    kernel = sample.options.get("kernel_size")
    if isinstance(kernel, (tuple, list)) and len(set(kernel)) > 1:
        given.add(RECTANGULAR)
    return (set(sample.options) - set(spec.required)) | given


def _describe(spec: OpSpec, sample: Sample) -> str:
    """'when stride = 2 and padding = 1 (x 2×3×7×7, weight 4×3×3×3, bias 4)'."""
    options = [
        f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}" for k, v in sample.options.items()
    ]
    absent = [n for n, a in zip(spec.arrays, sample.arrays) if a is None and n not in spec.optional]
    options += [
        f"{n} is given" for n in spec.arrays if n in spec.optional and n in _features(spec, sample)
    ]
    if absent:
        options.append("without " + _join_words(absent))
    shapes = ", ".join(
        f"{name} {_shape(a)}" for name, a in zip(spec.arrays, sample.arrays) if a is not None
    )
    when = f"when {_join_words(options)}" if options else "with the default options"
    return f"{when} ({shapes})"


def _mismatch(
    got: Any, want: np.ndarray, rtol: float, fd: np.ndarray | None = None, atol: float = 0.0
) -> tuple[float, str | None]:
    """(relative error, None) when ``got`` agrees with ``want`` — max|got − want| ≤
    rtol·max|want| + atol — else (error, what is wrong)."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return np.inf, f"is not an array of numbers (got {type(got).__name__})"
    if got.shape != want.shape:
        return np.inf, f"has shape {got.shape}, expected {want.shape}"
    diff = np.abs(got - want)
    diff = np.where(np.isnan(diff), np.inf, diff)
    if diff.size == 0:
        return 0.0, None
    scale = max(float(np.max(np.abs(want))), _TINY)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    error = float(diff[worst]) / scale
    if float(diff[worst]) <= rtol * scale + atol:
        return error, None
    where = f" at {_index(worst)}" if want.ndim else ""
    values = f"yours {_value(got[worst])}, expected {_value(want[worst])}"
    if fd is not None:
        values += f", finite differences {_value(fd[worst])}"
    return error, f"is wrong: largest error {float(diff[worst]):.3g}{where} ({values})"


# -- the expected answers, built once per op -------------------------------------------------
@dataclass(frozen=True)
class _Expected:
    sample: Sample
    when: str
    output: np.ndarray
    mutated: dict[int, np.ndarray]
    grad_output: np.ndarray
    grads: dict[int, np.ndarray]  # position in spec.grads -> cnnmath's gradient
    fd: dict[int, np.ndarray]  # the same, by finite differences


def _copies(arrays: tuple[Any, ...]) -> list[Any]:
    return [None if a is None else np.array(a, copy=True) for a in arrays]


def _backward_call(spec: OpSpec, sample: Sample) -> tuple[list[Any], dict[str, Any]]:
    arrays = _copies(sample.arrays)
    options = {k: v for k, v in sample.options.items() if k in spec.backward_options}
    return [arrays[i] for i in spec.backward_arrays], options


def _as_tuple(result: Any) -> tuple[Any, ...]:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


@functools.cache
def _expected(name: str) -> tuple[_Expected, ...]:
    """cnnmath's answers for every case of ``name``, each checked against the literal
    reference (forward) and finite differences (backward) before it is trusted."""
    spec = SPECS[name]
    rng = np.random.default_rng(12)
    table = []
    for sample in spec.samples():
        when = _describe(spec, sample)
        arrays = _copies(sample.arrays)
        output = np.asarray(spec.op(*arrays, **sample.options), dtype=np.float64)
        literal = np.asarray(spec.literal(*_copies(sample.arrays), **sample.options))
        error, problem = _mismatch(literal, output, 1e-10)
        if problem:
            raise RuntimeError(f"{name}: cnnmath's op and the literal reference disagree {when}")
        grad_output = rng.standard_normal(output.shape)
        b_arrays, b_options = _backward_call(spec, sample)
        grads_all = _as_tuple(spec.op_backward(grad_output, *b_arrays, **b_options))
        present = [k for k, (_, i) in enumerate(spec.grads) if sample.arrays[i] is not None]
        wrt = [spec.grads[k][1] for k in present]

        def func(*diff: np.ndarray, wrt: list[int] = wrt, sample: Sample = sample) -> Any:
            full = _copies(sample.arrays)
            for i, a in zip(wrt, diff):
                full[i] = a
            return spec.op(*full, **sample.options)

        fd_list = numerical_vjp(func, [np.asarray(sample.arrays[i]) for i in wrt], grad_output)
        grads, fd = {}, {}
        for k, numeric in zip(present, fd_list):
            analytic = np.asarray(grads_all[k], dtype=np.float64)
            error, problem = _mismatch(analytic, numeric, _SELF_CHECK)
            if problem:
                raise RuntimeError(
                    f"{name}: cnnmath's {spec.grads[k][0]} disagrees with finite differences "
                    f"{when} (relative error {error:.3g})"
                )
            grads[k], fd[k] = analytic, numeric
        mutated = {i: arrays[i] for i in spec.mutated if arrays[i] is not None}
        table.append(_Expected(sample, when, output, mutated, grad_output, grads, fd))
    return tuple(table)


# -- check_op --------------------------------------------------------------------------------
def _run_case(
    spec: OpSpec,
    exp: _Expected,
    forward: Callable[..., Any],
    backward: Callable[..., Any] | None,
    rtol: float,
) -> CaseResult:
    errors: dict[str, float] = {}
    sample, when = exp.sample, exp.when
    arrays = _copies(sample.arrays)
    try:
        output = forward(*arrays, **sample.options)
    except Exception as exc:  # the user's code: any error is a finding, reported in words
        errors["forward"] = np.inf
        return CaseResult(when, errors, f"forward raised {type(exc).__name__} {when}: {exc}")
    failure = None
    errors["forward"], problem = _mismatch(output, exp.output, rtol)
    if problem:
        failure = f"forward {problem.replace('is wrong', f'is wrong {when}', 1)}"
        if not problem.startswith("is wrong"):
            failure = f"forward's output {problem} {when}"
    elif isinstance(output, np.ndarray) and output.dtype != np.float64:
        failure = f"forward returned dtype {output.dtype} for float64 inputs {when}"
    for i, want in exp.mutated.items():
        label = spec.arrays[i]
        errors[label], problem = _mismatch(arrays[i], want, rtol)
        if problem and failure is None:
            failure = f"{label} after forward {_where(problem, when)}"
    if backward is None or failure is not None:
        return CaseResult(when, errors, failure)

    b_arrays, b_options = _backward_call(spec, sample)
    try:
        result = _as_tuple(backward(np.array(exp.grad_output), *b_arrays, **b_options))
    except Exception as exc:  # the user's code
        for k in exp.grads:
            errors[spec.grads[k][0]] = np.inf
        return CaseResult(when, errors, f"backward raised {type(exc).__name__} {when}: {exc}")
    names = [spec.grads[k][0] for k in exp.grads]
    for k, want in exp.grads.items():
        label = spec.grads[k][0]
        if k >= len(result):
            errors[label] = np.inf
            failure = failure or (
                f"backward returned {len(result)} gradient(s) {when}; expected "
                f"{len(spec.grads)} in the order {', '.join(g for g, _ in spec.grads)}"
                + (f" ({', '.join(names)} here)" if len(names) < len(spec.grads) else "")
            )
            continue
        errors[label], problem = _mismatch(result[k], want, rtol, exp.fd[k])
        if problem and failure is None:
            failure = f"{label} {_where(problem, when)}"
    return CaseResult(when, errors, failure)


def _where(problem: str, when: str) -> str:
    """'is wrong when …: largest error …' or 'has shape …, expected … when …'."""
    if problem.startswith("is wrong: "):
        return f"is wrong {when}: {problem.removeprefix('is wrong: ')}"
    return f"{problem} {when}"


def check_op(
    name: str,
    forward: Callable[..., Any],
    backward: Callable[..., Any] | None = None,
    *,
    options: Iterable[str] | None = None,
    rtol: float = 1e-7,
) -> Report:
    """Check your implementation of op ``name`` (see :func:`op_names`) on cnnmath's cases.

    ``forward`` is called as cnnmath's (and ``torch.nn.functional``'s) op is: the arrays
    positionally, the options by keyword, e.g. ``forward(x, weight, bias, stride=2,
    padding=1)`` for conv2d (``bias`` may be None) or ``forward(x, kernel_size=3, stride=2)``
    for max_pool2d; an option is passed only when the case sets it (``kernel_size``, ``dim``
    and batch norm's ``training`` always). ``backward`` is called as cnnmath's
    ``*_backward``: ``backward(grad_output, x, weight, stride=2, padding=1)`` for conv2d,
    returning ``(grad_x, grad_w, grad_b)``; ``backward(grad_output, x, kernel_size=3, …)``
    returning ``grad_x`` for pooling; ``backward(grad_output, x)`` for an activation;
    ``backward(grad_output, x, running_mean, running_var, weight, training=…)`` for batch
    norm; ``backward(grad_output, input, target, weight, reduction=…)`` for cross_entropy
    (∂/∂input only). A gradient of an absent array (bias None) is not checked.

    ``options``: check only the cases whose options are all among these names (say
    ``("stride", "padding")`` for a convolution without dilation and groups). For pooling,
    ``kernel_size`` is always passed; a case with a rectangular kernel, ``kernel_size=(k1,
    k2)`` with k1 ≠ k2, also needs the name ``"rectangular"``: ``options=["stride"]`` keeps
    a square-kernel pool to int kernels (with and without a stride), ``options=["stride",
    "rectangular"]`` adds ``kernel_size=(2, 3), stride=(1, 2)``.
    ``rtol``: the largest error allowed, relative to the largest expected value.

    Returns a :class:`Report`; ``report.first_failure`` names the quantity, the case and
    where: "grad_w is wrong when stride = 2 and padding = 1 (x …): largest error 0.5 at
    [0, 1, 2, 0] (yours …, expected …, finite differences …)".

    >>> import cnnmath
    >>> check_op("linear", cnnmath.linear, cnnmath.linear_backward).passed
    True
    >>> report = check_op("relu", lambda x: x * (x > 0), lambda g, x: g * (x >= 1))
    >>> print(report.first_failure)      # doctest: +ELLIPSIS
    grad_x is wrong with the default options (x 2×3×4×2): largest error ... at [...] (...)
    """
    func = "check_op"
    if not isinstance(name, str) or name not in SPECS:
        raise ValueError(f"{func}: name: expected one of {', '.join(op_names())}, got {name!r}")
    if not callable(forward):
        raise TypeError(f"{func}: forward: expected a function, got {type(forward).__name__}")
    if backward is not None and not callable(backward):
        raise TypeError(
            f"{func}: backward: expected a function or None, got {type(backward).__name__}"
        )
    rtol = real_number("rtol", rtol, func=func, low=0, low_open=True)
    spec = SPECS[name]
    allowed = None if options is None else set(options)
    known = {k for e in _expected(name) for k in _features(spec, e.sample)}
    unknown = sorted((allowed or set()) - known)
    if unknown:
        raise ValueError(
            f"{func}: options: expected names among {', '.join(sorted(known))}, got {unknown}"
        )
    table = [e for e in _expected(name) if allowed is None or _features(spec, e.sample) <= allowed]
    cases = tuple(_run_case(spec, e, forward, backward, rtol) for e in table)
    checked = "forward against cnnmath's op and the literal reference"
    if backward is not None:
        checked += "; backward against cnnmath's backward and finite differences"
    return Report(name, cases, checked)


# -- check_module ----------------------------------------------------------------------------
def _central(phi: Callable[[], float], a: np.ndarray, k: int, eps: float) -> float:
    original = a.flat[k]
    a.flat[k] = original + eps
    upper, plus = float(a.flat[k]), phi()
    a.flat[k] = original - eps
    lower, minus = float(a.flat[k]), phi()
    a.flat[k] = original
    return (plus - minus) / (upper - lower)


def _outputs(y: Any) -> tuple[np.ndarray, ...]:
    """A module's output as float64 copies, one per output (a tuple for several)."""
    return tuple(
        np.array(v, dtype=np.float64, copy=True) for v in (y if isinstance(y, tuple) else (y,))
    )


def check_module(
    module: nn.Module,
    x: np.ndarray,
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_elements: int | None = None,
) -> Report:
    """Gradcheck ``module`` at ``x``: ∂φ/∂x and ∂φ/∂θ for every parameter θ, from its
    ``backward``, against central finite differences of its ``forward`` (step ``eps``),
    with φ = Σ module(x)·G for a random, non-uniform upstream gradient G (seeded by
    ``seed``; φ = Σ_k Σ y_k·G_k over the float outputs of a module of several, an integer
    one — pool indices — given None: it takes no gradient); a gradient
    passes when max|backward − numerical| ≤ rtol·max|numerical| + atol (the absolute part
    absorbs the rounding of finite differences where the gradient is 0).
    An all-ones G would be blind: Σ of a batch-normalised output is constant, so every
    gradient of it is zero whatever the backward does.

    The check runs on a float64 copy of the module (your module and ``x`` are not
    changed), in the module's current mode; its forward must be deterministic (Dropout in
    training mode is not: call ``module.eval()``). ``max_elements`` caps the elements
    perturbed per tensor (chosen at random) for large modules; None checks every one.

    Returns a :class:`Report` with one case per tensor ("input", then the parameters by
    name); a failure reads "grad of 0.weight is wrong: largest error 0.5 at [0, 1, 2, 0]
    (yours 1.2, finite differences 0.7)". A tensor whose numerical gradient is zero
    everywhere gets a note: the check cannot see an error in it.

    >>> from cnnmath import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    >>> check_module(net, np.random.default_rng(0).standard_normal((2, 1, 5, 5))).passed
    True
    """
    func = "check_module"
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"{func}: module: expected a cnnmath.nn.Module, got {type(module).__name__}"
        )
    check_float_array("x", x, func=func)
    if max_elements is not None and (
        isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 1
    ):
        raise ValueError(
            f"{func}: max_elements: expected an int >= 1 or None, got {max_elements!r}"
        )
    eps = real_number("eps", eps, func=func, low=0, low_open=True)
    rtol = real_number("rtol", rtol, func=func, low=0, low_open=True)
    atol = real_number("atol", atol, func=func, low=0)
    m = copy.deepcopy(module).to(np.float64)
    x64 = np.array(x, dtype=np.float64, copy=True)

    raw = m.forward(x64)
    floats = [np.asarray(v).dtype.kind in "fc" for v in (raw if isinstance(raw, tuple) else (raw,))]
    first = _outputs(raw)
    again = _outputs(m.forward(x64.copy()))
    if not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(again, first, strict=True)):
        raise ValueError(
            f"{func}: module: its forward gives different outputs for the same input (Dropout "
            "in training mode?); call module.eval() or fix its randomness first"
        )
    rng = np.random.default_rng(seed)
    # one G per output; None for an integer one (pool indices), which takes no gradient
    grads = tuple(rng.standard_normal(y.shape) if f else None for y, f in zip(first, floats))

    m.zero_grad()
    m.forward(x64)
    upstream = tuple(None if g is None else g.copy() for g in grads)
    grad_x = m.backward(upstream if len(upstream) > 1 else upstream[0])
    named = list(m.named_parameters())
    tensors: list[tuple[str, np.ndarray, Any]] = [("the input", x64, grad_x)]
    tensors += [(name, p.data, np.array(p.grad, copy=True)) for name, p in named]

    def phi() -> float:
        outputs = _outputs(m.forward(x64))
        return float(sum(np.sum(y * g) for y, g in zip(outputs, grads) if g is not None))

    cases = []
    for name, data, analytic in tensors:
        label = name
        when = f"grad of {label}"
        try:
            analytic = np.asarray(analytic, dtype=np.float64)
        except (TypeError, ValueError):
            cases.append(
                CaseResult(
                    label, {"grad": np.inf}, f"{when}: backward returned {type(analytic).__name__}"
                )
            )
            continue
        if analytic.shape != data.shape:
            shape_failure = f"{when} has shape {analytic.shape}, expected {data.shape}"
            cases.append(CaseResult(label, {"grad": np.inf}, shape_failure))
            continue
        chosen = np.arange(data.size)
        if max_elements is not None and data.size > max_elements:
            chosen = np.sort(rng.choice(data.size, max_elements, replace=False))
        numeric = np.full(data.shape, np.nan)
        for k in chosen:
            numeric.flat[k] = _central(phi, data, int(k), eps)
        mask = ~np.isnan(numeric)
        got = np.where(mask, analytic, 0.0)
        want = np.where(mask, numeric, 0.0)
        error, problem = _mismatch(got, want, rtol, atol=atol)
        failure: str | None = None
        if problem:
            failure = f"{when} {problem}".replace("(yours ", "(backward ").replace(
                ", expected ", ", finite differences "
            )
        note = ""
        if np.max(np.abs(want), initial=0.0) <= atol:
            note = (
                f"the numerical gradient of {label} is zero: this check cannot see an error in it"
            )
        cases.append(CaseResult(label, {"grad": error}, failure, note))
    witnesses = "backward against central finite differences of forward, float64, non-uniform G"
    return Report(type(module).__name__, tuple(cases), witnesses)
