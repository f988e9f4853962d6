"""Records for cnnmath.ops.interpolate (bilinear resizing)."""

import numpy as np

from cnnmath import reference
from cnnmath.ops import interpolate_bilinear, interpolate_bilinear_backward
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
    ]


def _torch(torch, x, **kwargs):
    if x.dim() == 3:  # PyTorch's bilinear mode wants a batch axis
        return torch.nn.functional.interpolate(x[None], mode="bilinear", **kwargs)[0]
    return torch.nn.functional.interpolate(x, mode="bilinear", **kwargs)


def _errors():
    x = np.zeros((1, 1, 4, 4))
    return [
        ErrorCase("both", lambda: interpolate_bilinear(x, 2, 2), ValueError, "exactly one"),
        ErrorCase("neither", lambda: interpolate_bilinear(x), ValueError, "exactly one"),
        ErrorCase("size", lambda: interpolate_bilinear(x, (2, 0)), ValueError, "size"),
        ErrorCase(
            "factor", lambda: interpolate_bilinear(x, scale_factor=0), ValueError, "scale_factor"
        ),
        ErrorCase("ndim", lambda: interpolate_bilinear(x[0, 0], 2), ValueError, "x: expected"),
        ErrorCase("int", lambda: interpolate_bilinear(x.astype(int), 2), TypeError, "x"),
        ErrorCase(
            "grad shape",
            lambda: interpolate_bilinear_backward(np.zeros((1, 1, 3, 3)), x.shape, size=2),
            ValueError,
            "grad_output",
        ),
    ]


RECORDS = [
    OpRecord(
        name="interpolate_bilinear",
        op=interpolate_bilinear,
        reference=reference.interpolate_bilinear,
        samples=_samples,
        torch=_torch,
        backward=lambda g, x, **kw: interpolate_bilinear_backward(g, x.shape, **kw),
        reference_backward=lambda g, x, **kw: reference.interpolate_bilinear_backward(
            g, x.shape, **kw
        ),
        errors=_errors,
    ),
]
