"""Records for cnnmath.ops.linear."""

import numpy as np

from cnnmath import linear, linear_backward, reference
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional


def _samples():
    return [
        Sample("batch", (randn(4, 5), randn(3, 5, seed=1), randn(3, seed=2))),
        Sample("no-bias", (randn(2, 6, seed=3), randn(4, 6, seed=4), None)),
        Sample("leading-axes", (randn(2, 3, 5, seed=5), randn(2, 5, seed=6), randn(2, seed=7))),
        Sample("one-vector", (randn(5, seed=8), randn(3, 5, seed=9), randn(3, seed=10))),
    ]


def _backward(g, x, w, b):
    gx, gw, gb = linear_backward(g, x, w)
    return (gx, gw, gb) if b is not None else (gx, gw)


def _reference_backward(g, x, w, b):
    gx, gw, gb = reference.linear_backward(g, x, w)
    return (gx, gw, gb) if b is not None else (gx, gw)


def _errors():
    x, w = np.zeros((2, 5)), np.zeros((3, 5))
    return [
        ErrorCase("features", lambda: linear(np.zeros((2, 4)), w), ValueError, "weight"),
        ErrorCase("bias-length", lambda: linear(x, w, np.zeros(2)), ValueError, "bias"),
        ErrorCase("mixed dtype", lambda: linear(x.astype(np.float32), w), TypeError, "dtype"),
    ]


RECORDS = [
    OpRecord(
        name="linear",
        op=linear,
        reference=reference.linear,
        samples=_samples,
        torch=torch_functional("linear"),
        backward=_backward,
        reference_backward=_reference_backward,
        grad_args=(0, 1, 2),
        errors=_errors,
    ),
]
