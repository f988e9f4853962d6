"""Slow loop implementations of the ops, written literally from their index formulas.

This package is the test oracle, one module per op family (conv, pool, linear, ...). Every
function here has the name and argument list of the fast op it checks, so a test can fetch the
oracle by name::

    fast = getattr(cnnmath.ops.conv, "conv2d")
    slow = getattr(cnnmath.reference, "conv2d")

It imports nothing from the ``cnnmath`` package, only NumPy: output sizes and padding are
re-derived here in a few plain lines, because an oracle that shares code with what it
checks shares its bugs. Sums are written as nested Python loops over every index,
accumulated in float64; results are returned in the input's dtype.

Conventions (those of docs/results.md, and PyTorch's): layout NCHW; the formulas in the
docstrings are 1-based, the loops are 0-based, so ``s(i-1) + d(a-1) + 1`` (1-based) becomes
``s*i + d*a`` (0-based). Convolution is cross-correlation: the filter is not flipped.

Speed is not a goal: use tiny shapes.
"""

from .activations import (
    glu,
    glu_backward,
    hardshrink,
    hardtanh_backward,
    prelu,
    prelu_backward,
    relu_backward,
    rrelu,
    rrelu_backward,
    shrink_grad,
    softshrink,
    tanhshrink,
    tanhshrink_grad,
    threshold,
    threshold_grad,
)
from .alpha_dropout import alpha_dropout, alpha_dropout_backward, feature_alpha_dropout
from .conv import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from .deform_conv import deform_conv2d, deform_conv2d_backward
from .distance import (
    cosine_similarity,
    cosine_similarity_backward,
    normalize,
    normalize_backward,
    pairwise_distance,
    pairwise_distance_backward,
)
from .einsum import einsum, einsum_backward
from .fractional_pool import (
    fractional_max_pool2d,
    fractional_max_pool2d_backward,
    fractional_max_pool3d,
    fractional_max_pool3d_backward,
)
from .grid_sample import affine_grid, affine_grid_backward, grid_sample, grid_sample_backward
from .interpolate import (
    interpolate,
    interpolate_backward,
    interpolate_bicubic,
    interpolate_bicubic_backward,
    interpolate_bilinear,
    interpolate_bilinear_backward,
)
from .linear import linear, linear_backward
from .lp_pool import (
    lp_pool1d,
    lp_pool1d_backward,
    lp_pool2d,
    lp_pool2d_backward,
    lp_pool3d,
    lp_pool3d_backward,
)
from .lrn import local_response_norm, local_response_norm_backward
from .norm import (
    batch_norm,
    batch_norm_backward,
    group_norm,
    group_norm_backward,
    layer_norm,
    layer_norm_backward,
    rms_norm,
    rms_norm_backward,
)
from .pad import pad2d, pad2d_backward
from .pixel_shuffle import (
    channel_shuffle,
    channel_shuffle_backward,
    pixel_shuffle,
    pixel_shuffle_backward,
    pixel_unshuffle,
    pixel_unshuffle_backward,
)
from .pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_unpool1d,
    max_unpool1d_backward,
    max_unpool2d,
    max_unpool2d_backward,
)
from .roi import (
    batched_nms,
    box_iou,
    nms,
    roi_align,
    roi_align_backward,
    roi_pool,
    roi_pool_backward,
)
from .softmax import (
    cross_entropy,
    dropout,
    dropout_backward,
    log_softmax,
    log_softmax_backward,
    nll_loss,
    softmax,
    softmax_backward,
)
from .unfold import fold, fold_backward, unfold, unfold_backward
from .volumetric import (
    adaptive_avg_pool3d,
    adaptive_avg_pool3d_backward,
    adaptive_max_pool3d,
    adaptive_max_pool3d_backward,
    avg_pool3d,
    avg_pool3d_backward,
    conv3d,
    conv3d_backward,
    conv_transpose3d,
    conv_transpose3d_backward,
    max_pool3d,
    max_pool3d_backward,
    max_unpool3d,
    max_unpool3d_backward,
)

__all__ = [
    "alpha_dropout",
    "alpha_dropout_backward",
    "feature_alpha_dropout",
    "rrelu",
    "rrelu_backward",
    "batched_nms",
    "box_iou",
    "nms",
    "roi_align",
    "roi_align_backward",
    "roi_pool",
    "roi_pool_backward",
    "affine_grid",
    "affine_grid_backward",
    "grid_sample",
    "grid_sample_backward",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "batch_norm",
    "batch_norm_backward",
    "channel_shuffle",
    "channel_shuffle_backward",
    "conv2d",
    "cosine_similarity",
    "cosine_similarity_backward",
    "deform_conv2d",
    "deform_conv2d_backward",
    "conv2d_backward",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "cross_entropy",
    "dropout",
    "dropout_backward",
    "einsum",
    "einsum_backward",
    "fractional_max_pool2d",
    "fractional_max_pool2d_backward",
    "fractional_max_pool3d",
    "fractional_max_pool3d_backward",
    "glu",
    "glu_backward",
    "group_norm",
    "group_norm_backward",
    "interpolate",
    "interpolate_backward",
    "interpolate_bicubic",
    "interpolate_bicubic_backward",
    "interpolate_bilinear",
    "interpolate_bilinear_backward",
    "layer_norm",
    "layer_norm_backward",
    "rms_norm",
    "rms_norm_backward",
    "linear",
    "linear_backward",
    "local_response_norm",
    "local_response_norm_backward",
    "log_softmax",
    "log_softmax_backward",
    "lp_pool1d",
    "lp_pool1d_backward",
    "lp_pool2d",
    "lp_pool2d_backward",
    "lp_pool3d",
    "lp_pool3d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_unpool1d",
    "max_unpool1d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
    "normalize",
    "normalize_backward",
    "pairwise_distance",
    "pairwise_distance_backward",
    "nll_loss",
    "pad2d",
    "pad2d_backward",
    "pixel_shuffle",
    "pixel_shuffle_backward",
    "pixel_unshuffle",
    "pixel_unshuffle_backward",
    "fold",
    "fold_backward",
    "unfold",
    "unfold_backward",
    "prelu",
    "hardshrink",
    "hardtanh_backward",
    "prelu_backward",
    "relu_backward",
    "shrink_grad",
    "softshrink",
    "tanhshrink",
    "tanhshrink_grad",
    "threshold",
    "threshold_grad",
    "softmax",
    "softmax_backward",
    "adaptive_avg_pool3d",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_backward",
    "avg_pool3d",
    "avg_pool3d_backward",
    "conv3d",
    "conv3d_backward",
    "conv_transpose3d",
    "conv_transpose3d_backward",
    "max_pool3d",
    "max_pool3d_backward",
    "max_unpool3d",
    "max_unpool3d_backward",
]
