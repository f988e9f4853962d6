"""Group normalisation: one statistic per group of channels of one sample (instance norm
and layer norm over C·H·W are its two extreme cases), and the backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._checks import check_same_dtype, positive_int
from .. import _threads
from ._args import _check_eps, _check_grad_output, _check_vector, _check_x
from ._rows import _affine, _again_in_float64, _moments, _quiet, _Rows, _rows_or_none

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
