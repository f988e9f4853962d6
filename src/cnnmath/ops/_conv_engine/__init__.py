"""The convolution engine: the valid cross-correlation of a padded batch, its thirteen kernels
(methods), the rule that picks one per shape (`select_method`) and the one entry point every
convolution goes through (`_correlate`); beside them `depth_to_space`, the adjoint where the
windows tile the input.

``cnnmath.ops.conv`` holds the public ops and their geometry (padding, bands of rows, stride
phases); everything here sees an already padded batch (or a window of one) and a filter,
with a leading group axis.

One concern a module: ``_dispatch`` (the entry point `_correlate`, the table `METHODS`,
`select_method` and its thresholds, the grouped and padded forms of the call); the kernels by
family, ``_products`` ("im2col", "im2col_bl", "shifted"), ``_elementwise`` ("taps",
"planes", "einsum_cl"), ``_filter_gradient`` ("im2row", "im2row_sum", "im2row_cl",
"per_output", "dots") and ``_input_gradient`` ("scatter", "scatter_rows",
`depth_to_space`); what they share, ``_blocks`` (cache budgets, scratch buffers, products cut
into blocks, chunks) and ``_flat`` (the flat stride-phase layout). This package re-exports
the names ``conv`` reads through it; ``conv`` imports the rest from the module that owns
them. A module-level name (a budget, a kernel) is bound in each module
that reads it: a test that replaces one sets it in each of them.
"""

from ._blocks import _all_finite
from ._dispatch import COPIES_WINDOW, METHODS, select_method
from ._input_gradient import depth_to_space

__all__ = ["COPIES_WINDOW", "METHODS", "_all_finite", "depth_to_space", "select_method"]
