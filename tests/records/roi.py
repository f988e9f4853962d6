"""Records for cnnmath.ops.roi: roi_align and roi_pool (gradients in the input; the boxes get
none, as in torchvision).

torchvision's C++ RoI ops do not load beside the CPU torch here, so the witnesses are the
literal loops of cnnmath.reference.roi (a transcription of torchvision's C++ kernels) and finite
differences; tests/test_roi.py adds torchvision's Python roi_align and tests/test_onnx_roi.py
onnxruntime's RoiAlign and MaxRoiPool. roi_pool is piecewise linear in x: a max whose winner
changes between the finite-difference steps would break the check, so its samples are random
normal data (ties and near-ties have probability ~0; tests/test_roi.py checks exact ties)."""

import numpy as np

from cnnmath import reference
from cnnmath.ops import roi_align, roi_align_backward, roi_pool, roi_pool_backward
from opinfo import ErrorCase, OpRecord, Sample, randn

_BOXES = np.array(
    [
        [0, 1.0, 1.0, 6.0, 5.0],
        [1, 0.3, 2.2, 10.5, 8.7],
        [1, -3.0, -2.0, 4.0, 5.0],  # partly outside
        [0, 8.0, 6.0, 15.0, 12.0],  # partly outside, past the far edges
        [1, 2.0, 2.0, 2.0, 2.0],  # zero size
    ]
)


def _align_samples():
    samples = []
    for i, (size, scale, ratio, aligned) in enumerate(
        [((2, 3), 1.0, -1, False), ((3, 3), 0.5, 2, True), ((2, 2), 0.25, 0, True)]
    ):
        kw = dict(output_size=size, spatial_scale=scale, sampling_ratio=ratio, aligned=aligned)
        boxes = _BOXES * np.array([1, 1 / scale, 1 / scale, 1 / scale, 1 / scale])
        samples.append(
            Sample(f"{size}-{scale}-{ratio}-{aligned}", (randn(2, 3, 9, 11, seed=i), boxes), kw)
        )
    return samples


def _pool_samples():
    return [
        Sample(
            f"{size}-{scale}",
            (randn(2, 2, 9, 11, seed=5 + i), _BOXES * np.r_[1, [1 / scale] * 4]),
            dict(output_size=size, spatial_scale=scale),
        )
        for i, (size, scale) in enumerate([((2, 3), 1.0), ((3, 3), 0.5)])
    ]


def _errors(op):
    x = np.zeros((2, 1, 4, 4))
    return [
        ErrorCase("boxes shape", lambda: op(x, np.zeros((1, 4)), 2), ValueError, r"\(K, 5\)"),
        ErrorCase(
            "batch index",
            lambda: op(x, np.array([[2, 0, 0, 1, 1.0]]), 2),
            ValueError,
            r"batch indices.*\[0, 2\)",
        ),
        ErrorCase(
            "output_size", lambda: op(x, np.zeros((1, 5)), (2, 0)), ValueError, "output_size"
        ),
        ErrorCase("int input", lambda: op(x.astype(int), np.zeros((1, 5)), 2), TypeError, "input"),
    ]


RECORDS = [
    OpRecord(
        name="roi_align",
        op=roi_align,
        reference=reference.roi_align,
        samples=_align_samples,
        backward=lambda g, x, boxes, **kw: roi_align_backward(g, x.shape, boxes, **kw),
        reference_backward=lambda g, x, boxes, **kw: reference.roi_align_backward(
            g, x.shape, boxes, **kw
        ),
        grad_args=(0,),
        errors=lambda: (
            _errors(roi_align)
            + [
                ErrorCase(
                    "sampling_ratio",
                    lambda: roi_align(
                        np.zeros((1, 1, 2, 2)), np.zeros((1, 5)), 2, sampling_ratio=None
                    ),
                    TypeError,
                    "sampling_ratio",
                ),
            ]
        ),
        nonfinite=(),
    ),
    OpRecord(
        name="roi_pool",
        op=roi_pool,
        reference=reference.roi_pool,
        samples=_pool_samples,
        backward=lambda g, x, boxes, **kw: roi_pool_backward(
            g, x.shape, boxes, roi_pool(x, boxes, **kw)[1]
        ),
        reference_backward=lambda g, x, boxes, **kw: reference.roi_pool_backward(
            g, x.shape, boxes, reference.roi_pool(x, boxes, **kw)[1]
        ),
        grad_args=(0,),
        errors=lambda: _errors(roi_pool),
        nonfinite=(),
    ),
]
