"""Volumetric (3-D) convolution and pooling, as ``torch.nn.functional``'s, for video and medical
volumes (N, C, D, H, W), with the backward passes.

Notation as ``ops.conv``'s, one axis more: input X (B, C_in, D, m, n), filter w (C_out, C_in/groups,
f0, f1, f2), stride s = (s0, s1, s2), padding p, dilation d, all 1-based in the formulas:

    Y[β,o,t,i,j] = Σ_g Σ_e Σ_a Σ_c w[o,g,e,a,c]
                   · X̃[β, k·C_g + g, s0(t-1)+d0(e-1)+1, s1(i-1)+d1(a-1)+1, s2(j-1)+d2(c-1)+1] + b[o]

Output size per axis floor((size + p_before + p_after - d(f-1) - 1)/s) + 1, as in 2-D.

How it is computed: a 3-D correlation is the sum over the f0 depth taps e of 2-D correlations.
For tap e, output depth t reads input depth u = s0·t + d0·e - p0 (0-based); the outputs whose u
falls inside x form one run t = lo .. hi-1, reading u = u_lo, u_lo + s0, ... (`_depth_taps`;
the others read depth padding: zeros for a convolution or an average, nothing for a maximum).
Those input slices, with the depth folded into the batch axis, go through the tuned 2-D
``conv2d`` with the filter slice w[:, :, e]; the backward likewise through ``conv2d_backward``,
each tap's filter gradient being w[:, :, e]'s and its input gradient added back into its depth
slices. Pooling is the same: average pooling sums the depth taps first, then pools each
(depth position, channel) plane in 2-D; max pooling's choice (``return_indices``, backward) runs
the 2-D choice per depth tap and keeps, across taps, the earlier one unless a later tap is
greater or NaN — exactly PyTorch's walk of the window in (depth, row, column) order. The loops
run over kernel taps only, never over voxels, batch elements, depth positions or groups.
"""

from __future__ import annotations

from .adaptive_pool import (
    adaptive_avg_pool3d,
    adaptive_avg_pool3d_backward,
    adaptive_max_pool3d,
    adaptive_max_pool3d_backward,
)
from .avg_pool import avg_pool3d, avg_pool3d_backward
from .conv import conv3d, conv3d_backward
from .max_pool import max_pool3d, max_pool3d_backward
from .unpool import max_unpool3d, max_unpool3d_backward

__all__ = [
    "adaptive_avg_pool3d",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_backward",
    "avg_pool3d",
    "avg_pool3d_backward",
    "conv3d",
    "conv3d_backward",
    "max_pool3d",
    "max_pool3d_backward",
    "max_unpool3d",
    "max_unpool3d_backward",
]
