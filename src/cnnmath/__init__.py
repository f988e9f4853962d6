"""cnnmath — the mathematics of convolutional networks, executable, verified and fast, in NumPy.

The public face of the package: everything here is re-exported from its own module. The
other public modules (``cnnmath.onnx``, ``cnnmath.models``, ``cnnmath.weights``,
``cnnmath.tiled``, …) load on first use, so ``import cnnmath`` stays light and
``cnnmath.onnx.load(...)`` works after it all the same.
"""

import importlib as _importlib
from types import ModuleType as _ModuleType
from typing import TYPE_CHECKING

from . import filters, losses, nn, optim
from .losses import cross_entropy, nll_loss
from .mlp import MLP, Jacobians
from .ops import (
    ACTIVATIONS,
    Activation,
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool3d,
    adaptive_avg_pool3d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    adaptive_max_pool3d,
    adaptive_max_pool3d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool3d,
    avg_pool3d_backward,
    batch_norm,
    batch_norm_backward,
    conv2d,
    conv2d_backward,
    conv3d,
    conv3d_backward,
    conv_output_shape,
    conv_transpose2d,
    conv_transpose2d_backward,
    conv_transpose3d,
    conv_transpose3d_backward,
    dropout,
    dropout_backward,
    get_activation,
    group_norm,
    group_norm_backward,
    hardtanh_backward,
    interpolate,
    interpolate_backward,
    layer_norm,
    layer_norm_backward,
    linear,
    linear_backward,
    log_softmax,
    log_softmax_backward,
    max_pool2d,
    max_pool2d_backward,
    max_pool3d,
    max_pool3d_backward,
    max_unpool2d,
    max_unpool2d_backward,
    max_unpool3d,
    max_unpool3d_backward,
    prelu,
    prelu_backward,
    relu,
    relu_backward,
    rms_norm,
    rms_norm_backward,
    softmax,
    softmax_backward,
)
from .ops._random import manual_seed
from .receptive import receptive_field
from .summary import summary
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"


#: The public modules ``import cnnmath`` leaves for their first use: ``cnnmath.onnx.load``
#: works after it all the same (PEP 562's module ``__getattr__``).
_ON_FIRST_USE = (
    "attribution",
    "augment",
    "bench",
    "checkpoint",
    "cli",
    "commands",
    "data",
    "explain",
    "explore",
    "gradcheck",
    "images",
    "models",
    "onnx",
    "recipes",
    "reference",
    "results",
    "testing",
    "tiled",
    "tiled_io",
    "tour",
    "train",
    "weights",
)

if TYPE_CHECKING:  # type checkers see them imported: a misspelt cnnmath.<name> stays an error
    from . import attribution as attribution
    from . import augment as augment
    from . import bench as bench
    from . import checkpoint as checkpoint
    from . import cli as cli
    from . import commands as commands
    from . import data as data
    from . import explain as explain
    from . import explore as explore
    from . import gradcheck as gradcheck
    from . import images as images
    from . import models as models
    from . import onnx as onnx
    from . import recipes as recipes
    from . import reference as reference
    from . import results as results
    from . import testing as testing
    from . import tiled as tiled
    from . import tiled_io as tiled_io
    from . import tour as tour
    from . import train as train
    from . import weights as weights
else:

    def __getattr__(name: str) -> _ModuleType:
        """``cnnmath.<module>`` for a public module not imported yet: imported now."""
        if name in _ON_FIRST_USE:
            return _importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*globals(), *_ON_FIRST_USE})


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
    "cross_entropy",
    "dropout",
    "dropout_backward",
    "filters",
    "get_activation",
    "get_num_threads",
    "group_norm",
    "group_norm_backward",
    "layer_norm",
    "layer_norm_backward",
    "rms_norm",
    "rms_norm_backward",
    "interpolate",
    "interpolate_backward",
    "linear",
    "linear_backward",
    "log_softmax",
    "log_softmax_backward",
    "losses",
    "manual_seed",
    "max_pool2d",
    "max_pool2d_backward",
    "max_unpool2d",
    "max_unpool2d_backward",
    "max_unpool3d",
    "max_unpool3d_backward",
    "nll_loss",
    "nn",
    "optim",
    "prelu",
    "prelu_backward",
    "receptive_field",
    "hardtanh_backward",
    "relu",
    "relu_backward",
    "set_num_threads",
    "softmax",
    "softmax_backward",
    "summary",
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
]
