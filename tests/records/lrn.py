"""Records for cnnmath.ops.lrn (local response normalisation)."""

import numpy as np

from cnnmath import reference
from cnnmath.ops import local_response_norm, local_response_norm_backward
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional


def _samples():
    return [
        Sample("alexnet", (randn(2, 7, 3, 3),), dict(size=5, alpha=1e-4, beta=0.75, k=2.0)),
        Sample("even", (randn(1, 5, 2, 3, seed=1),), dict(size=4, alpha=0.5, beta=0.6, k=1.0)),
        Sample("wide", (randn(2, 3, 2, 2, seed=2),), dict(size=9, alpha=2.0, beta=1.5, k=0.5)),
        Sample("one", (randn(1, 4, 5, seed=3),), dict(size=1, alpha=1.0, beta=0.5, k=1.0)),
    ]


def _errors():
    x = np.zeros((1, 3, 4, 4))
    return [
        ErrorCase("size", lambda: local_response_norm(x, 0), ValueError, "size"),
        ErrorCase("ndim", lambda: local_response_norm(x[0, 0], 3), ValueError, "x: expected"),
        ErrorCase("alpha", lambda: local_response_norm(x, 3, alpha=np.nan), ValueError, "alpha"),
        ErrorCase("window", lambda: local_response_norm(x, 3, window=(2, 2)), ValueError, "window"),
        ErrorCase("int", lambda: local_response_norm(x.astype(int), 3), TypeError, "x"),
        ErrorCase(
            "grad shape",
            lambda: local_response_norm_backward(np.zeros((1, 3, 4, 3)), x, 3),
            ValueError,
            "grad_output",
        ),
    ]


RECORDS = [
    OpRecord(
        name="local_response_norm",
        op=local_response_norm,
        reference=reference.local_response_norm,
        samples=_samples,
        torch=torch_functional("local_response_norm"),
        backward=local_response_norm_backward,
        reference_backward=reference.local_response_norm_backward,
        errors=_errors,
    ),
]
