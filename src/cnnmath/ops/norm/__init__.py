"""Normalisation, as ``torch.nn.functional``: batch_norm, group_norm, layer_norm and rms_norm,
each followed by its closed-form backward (rms_norm, which subtracts no mean, in ``rms``).

One statistic runs over a set of m values of x — batch norm: one channel over the batch and
space; group norm: one group of channels of one sample; layer norm: the trailing axes of one
sample. Over that set:

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

The code, one concern a module: ``_rows`` (the shared kernels on the rows view: sums,
moments, affine passes), ``_args`` (the shared argument checks), ``batch``, ``group`` and
``layer``; this package re-exports their public functions.
"""

from .batch import batch_norm, batch_norm_backward
from .group import group_norm, group_norm_backward
from .layer import layer_norm, layer_norm_backward
from .rms import rms_norm, rms_norm_backward

__all__ = [
    "batch_norm",
    "batch_norm_backward",
    "group_norm",
    "group_norm_backward",
    "layer_norm",
    "layer_norm_backward",
    "rms_norm",
    "rms_norm_backward",
]
