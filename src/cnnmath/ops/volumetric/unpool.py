"""max_unpool3d and its backward: the 2-D unpooling's scatter, over volumes."""

from __future__ import annotations

import numpy as np

from .. import _threads
from ..pool.unpool import _unpool, _unpool_backward, _unpool_geometry

__all__ = ["max_unpool3d", "max_unpool3d_backward"]


@_threads.op
def max_unpool3d(
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    output_size: tuple[int, ...] | None = None,
) -> np.ndarray:
    """The partial inverse of ``max_pool3d``, as ``torch.nn.functional.max_unpool3d``.

    Y[β,c] = 0 except Y[β,c].flat[I[β,c,t,i,j]] = X[β,c,t,i,j]: each value goes to the
    position (t'·H_out + u)·W_out + v its index names in its (D_out, H_out, W_out) volume.

    x : (B, C, d, h, w) or unbatched (C, d, h, w), float32/float64; indices : an integer
    array of x's shape, values in [0, D_out·H_out·W_out) — what ``max_pool3d(...,
    return_indices=True)`` returns. kernel_size, stride (default kernel_size), padding: the
    pool's, used only for the output size D_out = (d - 1)s0 - 2p0 + k0 (likewise H_out,
    W_out), unless ``output_size`` ((D, H, W) or (N, C, D, H, W)) picks one of the sizes
    strictly within a stride of it. Returns (B, C, D_out, H_out, W_out) of x's dtype; of two
    equal indices the later one in (depth, row, column) order wins (PyTorch's CPU kernel).

    >>> import numpy as np
    >>> max_unpool3d(np.array([[[[5.0]]]]), np.array([[[[7]]]]), 2)[0, 1]
    array([[0., 0.],
           [0., 5.]])
    """
    func = "max_unpool3d"
    return _unpool(_unpool_geometry(x, indices, kernel_size, stride, padding, output_size, func, 3))


@_threads.op
def max_unpool3d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | tuple[int, int, int],
    stride: int | tuple[int, int, int] | None = None,
    padding: int | tuple[int, int, int] = 0,
    output_size: tuple[int, ...] | None = None,
) -> np.ndarray:
    """∂ℓ/∂X for ``max_unpool3d``: ∂ℓ/∂X[β,c,t,i,j] = G[β,c].flat[I[β,c,t,i,j]] (a gather).

    grad_output: (B, C, D_out, H_out, W_out) like the forward's output; returns an array
    like x.
    """
    func = "max_unpool3d_backward"
    geo = _unpool_geometry(x, indices, kernel_size, stride, padding, output_size, func, 3)
    return _unpool_backward(grad_output, x, geo, func=func)
