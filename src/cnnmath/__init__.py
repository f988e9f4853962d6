"""cnnmath — the mathematics of convolutional networks, executable, verified and fast, in NumPy.

The public face of the package: everything here is re-exported from its own module.
"""

from . import filters, losses, nn, optim
from .mlp import MLP, Jacobians
from .ops import (
    ACTIVATIONS,
    Activation,
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    batch_norm,
    batch_norm_backward,
    conv2d,
    conv2d_backward,
    conv_output_shape,
    conv_transpose2d,
    conv_transpose2d_backward,
    get_activation,
    group_norm,
    group_norm_backward,
    layer_norm,
    layer_norm_backward,
    linear,
    linear_backward,
    max_pool2d,
    max_pool2d_backward,
    max_unpool2d,
    max_unpool2d_backward,
)
from .receptive import receptive_field

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Jacobians",
    "MLP",
    "__version__",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "batch_norm",
    "batch_norm_backward",
    "conv2d",
    "conv2d_backward",
    "conv_output_shape",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "filters",
    "get_activation",
    "group_norm",
    "group_norm_backward",
    "layer_norm",
    "layer_norm_backward",
    "linear",
    "linear_backward",
    "losses",
    "max_pool2d",
    "max_pool2d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
    "nn",
    "optim",
    "receptive_field",
]
