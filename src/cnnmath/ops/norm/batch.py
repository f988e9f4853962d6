"""Batch normalisation: one statistic per channel over the batch and space, training
(running statistics updated) and evaluation, and the backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._checks import check_same_dtype, positive_int, real_number
from .. import _threads
from ._args import _check_eps, _check_flag, _check_grad_output, _check_vector, _check_x
from ._rows import (
    _UFUNC_BUFFER,
    _affine_passes,
    _again_in_float64,
    _by_images,
    _centred_sums,
    _channel_affine,
    _channel_rows,
    _moments,
    _quiet,
)

#: The blocks of batch norm's evaluation passes (no sums between them): 2**19 elements (2 MiB
#: of float32); MobileNetV2's and ResNet-18's batch-1 maps take 0.63–0.92 of the time they
#: took in 2**17 (docs/performance.md, "Batch norm in evaluation").
_EVAL_BLOCK = 1 << 19


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

    Training: the closed form through the batch mean μ and variance σ²,
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
