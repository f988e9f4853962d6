"""The inputs of every op read here, from the ONNX operator specification (``SIGNATURES``,
``VARIADIC``), and ``check_inputs``, which the loader calls to check a node's inputs against
its op's signature before its converter reads them.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._node import Node, Operand, refuse
from .elementwise import _COMPARISONS
from .reductions import _REDUCTIONS


def _inputs(node: Node, ins: list[Operand], names: Sequence[str], required: int) -> list[Operand]:
    """The node's inputs, one per name of ``names`` (absent optional ones None); refused when
    there are more than ``names`` or one of the first ``required`` is missing (not listed,
    or listed as the empty name)."""
    if len(ins) > len(names):
        listed = f" ({', '.join(names)})" if names else ""
        raise refuse(
            node,
            f"inputs: expected at most {len(names)}{listed}, got {len(ins)} (opset {node.opset})",
        )
    padded = list(ins) + [None] * (len(names) - len(ins))
    for i, (name, operand) in enumerate(zip(names[:required], padded)):
        if operand is None:
            why = f"input {i} is the empty name" if i < len(ins) else f"{len(ins)} listed"
            raise refuse(
                node,
                f"input {name!r}: expected a value (it is required), got none ({why}; "
                f"required: {', '.join(names[:required])})",
            )
    return padded


def check_inputs(node: Node, ins: list[Operand]) -> list[Operand]:
    """The node's inputs checked against its op's ONNX signature at the node's opset
    (``SIGNATURES``): every required input present, no more than the op has; returned with
    absent optional inputs as None, one per input name (a variadic op's as listed: at least
    one, none empty; Loop's M and cond listed, possibly empty, then any number of values).
    An op type without a signature is returned unchecked (the caller
    refuses it)."""
    versions = SIGNATURES.get(node.op_type)
    if versions is None:
        return list(ins)
    found = next(
        ((spec.split(), req) for since, spec, req in reversed(versions) if since <= node.opset),
        None,
    )
    if found is None:  # the op first appears in a later opset than the file's
        raise refuse(
            node,
            f"not defined before opset {versions[0][0]}, the file's opset is {node.opset}",
        )
    names, required = found
    if node.op_type not in VARIADIC:
        return _inputs(node, ins, names, required)
    leading = len(names) - 1  # optional inputs before the variadic one (Loop's M and cond)
    if leading:  # listed, possibly empty; then any number of values (Loop's v_initial)
        if len(ins) < required:
            raise refuse(
                node,
                f"input {names[len(ins)]!r}: expected it listed (a value or the empty name), "
                f"got {len(ins)} inputs",
            )
        rest = list(ins[leading:])
    else:
        rest = list(ins) or [None]
    for i, operand in enumerate(rest):
        if operand is None:  # ONNX names Sum's data_0, data_1, …; Concat's inputs
            variadic = names[leading]
            label = f"data_{i}" if variadic == "data_0" else f"{variadic}[{i}]"
            why = "the empty name" if ins else "at least one input is required"
            raise refuse(node, f"input {label!r}: expected a value, got none ({why})")
    return list(ins)


# The inputs of every op read here, from the ONNX operator specification: per op, the
# versions of its signature as (the opset it starts at, its input names in order, how many of
# them are required); a later input is optional. The opsets are those the loader reads (11
# on); an input an op gained later (Squeeze's axes at 13) exists from that opset on.
SIGNATURES: dict[str, tuple[tuple[int, str, int], ...]] = {
    **dict.fromkeys(("Add", "Sub", "Mul", "Div", "MatMul", *_COMPARISONS), ((1, "A B", 2),)),
    "Pow": ((1, "X Y", 2),),
    **dict.fromkeys(("Sqrt", "Reciprocal", "Neg", "Floor", "Ceil", "Round", "Not"), ((1, "X", 1),)),
    **dict.fromkeys(("Sin", "Cos", "Sign"), ((1, "input", 1),)),
    **dict.fromkeys(("ArgMax", "ArgMin"), ((1, "data", 1),)),
    "CastLike": ((15, "input target_type", 2),),
    "SoftmaxCrossEntropyLoss": ((12, "scores labels weights", 2),),
    "NegativeLogLikelihoodLoss": ((12, "input target weight", 2),),
    "Size": ((1, "data", 1),),
    **dict.fromkeys(("IsNaN", "IsInf", "Swish"), ((1, "X", 1),)),
    **dict.fromkeys(("Hardmax", "LpNormalization"), ((1, "input", 1),)),
    "ThresholdedRelu": ((10, "X", 1),),
    **dict.fromkeys(("Exp", "Log"), ((1, "input", 1),)),
    **dict.fromkeys(("Conv", "ConvTranspose"), ((1, "X W B", 2),)),
    "DeformConv": ((19, "X W offset B mask", 3),),
    **dict.fromkeys(
        (
            "MaxPool",
            "AveragePool",
            "GlobalAveragePool",
            "GlobalMaxPool",
            "Relu",
            "LeakyRelu",
            "Sigmoid",
            "HardSigmoid",
            "HardSwish",
            "Softplus",
            "Elu",
            "Selu",
            "Celu",
            "Gelu",
            "Mish",
            "Abs",
        ),
        ((1, "X", 1),),
    ),
    **dict.fromkeys(
        (
            "Tanh",
            "Softsign",
            "Erf",
            "Softmax",
            "LogSoftmax",
            "Flatten",
            "Identity",
            "Cast",
            "ConstantOfShape",
        ),
        ((1, "input", 1),),
    ),
    **dict.fromkeys(("Shape", "Transpose"), ((1, "data", 1),)),
    "BatchNormalization": (
        (1, "X scale B mean var", 5),
        (14, "X scale B input_mean input_var", 5),
    ),
    "LayerNormalization": ((1, "X Scale B", 2),),
    "InstanceNormalization": ((1, "input scale B", 3),),
    "LRN": ((1, "X", 1),),
    **dict.fromkeys(("DepthToSpace", "SpaceToDepth"), ((1, "input", 1),)),
    "Col2Im": ((18, "input image_shape block_shape", 3),),
    "Shrink": ((9, "input", 1),),
    "GridSample": ((16, "X grid", 2),),
    "AffineGrid": ((20, "theta size", 2),),
    "Range": ((11, "start limit delta", 3),),
    "GroupNormalization": ((18, "X scale bias", 3),),
    "QuantizeLinear": ((10, "x y_scale y_zero_point", 2),),
    "DequantizeLinear": ((10, "x x_scale x_zero_point", 2),),
    "TopK": ((10, "X K", 2),),
    "QLinearConv": (
        (10, "x x_scale x_zero_point w w_scale w_zero_point y_scale y_zero_point B", 8),
    ),
    "QLinearMatMul": (
        (10, "a a_scale a_zero_point b b_scale b_zero_point y_scale y_zero_point", 8),
    ),
    "ConvInteger": ((10, "x w x_zero_point w_zero_point", 2),),
    "MatMulInteger": ((10, "A B a_zero_point b_zero_point", 2),),
    "DynamicQuantizeLinear": ((11, "x", 1),),
    "MaxUnpool": ((9, "X I output_shape", 2),),
    "Mod": ((10, "A B", 2),),
    "CumSum": ((11, "x axis", 2),),
    "GatherElements": ((11, "data indices", 2),),
    "Einsum": ((12, "Inputs", 1),),
    "ScatterND": ((11, "data indices updates", 3),),
    "RoiAlign": ((10, "X rois batch_indices", 3),),
    "MaxRoiPool": ((1, "X rois", 2),),
    "NonMaxSuppression": (
        (10, "boxes scores max_output_boxes_per_class iou_threshold score_threshold", 2),
    ),
    **dict.fromkeys(("LpPool", "GlobalLpPool"), ((1, "X", 1),)),
    **dict.fromkeys(
        ("Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh"),
        ((7, "input", 1),),
    ),
    "PRelu": ((1, "X slope", 2),),
    "Clip": ((1, "input min max", 1),),
    "Gemm": ((1, "A B C", 2),),
    **dict.fromkeys(("Sum", "Max", "Min", "Mean"), ((1, "data_0", 1),)),
    "Expand": ((8, "input shape", 2),),
    "Tile": ((1, "input repeats", 2),),
    "Concat": ((1, "inputs", 1),),
    "Where": ((1, "condition X Y", 3),),
    "If": ((1, "cond", 1),),
    "Loop": ((1, "M cond v_initial", 2),),
    "Reshape": ((1, "data shape", 2),),
    "Squeeze": ((1, "data", 1), (13, "data axes", 1)),
    "Unsqueeze": ((1, "data", 1), (13, "data axes", 2)),
    "Pad": ((1, "data pads constant_value", 2), (18, "data pads constant_value axes", 2)),
    **dict.fromkeys(set(_REDUCTIONS) - {"ReduceSum"}, ((1, "data", 1), (18, "data axes", 1))),
    "ReduceSum": ((1, "data", 1), (13, "data axes", 1)),
    "Dropout": ((1, "data", 1), (12, "data ratio training_mode", 1)),
    "Gather": ((1, "data indices", 2),),
    "Slice": ((1, "data starts ends axes steps", 3),),
    "Split": ((1, "input split", 1), (2, "input", 1), (13, "input split", 1)),
    "Resize": ((1, "X roi scales sizes", 3), (13, "X roi scales sizes", 1)),
    "Constant": ((1, "", 0),),
    "ScatterElements": ((11, "data indices updates", 3),),
    "GatherND": ((11, "data indices", 2),),
    "NonZero": ((9, "X", 1),),
    "Compress": ((9, "input condition", 2),),
    "OneHot": ((9, "indices depth values", 3),),
    "Trilu": ((14, "input k", 1),),
    "EyeLike": ((9, "input", 1),),
    **dict.fromkeys(("RandomNormal", "RandomUniform"), ((1, "", 0),)),
    **dict.fromkeys(("RandomNormalLike", "RandomUniformLike"), ((1, "input", 1),)),
    "Bernoulli": ((15, "input", 1),),
    "Multinomial": ((7, "input", 1),),
    "CumProd": ((26, "x axis", 2),),
    "ReverseSequence": ((10, "input sequence_lens", 2),),
    "CenterCropPad": ((18, "input_data shape", 2),),
    "MeanVarianceNormalization": ((9, "X", 1),),
    "RMSNormalization": ((23, "X scale", 2),),
    **dict.fromkeys(("BitwiseAnd", "BitwiseOr", "BitwiseXor"), ((18, "A B", 2),)),
    "BitwiseNot": ((18, "X", 1),),
    "BitShift": ((11, "X Y", 2),),
}
#: The ops whose one input name stands for any number of inputs (at least one).
VARIADIC = frozenset({"Sum", "Concat", "Max", "Min", "Mean", "Einsum", "Loop"})
