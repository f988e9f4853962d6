"""Records for cnnmath.ops.resize: ``interpolate``, PyTorch's ``F.interpolate`` in every mode.

Checked against cnnmath.reference.interpolate's loops (every output element's taps and
weights written out, per axis), against PyTorch (float64 and float32) and by finite
differences.
"""

import numpy as np

from cnnmath import reference
from cnnmath.ops import interpolate, interpolate_backward
from opinfo import ErrorCase, OpRecord, Sample, randn


def _samples():
    nearest = [
        Sample(f"{mode}-{name}", (x,), dict(mode=mode, **kw))
        for mode in ("nearest", "nearest-exact")
        for name, x, kw in [
            ("up-2", randn(2, 3, 4, 5), dict(scale_factor=2)),
            ("factor-1.7", randn(1, 2, 5, 6, seed=1), dict(scale_factor=(1.7, 0.6))),
            ("size", randn(1, 2, 5, 4, seed=2), dict(size=(7, 3))),
            ("1d", randn(2, 3, 7, seed=3), dict(scale_factor=1.5)),
            ("3d", randn(1, 2, 3, 4, 5, seed=4), dict(size=(5, 3, 7))),
            (
                "recompute",
                randn(1, 1, 5, 7, seed=5),
                dict(scale_factor=1.7, recompute_scale_factor=True),
            ),
        ]
    ]
    return [
        *nearest,
        Sample("linear", (randn(2, 3, 6, seed=6),), dict(size=11, mode="linear")),
        Sample(
            "linear-corners",
            (randn(2, 3, 6, seed=7),),
            dict(scale_factor=1.5, mode="linear", align_corners=True),
        ),
        Sample(
            "bilinear", (randn(2, 3, 4, 5, seed=8),), dict(scale_factor=(1.5, 0.7), mode="bilinear")
        ),
        Sample(
            "bilinear-corners",
            (randn(1, 2, 4, 6, seed=9),),
            dict(size=(6, 11), mode="bilinear", align_corners=True),
        ),
        Sample(
            "bilinear-recompute",
            (randn(1, 2, 5, 6, seed=10),),
            dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
        ),
        Sample(
            "bilinear-aa",
            (randn(1, 2, 8, 10, seed=11),),
            dict(scale_factor=0.5, mode="bilinear", antialias=True),
        ),
        Sample("bicubic", (randn(1, 2, 5, 4, seed=12),), dict(size=(7, 9), mode="bicubic")),
        Sample(
            "bicubic-corners",
            (randn(1, 2, 5, 4, seed=13),),
            dict(scale_factor=2.5, mode="bicubic", align_corners=True),
        ),
        Sample(
            "bicubic-aa",
            (randn(1, 2, 9, 7, seed=11),),
            dict(size=(4, 3), mode="bicubic", antialias=True),
        ),
        Sample(
            "trilinear",
            (randn(1, 2, 3, 4, 5, seed=15),),
            dict(scale_factor=(2, 1.5, 0.8), mode="trilinear"),
        ),
        Sample(
            "trilinear-corners",
            (randn(1, 1, 3, 4, 2, seed=16),),
            dict(size=(5, 2, 3), mode="trilinear", align_corners=True),
        ),
    ]


def _torch(torch, x, **kwargs):
    return torch.nn.functional.interpolate(x, **kwargs)


def _errors():
    x = np.zeros((1, 1, 4, 4))
    g = np.zeros((1, 1, 8, 8))
    return [
        ErrorCase("both", lambda: interpolate(x, 2, 2), ValueError, "exactly one"),
        ErrorCase("neither", lambda: interpolate(x), ValueError, "exactly one"),
        ErrorCase("size", lambda: interpolate(x, (2, 0)), ValueError, "size"),
        ErrorCase("size-length", lambda: interpolate(x, (2, 3, 4)), ValueError, "size"),
        ErrorCase("factor", lambda: interpolate(x, scale_factor=0), ValueError, "scale_factor"),
        ErrorCase("mode", lambda: interpolate(x, 2, mode="cubic"), ValueError, "mode"),
        ErrorCase("area", lambda: interpolate(x, 2, mode="area"), ValueError, "adaptive_avg_pool"),
        ErrorCase(
            "mode-ndim", lambda: interpolate(x, 2, mode="linear"), ValueError, r"\(N, C, L\)"
        ),
        ErrorCase("ndim", lambda: interpolate(x[0, 0], 2), ValueError, "x: expected"),
        ErrorCase("int", lambda: interpolate(x.astype(int), 2), TypeError, "x"),
        ErrorCase(
            "corners-nearest",
            lambda: interpolate(x, 2, align_corners=False),
            ValueError,
            "align_corners",
        ),
        ErrorCase(
            "corners-type",
            lambda: interpolate(x, 2, mode="bilinear", align_corners=1),
            TypeError,
            "align_corners",
        ),
        ErrorCase("aa-nearest", lambda: interpolate(x, 2, antialias=True), ValueError, "antialias"),
        ErrorCase(
            "aa-type",
            lambda: interpolate(x, 2, mode="bilinear", antialias="yes"),
            TypeError,
            "antialias",
        ),
        ErrorCase(
            "recompute-size",
            lambda: interpolate(x, 2, recompute_scale_factor=True),
            ValueError,
            "recompute_scale_factor",
        ),
        ErrorCase(
            "recompute-type",
            lambda: interpolate(x, scale_factor=2, recompute_scale_factor="no"),
            TypeError,
            "recompute_scale_factor",
        ),
        ErrorCase(
            "grad shape",
            lambda: interpolate_backward(g[..., :7], x.shape, scale_factor=2),
            ValueError,
            "grad_output",
        ),
        ErrorCase(
            "grad mode",
            lambda: interpolate_backward(g, x.shape, scale_factor=2, mode="area"),
            ValueError,
            "mode",
        ),
    ]


RECORDS = [
    OpRecord(
        name="interpolate",
        op=interpolate,
        reference=reference.interpolate,
        samples=_samples,
        torch=_torch,
        backward=lambda g, x, **kw: interpolate_backward(g, x.shape, **kw),
        reference_backward=reference.interpolate_backward,
        errors=_errors,
    ),
]
