"""Records for cnnmath.ops.deform_conv (deformable convolution).

PyTorch has no deformable convolution of its own (torchvision's C++ op does not load beside
the CPU torch here), so the record's witnesses are the literal loops and finite
differences; tests/test_deform_conv.py adds onnxruntime's DeformConv and conv2d.
"""

import numpy as np

from cnnmath import reference
from cnnmath.ops import deform_conv2d, deform_conv2d_backward
from opinfo import ErrorCase, OpRecord, Sample, randn

# (name, C_in, C_out, groups, offset groups, kernel, stride, padding, dilation, H, W)
_GEOMETRIES = [
    ("3x3", 2, 3, 1, 1, 3, 1, 0, 1, 5, 5),
    ("grouped-s2", 4, 6, 2, 2, 3, 2, 1, 1, 7, 6),
    ("depthwise-dilated", 4, 4, 4, 4, 2, 1, 1, 2, 6, 6),
]


def _samples():
    samples = []
    for i, (name, C, O, groups, G, k, s, p, d, H, W) in enumerate(_GEOMETRIES):
        Ho, Wo = ((n + 2 * p - d * (k - 1) - 1) // s + 1 for n in (H, W))
        mask = np.random.default_rng(i).uniform(0.2, 1.0, (2, G * k * k, Ho, Wo))
        arrays = (
            randn(2, C, H, W, seed=i),
            2 * randn(2, G * 2 * k * k, Ho, Wo, seed=10 + i),  # points off the grid and out
            randn(O, C // groups, k, k, seed=20 + i),
            randn(O, seed=30 + i),
            mask if i != 1 else None,
        )
        samples.append(Sample(name, arrays, dict(stride=s, padding=p, dilation=d)))
    return samples


def _op(x, offset, weight, bias, mask, **kw):
    return deform_conv2d(x, offset, weight, bias, mask=mask, **kw)


def _backward(g, x, offset, weight, bias, mask, **kw):
    grads = deform_conv2d_backward(g, x, offset, weight, mask=mask, **kw)
    return tuple(a for a, given in zip(grads, (x, offset, weight, bias, mask)) if given is not None)


def _reference(x, offset, weight, bias, mask, **kw):
    return reference.deform_conv2d(x, offset, weight, bias, mask=mask, **kw)


def _reference_backward(g, x, offset, weight, bias, mask, **kw):
    grads = reference.deform_conv2d_backward(g, x, offset, weight, mask=mask, **kw)
    return tuple(a for a, given in zip(grads, (x, offset, weight, bias, mask)) if given is not None)


def _errors():
    x, w = np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3))
    off = np.zeros((1, 18, 3, 3))
    return [
        ErrorCase("offset", lambda: deform_conv2d(x, off[:, :17], w), ValueError, "offset"),
        ErrorCase("offset hw", lambda: deform_conv2d(x, off[..., :2], w), ValueError, "offset"),
        ErrorCase(
            "weight", lambda: deform_conv2d(x, off, np.zeros((3, 3, 3, 3))), ValueError, "weight"
        ),
        ErrorCase("mask", lambda: deform_conv2d(x, off, w, mask=off), ValueError, "mask"),
        ErrorCase("int", lambda: deform_conv2d(x.astype(int), off, w), TypeError, "x"),
        ErrorCase("stride", lambda: deform_conv2d(x, off, w, stride=0), ValueError, "stride"),
        ErrorCase(
            "grad shape",
            lambda: deform_conv2d_backward(np.zeros((1, 3, 3, 2)), x, off, w),
            ValueError,
            "grad_output",
        ),
    ]


RECORDS = [
    OpRecord(
        name="deform_conv2d",
        op=_op,
        reference=_reference,
        samples=_samples,
        backward=_backward,
        reference_backward=_reference_backward,
        grad_args=(0, 1, 2, 3, 4),
        errors=_errors,
    ),
]
