"""Layers with explicit forward and backward passes, composed by ``Sequential`` and ``Graph``.

Every layer is a :class:`Module`, with one concern per file as in ``torch.nn`` (module,
parameter, conv, linear, pooling, padding, activation, dropout, flatten, container, graph). A layer
computes ``forward_ctx(x) -> (y, ctx)``, keeping what its backward needs from that call in
``ctx``, and ``backward_ctx(ctx, G)``, with ``G = ∂ℓ/∂y`` of the output's shape, returns
``∂ℓ/∂x`` and *adds* each parameter's gradient into ``parameter.grad`` (the chain rule's sum
over every use, as PyTorch's autograd accumulates). ``model(x)`` and ``model.backward(G)``
do the same for one top-level call. A :class:`Graph` wires modules into a DAG (residual
sums, concatenations, shared layers); ``Module.walk()`` lists any model node by node down
to its layers and ops. A model written by hand keeps its blocks in a :class:`ModuleList` or
:class:`ModuleDict`, which register them without calling them, and loose parameters in a
:class:`ParameterList` or :class:`ParameterDict`. The lazy layers (:mod:`cnnmath.nn.lazy`:
``LazyConv2d``, ``LazyLinear``, ``LazyBatchNorm2d``, …) read their input size off their first
input, as d2l.ai's models are written. The numbers come from
:mod:`cnnmath.ops`; this package only wires them up and keeps state.

Parameter names, shapes, default initialisation and ``repr`` follow ``torch.nn``: a
``Sequential`` here and the same architecture in PyTorch have the same ``state_dict`` keys
("0.weight", "0.bias", "3.weight", …) and shapes, so weights move between them as they are.

Default initialisation (PyTorch's ``reset_parameters``): the weight is
``kaiming_uniform_(a=√5)``, whose bound gain·√(3/fan_in) with gain = √(2/(1 + a²)) = √(1/3)
reduces to 1/√fan_in, and the bias is U(−1/√fan_in, 1/√fan_in), so

    weight, bias ~ U(−1/√fan_in, 1/√fan_in),   fan_in = C_in·f1·f2 (Conv2d), in_features (Linear).

Randomness comes from ``rng=``: a ``numpy.random.Generator``, an int seed, or None (fresh
entropy). The draws are NumPy's, so a seed reproduces weights here, not PyTorch's own draws.
:mod:`cnnmath.nn.init` re-initialises a weight in place as ``torch.nn.init`` does
(``kaiming_normal_``, ``xavier_uniform_``, ``dirac_``, …); :mod:`cnnmath.nn.utils` clips
gradients (``clip_grad_norm_``, ``clip_grad_value_``) and flattens parameters to one vector.
"""

from __future__ import annotations

from . import init, utils
from ._common import as_generator
from .activation import (
    ACTIVATION_LAYERS,
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softmax2d,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
    activation_layer,
)
from .container import Sequential
from .conv import Conv2d, ConvTranspose2d
from .deform_conv import DeformConv2d
from .distance import CosineSimilarity, PairwiseDistance
from .dropout import (
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    FeatureAlphaDropout,
    StochasticDepth,
)
from .flatten import Flatten, Permute, Unflatten
from .fold import fold_batch_norm
from .grad_mode import enable_grad, grad_enabled, no_grad
from .graph import Add, Concat, Graph, Mul, Narrow
from .layers1d import (
    AdaptiveAvgPool1d,
    AdaptiveMaxPool1d,
    AvgPool1d,
    Conv1d,
    ConvTranspose1d,
    MaxPool1d,
)
from .layers3d import (
    AdaptiveAvgPool3d,
    AdaptiveMaxPool3d,
    AvgPool3d,
    BatchNorm3d,
    Conv3d,
    ConvTranspose3d,
    Dropout3d,
    MaxPool3d,
)
from .lazy import (
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyBatchNorm3d,
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
    LazyLinear,
)
from .linear import Linear
from .lists import ModuleDict, ModuleList
from .module import IncompatibleKeys, Module, Node, StateDictError
from .module import key_mismatch as key_mismatch  # for cnnmath.weights
from .normalization import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    LayerNorm2d,
    LocalResponseNorm,
    RMSNorm,
)
from .padding import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    Pad1d,
    Pad2d,
    Pad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from .parameter import Parameter, UninitializedParameter
from .parameter_lists import ParameterDict, ParameterList
from .pixel_shuffle import ChannelShuffle, PixelShuffle, PixelUnshuffle
from .pooling import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    FractionalMaxPool2d,
    FractionalMaxPool3d,
    LPPool1d,
    LPPool2d,
    LPPool3d,
    MaxPool2d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
)
from .roi import RoIAlign, RoIPool
from .sampling import AffineGrid, GridSample
from .unfold import Fold, Unfold
from .upsample import ResizeLike, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = [
    "CosineSimilarity",
    "PairwiseDistance",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
    "LazyLinear",
    "ParameterDict",
    "ParameterList",
    "UninitializedParameter",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool3d",
    "AvgPool3d",
    "BatchNorm3d",
    "Conv3d",
    "Dropout3d",
    "MaxPool3d",
    "LayerNorm2d",
    "Permute",
    "Narrow",
    "StochasticDepth",
    "Mul",
    "AffineGrid",
    "GridSample",
    "GLU",
    "Hardshrink",
    "Softmax2d",
    "Softmin",
    "Softshrink",
    "Tanhshrink",
    "Threshold",
    "ChannelShuffle",
    "CircularPad1d",
    "ConstantPad1d",
    "ConvTranspose1d",
    "Dropout1d",
    "InstanceNorm1d",
    "Pad1d",
    "ReflectionPad1d",
    "ReplicationPad1d",
    "Unflatten",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
    "ZeroPad1d",
    "InstanceNorm3d",
    "Pad3d",
    "ZeroPad3d",
    "ConstantPad3d",
    "ReflectionPad3d",
    "ReplicationPad3d",
    "CircularPad3d",
    "fold_batch_norm",
    "init",
    "utils",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "CELU",
    "GroupNorm",
    "InstanceNorm2d",
    "Hardsigmoid",
    "Hardswish",
    "LayerNorm",
    "RMSNorm",
    "LocalResponseNorm",
    "PReLU",
    "ReLU6",
    "SELU",
    "Softsign",
    "Add",
    "Concat",
    "Graph",
    "Node",
    "ELU",
    "GELU",
    "ACTIVATION_LAYERS",
    "AvgPool2d",
    "Conv1d",
    "Conv2d",
    "DeformConv2d",
    "RoIAlign",
    "RoIPool",
    "MaxPool1d",
    "AvgPool1d",
    "AdaptiveAvgPool1d",
    "AdaptiveMaxPool1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "AlphaDropout",
    "Dropout",
    "Dropout2d",
    "FeatureAlphaDropout",
    "Hardtanh",
    "LogSigmoid",
    "LogSoftmax",
    "Softmax",
    "Flatten",
    "Fold",
    "Unfold",
    "Identity",
    "IncompatibleKeys",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "Mish",
    "Module",
    "no_grad",
    "enable_grad",
    "grad_enabled",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "PixelShuffle",
    "PixelUnshuffle",
    "ReLU",
    "RReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softplus",
    "StateDictError",
    "Tanh",
    "Upsample",
    "ResizeLike",
    "CircularPad2d",
    "ConstantPad2d",
    "Pad2d",
    "ReflectionPad2d",
    "ReplicationPad2d",
    "ZeroPad2d",
    "activation_layer",
    "as_generator",
]
