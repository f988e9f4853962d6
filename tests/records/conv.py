"""Records for cnnmath.ops.conv: conv2d (grouped and depthwise included) and conv_transpose2d."""

import numpy as np

from cnnmath import (
    conv2d,
    conv2d_backward,
    conv_transpose2d,
    conv_transpose2d_backward,
    reference,
)
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional


def _samples(table, seed, c_out):
    """Samples from rows (x shape, weight shape, bias?, options), seeded from ``seed``;
    ``c_out(weight shape, options)`` is the bias length."""
    samples = []
    for k, (xs, ws, has_bias, kw) in enumerate(table):
        x, w = randn(*xs, seed=seed + k), randn(*ws, seed=seed + 100 + k)
        b = randn(c_out(ws, kw), seed=seed + 200 + k) if has_bias else None
        name = f"x{'x'.join(map(str, xs))}-w{'x'.join(map(str, ws))}" + "".join(
            f"-{key}{value}" for key, value in kw.items()
        )
        samples.append(Sample(name if has_bias else name + "-nobias", (x, w, b), kw))
    return samples


def _unbatched(fn):
    """A reference that takes (N, C, H, W) only, applied to an unbatched (C, H, W) too."""

    def call(x, w, b, **kw):
        return fn(x, w, b, **kw) if x.ndim == 4 else fn(x[None], w, b, **kw)[0]

    return call


def _unbatched_backward(fn):
    """A reference backward on (N, C, H, W) only, for unbatched samples too; the bias
    gradient only where the sample has a bias."""

    def call(g, x, w, b, **kw):
        batched = x.ndim == 4
        gx, gw, gb = fn(g if batched else g[None], x if batched else x[None], w, **kw)
        gx = gx if batched else gx[0]
        return (gx, gw, gb) if b is not None else (gx, gw)

    return call


def _without_absent_bias(fn):
    def call(g, x, w, b, **kw):
        grads = fn(g, x, w, **kw)
        return grads if b is not None else grads[:2]

    return call


# ---------------------------------------------------------------------------------------------
# conv2d


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
        # grouped: block k of the outputs reads block k of the inputs
        ((2, 4, 7, 6), (6, 2, 3, 3), True, {"padding": 1, "groups": 2}),
        ((1, 6, 8, 7), (3, 2, 3, 2), False, {"stride": (2, 1), "dilation": (1, 2), "groups": 3}),
        ((4, 5, 6), (4, 2, 2, 3), True, {"padding": "same", "groups": 2}),  # unbatched
        # depthwise (groups = C_in, MobileNet's case), also with a channel multiplier
        ((2, 3, 8, 7), (3, 1, 3, 3), True, {"stride": 2, "padding": 1, "groups": 3}),
        ((2, 4, 6, 6), (4, 1, 3, 3), False, {"padding": 1, "groups": 4}),
        ((1, 2, 7, 6), (4, 1, 3, 2), True, {"padding": 2, "dilation": 2, "groups": 2}),
    ]
    return _samples(table, 0, lambda ws, kw: ws[0])


def _conv_reference(x, w, b, **kw):
    return _unbatched(reference.conv2d)(x, w, b, **kw)


def _conv_errors():
    x, w = np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3))
    x4 = np.zeros((1, 4, 5, 5))
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
        ErrorCase(
            "groups-C_in",
            lambda: conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3)), groups=2),
            ValueError,
            r"groups: expected a divisor of C_in = 3 and C_out = 4, got groups = 2",
        ),
        ErrorCase(
            "groups-C_out",
            lambda: conv2d(x4, np.zeros((3, 2, 3, 3)), groups=2),
            ValueError,
            r"groups: expected a divisor of C_in = 4 and C_out = 3, got groups = 2",
        ),
        ErrorCase("groups-0", lambda: conv2d(x, w, groups=0), ValueError, r"groups: .*>= 1"),
        ErrorCase("groups-float", lambda: conv2d(x, w, groups=1.0), TypeError, "groups"),
        ErrorCase(
            "groups-weight",
            lambda: conv2d(x4, np.zeros((4, 1, 3, 3)), groups=2),
            ValueError,
            r"weight: expected 2 input channels per group .*groups = 2.*C_in/groups = 1",
        ),
        ErrorCase(
            "padding-beyond-memory",
            lambda: conv2d(x, w, padding=10**9),
            ValueError,
            r"padding: the output would have shape \(1, 3, 2000000003, 2000000003\)",
        ),
        ErrorCase(
            "stride-beyond-index",
            lambda: conv2d(x, w, stride=10**20),
            ValueError,
            r"stride: expected values at most \d+ \(the largest array index\)",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# conv_transpose2d


def _transpose_samples():
    # (x shape, weight shape (C_in, C_out/groups, f1, f2), bias?, options)
    table = [
        ((2, 3, 4, 5), (3, 2, 3, 3), True, {}),
        ((1, 2, 4, 4), (2, 3, 3, 3), True, {"stride": 2}),
        ((2, 2, 5, 4), (2, 2, 3, 3), True, {"stride": 2, "padding": 1}),
        ((1, 3, 4, 4), (3, 2, 4, 4), True, {"stride": 2, "padding": 1}),  # 2x upsampling
        ((2, 2, 3, 4), (2, 3, 3, 3), True, {"stride": 2, "padding": 1, "output_padding": 1}),
        ((1, 2, 4, 3), (2, 2, 3, 2), True, {"output_padding": 1, "dilation": 2}),  # op < d
        ((2, 2, 4, 5), (2, 2, 3, 3), True, {"padding": (2, 1), "dilation": (2, 1)}),
        ((2, 4, 3, 4), (4, 3, 2, 2), True, {"stride": 2, "groups": 2}),
        ((2, 3, 4, 4), (3, 1, 3, 3), True, {"stride": 2, "padding": 1, "groups": 3}),  # depthwise
        (
            (1, 2, 3, 5),
            (2, 2, 3, 2),
            True,
            {"stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2), "dilation": (1, 2)},
        ),
        ((3, 4, 5), (3, 2, 3, 3), True, {"stride": 2, "padding": 1}),  # unbatched (C, H, W)
        ((2, 2, 4, 4), (2, 3, 3, 3), False, {"stride": 2}),  # no bias
    ]
    return _samples(table, 1000, lambda ws, kw: ws[1] * kw.get("groups", 1))


def _transpose_errors():
    x, w = np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 3, 3))
    return [
        ErrorCase("stride-0", lambda: conv_transpose2d(x, w, stride=0), ValueError, "stride"),
        ErrorCase(
            "padding-negative", lambda: conv_transpose2d(x, w, padding=-1), ValueError, "padding"
        ),
        ErrorCase("dilation-0", lambda: conv_transpose2d(x, w, dilation=0), ValueError, "dilation"),
        ErrorCase(
            "padding-string",
            lambda: conv_transpose2d(x, w, padding="same"),
            TypeError,
            r"padding: .*no 'valid' or 'same'.*got 'same'",
        ),
        ErrorCase(
            "output_padding-too-large",
            lambda: conv_transpose2d(x, w, stride=2, output_padding=2),
            ValueError,
            r"output_padding: expected values smaller than stride or dilation .*\(2, 2\).*got \(2, 2\)",
        ),
        ErrorCase(
            "output_padding-stride-1",
            lambda: conv_transpose2d(x, w, output_padding=(0, 1)),
            ValueError,
            r"output_padding: .*\(1, 1\) per axis.*got \(0, 1\)",
        ),
        ErrorCase(
            "groups-C_in",
            lambda: conv_transpose2d(np.zeros((1, 3, 4, 4)), np.zeros((3, 1, 3, 3)), groups=2),
            ValueError,
            r"groups: expected a divisor of C_in = 3, got groups = 2",
        ),
        ErrorCase(
            "weight-channels",
            lambda: conv_transpose2d(x, np.zeros((3, 2, 3, 3))),
            ValueError,
            r"weight: expected 2 input channels on axis 0",
        ),
        ErrorCase(
            "output-not-positive",
            lambda: conv_transpose2d(x, w, padding=4),
            ValueError,
            r"padding: the output height .* = -2 is not positive",
        ),
        ErrorCase(
            "2-D input", lambda: conv_transpose2d(x[0, 0], w), ValueError, r"x\[None, None\]"
        ),
        ErrorCase(
            "mixed dtype", lambda: conv_transpose2d(x.astype(np.float32), w), TypeError, "dtype"
        ),
        ErrorCase("int input", lambda: conv_transpose2d(x.astype(int), w), TypeError, "float"),
        ErrorCase(
            "bias-length",
            lambda: conv_transpose2d(x, w, np.zeros(2)),
            ValueError,
            r"bias: expected shape \(3,\)",
        ),
        ErrorCase(
            "stride-beyond-memory",
            lambda: conv_transpose2d(x, w, stride=10**9),
            ValueError,
            r"stride: the output would have shape \(1, 3, 3000000003, 3000000003\)",
        ),
        ErrorCase(
            "stride-beyond-memory-cropped",  # a small output, cropped from a huge one
            lambda: conv_transpose2d(x[..., :2, :2], w, stride=10**12, padding=5 * 10**11),
            ValueError,
            r"stride: the uncropped output \(before padding is cropped\) would have shape",
        ),
        ErrorCase(
            "stride-beyond-index",
            lambda: conv_transpose2d(x, w, stride=10**20),
            ValueError,
            r"stride: expected values at most \d+ \(the largest array index\)",
        ),
    ]


RECORDS = [
    OpRecord(
        name="conv2d",
        op=conv2d,
        reference=_conv_reference,
        samples=_conv_samples,
        torch=torch_functional("conv2d"),
        backward=_without_absent_bias(conv2d_backward),
        reference_backward=_unbatched_backward(reference.conv2d_backward),
        grad_args=(0, 1, 2),
        errors=_conv_errors,
    ),
    OpRecord(
        name="conv_transpose2d",
        op=conv_transpose2d,
        reference=_unbatched(reference.conv_transpose2d),
        samples=_transpose_samples,
        torch=torch_functional("conv_transpose2d"),
        backward=_without_absent_bias(conv_transpose2d_backward),
        reference_backward=_unbatched_backward(reference.conv_transpose2d_backward),
        grad_args=(0, 1, 2),
        errors=_transpose_errors,
    ),
]
