"""The ONNX operators as cnnmath modules: one converter per op type, and small private
modules for what has no ``nn`` layer (broadcasting arithmetic, comparisons and Where,
reshapes, asymmetric padding, Resize in its nearest, linear and cubic modes, DepthToSpace's
other channel order, quantization, TopK, p-norm pooling).

A converter reads one ONNX node — its attributes and its inputs, each either a value the graph
computes at run time (:class:`Ref`) or an array known at load time (:class:`Const`) — and
returns the module that computes the node and the names of the run-time values it reads.
Where an ``nn`` layer computes the op exactly (Conv2d with symmetric padding, BatchNorm2d in
evaluation, LayerNorm, GroupNorm for InstanceNormalization, Upsample for a Resize by powers of
two, the activations, …) the node becomes that layer, so the imported model looks like
one built by hand; otherwise it becomes an :class:`_Op`, whose operands may mix run-time
values, parameters (float initializers: trainable), buffers (Constant nodes) and integer
constants (shapes, axes). Every attribute a converter does not read is refused, so nothing in
a model is silently ignored or approximated; the loader checks a node's inputs against its
op's ONNX signature (``SIGNATURES``) before its converter reads them, so a converter sees
one operand per input name, every required one present.

The package, bottom up: ``_node`` (a node, its operands, refusals), ``_attributes``,
``_helpers`` and ``_types``; ``_module`` (the generic op module ``_Op``); ``_convert`` (what
every converter uses); then one module per family of ops, each holding its private ops and then
their converters (``elementwise``, ``activations``, ``dense``, ``conv``, ``pool``, ``norm``,
``quantize``, ``indexing``, ``reductions``, ``shapes``, ``blocks``, ``resize``); and
``signatures`` (each op's ONNX inputs, checked by ``check_inputs``). This module assembles the
registry ``CONVERTERS`` and re-exports the names the loader, the exporter and the sibling
modules (``_roi``, ``_unpool``, ``_outputs``) import from it.

Later families, each a module of its own: ``selection`` (ScatterElements, GatherND, NonZero,
Compress, OneHot), ``arrays`` (Trilu, EyeLike, CumProd, ReverseSequence, CenterCropPad),
``moments`` (MeanVarianceNormalization, RMSNormalization) and ``bitwise``.
``random`` (RandomNormal, RandomUniform, their *Like forms, Bernoulli, Multinomial): a fresh
draw per call from the op's own generator, never folded at load time. ``control`` holds If
and Loop, whose nodes the loader reads itself (their attributes are graphs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._attributes import Attrs
from ._convert import Built, _generic, _plain, _rank
from ._helpers import _axis, _guard, folding
from ._module import _Op
from ._node import Const, Node, Operand, Ref, Refusal, refuse
from .activations import _ELEMENTARY, _activation, shrink
from .arrays import center_crop_pad, cum_prod, eye_like, reverse_sequence, trilu
from .bitwise import bit_shift, bitwise
from .blocks import col2im, space_depth
from .control import if_, loop
from .conv import conv, conv_transpose, deform_conv
from .dense import einsum, gemm, matmul
from .elementwise import (
    _COMPARISONS,
    binary,
    cast,
    clip,
    compare,
    expand,
    extremum,
    mod,
    pow_,
    predicate,
    prelu,
    size,
    sum_,
    tile,
    where,
)
from .indexing import gather_elements, scatter_nd_, top_k
from .moments import mean_variance_normalization, rms_normalization
from .norm import batch_norm, group_norm, instance_norm, layer_norm, lp_normalization, lrn
from .pool import global_lp_pool, global_pool, lp_pool, max_unpool, pool
from .qcontrib import MICROSOFT
from .qlinear import conv_integer, dynamic_quantize, matmul_integer, qlinear_conv, qlinear_matmul
from .quantize import dequantize, quantize
from .random import bernoulli, multinomial, random_normal_uniform
from .reductions import _REDUCTIONS, arg_extremum, cum_sum, hardmax, loss, reduce, softmax
from .resize import _nearest_source, affine_grid, grid_sample, resize
from .selection import compress, gather_nd, non_zero, one_hot, scatter_elements
from .shapes import (
    _ConstOutput,
    _OnWeights,
    concat,
    constant_of_shape,
    dropout,
    gather,
    identity,
    pad,
    range_,
    reshape,
    shape,
    slice_,
    split,
    transpose,
)
from .signatures import SIGNATURES, VARIADIC, check_inputs

CONVERTERS: dict[str, Callable[[Node, Attrs, list[Operand], dict[str, Any]], Built]] = {
    "Conv": conv,
    "DeformConv": deform_conv,
    "ConvTranspose": conv_transpose,
    "MaxPool": pool,
    "MaxUnpool": max_unpool,
    "AveragePool": pool,
    "GlobalAveragePool": global_pool,
    "GlobalMaxPool": global_pool,
    "BatchNormalization": batch_norm,
    "LayerNormalization": layer_norm,
    "InstanceNormalization": instance_norm,
    "PRelu": prelu,
    "Clip": clip,
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": binary,
    "Sub": binary,
    "Mul": binary,
    "Div": binary,
    "Pow": pow_,
    "LRN": lrn,
    "DepthToSpace": space_depth,
    "Col2Im": col2im,
    "Shrink": shrink,
    "GridSample": grid_sample,
    "AffineGrid": affine_grid,
    "SpaceToDepth": space_depth,
    "Sum": sum_,
    "Where": where,
    "If": if_,  # read by the loader itself (control.taken_branch, control.runtime_if)
    "Loop": loop,  # read by the loader itself (control.LoopStep, control.runtime_loop)
    **{op: compare for op in _COMPARISONS},
    "Flatten": reshape,
    "Reshape": reshape,
    "Squeeze": reshape,
    "Unsqueeze": reshape,
    "Transpose": transpose,
    "Concat": concat,
    "Pad": pad,
    **dict.fromkeys(_REDUCTIONS, reduce),
    "Softmax": softmax,
    "LogSoftmax": softmax,
    "Dropout": dropout,
    "Identity": identity,
    "Shape": shape,
    "Gather": gather,
    "Slice": slice_,
    "Split": split,
    **dict.fromkeys(("Max", "Min", "Mean"), extremum),
    "Expand": expand,
    "Tile": tile,
    "Cast": cast,
    "ArgMax": arg_extremum,
    "ArgMin": arg_extremum,
    "Resize": resize,
    **{
        op: _activation
        for op in (
            "Relu",
            "LeakyRelu",
            "Sigmoid",
            "HardSigmoid",
            "HardSwish",
            "Tanh",
            "Softplus",
            "Softsign",
            "Elu",
            "Selu",
            "Celu",
            "Gelu",
            "Mish",
            "Erf",
            "Abs",
            "Swish",
            "ThresholdedRelu",
            *_ELEMENTARY,
        )
    },
    "CastLike": cast,
    "Size": size,
    **dict.fromkeys(("SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss"), loss),
    "Hardmax": hardmax,
    "LpNormalization": lp_normalization,
    **dict.fromkeys(("IsNaN", "IsInf"), predicate),
    "GroupNormalization": group_norm,
    "QuantizeLinear": quantize,
    "DequantizeLinear": dequantize,
    "TopK": top_k,
    "Mod": mod,
    "CumSum": cum_sum,
    "GatherElements": gather_elements,
    "Range": range_,
    "LpPool": lp_pool,
    "GlobalLpPool": global_lp_pool,
    "ConstantOfShape": constant_of_shape,
    "Einsum": einsum,
    "ScatterND": scatter_nd_,
    "QLinearConv": qlinear_conv,
    "QLinearMatMul": qlinear_matmul,
    "ConvInteger": conv_integer,
    "MatMulInteger": matmul_integer,
    "DynamicQuantizeLinear": dynamic_quantize,
    "ScatterElements": scatter_elements,
    "GatherND": gather_nd,
    "NonZero": non_zero,
    "Compress": compress,
    "OneHot": one_hot,
    "Trilu": trilu,
    "EyeLike": eye_like,
    **dict.fromkeys(
        ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike"),
        random_normal_uniform,
    ),
    "Bernoulli": bernoulli,
    "Multinomial": multinomial,
    "CumProd": cum_prod,
    "ReverseSequence": reverse_sequence,
    "CenterCropPad": center_crop_pad,
    "MeanVarianceNormalization": mean_variance_normalization,
    "RMSNormalization": rms_normalization,
    **dict.fromkeys(("BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"), bitwise),
    "BitShift": bit_shift,
}
"""op type -> converter. ``Constant`` is read by the loader itself."""


# RoiAlign, MaxRoiPool and NonMaxSuppression: the bulk in _roi.py, which imports this
# module's helpers
from .. import _roi  # noqa: E402

CONVERTERS.update(
    RoiAlign=_roi.roi_align,
    MaxRoiPool=_roi.max_roi_pool,
    NonMaxSuppression=_roi.non_max_suppression,
)


__all__ = [
    "Attrs",
    "Built",
    "CONVERTERS",
    "Const",
    "MICROSOFT",
    "Node",
    "Operand",
    "Ref",
    "Refusal",
    "SIGNATURES",
    "VARIADIC",
    "_ConstOutput",
    "_OnWeights",
    "_Op",
    "_axis",
    "_generic",
    "_guard",
    "_nearest_source",
    "_plain",
    "_rank",
    "check_inputs",
    "folding",
    "refuse",
]
