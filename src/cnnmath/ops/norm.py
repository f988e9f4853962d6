"""Normalisation, as ``torch.nn.functional``: batch_norm, group_norm and layer_norm, each
followed by its closed-form backward.

One statistic runs over a set of m values of x — batch norm: one channel over the batch and
space; group norm: one group of channels of one sample; layer norm: the trailing axes of one
sample. Over that set (SPEC.md, "Wave 2"):

    μ = mean(x),   σ² = mean((x − μ)²)  (biased),   x̂ = (x − μ) / √(σ² + ε),   y = γ x̂ + β

and, with g = ∂ℓ/∂y and ĝ = γ g = ∂ℓ/∂x̂, the backward through μ and σ² in closed form:

    ∂ℓ/∂x = (1/√(σ² + ε)) · (ĝ − mean(ĝ) − x̂ · mean(ĝ x̂)),   ∂ℓ/∂γ = Σ g x̂,   ∂ℓ/∂β = Σ g

(the means over the statistic's m values; the sums for γ and β over every value that shares
the parameter).

How the statistics are computed, the same way in the three ops:

- Never mean(x²) − μ² where it cancels: the sums run on x − shift, and
  σ² = mean((x − shift)²) − δ², x̂ = (x − shift − δ)/√(σ² + ε) with δ = mean(x − shift),
  accepted only while |δ| ≤ 2σ (cancellation then costs at most a factor 5 of the sums'
  accuracy). The shift is chosen by a pilot, the mean and spread of each statistic's first
  row (a fraction of x): none (x summed as it is: no subtraction pass) when every pilot mean
  is within 2 pilot spreads of 0, as for the usual activations, else the pilot mean. When
  the statistic's mean turns out more than 2σ from the shift (a first row unlike the rest),
  the sums are taken again centred on the mean rounded to x's dtype: the two-pass of old.
- x is viewed as an (R, L) matrix whose rows each lie inside one statistic (batch and group
  norm: the (n, c) planes; layer norm: the rows). Row sums run in x's dtype (a BLAS
  matrix-vector product, or ``vecdot``); the rows of a statistic are summed in float64, and
  all per-statistic arithmetic is float64. No float64 copy of a float32 tensor is made.
- Every pass runs over blocks of rows of about 2¹⁷ elements (512 KiB of float32), on all the
  op's threads (``_threads``): one read of x (and g) for the sums, one for the affine map
  that writes the result. Batch and group norm's sums run in blocks of more than 500 rows
  where x has them: NumPy keeps the GIL through a matrix-vector product or ``vecdot`` of
  fewer, and the threads would take turns. (Layer norm works block by block of 2¹⁷
  elements, its sums inside each block.) The cut depends on the shape only and every block
  writes its own rows, so the result is the same bit for bit at any thread count; the loop
  is over memory blocks, not over samples, channels or groups. Layer norm's rows are
  statistics of their own: each block does all of its work while it is in cache, its
  ∂ℓ/∂γ and ∂ℓ/∂β partial sums added in block order.

Non-finite values propagate as in PyTorch: a NaN or ±inf in x makes its whole statistic NaN
(every output of that channel, group or row), silently. Finite float32 data whose squares
overflow float32 (|x| above about 1e19) are summed again in float64 and stay right, where
PyTorch's float32 norms give NaN or zeros; float64 squares past float64's range give NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .._checks import check_float_array, check_same_dtype, positive_int, real_number
from . import _threads


def _quiet() -> Any:
    """inf − inf and non-finite sums are NaN/inf by contract (they propagate, as in PyTorch;
    float32 squares that overflow are summed again in float64: `_centred_sums`)."""
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")


#: NumPy's ufunc buffer (elements) inside the blocked passes. With its default of 8192, NumPy
#: copies a broadcast (rows, 1) operand through the buffer to lengthen the inner loop when a
#: row is shorter than the buffer; on rows of 3136 values (56²) that made the passes slower
#: than a buffer shorter than the rows, which leaves one inner loop per row (docs/performance.md,
#: "Inference: batch norm folded").
#: Each block sets it (it is per thread) inside its `_quiet` errstate, whose exit restores it
#: (as NumPy documents for ``setbufsize`` within ``errstate``).
_UFUNC_BUFFER = 1024


# ---------------------------------------------------------------------------------------------
# Shared kernels on the (R, L) rows view

#: Elements of each array per block in the blocked passes (the sums' blocks are larger:
#: `_sum_spans`): 2**17 (512 KiB of float32), so a
#: block of x, of g and of the result stays in cache from one ufunc over it to the next; the
#: fastest of 2**15 .. 2**18 on the (32, 64, 56, 56) bench row, where smaller blocks pay more
#: for Python and NumPy's per-call work. The cut depends on the shape only, so the results do
#: not depend on the thread count.
_BLOCK = 1 << 17

#: The blocks of batch norm's evaluation passes (no sums between them): 2**19 elements (2 MiB
#: of float32); MobileNetV2's and ResNet-18's batch-1 maps take 0.63–0.92 of the time they
#: took in 2**17 (docs/performance.md, "Batch norm in evaluation").
_EVAL_BLOCK = 1 << 19

#: The data are summed as they are, or centred on a shift, while |mean(x − shift)| ≤ 2σ:
#: σ² = mean((x − shift)²) − mean(x − shift)² then loses at most a factor 1 + 2² = 5 of the
#: sums' relative accuracy to cancellation. Beyond, the sums are taken again on the mean.
_DRIFT = 4.0


def _spans(rows: int, length: int, block: int = 0) -> list[_threads.Span]:
    """Consecutive spans of rows, about ``block`` (default _BLOCK) elements each (at least
    one row)."""
    return _threads.spans(rows, max(1, (block or _BLOCK) // max(length, 1)))


#: NumPy's matmul and vecdot keep the GIL through a call over at most this many rows (its
#: threshold for letting it go): the row sums' blocks of 41 rows of 56² ran one thread at a
#: time (docs/performance.md, "The GIL and small products").
_GIL_ROWS = 500


def _sum_spans(rows: int, length: int) -> list[_threads.Span]:
    """The blocks of the row sums: as many nearly equal blocks as `_spans` makes, but none
    of _GIL_ROWS rows or fewer (one block when there are no more rows than that), so that
    the threads' products overlap and share the rows evenly."""
    if rows == 0:
        return []
    least = max(_BLOCK // max(length, 1), _GIL_ROWS + 1)
    return _threads.even_spans(rows, max(1, rows // least))


def _row_sums(a: np.ndarray) -> np.ndarray:
    """Σ over each row of the (R, L) matrix a (rows may be strided), in a's dtype: a
    matrix-vector product per block of rows, on the op's threads."""
    out = np.empty(a.shape[0], dtype=a.dtype)
    ones = np.ones(a.shape[1], dtype=a.dtype)

    def body(r0: int, r1: int) -> None:
        with _quiet():
            np.setbufsize(_UFUNC_BUFFER)
            np.matmul(a[r0:r1], ones, out=out[r0:r1])

    _threads.parallel(body, _sum_spans(*a.shape))
    return out


class _Rows(NamedTuple):
    """How the rows of the (R, L) view make up the statistics."""

    m: int  # values per statistic
    first: Callable[[np.ndarray], np.ndarray]  # (R, L) → (S, L): each statistic's first row
    shape: tuple[int, ...]  # the shape of a per-statistic array (S values)
    reduce: Callable[[np.ndarray], np.ndarray]  # per-row (R,) → per-statistic, float64
    expand: Callable[[np.ndarray], np.ndarray]  # per-statistic (or -row) → (R, 1), x's dtype


class _Moments(NamedTuple):
    shift: np.ndarray | None  # per statistic, x's dtype: xc = x − shift (None: xc = x)
    mean: np.ndarray  # μ = shift + delta, float64 per statistic
    delta: np.ndarray  # mean(xc), float64
    var: np.ndarray  # σ² = mean(xc²) − delta², float64
    row_g: np.ndarray  # per row Σ g and Σ g·xc (2, R), x's dtype or float64, when g is given
    wide: bool  # the sums were taken in float64: x's squares overflow its float32


def _centred_sums(
    x2: np.ndarray,
    shift_rows: np.ndarray | None,
    g2: np.ndarray | None = None,
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """Per row Σ xc, Σ xc² (and Σ g, Σ g·xc), xc = x − shift (x itself for shift None):
    (2 or 4, R) in x's dtype (or ``dtype``: each block cast to it first). One read of x (and
    g), block by block on the op's threads, by matrix-vector products and dot products; xc
    exists one block at a time.

    Float32 data whose sums overflow while every value is finite (|x| above about 1e19
    squares past float32's range) are summed again in float64, where such squares fit: the
    statistics are then right instead of an infinite variance that zeroes x̂. (PyTorch's
    float32 norms give NaN or 0 there; float64 data whose squares overflow float64 give NaN,
    as PyTorch's.)"""
    dtype = x2.dtype if dtype is None else np.dtype(dtype)
    R, L = x2.shape
    sums = np.empty((2 if g2 is None else 4, R), dtype=dtype)
    ones = np.ones(L, dtype=dtype)

    def body(r0: int, r1: int) -> None:
        with _quiet():
            np.setbufsize(_UFUNC_BUFFER)
            xb = x2[r0:r1].astype(dtype, copy=False)
            xc = xb if shift_rows is None else np.subtract(xb, shift_rows[r0:r1], dtype=dtype)
            np.matmul(xc, ones, out=sums[0, r0:r1])
            np.vecdot(xc, xc, out=sums[1, r0:r1])
            if g2 is not None:
                gb = g2[r0:r1].astype(dtype, copy=False)
                np.matmul(gb, ones, out=sums[2, r0:r1])
                np.vecdot(gb, xc, out=sums[3, r0:r1])

    _threads.parallel(body, _sum_spans(R, L))
    if dtype != np.float64 and not np.isfinite(sums).all() and _all_finite(x2, g2):
        return _centred_sums(x2, shift_rows, g2, np.dtype(np.float64))
    return sums


def _all_finite(*arrays: np.ndarray | None) -> bool:
    """Whether every given array holds only finite values (None: nothing to check)."""
    return all(a is None or bool(np.isfinite(a).all()) for a in arrays)


def _moments(x2: np.ndarray, rows: _Rows, g2: np.ndarray | None = None) -> _Moments:
    """The statistics of the (R, L) matrix x2 (module docstring).

    A pilot — the mean and spread of each statistic's first row, a fraction of x — chooses
    the shift: none when every |pilot mean| ≤ 2·pilot spread (the sums of x and x² are then
    accurate), else the pilot mean. One pass over x (and g) gives the sums; when the mean
    turns out further than 2σ from the shift (a first row unlike the rest), the pass is
    repeated centred on the mean itself, rounded to x's dtype."""
    first = rows.first(x2)
    pilot = _centred_sums(first, None).astype(np.float64) / first.shape[1]
    pilot_mean = pilot[0].reshape(rows.shape)
    centre = np.any(pilot_mean * pilot_mean * (1 + _DRIFT) > pilot[1].reshape(rows.shape))
    shift = pilot_mean.astype(x2.dtype) if centre else None
    for attempt in (0, 1):
        sums = _centred_sums(x2, None if shift is None else rows.expand(shift), g2)
        delta = rows.reduce(sums[0]) / rows.m
        var = np.maximum(rows.reduce(sums[1]) / rows.m - delta * delta, 0.0)  # NaN stays NaN
        if attempt or not np.any(delta * delta > _DRIFT * var):
            break
        shift = (delta if shift is None else shift.astype(np.float64) + delta).astype(x2.dtype)
    mean = delta if shift is None else shift.astype(np.float64) + delta
    return _Moments(shift, mean, delta, var, sums[2:], sums.dtype != x2.dtype)


def _again_in_float64(func: Callable[..., Any], dtype: np.dtype, *args: Any, **kwargs: Any) -> Any:
    """func's results on float64 copies of its array arguments, rounded back to ``dtype``.

    For a backward whose float32 data have squares past float32's range (`_Moments.wide`):
    its coefficients, σ⁻³ and the like for σ of 1e19 and more, would underflow float32 in
    the affine passes; in float64 they do not. Rare, so a copy is cheap enough."""

    def wide(a: Any) -> Any:
        return a.astype(np.float64) if isinstance(a, np.ndarray) else a

    results = func(*map(wide, args), **{k: wide(v) for k, v in kwargs.items()})
    return tuple(r.astype(dtype) for r in results)


def _rows_or_none(rows: _Rows, a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else rows.expand(a)


def _affine(
    x2: np.ndarray,
    shift: np.ndarray | None,
    scale: np.ndarray,
    offset: np.ndarray | None,
    g2: np.ndarray | None = None,
    g_scale: np.ndarray | None = None,
    block: int = 0,
) -> np.ndarray:
    """(x − shift)·scale + offset (+ g·g_scale), a new (R, L) array, block by block (about
    ``block`` elements, default _BLOCK) on the op's threads; shift, scale, offset, g_scale
    are (R, 1) in x's dtype (shift and offset may be None: 0), g2 is (R, L).

    x − shift first: x·scale + (offset − shift·scale) would lose the digits x and the
    shift share when |μ| ≫ σ."""
    R, L = x2.shape
    out = np.empty((R, L), dtype=x2.dtype)

    def rows(a: np.ndarray | None, r0: int, r1: int) -> np.ndarray | None:
        return None if a is None else a[r0:r1]

    def body(r0: int, r1: int) -> None:
        block = out[r0:r1]
        with _quiet():
            np.setbufsize(_UFUNC_BUFFER)
            _affine_passes(
                x2[r0:r1],
                rows(shift, r0, r1),
                scale[r0:r1],
                rows(offset, r0, r1),
                block,
                rows(g2, r0, r1),
                rows(g_scale, r0, r1),
            )

    _threads.parallel(body, _spans(R, L, block))
    return out


def _affine_passes(
    x: np.ndarray,
    shift: np.ndarray | None,
    scale: np.ndarray,
    offset: np.ndarray | None,
    out: np.ndarray,
    g: np.ndarray | None = None,
    g_scale: np.ndarray | None = None,
) -> None:
    """out = (x − shift)·scale + offset (+ g·g_scale), one ufunc pass each, the
    coefficients broadcast against x (shift, offset and g may be None: 0); the caller sets
    NumPy's error state and buffer."""
    if shift is None:
        np.multiply(x, scale, out=out)
    else:
        np.subtract(x, shift, out=out)
        np.multiply(out, scale, out=out)
    if offset is not None:
        np.add(out, offset, out=out)
    if g is not None and g_scale is not None:
        np.add(out, np.multiply(g, g_scale), out=out)


#: Planes shorter than this (values): batch norm's passes run image by image (`_channel_affine`)
_SHORT_PLANE = 256


def _by_images(N: int, C: int, L: int) -> bool:
    """Whether `_channel_affine` takes a batch (N, C, L) image by image: a batch (N >= 2)
    of small planes (L < _SHORT_PLANE), each image's C·L values within a block."""
    return N >= 2 and L < _SHORT_PLANE and C * L <= _BLOCK


def _channel_affine(
    x3: np.ndarray,
    shift: np.ndarray | None,
    scale: np.ndarray,
    offset: np.ndarray | None,
    g3: np.ndarray | None = None,
    g_scale: np.ndarray | None = None,
    block: int = 0,
) -> np.ndarray:
    """`_affine` (blocks of ``block`` elements, default _BLOCK) for batch norm's per-channel
    coefficients ((C,) arrays, cast to x's dtype; shift, offset and g may be None) on the
    (N, C, L) array x3 (and g3), as (N·C, L).

    A batch of small planes (`_by_images`) runs image by image: each image is one row and
    each coefficient is repeated into a row of C·L values once, so that NumPy's inner loops
    run C·L long, where per plane they ran L long and cost more than the arithmetic. Blocks
    of whole images on the op's threads. Other shapes take `_affine`'s blocks of planes.
    The same values either way. New/old (docs/performance.md, "Short inner loops"): 7 × 7
    maps at batch 8 0.54–0.92 of the time, 14 × 14 0.57–0.94; 28 × 28 (1.2–1.3) and one
    image (1.1–1.2, its coefficients repeated for nothing) keep the planes."""
    N, C, L = x3.shape
    if not _by_images(N, C, L):
        rows = _channel_rows(N, C, L, x3.dtype)
        return _affine(
            x3.reshape(N * C, L),
            _rows_or_none(rows, shift),
            rows.expand(scale),
            _rows_or_none(rows, offset),
            None if g3 is None else g3.reshape(N * C, L),
            _rows_or_none(rows, g_scale),
            block,
        )

    def row(c: np.ndarray) -> np.ndarray:  # a coefficient per value of an image
        return np.repeat(np.asarray(c).astype(x3.dtype), L)

    x2 = x3.reshape(N, C * L)
    g2 = None if g3 is None else g3.reshape(N, C * L)
    shift_r, offset_r, g_scale_r = (None if c is None else row(c) for c in (shift, offset, g_scale))
    scale_r = row(scale)
    out = np.empty((N, C * L), dtype=x3.dtype)

    def body(n0: int, n1: int) -> None:
        with _quiet():
            _affine_passes(
                x2[n0:n1],
                shift_r,
                scale_r,
                offset_r,
                out[n0:n1],
                None if g2 is None else g2[n0:n1],
                g_scale_r,
            )

    _threads.parallel(body, _spans(N, C * L, block))
    return out.reshape(N * C, L)


# ---------------------------------------------------------------------------------------------
# Validation (messages "func: arg: expected ..., got ...")


def _check_x(x: Any, *, func: str) -> tuple[int, int, int]:
    """x is (N, C, *): return N, C and L = the product of the spatial axes (1 for (N, C))."""
    check_float_array("x", x, func=func)
    if x.ndim < 2:
        raise ValueError(
            f"{func}: x: expected an array (N, C, *) with at least 2 axes, got {x.ndim}-D with "
            f"shape {x.shape}; add a batch axis with x[None]"
        )
    return x.shape[0], x.shape[1], math.prod(x.shape[2:])


def _check_vector(name: str, a: Any, length: int, what: str, *, func: str) -> None:
    check_float_array(name, a, func=func)
    if a.shape != (length,):
        raise ValueError(f"{func}: {name}: expected shape ({length},) ({what}), got {a.shape}")


def _check_flag(name: str, value: Any, *, func: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{func}: {name}: expected a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_eps(eps: Any, *, func: str) -> float:
    return real_number("eps", eps, func=func, low=0.0, low_open=True)


def _check_grad_output(grad_output: Any, x: np.ndarray, *, func: str) -> None:
    check_float_array("grad_output", grad_output, func=func)
    if grad_output.shape != x.shape:
        raise ValueError(
            f"{func}: grad_output: expected x's shape {x.shape} (the forward output's), "
            f"got {grad_output.shape}"
        )


# ---------------------------------------------------------------------------------------------
# Batch normalisation


def _check_batch_norm(
    func: str,
    x: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any,
    bias: Any,
    training: Any,
    eps: Any,
    **more: Any,
) -> tuple[int, int, int, bool, float]:
    N, C, L = _check_x(x, func=func)
    training = _check_flag("training", training, func=func)
    eps = _check_eps(eps, func=func)
    if (running_mean is None) != (running_var is None):
        raise ValueError(
            f"{func}: running_mean, running_var: expected both arrays or both None, got "
            f"running_mean {'None' if running_mean is None else 'an array'} and running_var "
            f"{'None' if running_var is None else 'an array'}"
        )
    if not training and running_mean is None:
        raise ValueError(
            f"{func}: running_mean: expected an array of shape ({C},) in evaluation mode "
            "(training=False normalises by the running statistics), got None"
        )
    per_channel = f"one value per channel of x, C = {C}"
    for name, a in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if a is not None:
            _check_vector(name, a, C, per_channel, func=func)
    check_same_dtype(
        func,
        x=x,
        running_mean=running_mean,
        running_var=running_var,
        weight=weight,
        bias=bias,
        **more,
    )
    return N, C, L, training, eps


@_threads.op(unkeyed=("num_batches_tracked",))  # a step count: the same cost every step
def batch_norm(
    x: np.ndarray,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    *,
    num_batches_tracked: int | None = None,
) -> np.ndarray:
    """Batch normalisation, as ``torch.nn.functional.batch_norm``; per channel c.

    Training (``training=True``), over the m = N·L values of channel c (L = H·W, or the
    length, or 1):

        μ_c = mean(x[:, c]),   σ²_c = mean((x[:, c] − μ_c)²)  (biased),
        y[:, c] = γ_c (x[:, c] − μ_c) / √(σ²_c + ε) + β_c

    and, when given, the running statistics are updated IN PLACE, exactly as PyTorch does:

        running_mean ← (1 − f) running_mean + f μ,
        running_var  ← (1 − f) running_var  + f σ² m/(m − 1)   (the unbiased variance)

    with f = ``momentum``, or, for ``momentum=None``, the cumulative average
    f = 1/``num_batches_tracked``. Evaluation (``training=False``) is the affine map by the
    running statistics, which it leaves alone:

        y[:, c] = γ_c (x[:, c] − running_mean_c) / √(running_var_c + ε) + β_c

    Parameters
    ----------
    x : (N, C), (N, C, L), (N, C, H, W) or any (N, C, *), float32 or float64.
    running_mean, running_var : (C,) arrays of x's dtype, or both None: needed in evaluation;
        in training, None means that no running statistics are kept (nothing is updated).
    weight γ, bias β : (C,) or None (γ = 1, β = 0).
    training : bool.
    momentum : in [0, 1], or None for the cumulative average.
    eps : ε > 0, finite.
    num_batches_tracked : keyword-only; used only when training with ``momentum=None`` and
        running statistics given, and then required: the number of batches averaged so far
        INCLUDING this one (an int ≥ 1). It is PyTorch's ``BatchNorm`` buffer of that name,
        which the module increments before calling the functional form: a caller keeps the
        count and increments it before each training call (cnnmath does not store it).

    Returns
    -------
    y : x's shape and dtype. An empty batch in training gives an empty y and leaves the
        running statistics as they are (as PyTorch).

    Raises
    ------
    ValueError : x with fewer than 2 axes; a (C,) argument of another length; eps ≤ 0 or not
        finite; momentum outside [0, 1]; only one running statistic given, or none in
        evaluation; a read-only running statistic in training; a single value per channel in
        training (m = 1, PyTorch's "Expected more than 1 value per channel"); momentum=None
        without num_batches_tracked.
    TypeError : a non-float array, mixed dtypes, a non-bool ``training``.

    >>> import numpy as np
    >>> x = np.array([[1.0], [3.0]])
    >>> rm, rv = np.zeros(1), np.ones(1)
    >>> batch_norm(x, rm, rv, training=True, eps=0.0001).round(4).ravel()
    array([-1.,  1.])
    >>> rm, rv  # 0.9·0 + 0.1·2 and 0.9·1 + 0.1·2 (unbiased variance of 1, 3)
    (array([0.2]), array([1.1]))
    """
    func = "batch_norm"
    N, C, L, training, eps = _check_batch_norm(
        func, x, running_mean, running_var, weight, bias, training, eps
    )
    if momentum is not None:
        momentum = real_number("momentum", momentum, func=func, low=0.0, high=1.0)
    x3 = x.reshape(N, C, L)
    if not training and running_mean is not None and running_var is not None:  # both: checked
        return _batch_norm_eval(x3, running_mean, running_var, weight, bias, eps).reshape(x.shape)

    m = N * L
    if m == 1:  # an empty batch is allowed: an empty output, running statistics untouched
        raise ValueError(
            f"{func}: x: expected more than 1 value per channel when training (N times the "
            f"spatial size), got x of shape {x.shape}"
        )
    count = None
    if num_batches_tracked is not None:
        count = positive_int("num_batches_tracked", num_batches_tracked, func=func)
    if running_mean is not None and running_var is not None:
        if momentum is not None:
            factor = momentum
        elif count is not None:
            factor = 1.0 / count
        else:
            raise ValueError(
                f"{func}: num_batches_tracked: expected an int >= 1 with momentum=None (the "
                "cumulative average's factor is 1/num_batches_tracked, the count including "
                "this batch), got None"
            )
        for name, a in (("running_mean", running_mean), ("running_var", running_var)):
            if not a.flags.writeable:
                raise ValueError(
                    f"{func}: {name}: expected a writable array (updated in place when "
                    "training), got a read-only one"
                )

    if x.size == 0:
        return np.empty_like(x)
    x2 = x.reshape(N * C, L)
    rows = _channel_rows(N, C, L, x.dtype)
    with _quiet():
        mo = _moments(x2, rows)
        scale = 1.0 / np.sqrt(mo.var + eps)
        if weight is not None:
            scale = scale * weight
        offset = -mo.delta * scale
        if bias is not None:
            offset = offset + bias
        y = _channel_affine(x.reshape(N, C, L), mo.shift, scale, offset)
        if running_mean is not None and running_var is not None:
            unbiased = mo.var * (m / (m - 1))
            old_mean, old_var = running_mean.astype(np.float64), running_var.astype(np.float64)
            running_mean[...] = factor * mo.mean + (1 - factor) * old_mean
            running_var[...] = factor * unbiased + (1 - factor) * old_var
    return y.reshape(x.shape)


def _channel_rows(N: int, C: int, L: int, dtype: Any) -> _Rows:
    """Batch norm's rows: the N·C planes (n, c); statistic c gathers the planes of channel c,
    the first of them (0, c)."""
    return _Rows(
        N * L,
        lambda r: r[:C],
        (C,),
        lambda r: r.reshape(N, C).sum(axis=0, dtype=np.float64),
        lambda c: np.broadcast_to(np.asarray(c).astype(dtype), (N, C)).reshape(-1, 1),
    )


def _batch_norm_eval(
    x3: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    weight: np.ndarray | None,
    bias: np.ndarray | None,
    eps: float,
) -> np.ndarray:
    """γ (x − r_μ)/√(r_σ² + ε) + β on the (N, C, L) view: a batch of small planes image by
    image (`_channel_affine`), else block by block.

    x − r_μ first (exact for x near r_μ), then the scale: x·a + (β − r_μ a) in two passes
    would lose the digits that r_μ and x share. An input of one block takes the three passes
    whole, its (C, 1) coefficients broadcast over the batch: the per-row coefficients and
    the blocks' set-up cost more than the passes on the small maps of a network's last
    layers (same values either way: the passes are elementwise). The blocks here are
    _EVAL_BLOCK, four times training's: inference's three passes meet no sums between them,
    and a network's batch-1 maps are one to a few such blocks.
    """
    N, C, L = x3.shape
    with _quiet():
        scale = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
        if weight is not None:
            scale = scale * weight
    if x3.size <= _EVAL_BLOCK and not _by_images(N, C, L):  # the passes whole, (C, 1) coefficients
        out = np.empty(x3.shape, dtype=x3.dtype)
        with _quiet():
            if L >= _UFUNC_BUFFER // 2:  # long rows: one inner loop per row (_UFUNC_BUFFER)
                np.setbufsize(_UFUNC_BUFFER)
            _affine_passes(
                x3,
                running_mean[:, None],
                scale.astype(x3.dtype)[:, None],
                None if bias is None else bias[:, None],
                out,
            )
        return out
    return _channel_affine(x3, running_mean, scale, bias, block=_EVAL_BLOCK).reshape(x3.shape)


@_threads.op
def batch_norm_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: np.ndarray | None = None,
    *,
    training: bool = False,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients through ``batch_norm`` given g = ∂ℓ/∂y (x's shape); per channel c.

    Training: the closed form through the batch mean μ and variance σ² (SPEC.md "Wave 2"),
    with x̂ = (x − μ)/√(σ² + ε) and the means over the m = N·L values of the channel:

        ∂ℓ/∂x = (γ / √(σ² + ε)) · (g − mean(g) − x̂ · mean(g x̂))
        ∂ℓ/∂γ = Σ g x̂,    ∂ℓ/∂β = Σ g

    Evaluation: the backward of the affine map by the running statistics (which are
    constants): ∂ℓ/∂x = γ g / √(r_σ² + ε), ∂ℓ/∂γ = Σ g (x − r_μ)/√(r_σ² + ε), ∂ℓ/∂β = Σ g.

    Arguments as ``batch_norm`` (``training`` and ``eps`` keyword-only; bias, momentum and
    num_batches_tracked do not enter the gradients). In training μ, σ² are recomputed from x
    (one pass over x and three row sums more than a saved copy would cost, for signatures
    that need nothing saved); the running statistics are neither read nor updated there.

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : x's shape, (C,), (C,), all in x's dtype. With
        ``weight=None`` grad_weight is still the gradient with respect to γ (at γ = 1).
    """
    func = "batch_norm_backward"
    N, C, L, training, eps = _check_batch_norm(
        func, x, running_mean, running_var, weight, None, training, eps, grad_output=grad_output
    )
    _check_grad_output(grad_output, x, func=func)
    m = N * L
    if training and m == 1:
        raise ValueError(
            f"{func}: x: expected more than 1 value per channel when training, got x of shape "
            f"{x.shape}"
        )
    cast = x.dtype.type
    if x.size == 0:
        return np.zeros_like(x), np.zeros(C, dtype=cast), np.zeros(C, dtype=cast)
    x2, g2 = x.reshape(N * C, L), grad_output.reshape(N * C, L)
    rows = _channel_rows(N, C, L, x.dtype)
    gamma = np.ones(C) if weight is None else weight.astype(np.float64)
    with _quiet():
        if not training and running_mean is not None and running_var is not None:  # checked
            invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
            sums = _centred_sums(x2, rows.expand(running_mean), g2)
            sum_g = rows.reduce(sums[2])
            sum_gxhat = invstd * rows.reduce(sums[3])
            grad_x = _channel_affine(grad_output.reshape(N, C, L), None, gamma * invstd, None)
        else:
            mo = _moments(x2, rows, g2)
            if mo.wide:
                return _again_in_float64(
                    batch_norm_backward,
                    x.dtype,
                    grad_output,
                    x,
                    None,
                    None,
                    weight,
                    training=True,
                    eps=eps,
                )
            invstd = 1.0 / np.sqrt(mo.var + eps)
            sum_g = rows.reduce(mo.row_g[0])
            sum_gxhat = invstd * (rows.reduce(mo.row_g[1]) - mo.delta * sum_g)
            # γ/√(σ²+ε)·(g − mean g − x̂·mean(g x̂)) with x̂ = (xc − δ)·invstd, xc = x − shift,
            # block by block as B·xc + D + A·g
            A = gamma * invstd
            B = -A * invstd * (sum_gxhat / m)
            D = -A * (sum_g / m) - B * mo.delta
            grad_x = _channel_affine(
                x.reshape(N, C, L), mo.shift, B, D, grad_output.reshape(N, C, L), A
            )
    return (
        grad_x.reshape(x.shape),
        sum_gxhat.ravel().astype(cast),
        sum_g.ravel().astype(cast),
    )


# ---------------------------------------------------------------------------------------------
# Group normalisation (instance norm and layer norm over C·H·W are its two extreme cases)


def _check_group_norm(
    func: str, x: Any, num_groups: Any, weight: Any, bias: Any, eps: Any, **more: Any
) -> tuple[int, int, int, int, float]:
    N, C, L = _check_x(x, func=func)
    G = positive_int("num_groups", num_groups, func=func)
    if C % G:
        raise ValueError(
            f"{func}: num_groups: expected a divisor of the {C} channels of x (shape "
            f"{x.shape}), got {G}"
        )
    eps = _check_eps(eps, func=func)
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None:
            _check_vector(name, a, C, f"one value per channel of x, C = {C}", func=func)
    check_same_dtype(func, x=x, weight=weight, bias=bias, **more)
    return N, C, L, G, eps


def _per_channel(a: np.ndarray | None, G: int, default: float) -> np.ndarray:
    """A (C,) parameter as float64 of shape (1, G, C/G), or the constant ``default``."""
    if a is None:
        return np.full((1, 1, 1), default)
    return a.astype(np.float64).reshape(1, G, -1)


def _group_rows(N: int, G: int, Cg: int, L: int, dtype: Any) -> _Rows:
    """Group norm's rows: the N·C planes (n, c); statistic (n, k) gathers the C/G planes of
    group k of sample n, the first of them (n, k·C/G). Per-statistic arrays are (N, G, 1),
    per-plane ones (N, G, C/G)."""
    return _Rows(
        Cg * L,
        lambda r: r.reshape(N * G, Cg, L)[:, 0],
        (N, G, 1),
        lambda r: r.reshape(N, G, Cg).sum(axis=2, dtype=np.float64, keepdims=True),
        lambda a: np.broadcast_to(np.asarray(a).astype(dtype), (N, G, Cg)).reshape(-1, 1),
    )


@_threads.op
def group_norm(
    x: np.ndarray,
    num_groups: int,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """Group normalisation, as ``torch.nn.functional.group_norm``.

    The C channels are split into G = ``num_groups`` consecutive groups of C/G; for each
    sample n and group k the statistics run over the m = (C/G)·L values x[n, group k, ...]
    (L = the product of the spatial axes):

        μ_nk = mean,   σ²_nk = mean((x − μ_nk)²)  (biased),
        y[n, c] = γ_c (x[n, c] − μ_nk) / √(σ²_nk + ε) + β_c     (c in group k)

    Special cases: ``num_groups = C`` is instance normalisation (each channel of each sample
    on its own: ``torch.nn.functional.instance_norm`` without running statistics) and
    ``num_groups = 1`` is layer normalisation over (C, *spatial) with a per-channel affine
    map (``layer_norm(x, x.shape[1:])`` when γ, β are None). No running statistics, the same
    computation in training and evaluation.

    Parameters
    ----------
    x : (N, C, *) float32 or float64.
    num_groups : an int ≥ 1 dividing C.
    weight γ, bias β : (C,) or None (γ = 1, β = 0).
    eps : ε > 0, finite.

    Returns
    -------
    y : x's shape and dtype.

    A group of a single value (C/G = L = 1) normalises to 0 (σ² = 0), so y = β there;
    PyTorch refuses some such inputs ("Expected more than 1 value per channel").

    >>> import numpy as np
    >>> group_norm(np.array([[1.0, 3.0, 10.0, 20.0]]), 2, eps=0.0001).round(4)
    array([[-1.,  1., -1.,  1.]])
    """
    N, C, L, G, eps = _check_group_norm("group_norm", x, num_groups, weight, bias, eps)
    if x.size == 0:
        return np.empty_like(x)
    rows = _group_rows(N, G, C // G, L, x.dtype)
    x2 = x.reshape(N * C, L)
    with _quiet():
        mo = _moments(x2, rows)
        scale = _per_channel(weight, G, 1.0) / np.sqrt(mo.var + eps)  # (N, G, C/G)
        offset = _per_channel(bias, G, 0.0) - mo.delta * scale
        y = _affine(x2, _rows_or_none(rows, mo.shift), rows.expand(scale), rows.expand(offset))
    return y.reshape(x.shape)


@_threads.op
def group_norm_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    num_groups: int,
    weight: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients through ``group_norm`` given g = ∂ℓ/∂y (x's shape).

    Per sample n and group k, with ĝ = γ_c g (= ∂ℓ/∂x̂), x̂ the normalised input and the
    means over the group's m = (C/G)·L values — the closed form through μ_nk and σ²_nk:

        ∂ℓ/∂x = (1/√(σ²_nk + ε)) · (ĝ − mean(ĝ) − x̂ · mean(ĝ x̂))
        ∂ℓ/∂γ_c = Σ_{n, spatial} g x̂,    ∂ℓ/∂β_c = Σ_{n, spatial} g

    Arguments as ``group_norm`` (``eps`` keyword-only; bias does not enter the gradients);
    the statistics are recomputed from x. Sums over each channel's spatial values come
    first, so ĝ is never formed as a whole array.

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : x's shape, (C,), (C,), in x's dtype; with
        ``weight=None`` grad_weight is the gradient with respect to γ at γ = 1.
    """
    func = "group_norm_backward"
    N, C, L, G, eps = _check_group_norm(
        func, x, num_groups, weight, None, eps, grad_output=grad_output
    )
    _check_grad_output(grad_output, x, func=func)
    cast = x.dtype.type
    if x.size == 0:
        return np.zeros_like(x), np.zeros(C, dtype=cast), np.zeros(C, dtype=cast)
    Cg = C // G
    rows = _group_rows(N, G, Cg, L, x.dtype)
    m = rows.m
    x2, g2 = x.reshape(N * C, L), grad_output.reshape(N * C, L)
    gamma = _per_channel(weight, G, 1.0)
    with _quiet():
        mo = _moments(x2, rows, g2)
        if mo.wide:
            return _again_in_float64(
                group_norm_backward, x.dtype, grad_output, x, num_groups, weight, eps=eps
            )
        invstd = 1.0 / np.sqrt(mo.var + eps)  # (N, G, 1)
        # per sample and channel, summed over space: Σ g and Σ g x̂, (N, G, C/G)
        sum_g = mo.row_g[0].astype(np.float64).reshape(N, G, Cg)
        sum_gxc = mo.row_g[1].astype(np.float64).reshape(N, G, Cg)
        sum_gxhat = invstd * (sum_gxc - mo.delta * sum_g)
        mean_ghat = (gamma * sum_g).sum(axis=2, keepdims=True) / m  # mean(ĝ) per group
        mean_ghat_xhat = (gamma * sum_gxhat).sum(axis=2, keepdims=True) / m
        # (1/√(σ²+ε))·(γ g − mean ĝ − x̂·mean(ĝ x̂)) with x̂ = (xc − δ)·invstd, xc = x − shift,
        # block by block as B·xc + D + A·g
        A = gamma * invstd
        B = -invstd * invstd * mean_ghat_xhat
        D = -invstd * mean_ghat - B * mo.delta
        grad_x = _affine(
            x2, _rows_or_none(rows, mo.shift), rows.expand(B), rows.expand(D), g2, rows.expand(A)
        )
    return (
        grad_x.reshape(x.shape),
        sum_gxhat.sum(axis=0).ravel().astype(cast),
        sum_g.sum(axis=0).ravel().astype(cast),
    )


# ---------------------------------------------------------------------------------------------
# Layer normalisation over trailing axes


def _normalized_shape(value: Any, *, func: str) -> tuple[int, ...]:
    items = (value,) if isinstance(value, (int, np.integer)) else value
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(items, (tuple, list))
        or not items
        or any(
            isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) for n in items
        )
    ):
        raise TypeError(
            f"{func}: normalized_shape: expected an int or a non-empty tuple of ints (the "
            f"trailing axes of x), got {value!r}"
        )
    shape = tuple(int(n) for n in items)
    if min(shape) < 1:
        raise ValueError(f"{func}: normalized_shape: expected sizes >= 1, got {shape}")
    return shape


def _check_layer_norm(
    func: str, x: Any, normalized_shape: Any, weight: Any, bias: Any, eps: Any, **more: Any
) -> tuple[int, int, tuple[int, ...], float]:
    check_float_array("x", x, func=func)
    shape = _normalized_shape(normalized_shape, func=func)
    if x.shape[x.ndim - len(shape) :] != shape or x.ndim < len(shape):
        raise ValueError(
            f"{func}: normalized_shape: expected the trailing axes of x (shape {x.shape}), "
            f"got {shape}"
        )
    eps = _check_eps(eps, func=func)
    for name, a in (("weight", weight), ("bias", bias)):
        if a is not None:
            check_float_array(name, a, func=func)
            if a.shape != shape:
                raise ValueError(
                    f"{func}: {name}: expected normalized_shape {shape}, got shape {a.shape}"
                )
    check_same_dtype(func, x=x, weight=weight, bias=bias, **more)
    K = math.prod(shape)
    return x.size // K, K, shape, eps


def _layer_rows(R: int, K: int, dtype: Any) -> _Rows:
    """Layer norm's rows: each of the R rows of K values is one statistic (its own first row)."""
    return _Rows(
        K,
        lambda r: r,
        (R,),
        lambda r: r.astype(np.float64),
        lambda a: np.broadcast_to(np.asarray(a).astype(dtype), (R,)).reshape(-1, 1),
    )


def _layer_xhat(v: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, _Rows]:
    """x̂ of the (R, K) rows (a new array), 1/√(σ² + ε) per row (float64 (R,)), the rows."""
    R, K = v.shape
    rows = _layer_rows(R, K, v.dtype)
    mo = _moments(v, rows)
    invstd = 1.0 / np.sqrt(mo.var + eps)
    xhat = _affine(
        v, _rows_or_none(rows, mo.shift), rows.expand(invstd), rows.expand(-mo.delta * invstd)
    )
    return xhat, invstd, rows


@_threads.op
def layer_norm(
    x: np.ndarray,
    normalized_shape: int | tuple[int, ...],
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """Layer normalisation over the trailing axes, as ``torch.nn.functional.layer_norm``.

    For every index r of the leading axes, over the K = prod(normalized_shape) values
    x[r, ...] of the trailing axes:

        μ_r = mean,   σ²_r = mean((x[r] − μ_r)²)  (biased),
        y[r, k] = γ_k (x[r, k] − μ_r) / √(σ²_r + ε) + β_k

    with γ, β elementwise over the trailing axes (shape ``normalized_shape``).
    ``group_norm(x, 1)`` is this over (C, *spatial) with a per-channel γ, β instead.

    Parameters
    ----------
    x : (*, *normalized_shape), float32 or float64.
    normalized_shape : an int or a tuple of ints, the sizes of x's trailing axes.
    weight γ, bias β : arrays of shape ``normalized_shape``, or None (γ = 1, β = 0).
    eps : ε > 0, finite.

    Returns
    -------
    y : x's shape and dtype.

    >>> import numpy as np
    >>> layer_norm(np.array([[1.0, 3.0], [0.0, 10.0]]), 2, eps=0.0001).round(4)
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    R, K, shape, eps = _check_layer_norm("layer_norm", x, normalized_shape, weight, bias, eps)
    if x.size == 0:
        return np.empty_like(x)
    x2 = x.reshape(R, K)
    y = np.empty((R, K), dtype=x.dtype)

    def body(r0: int, r1: int) -> None:  # each row is its own statistic: blocks are independent
        with _quiet():
            block, _, _ = _layer_xhat(x2[r0:r1], eps)
            if weight is not None:
                block *= weight.reshape(1, K)
            if bias is not None:
                block += bias.reshape(1, K)
            y[r0:r1] = block

    _threads.parallel(body, _spans(R, K))
    return y.reshape(x.shape)


@_threads.op
def layer_norm_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    normalized_shape: int | tuple[int, ...],
    weight: np.ndarray | None = None,
    *,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients through ``layer_norm`` given g = ∂ℓ/∂y (x's shape).

    Per leading index r, with ĝ = γ g (= ∂ℓ/∂x̂) and means over the row's K values — the
    closed form through μ_r and σ²_r:

        ∂ℓ/∂x = (1/√(σ²_r + ε)) · (ĝ − mean(ĝ) − x̂ · mean(ĝ x̂))
        ∂ℓ/∂γ = Σ_r g x̂,    ∂ℓ/∂β = Σ_r g     (shape normalized_shape)

    Arguments as ``layer_norm`` (``eps`` keyword-only; bias does not enter the gradients);
    the statistics are recomputed from x.

    Returns
    -------
    (grad_x, grad_weight, grad_bias) : x's shape, normalized_shape, normalized_shape, in x's
        dtype; with ``weight=None`` grad_weight is the gradient with respect to γ at γ = 1.
    """
    func = "layer_norm_backward"
    R, K, shape, eps = _check_layer_norm(
        func, x, normalized_shape, weight, None, eps, grad_output=grad_output
    )
    _check_grad_output(grad_output, x, func=func)
    cast = x.dtype.type
    if x.size == 0:
        return np.zeros_like(x), np.zeros(shape, dtype=cast), np.zeros(shape, dtype=cast)
    x2, g2 = x.reshape(R, K), grad_output.reshape(R, K)
    grad_x = np.empty((R, K), dtype=x.dtype)
    blocks = _spans(R, K)
    # per block of rows: Σ_r g x̂ and Σ_r g (float64), added in block order afterwards
    partial = np.empty((len(blocks), 2, K))
    index = {span: k for k, span in enumerate(blocks)}

    def body(r0: int, r1: int) -> None:  # each row is its own statistic: blocks are independent
        g = g2[r0:r1]
        with _quiet():
            xhat, invstd, rows = _layer_xhat(x2[r0:r1], eps)
            k = index[r0, r1]
            np.sum(np.multiply(g, xhat), axis=0, dtype=np.float64, out=partial[k, 0])
            np.sum(g, axis=0, dtype=np.float64, out=partial[k, 1])
            ghat = g if weight is None else np.multiply(g, weight.reshape(1, K))
            mean_ghat = _row_sums(ghat).astype(np.float64) / K
            mean_ghat_xhat = np.vecdot(ghat, xhat).astype(np.float64) / K
            # (1/√(σ²+ε))·(ĝ − mean ĝ − x̂·mean(ĝ x̂))
            grad_x[r0:r1] = _affine(
                xhat,
                None,
                rows.expand(-mean_ghat_xhat * invstd),
                rows.expand(-mean_ghat * invstd),
                ghat,
                rows.expand(invstd),
            )

    _threads.parallel(body, blocks)
    grad_weight, grad_bias = partial.sum(axis=0)  # NumPy adds the blocks in order
    return (
        grad_x.reshape(x.shape),
        grad_weight.reshape(shape).astype(cast),
        grad_bias.reshape(shape).astype(cast),
    )
