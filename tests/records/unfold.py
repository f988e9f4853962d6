"""Records for cnnmath.ops.unfold (im2col and col2im)."""

import numpy as np

from cnnmath import reference
from cnnmath.ops import fold, fold_backward, unfold, unfold_backward
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional

# (kernel_size, dilation, padding, stride) over an image of (H, W), and the windows' count
_GEOMETRIES = [
    ("3x3", (5, 6), dict(kernel_size=3)),
    ("2x3-strided", (7, 8), dict(kernel_size=(2, 3), stride=(2, 3))),
    ("dilated-padded", (6, 5), dict(kernel_size=2, dilation=(2, 1), padding=(1, 2))),
    ("overlapping-s2", (7, 7), dict(kernel_size=3, stride=2, padding=1)),
    ("tiles", (6, 4), dict(kernel_size=2, stride=2)),
    ("gaps", (9, 9), dict(kernel_size=2, stride=3)),
]


def _unfold_samples():
    samples = [
        Sample(name, (randn(2, 3, *hw, seed=i),), kw)
        for i, (name, hw, kw) in enumerate(_GEOMETRIES)
    ]
    samples.append(Sample("unbatched", (randn(2, 5, 4, seed=9),), dict(kernel_size=(3, 2))))
    return samples


def _fold_samples():
    samples = []
    for i, (name, hw, kw) in enumerate(_GEOMETRIES):
        cols = unfold(np.zeros((1, 3, *hw)), **kw)  # the column count of this geometry
        samples.append(
            Sample(name, (randn(2, *cols.shape[1:], seed=i),), dict(output_size=hw, **kw))
        )
    samples.append(
        Sample("unbatched", (randn(12, 9, seed=9),), dict(output_size=(5, 4), kernel_size=(3, 2)))
    )
    return samples


def _unfold_errors():
    x = np.zeros((1, 2, 4, 4))
    return [
        ErrorCase("kernel", lambda: unfold(x, 0), ValueError, "kernel_size: expected values >= 1"),
        ErrorCase("too-big", lambda: unfold(x, 5), ValueError, "kernel_size: effective kernel"),
        ErrorCase("padding", lambda: unfold(x, 2, padding=-1), ValueError, "padding: expected"),
        ErrorCase("stride", lambda: unfold(x, 2, stride=(1, 0)), ValueError, "stride: expected"),
        ErrorCase("ndim", lambda: unfold(x[0, 0], 2), ValueError, r"x: expected \(N, C, H, W\)"),
        ErrorCase("int", lambda: unfold(x.astype(int), 2), TypeError, "x: expected"),
        ErrorCase(
            "grad shape",
            lambda: unfold_backward(np.zeros((1, 8, 8)), (1, 2, 4, 4), 2),
            ValueError,
            r"grad_output: expected the shape of unfold's output \(1, 8, 9\)",
        ),
    ]


def _fold_errors():
    cols = np.zeros((1, 8, 9))
    return [
        ErrorCase("rows", lambda: fold(cols, 4, 3), ValueError, "multiple of k1·k2 = 9"),
        ErrorCase("columns", lambda: fold(cols, 5, 2), ValueError, "expected L = 4·4 = 16"),
        ErrorCase("output", lambda: fold(cols, 0, 2), ValueError, "output_size: expected"),
        ErrorCase(
            "ndim", lambda: fold(cols[0, 0], 4, 2), ValueError, r"x: expected \(N, C·k1·k2, L\)"
        ),
        ErrorCase("float", lambda: fold(cols, 4, 2.0), TypeError, "kernel_size: expected"),
    ]


def _geometry(kw):
    return {k: v for k, v in kw.items() if k != "output_size"}


RECORDS = [
    OpRecord(
        name="unfold",
        op=unfold,
        reference=reference.unfold,
        samples=_unfold_samples,
        torch=torch_functional("unfold"),
        backward=lambda g, x, **kw: unfold_backward(g, x.shape, **kw),
        reference_backward=lambda g, x, **kw: reference.unfold_backward(g, x.shape, **kw),
        errors=_unfold_errors,
    ),
    OpRecord(
        name="fold",
        op=fold,
        reference=reference.fold,
        samples=_fold_samples,
        torch=torch_functional("fold"),
        backward=lambda g, x, **kw: fold_backward(g, **_geometry(kw)),
        reference_backward=lambda g, x, **kw: reference.fold_backward(g, **_geometry(kw)),
        errors=_fold_errors,
    ),
]
