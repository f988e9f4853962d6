"""Records for cnnmath.ops.pool."""

import numpy as np

from cnnmath import (
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    reference,
)
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional


def _batched(fn):
    """A reference that takes (N, C, H, W) only, applied to an unbatched (C, H, W) too."""

    def call(*arrays, **kw):
        if arrays[-1].ndim == 4:
            return fn(*arrays, **kw)
        return fn(*(a[None] for a in arrays), **kw)[0]

    return call


def _pool_samples():
    # (x shape, options); max pooling needs distinct values in a window for a unique gradient,
    # which standard-normal draws give with probability 1.
    table = [
        ((2, 3, 8, 8), {"kernel_size": 2}),
        ((1, 2, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
        ((2, 1, 6, 7), {"kernel_size": (3, 2), "stride": (1, 2), "padding": (1, 0)}),
        ((1, 2, 5, 5), {"kernel_size": 2, "stride": 1}),
        ((3, 6, 6), {"kernel_size": 3, "stride": 3}),  # unbatched (C, H, W)
    ]
    return [
        Sample(
            f"x{'x'.join(map(str, xs))}" + "".join(f"-{k}{v}" for k, v in kw.items()),
            (randn(*xs, seed=i),),
            kw,
        )
        for i, (xs, kw) in enumerate(table)
    ]


def _pool_errors(op):
    x = np.zeros((1, 2, 6, 6))
    return lambda: [
        ErrorCase("kernel-0", lambda: op(x, 0), ValueError, "kernel_size"),
        ErrorCase("stride-0", lambda: op(x, 2, stride=0), ValueError, "stride"),
        ErrorCase("padding-over-half", lambda: op(x, 2, padding=2), ValueError, "padding"),
        ErrorCase("2-D input", lambda: op(x[0, 0], 2), ValueError, r"x\[None, None\]"),
        ErrorCase("int input", lambda: op(x.astype(np.int64), 2), TypeError, "float"),
    ]


RECORDS = [
    OpRecord(
        name="max_pool2d",
        op=max_pool2d,
        reference=_batched(reference.max_pool2d),
        samples=_pool_samples,
        torch=torch_functional("max_pool2d"),
        backward=max_pool2d_backward,
        reference_backward=_batched(reference.max_pool2d_backward),
        errors=_pool_errors(max_pool2d),
    ),
    OpRecord(
        name="avg_pool2d",
        op=avg_pool2d,
        reference=_batched(reference.avg_pool2d),
        samples=_pool_samples,
        torch=torch_functional("avg_pool2d"),
        backward=avg_pool2d_backward,
        reference_backward=_batched(reference.avg_pool2d_backward),
        errors=_pool_errors(avg_pool2d),
    ),
]
