"""Power-average (Lp) pooling in 1-D, 2-D and 3-D and its backward, as PyTorch computes it:
from the average pooling of x^p (the formulas are in ``lp_pool2d``'s docstring)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..._checks import check_float_array, check_ndim, check_shape
from .. import _threads
from .avg_pool import avg_pool2d, avg_pool2d_backward
from .max_pool import max_pool2d, max_pool2d_backward
from .unpool import _LAYOUTS, _ints


def _norm_type(value: Any, *, func: str) -> float:
    """p > 0 as a float, ``inf`` included; PyTorch's p <= 0 is refused (p = 0 divides by zero
    there, p < 0 is no norm)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{func}: norm_type: expected a positive real number, got {value!r}")
    p = float(value)
    if not p > 0:  # NaN too
        raise ValueError(
            f"{func}: norm_type: expected a number > 0 (inf for the maximum of |x|), got {value!r}"
        )
    return p


def _pools(rank: int) -> tuple[Callable[..., Any], ...]:
    """(avg, avg backward, max, max backward) for ``rank`` spatial axes; rank 1 runs the 2-D
    ops on the (…, 1, L) view."""
    if rank == 3:
        # imported here: the 3-D ops build on this package, so a module-level import would
        # be circular
        from ..volumetric import avg_pool3d, avg_pool3d_backward, max_pool3d, max_pool3d_backward

        return avg_pool3d, avg_pool3d_backward, max_pool3d, max_pool3d_backward
    return avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward


class _Lp:
    """The checked arguments of one call: x (as the pooling ops take it), p, the window, the
    stride and the window size K = Π kernel."""

    def __init__(
        self,
        x: Any,
        norm_type: Any,
        kernel_size: Any,
        stride: Any,
        ceil_mode: Any,
        *,
        rank: int,
        func: str,
    ) -> None:
        x = check_float_array("x", x, func=func)
        if rank == 1:
            hint = "for a single channel add the axes with x[None, None]" if x.ndim == 1 else ""
            check_ndim("x", x, (2, 3), func=func, layout=_LAYOUTS[1], hint=hint)
        self.rank, self.func = rank, func
        self.p = _norm_type(norm_type, func=func)
        kernel = _ints("kernel_size", kernel_size, rank, minimum=1, func=func)
        strides = kernel if stride is None else _ints("stride", stride, rank, minimum=1, func=func)
        self.size = int(np.prod(kernel))
        if rank == 1:  # a signal (…, L) is an image (…, 1, L)
            x, kernel, strides = x[..., None, :], (1, *kernel), (1, *strides)
        self.x = x
        self.window = {"kernel_size": kernel, "stride": strides, "ceil_mode": ceil_mode}
        self.avg, self.avg_backward, self.max, self.max_backward = _pools(rank)

    def given(self, a: np.ndarray) -> np.ndarray:
        """A result on the pooling ops' layout back in the caller's (the unit axis dropped)."""
        return a[..., 0, :] if self.rank == 1 else a

    def grad(self, grad_output: Any) -> np.ndarray:
        g = check_float_array("grad_output", grad_output, func=self.func)
        return g[..., None, :] if self.rank == 1 and g.ndim >= 1 else g

    def powers(self) -> tuple[np.ndarray, np.ndarray]:
        """Z = avg_pool(X^p) and W = K·Z (PyTorch's sign(Z)·relu(|Z|)·K, the same values)."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            z = self.avg(_power(self.x, self.p), **self.window)
        return z, z * self.size


def _power(a: np.ndarray, e: float) -> np.ndarray:
    """a**e as PyTorch's pow computes it: its exponents 0.5 and −0.5 are sqrt and 1/sqrt
    (NaN at −∞, where C's pow, and NumPy's before 2.1, give +∞ and 0), so the NaN pattern
    is PyTorch's on every NumPy."""
    if e == 0.5:
        return np.sqrt(a)
    if e == -0.5:
        return 1 / np.sqrt(a)
    return np.power(a, e)


def _forward(lp: _Lp) -> np.ndarray:
    if lp.p == np.inf:
        return lp.given(lp.max(np.abs(lp.x), **lp.window))
    _, w = lp.powers()
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return lp.given(_power(w, 1 / lp.p))


def _backward(lp: _Lp, grad_output: Any) -> np.ndarray:
    g = lp.grad(grad_output)
    if lp.p == np.inf:  # |x|'s derivative sgn(x), 0 at 0 and at NaN as PyTorch's
        sign = np.nan_to_num(np.sign(lp.x), nan=0.0)
        return lp.given(lp.max_backward(g, np.abs(lp.x), **lp.window) * sign)
    p = lp.p
    z, w = lp.powers()
    check_shape("grad_output", np.asarray(grad_output), lp.given(z).shape, func=lp.func)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        g_w = g * ((1 / p) * _power(w, 1 / p - 1))
        # through sign(Z)·relu(|Z|): sign(Z)² — PyTorch's sign is 0 at NaN, so a NaN window
        # passes 0 unless the incoming share is not finite — and relu's backward passes
        # nothing where |Z| = 0, whatever arrives (inf or NaN too)
        sign = np.nan_to_num(np.sign(z), nan=0.0)
        g_z = np.where(z == 0, 0, g_w * lp.size * sign) * sign
        g_xp = lp.avg_backward(g_z, lp.x, **lp.window)
        return lp.given(g_xp * (p * _power(lp.x, p - 1)))


@_threads.op
def lp_pool2d(
    x: np.ndarray,
    norm_type: float,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Power-average pooling, as ``torch.nn.functional.lp_pool2d``.

    Y[β,c,i,j] = (K/D[i,j] · Σ_{a=1..k1} Σ_{b=1..k2} X[β, c, s(i-1)+a, s(j-1)+b]^p)^(1/p),
    K = k1·k2, D[i,j] the taps of window (i, j) inside x: PyTorch's avg_pool2d of X^p (no
    padding) times K, then the 1/p-th power. D = K except for a ``ceil_mode`` window that runs
    past x, whose sum is so scaled by K/D (as PyTorch's). ``norm_type`` p > 0 (a float);
    p = inf gives max_pool2d of |X|; PyTorch's p <= 0 is refused. As in PyTorch, X^p of a
    negative element is NaN unless p is an integer, and Y is NaN where the window's sum is
    negative and 1/p is not an integer.

    x: (B, C, H, W) or (C, H, W); stride defaults to kernel_size; output sizes as
    ``avg_pool2d``'s with padding 0.

    >>> import numpy as np
    >>> lp_pool2d(np.array([[[[3.0, 0.0], [0.0, 4.0]]]]), 2, 2).ravel()
    array([5.])
    """
    return _forward(_Lp(x, norm_type, kernel_size, stride, ceil_mode, rank=2, func="lp_pool2d"))


@_threads.op
def lp_pool2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    norm_type: float,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """∂ℓ/∂X for ``lp_pool2d``, PyTorch autograd's through its composition:

    ∂ℓ/∂X[β,c,u,v] = p·X[u,v]^(p-1) · Σ_{(i,j) ∋ (u,v)} Gz[i,j]/D[i,j],
    Gz[i,j] = G[i,j] · (1/p)·W[i,j]^(1/p - 1) · K  where Z[i,j] ≠ 0, else 0,

    W = K·Z the scaled window sum. A window whose sum Z is 0 passes nothing back (relu's
    backward at 0), but the factor X^(p-1) is inf at X = 0 for p < 1, and then ∂ℓ/∂X is NaN
    there (inf·0), as in PyTorch. p = inf: G goes to the first maximum of |X| in each window,
    times sgn(X) (0 at 0 and NaN). grad_output: (B, C, H_out, W_out); returns an array like x.
    """
    func = "lp_pool2d_backward"
    return _backward(
        _Lp(x, norm_type, kernel_size, stride, ceil_mode, rank=2, func=func), grad_output
    )


@_threads.op
def lp_pool1d(
    x: np.ndarray,
    norm_type: float,
    kernel_size: int | tuple[int],
    stride: int | tuple[int] | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Power-average pooling of signals, as ``torch.nn.functional.lp_pool1d``:

    Y[β,c,i] = (k/D[i] · Σ_{a=1..k} X[β, c, s(i-1)+a]^p)^(1/p),

    ``lp_pool2d``'s definition with one window axis (D = k but for a ``ceil_mode`` window
    that runs past x). x: (B, C, L) or (C, L); returns (B, C, L_out) or (C, L_out).

    >>> import numpy as np
    >>> lp_pool1d(np.array([[1.0, 2.0, 2.0, 4.0]]), 1, 2)
    array([[3., 6.]])
    """
    return _forward(_Lp(x, norm_type, kernel_size, stride, ceil_mode, rank=1, func="lp_pool1d"))


@_threads.op
def lp_pool1d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    norm_type: float,
    kernel_size: int | tuple[int],
    stride: int | tuple[int] | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """∂ℓ/∂X for ``lp_pool1d``: ``lp_pool2d_backward``'s formula with one window axis (NaN
    at X = 0 for p < 1, as PyTorch's). grad_output: (B, C, L_out); returns an array like x."""
    func = "lp_pool1d_backward"
    return _backward(
        _Lp(x, norm_type, kernel_size, stride, ceil_mode, rank=1, func=func), grad_output
    )


@_threads.op
def lp_pool3d(
    x: np.ndarray,
    norm_type: float,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Power-average pooling of volumes, as ``torch.nn.functional.lp_pool3d``:

    Y[β,c,t,i,j] = (K/D · Σ_{e,a,b} X[β, c, s0(t-1)+e, s1(i-1)+a, s2(j-1)+b]^p)^(1/p),

    K = k0·k1·k2, ``lp_pool2d``'s definition with three window axes (avg_pool3d of X^p).
    x: (B, C, D, H, W) or (C, D, H, W); returns (B, C, D_out, H_out, W_out) or unbatched.

    >>> import numpy as np
    >>> lp_pool3d(np.full((1, 2, 2, 2), 0.5), 2, 2).ravel()
    array([1.41421356])
    """
    return _forward(_Lp(x, norm_type, kernel_size, stride, ceil_mode, rank=3, func="lp_pool3d"))


@_threads.op
def lp_pool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    norm_type: float,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """∂ℓ/∂X for ``lp_pool3d``: ``lp_pool2d_backward``'s formula with three window axes (NaN
    at X = 0 for p < 1, as PyTorch's). grad_output: (B, C, D_out, H_out, W_out); returns an
    array like x."""
    func = "lp_pool3d_backward"
    return _backward(
        _Lp(x, norm_type, kernel_size, stride, ceil_mode, rank=3, func=func), grad_output
    )
