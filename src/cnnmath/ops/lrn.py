"""Local response normalisation (AlexNet's, GoogLeNet's): each activation divided by a power
of the energy of its neighbours across channels.

For x (B, C, ...) and a window of ``size`` = n channels,

    d[β, c, …] = k + (α/n) · Σ_{c' ∈ W(c)} x[β, c', …]²,     y = x · d^(−β),

W(c) = {c − lo, …, c + hi} ∩ {0, …, C − 1}: channels past either end count as zeros (the sum
is always divided by n). PyTorch's window has lo = ⌊n/2⌋, hi = ⌊(n − 1)/2⌋; ONNX's LRN has
lo = ⌊(n − 1)/2⌋, hi = ⌈(n − 1)/2⌉ — the same for an odd n, one channel apart for an even n.

Backward, with u = x·d^(−β−1):

    ∂ℓ/∂x[j] = G[j]·d[j]^(−β) − (2αβ/n) · x[j] · Σ_{c : j ∈ W(c)} G[c]·u[c],

where j ∈ W(c) ⟺ c ∈ {j − hi, …, j + lo}: the same window sum with lo and hi swapped. Every
window sum is n shifted slices added (a loop over the window's n offsets, not over channels).
"""

from __future__ import annotations

import numpy as np

from .._checks import check_float_array, real_number

__all__ = ["local_response_norm", "local_response_norm_backward"]


def _quiet() -> np.errstate:
    """Non-finite inputs give PyTorch's NaN and ±inf (0·inf, inf/inf), without warnings."""
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")


def _window_sum(a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """s[:, c] = Σ_{c'=c−lo}^{c+hi} a[:, c'] along axis 1, out-of-range channels as zeros."""
    C = a.shape[1]
    s = np.zeros_like(a)
    for offset in range(-lo, hi + 1):  # the window's n offsets
        first, last = max(0, -offset), min(C, C - offset)  # c with c + offset in [0, C)
        if first < last:
            s[:, first:last] += a[:, first + offset : last + offset]
    return s


def _check(
    func: str,
    x: np.ndarray,
    size: int,
    alpha: float,
    beta: float,
    k: float,
    window: tuple[int, int] | None,
) -> None:
    if x.ndim < 3:
        raise ValueError(
            f"{func}: x: expected shape (B, C, ...) with at least one axis after C, got {x.shape}"
        )
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{func}: size: expected a positive int, got {size!r}")
    for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
        real_number(name, value, func=func)
    if window is not None and not (
        isinstance(window, tuple)
        and len(window) == 2
        and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in window
        )
        and window[0] + window[1] + 1 == size
    ):
        raise ValueError(
            f"{func}: window: expected (lo, hi), non-negative ints with lo + hi + 1 = size "
            f"({size}), got {window!r}"
        )


def _terms(
    x: np.ndarray, size: int, alpha: float, beta: float, k: float, window: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(d, d^(−β)) in x's dtype."""
    t = x.dtype.type
    d = _window_sum(x * x, *window)
    d *= t(alpha / size)
    d += t(k)
    return d, np.power(d, t(-beta))


def torch_window(size: int) -> tuple[int, int]:
    """(lo, hi) of PyTorch's window: ⌊n/2⌋ channels before, ⌊(n − 1)/2⌋ after."""
    return size // 2, (size - 1) // 2


def local_response_norm(
    x: np.ndarray,
    size: int,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 1.0,
    window: tuple[int, int] | None = None,
) -> np.ndarray:
    """y = x · (k + (α/n)·Σ_{c' ∈ W(c)} x_{c'}²)^(−β), as
    ``torch.nn.functional.local_response_norm(x, size, alpha, beta, k)``.

    x: (B, C, ...) with at least one axis after C, float32/float64; y has its shape and
    dtype. ``window`` = (lo, hi) channels before and after c (default PyTorch's,
    ``torch_window(size)``; ONNX's LRN gives ((n − 1)//2, n//2)).

    >>> local_response_norm(np.array([[[3.0], [4.0]]]), size=2, alpha=2.0, beta=1.0, k=0.0)
    array([[[0.33333333],
            [0.16      ]]])
    """
    func = "local_response_norm"
    x = check_float_array("x", x, func=func)
    _check(func, x, size, alpha, beta, k, window)
    with _quiet():
        _, d_beta = _terms(x, size, alpha, beta, k, window or torch_window(size))
        return x * d_beta


def local_response_norm_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    size: int,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 1.0,
    window: tuple[int, int] | None = None,
) -> np.ndarray:
    """∂ℓ/∂x of ``local_response_norm(x, size, alpha, beta, k, window)`` given G = ∂ℓ/∂y (x's
    shape): G·d^(−β) − (2αβ/n)·x·(the window sum, lo and hi swapped, of G·x·d^(−β−1))."""
    func = "local_response_norm_backward"
    x = check_float_array("x", x, func=func)
    G = check_float_array("grad_output", grad_output, func=func)
    _check(func, x, size, alpha, beta, k, window)
    if G.shape != x.shape or G.dtype != x.dtype:
        raise ValueError(
            f"{func}: grad_output: expected x's shape {x.shape} and dtype {x.dtype}, got "
            f"{G.shape} and {G.dtype}"
        )
    lo, hi = window or torch_window(size)
    t = x.dtype.type
    with _quiet():
        d, d_beta = _terms(x, size, alpha, beta, k, (lo, hi))
        back = _window_sum(G * x * (d_beta / d), hi, lo)
        return G * d_beta - t(2 * alpha * beta / size) * x * back
