"""2-D convolution (cross-correlation, as in every deep-learning framework), grouped and
transposed, with the backward passes.

Notation: input X (B, C_in, m, n), filter w (C_out, C_in/groups, f1, f2), bias b
(C_out,), stride s, zero padding p (X̃ is X padded), dilation d, all 1-based in the formulas:

    Y[β,o,i,j] = Σ_g Σ_a Σ_c w[o,g,a,c] · X̃[β, k·C_g + g, s(i-1)+d(a-1)+1, s(j-1)+d(c-1)+1] + b[o]

where C_g = C_in/groups, output channel o lies in block k = floor((o-1) / (C_out/groups)) and
g runs over the block's C_g input channels (groups = 1: every input channel; groups = C_in:
depthwise).
``conv_transpose2d`` is the adjoint of ``conv2d`` (⟨conv2d(X, w), Y⟩ = ⟨X, conv_transpose2d(Y, w)⟩
for all X, Y) and is the very function that computes ``conv2d``'s input gradient. Every forward
and backward pass is made of the same correlation (`_correlate`, in ``_conv_engine`` with its
kernels), called with other arguments, but for one shortcut of the input gradient where the
windows tile X (kernel = stride): ``_conv_engine.depth_to_space``, one product and one copy.

This package holds the public ops and their geometry: the padding, the bands of rows and the
stride phases. Each pass first plans its correlations from the shapes alone (`_forward_plan`,
`_grad_weight_plan`, `_input_plan`: every band, phase and method), then runs exactly that
plan; ``dispatch_plan`` reports the same plans. The ops run on all cores (``_threads``), with
the same bits at any thread count.

One concern a module: ``_arguments`` (argument checks and the geometry they give, for
``conv2d`` and ``conv_transpose2d``), ``_plan`` (bands, stride phases and each correlation's
method), ``_passes`` (running a plan: the forward, filter-gradient and adjoint passes, the
bias), ``_conv2d`` and ``_conv_transpose2d`` (the public ops) and ``_shapes`` (plans and output
shapes without computing). This package re-exports the public names. A private module-level
name is bound in each module that reads it: a test that replaces one sets it in each of them.
"""

from .._conv_engine import METHODS, select_method
from .._windows import crop_or_pad
from ._conv2d import conv2d, conv2d_backward
from ._conv_transpose2d import conv_transpose2d, conv_transpose2d_backward
from ._shapes import conv_output_shape, dispatch_plan

__all__ = [
    "METHODS",
    "conv2d",
    "conv2d_backward",
    "conv_output_shape",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "crop_or_pad",
    "dispatch_plan",
    "select_method",
]
