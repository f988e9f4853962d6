"""The functional core: pure functions on NumPy arrays, each forward beside its backward."""

from .activations import (
    ACTIVATIONS,
    Activation,
    get_activation,
    hardtanh_backward,
    prelu,
    prelu_backward,
    relu_backward,
)
from .conv import (
    conv2d,
    conv2d_backward,
    conv_output_shape,
    conv_transpose2d,
    conv_transpose2d_backward,
)
from .deform_conv import deform_conv2d, deform_conv2d_backward
from .dropout import dropout, dropout_backward
from .grid_sample import affine_grid, affine_grid_backward, grid_sample, grid_sample_backward
from .interpolate import (
    interpolate_bicubic,
    interpolate_bicubic_backward,
    interpolate_bilinear,
    interpolate_bilinear_backward,
)
from .linear import linear, linear_backward
from .lrn import local_response_norm, local_response_norm_backward
from .norm import (
    batch_norm,
    batch_norm_backward,
    group_norm,
    group_norm_backward,
    layer_norm,
    layer_norm_backward,
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
    max_unpool2d,
    max_unpool2d_backward,
)
from .softmax import log_softmax, log_softmax_backward, softmax, softmax_backward
from .unfold import fold, fold_backward, unfold, unfold_backward

__all__ = [
    "affine_grid",
    "affine_grid_backward",
    "grid_sample",
    "grid_sample_backward",
    "ACTIVATIONS",
    "Activation",
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
    "deform_conv2d",
    "deform_conv2d_backward",
    "conv2d_backward",
    "conv_output_shape",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "dropout",
    "dropout_backward",
    "get_activation",
    "group_norm",
    "group_norm_backward",
    "interpolate_bicubic",
    "interpolate_bicubic_backward",
    "interpolate_bilinear",
    "interpolate_bilinear_backward",
    "layer_norm",
    "layer_norm_backward",
    "linear",
    "linear_backward",
    "local_response_norm",
    "local_response_norm_backward",
    "log_softmax",
    "log_softmax_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
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
    "prelu_backward",
    "hardtanh_backward",
    "relu_backward",
    "softmax",
    "softmax_backward",
]
