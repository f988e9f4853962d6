"""Records for cnnmath.ops.conv."""

import numpy as np

from cnnmath import conv2d, conv2d_backward, reference
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional


def _conv_samples():
    # (x shape, weight shape, bias?, options)
    table = [
        ((2, 3, 7, 8), (4, 3, 3, 3), True, {}),
        ((1, 2, 6, 5), (3, 2, 3, 3), False, {"padding": 1}),
        (
            (2, 2, 9, 7),
            (3, 2, 3, 2),
            True,
            {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)},
        ),
        ((1, 2, 6, 6), (2, 2, 4, 4), True, {"padding": "same"}),
        ((1, 2, 5, 5), (2, 2, 3, 3), True, {"padding": "valid"}),
        ((2, 2, 5, 5), (2, 2, 2, 2), False, {"stride": 3}),
        ((2, 4, 6), (3, 2, 3, 3), True, {"padding": 1}),  # unbatched (C, H, W)
    ]
    samples = []
    for k, (xs, ws, has_bias, kw) in enumerate(table):
        x, w = randn(*xs, seed=k), randn(*ws, seed=100 + k)
        b = randn(ws[0], seed=200 + k) if has_bias else None
        name = f"x{'x'.join(map(str, xs))}-w{'x'.join(map(str, ws))}" + "".join(
            f"-{key}{value}" for key, value in kw.items()
        )
        samples.append(Sample(name, (x, w, b), kw))
    return samples


def _conv_backward(g, x, w, b, **kw):
    grads = conv2d_backward(g, x, w, **kw)
    return grads if b is not None else grads[:2]


def _conv_reference_backward(g, x, w, b, **kw):
    batched = x.ndim == 4
    gx, gw, gb = reference.conv2d_backward(
        g if batched else g[None], x if batched else x[None], w, **kw
    )
    gx = gx if batched else gx[0]
    return (gx, gw, gb) if b is not None else (gx, gw)


def _conv_reference(x, w, b, **kw):
    return (
        reference.conv2d(x, w, b, **kw) if x.ndim == 4 else reference.conv2d(x[None], w, b, **kw)[0]
    )


def _conv_errors():
    x, w = np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3))
    return [
        ErrorCase("stride-0", lambda: conv2d(x, w, stride=0), ValueError, "stride"),
        ErrorCase("padding-negative", lambda: conv2d(x, w, padding=-1), ValueError, "padding"),
        ErrorCase("dilation-0", lambda: conv2d(x, w, dilation=0), ValueError, "dilation"),
        ErrorCase("2-D input", lambda: conv2d(x[0, 0], w), ValueError, r"x\[None, None\]"),
        ErrorCase("channels", lambda: conv2d(np.zeros((1, 3, 5, 5)), w), ValueError, "channel"),
        ErrorCase("mixed dtype", lambda: conv2d(x.astype(np.float32), w), TypeError, "dtype"),
        ErrorCase("int input", lambda: conv2d(x.astype(int), w), TypeError, "float"),
        ErrorCase(
            "same-stride", lambda: conv2d(x, w, stride=2, padding="same"), ValueError, "same"
        ),
    ]


RECORDS = [
    OpRecord(
        name="conv2d",
        op=conv2d,
        reference=_conv_reference,
        samples=_conv_samples,
        torch=torch_functional("conv2d"),
        backward=_conv_backward,
        reference_backward=_conv_reference_backward,
        grad_args=(0, 1, 2),
        errors=_conv_errors,
    ),
]
