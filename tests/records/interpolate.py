"""Records for cnnmath.ops.interpolate (bilinear and bicubic resizing)."""

import numpy as np

from cnnmath import reference
from cnnmath.ops import (
    interpolate_bicubic,
    interpolate_bicubic_backward,
    interpolate_bilinear,
    interpolate_bilinear_backward,
)
from opinfo import ErrorCase, OpRecord, Sample, randn


def _samples():
    return [
        Sample("up-2", (randn(2, 3, 4, 5),), dict(scale_factor=2)),
        Sample("size", (randn(1, 2, 5, 4, seed=1),), dict(size=(7, 3))),
        Sample("shrink", (randn(2, 2, 7, 9, seed=2),), dict(scale_factor=(0.5, 0.7))),
        Sample("corners", (randn(1, 3, 4, 6, seed=3),), dict(size=(6, 11), align_corners=True)),
        Sample("one-pixel", (randn(2, 1, 1, 1, seed=4),), dict(size=(3, 2))),
        Sample("to-one", (randn(1, 2, 5, 4, seed=5),), dict(size=1, align_corners=True)),
        Sample("unbatched", (randn(3, 4, 4, seed=6),), dict(scale_factor=1.5)),
        Sample("keeps-length", (randn(1, 2, 3, 4, seed=7),), dict(scale_factor=1.3)),
        *_antialias_samples(),
    ]


def _antialias_samples():
    """antialias=True (PyTorch's _upsample_*_aa): shrinking by 2, to a size, one axis up and
    one down, align_corners, far shrinking (wide windows), one output row, unbatched. No
    width-1 output (PyTorch 2.13's forward repeats its first row there) and no kept length
    under a factor ≠ 1 (its backward resamples that axis, its forward copies it)."""
    aa = dict(antialias=True)
    return [
        Sample("aa-half", (randn(2, 3, 8, 10, seed=10),), dict(scale_factor=0.5, **aa)),
        Sample("aa-size", (randn(1, 2, 9, 7, seed=11),), dict(size=(4, 3), **aa)),
        Sample("aa-mixed", (randn(1, 2, 5, 12, seed=12),), dict(size=(11, 4), **aa)),
        Sample(
            "aa-corners",
            (randn(1, 2, 9, 8, seed=13),),
            dict(size=(4, 3), align_corners=True, **aa),
        ),
        Sample("aa-far", (randn(1, 1, 20, 15, seed=14),), dict(size=(3, 2), **aa)),
        Sample("aa-one-row", (randn(1, 2, 6, 7, seed=15),), dict(size=(1, 3), **aa)),
        Sample("aa-unbatched", (randn(3, 7, 9, seed=16),), dict(scale_factor=(0.4, 0.6), **aa)),
    ]


def _cubic_samples():
    return [
        *_samples(),
        Sample("far-shrink", (randn(1, 2, 9, 8, seed=8),), dict(size=(2, 3))),
        Sample("edges", (randn(1, 1, 2, 3, seed=9),), dict(scale_factor=(3.5, 2.5))),
    ]


def _torch_in(mode):
    def run(torch, x, **kwargs):
        if x.dim() == 3:  # PyTorch's interpolating modes want a batch axis
            return torch.nn.functional.interpolate(x[None], mode=mode, **kwargs)[0]
        return torch.nn.functional.interpolate(x, mode=mode, **kwargs)

    return run


def _errors_of(forward, backward):
    def errors():
        x = np.zeros((1, 1, 4, 4))
        return [
            ErrorCase("both", lambda: forward(x, 2, 2), ValueError, "exactly one"),
            ErrorCase("neither", lambda: forward(x), ValueError, "exactly one"),
            ErrorCase("size", lambda: forward(x, (2, 0)), ValueError, "size"),
            ErrorCase("factor", lambda: forward(x, scale_factor=0), ValueError, "scale_factor"),
            ErrorCase("ndim", lambda: forward(x[0, 0], 2), ValueError, "x: expected"),
            ErrorCase("int", lambda: forward(x.astype(int), 2), TypeError, "x"),
            ErrorCase("antialias", lambda: forward(x, 2, antialias="yes"), TypeError, "antialias"),
            ErrorCase(
                "grad antialias",
                lambda: backward(np.zeros((1, 1, 2, 2)), x.shape, size=2, antialias=1),
                TypeError,
                "antialias",
            ),
            ErrorCase(
                "grad shape",
                lambda: backward(np.zeros((1, 1, 3, 3)), x.shape, size=2),
                ValueError,
                "grad_output",
            ),
        ]

    return errors


RECORDS = [
    OpRecord(
        name="interpolate_bilinear",
        op=interpolate_bilinear,
        reference=reference.interpolate_bilinear,
        samples=_samples,
        torch=_torch_in("bilinear"),
        backward=lambda g, x, **kw: interpolate_bilinear_backward(g, x.shape, **kw),
        reference_backward=lambda g, x, **kw: reference.interpolate_bilinear_backward(
            g, x.shape, **kw
        ),
        errors=_errors_of(interpolate_bilinear, interpolate_bilinear_backward),
    ),
    OpRecord(
        name="interpolate_bicubic",
        op=interpolate_bicubic,
        reference=reference.interpolate_bicubic,
        samples=_cubic_samples,
        torch=_torch_in("bicubic"),
        backward=lambda g, x, **kw: interpolate_bicubic_backward(g, x.shape, **kw),
        reference_backward=lambda g, x, **kw: reference.interpolate_bicubic_backward(
            g, x.shape, **kw
        ),
        errors=_errors_of(interpolate_bicubic, interpolate_bicubic_backward),
    ),
]
