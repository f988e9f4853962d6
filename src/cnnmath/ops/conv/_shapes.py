"""What a convolution would do, without computing: its plans (`dispatch_plan`) and its
output shape (`conv_output_shape`).
"""

from __future__ import annotations

from ..._checks import int_pair
from .._geometry import check_output_size, resolve_padding
from ._arguments import _conv_shapes, _groups
from ._plan import _forward_plan, _grad_weight_plan, _input_plan

# ---------------------------------------------------------------------------------------------
# Plans and shapes without computing


def dispatch_plan(
    x_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    itemsize: int = 4,
) -> dict[str, list[str]]:
    """The methods ``conv2d`` and ``conv2d_backward`` run on these shapes: their plans.

    Returns {"forward": [m per band], "grad_input": [m per stride phase and band],
    "grad_weight": [m per band]}, built by the very functions whose plans the ops execute
    (``itemsize``: 4 for float32, 8 for float64); nothing is computed. Two exceptions
    depend on the data, not the shapes: a non-finite weight sends grad_input's windowed
    correlations to "scatter", and a non-finite result of "per_output" or "dots" is
    recomputed by "im2row". For the benchmark table and the test that pins each benchmark
    shape's choice. (``conv_transpose2d`` on the output's shape runs conv2d's "grad_input"
    plan forward; its backward runs "forward" and "grad_weight".)
    """
    func = "dispatch_plan"
    x4 = tuple(x_shape) if len(x_shape) == 4 else (1, *x_shape)
    B, C_in, m, n = x4
    C_out, C_g, f1, f2 = weight_shape
    G = _groups(groups, {"C_in": C_in, "C_out": C_out}, func=func)
    s, d, pads, out_hw = _conv_shapes(
        x4, tuple(weight_shape), stride, padding, dilation, itemsize, func=func
    )
    w4 = (C_out, C_g, f1, f2)
    (pt, _), (pl, _) = pads
    forward = _forward_plan(x4, w4, s, d, pads, out_hw, G, itemsize)
    grad_weight = _grad_weight_plan(x4, w4, s, d, pads, out_hw, G, itemsize)
    grad_input = _input_plan((B, C_out, *out_hw), w4, s, d, (pt, pl), (m, n), G, itemsize)
    return {
        "forward": [band.method for band in forward],
        "grad_input": [band.method for _, bands in grad_input for band in bands],
        "grad_weight": [band.method for band in grad_weight],
    }


def conv_output_shape(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, ...]:
    """The shape ``conv2d`` returns for inputs of these shapes, without computing anything.

    H_out = floor((m + p_top + p_bottom - d(f1-1) - 1)/s) + 1, likewise W_out (for any
    ``groups``: the output has weight_shape[0] channels).

    >>> conv_output_shape((8, 3, 32, 32), (16, 3, 5, 5), padding="same")
    (8, 16, 32, 32)
    """
    func = "conv_output_shape"
    s = int_pair("stride", stride, minimum=1, func=func)
    d = int_pair("dilation", dilation, minimum=1, func=func)
    kernel = (weight_shape[2], weight_shape[3])
    pads = resolve_padding(padding, kernel, d, s, func=func)
    in_hw = (input_shape[-2], input_shape[-1])
    out_hw = check_output_size(in_hw, kernel, s, pads, d, func=func)
    return (*input_shape[:-3], weight_shape[0], *out_hw)
