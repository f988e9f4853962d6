"""Activation functions σ and their derivatives σ′, in one registry.

Every function here is elementwise: it takes a float32 or float64 ``numpy.ndarray`` of any
shape (0-d included) and returns a new array of the same shape and dtype. Each value
function ``name(x)`` sits beside its derivative ``name_grad(x)``, which is σ′ as a function
of the input x (not of the output), so that a backward pass is ``grad_out * name_grad(x)``.
Parameters are PyTorch's defaults, and so are the one-sided derivatives at kinks: relu′(0) = 0,
leaky_relu′(0) = 0.01, elu′(0) = 1, softplus′ = 1 above its threshold.

Every function is written to be safe on the whole float range: no overflow or invalid-value
warnings for any finite input (underflow to 0 in a far tail is the right answer and is not
reported either), and ±inf give the limits.

Non-finite values are PyTorch's: NaN in gives NaN out, and each derivative at NaN is what
PyTorch's (vectorised) backward gives — NaN for most, but 1 for identity and relu,
negative_slope for leaky_relu, 0 for hardtanh, relu6, hardsigmoid and step, whose backward
selects by a comparison that NaN fails. step(NaN) is 0, as ``torch.heaviside``. Where PyTorch
returns an artefact NaN at ±∞ (∞·0, ∞/∞), cnnmath keeps the mathematical limit, and says so in
the function's docstring: gelu, gelu_tanh, silu, mish at −∞ (value and derivative) and +∞
(derivative), hardswish at −∞ (value), softsign at ±∞ (value and derivative). The
smooth ones are evaluated in float64 and rounded once, so float32 results are as good as
float32 allows, and every σ flagged non-decreasing is non-decreasing as computed, to the
last bit, in both dtypes (tested): result 4 then holds exactly, not just up to rounding.

``ACTIVATIONS`` maps each name to an :class:`Activation` record: value, derivative, whether
σ is non-decreasing (the hypothesis of result 4, docs/results.md: max pooling commutes with σ
exactly when σ keeps order), a formula, and for the non-monotone ones the location of the
dip below zero that makes result 4 fail (a window holding that point and one far below it).

Every function runs on all the op's threads (``cnnmath.set_num_threads``) for an x of more than
``_BLOCK`` values: the flattened x is cut into blocks of that size (the clamps, a single
pass: one piece per thread, each of about ``_threads._PASS_VALUES`` values, else one call),
each computed by the same code as a small x, so the result is the same bit for bit at any
thread count (and the same as the one-block result). PReLU cuts along its (batch·channel)
planes and adds its slope gradient's per-plane sums in order.

The code, one concern a module: ``_elementwise`` (checks, the blocked run on the op's threads,
the clamp), ``_smooth`` (float64 pieces the smooth ones share), ``rectifiers``,
``sigmoid_like``, ``exponential``, ``self_gated``, ``shrinks``, ``gated`` (GLU),
``parametric`` (PReLU), ``randomized`` (RReLU, whose slopes are drawn: not in the
registry) and ``registry``; this package re-exports their public names.
"""

from ._elementwise import F as F
from ._elementwise import elementwise as elementwise
from .exponential import SELU_ALPHA, SELU_SCALE, celu, celu_grad, elu, elu_grad, selu, selu_grad
from .gated import glu, glu_backward
from .parametric import prelu, prelu_backward
from .randomized import RRELU_LOWER, RRELU_UPPER, rrelu, rrelu_backward
from .rectifiers import (
    hardtanh,
    hardtanh_backward,
    hardtanh_grad,
    identity,
    identity_grad,
    leaky_relu,
    leaky_relu_grad,
    relu,
    relu6,
    relu6_grad,
    relu_backward,
    relu_grad,
)
from .registry import ACTIVATIONS, Activation, get_activation
from .self_gated import GELU_MINIMUM_AT as GELU_MINIMUM_AT
from .self_gated import GELU_TANH_MINIMUM_AT as GELU_TANH_MINIMUM_AT
from .self_gated import HARDSWISH_MINIMUM_AT as HARDSWISH_MINIMUM_AT
from .self_gated import MISH_MINIMUM_AT as MISH_MINIMUM_AT
from .self_gated import SILU_MINIMUM_AT as SILU_MINIMUM_AT
from .self_gated import (
    gelu,
    gelu_grad,
    gelu_tanh,
    gelu_tanh_grad,
    hardswish,
    hardswish_grad,
    mish,
    mish_grad,
    silu,
    silu_grad,
)
from .shrinks import (
    hardshrink,
    shrink_grad,
    softshrink,
    step,
    step_grad,
    tanhshrink,
    tanhshrink_grad,
    threshold,
    threshold_grad,
)
from .sigmoid_like import (
    hardsigmoid,
    hardsigmoid_grad,
    logsigmoid,
    logsigmoid_grad,
    sigmoid,
    sigmoid_grad,
    softplus,
    softplus_grad,
    softsign,
    softsign_grad,
    tanh,
    tanh_grad,
)

__all__ = [
    "Activation",
    "ACTIVATIONS",
    "glu",
    "glu_backward",
    "hardshrink",
    "shrink_grad",
    "softshrink",
    "tanhshrink",
    "tanhshrink_grad",
    "threshold",
    "threshold_grad",
    "celu",
    "celu_grad",
    "elu",
    "elu_grad",
    "gelu",
    "gelu_grad",
    "gelu_tanh",
    "gelu_tanh_grad",
    "get_activation",
    "hardsigmoid",
    "hardsigmoid_grad",
    "hardswish",
    "hardswish_grad",
    "hardtanh",
    "hardtanh_backward",
    "hardtanh_grad",
    "identity",
    "identity_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "logsigmoid",
    "logsigmoid_grad",
    "mish",
    "mish_grad",
    "prelu",
    "prelu_backward",
    "relu",
    "relu6",
    "relu6_grad",
    "relu_backward",
    "relu_grad",
    "rrelu",
    "rrelu_backward",
    "RRELU_LOWER",
    "RRELU_UPPER",
    "selu",
    "SELU_ALPHA",
    "selu_grad",
    "SELU_SCALE",
    "sigmoid",
    "sigmoid_grad",
    "silu",
    "silu_grad",
    "softplus",
    "softplus_grad",
    "softsign",
    "softsign_grad",
    "step",
    "step_grad",
    "tanh",
    "tanh_grad",
]
