"""Records for cnnmath.ops.volumetric and cnnmath.ops.conv_transpose3d: conv3d (grouped,
depthwise, dilated, 'same'), conv_transpose3d (strided, output_padding, grouped, dilated) and
3-D max, average and adaptive pooling. Samples stay tiny: the literal oracle loops over every index of
a 5-D array. Max pooling needs distinct values in a window for a unique gradient, which
standard-normal draws give with probability 1 (ties are tested in test_volumetric.py)."""

import numpy as np

from cnnmath import (
    adaptive_avg_pool3d,
    adaptive_avg_pool3d_backward,
    adaptive_max_pool3d,
    adaptive_max_pool3d_backward,
    avg_pool3d,
    avg_pool3d_backward,
    conv3d,
    conv3d_backward,
    conv_transpose3d,
    conv_transpose3d_backward,
    max_pool3d,
    max_pool3d_backward,
    reference,
)
from cnnmath.ops import max_unpool3d, max_unpool3d_backward
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional

from .pool import unpool_samples


def _name(*shapes, kw):
    return "-".join("x".join(map(str, s)) for s in shapes) + "".join(
        f"-{k}{v}" for k, v in kw.items()
    )


def _batched(fn):
    """A reference that takes (N, C, D, H, W) only, applied to an unbatched (C, D, H, W) too;
    the last array decides (x for a forward, x for a backward called (g, x, ...))."""

    def call(*arrays, **kw):
        if arrays[-1].ndim == 5:
            return fn(*arrays, **kw)
        out = fn(*(a[None] for a in arrays), **kw)
        return tuple(o[0] for o in out) if isinstance(out, tuple) else out[0]

    return call


def _without_indices(backward):
    def call(*arrays, return_indices=False, **kw):
        return backward(*arrays, **kw)

    return call


# ---------------------------------------------------------------------------------------------
# conv3d: (x shape, weight shape, bias?, options)

_CONV = [
    ((2, 2, 4, 5, 4), (3, 2, 2, 3, 2), True, {}),
    ((1, 2, 5, 4, 5), (2, 2, 3, 3, 3), False, {"stride": 2, "padding": 1}),
    (
        (1, 2, 6, 5, 6),
        (2, 2, 2, 2, 3),
        True,
        {"stride": (2, 1, 2), "padding": (1, 0, 2), "dilation": (2, 2, 1)},
    ),
    ((1, 2, 4, 4, 5), (2, 2, 2, 3, 4), True, {"padding": "same"}),  # even kernels
    ((1, 1, 4, 4, 4), (2, 1, 3, 3, 3), True, {"padding": "valid"}),
    ((2, 4, 4, 5), (2, 2, 3, 2, 3), True, {"padding": 1}),  # unbatched (C, D, H, W)
    ((1, 4, 4, 4, 5), (6, 2, 2, 3, 3), True, {"padding": 1, "groups": 2}),
    ((2, 3, 5, 4, 4), (3, 1, 3, 3, 3), False, {"stride": 2, "padding": 1, "groups": 3}),
    ((1, 2, 5, 5, 4), (4, 1, 2, 2, 2), True, {"padding": 2, "dilation": (2, 1, 2), "groups": 2}),
    (
        (1, 2, 3, 4, 4),
        (2, 2, 3, 1, 1),
        True,
        {"padding": (3, 0, 0)},
    ),  # outputs reading padding only
]


def _conv_samples():
    samples = []
    for k, (xs, ws, has_bias, kw) in enumerate(_CONV):
        x, w = randn(*xs, seed=3000 + k), randn(*ws, seed=3100 + k)
        b = randn(ws[0], seed=3200 + k) if has_bias else None
        name = _name(xs, ws, kw=kw) + ("" if has_bias else "-nobias")
        samples.append(Sample(name, (x, w, b), kw))
    return samples


def _conv_reference(x, w, b, **kw):
    return (
        reference.conv3d(x, w, b, **kw) if x.ndim == 5 else reference.conv3d(x[None], w, b, **kw)[0]
    )


def _conv_reference_backward(g, x, w, b, **kw):
    batched = x.ndim == 5
    gx, gw, gb = reference.conv3d_backward(
        g if batched else g[None], x if batched else x[None], w, **kw
    )
    gx = gx if batched else gx[0]
    return (gx, gw, gb) if b is not None else (gx, gw)


def _conv_backward(g, x, w, b, **kw):
    grads = conv3d_backward(g, x, w, **kw)
    return grads if b is not None else grads[:2]


def _conv_errors():
    x, w = np.zeros((1, 2, 4, 5, 5)), np.zeros((3, 2, 3, 3, 3))
    return [
        ErrorCase(
            "stride-0", lambda: conv3d(x, w, stride=0), ValueError, "stride: expected values >= 1"
        ),
        ErrorCase(
            "stride-pair", lambda: conv3d(x, w, stride=(1, 2)), TypeError, r"stride: .*triple"
        ),
        ErrorCase("padding-negative", lambda: conv3d(x, w, padding=-1), ValueError, "padding"),
        ErrorCase(
            "padding-word", lambda: conv3d(x, w, padding="full"), ValueError, "padding: expected"
        ),
        ErrorCase("dilation-0", lambda: conv3d(x, w, dilation=0), ValueError, "dilation"),
        ErrorCase("3-D input", lambda: conv3d(x[0, 0], w), ValueError, r"x\[None, None\]"),
        ErrorCase(
            "4-D weight",
            lambda: conv3d(x, w[:, :, 0]),
            ValueError,
            r"conv3d: weight: expected a 5-D array \(C_out, C_in/groups, f0, f1, f2\), got 4-D",
        ),
        ErrorCase(
            "channels",
            lambda: conv3d(np.zeros((1, 3, 4, 5, 5)), w),
            ValueError,
            r"weight: expected 3 input channels .*C_in/groups = 2",
        ),
        ErrorCase("mixed dtype", lambda: conv3d(x.astype(np.float32), w), TypeError, "dtype"),
        ErrorCase("int input", lambda: conv3d(x.astype(int), w), TypeError, "float"),
        ErrorCase(
            "same-stride", lambda: conv3d(x, w, stride=2, padding="same"), ValueError, "same"
        ),
        ErrorCase(
            "groups-C_out",
            lambda: conv3d(np.zeros((1, 4, 4, 5, 5)), np.zeros((3, 2, 3, 3, 3)), groups=2),
            ValueError,
            r"groups: expected a divisor of C_in = 4 and C_out = 3, got groups = 2",
        ),
        ErrorCase(
            "kernel-too-deep",
            lambda: conv3d(x[:, :, :2], w),
            ValueError,
            r"conv3d: kernel_size: effective kernel depth 3 .* padded input depth 2",
        ),
        ErrorCase(
            "bias-length",
            lambda: conv3d(x, w, np.zeros(2)),
            ValueError,
            r"bias: expected shape \(3,\)",
        ),
        ErrorCase(
            "padding-beyond-memory",
            lambda: conv3d(x, w, padding=10**6),
            ValueError,
            r"conv3d: padding: the output would have shape",
        ),
        ErrorCase(
            "backward-grad-shape",
            lambda: conv3d_backward(np.zeros((1, 3, 2, 3, 4)), x, w),
            ValueError,
            r"conv3d_backward: grad_output: expected shape \(1, 3, 2, 3, 3\)",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# conv_transpose3d: (x shape, weight shape (C_in, C_out/groups, f0, f1, f2), bias?, options)

_TRANSPOSE = [
    ((2, 2, 3, 3, 4), (2, 3, 2, 3, 2), True, {}),
    ((1, 2, 3, 2, 3), (2, 2, 3, 3, 3), True, {"stride": 2, "padding": 1, "output_padding": 1}),
    ((1, 3, 2, 3, 3), (3, 2, 2, 2, 2), True, {"stride": 2}),  # 2x upsampling, windows tile
    (
        (1, 2, 3, 3, 2),
        (2, 2, 2, 3, 2),
        True,
        {"stride": (2, 1, 3), "padding": (1, 1, 0), "output_padding": (1, 0, 2)},
    ),
    ((1, 2, 3, 3, 3), (2, 2, 2, 2, 3), True, {"dilation": (2, 1, 2), "output_padding": (1, 0, 1)}),
    ((1, 2, 4, 3, 3), (2, 2, 3, 2, 2), True, {"padding": (2, 1, 0), "dilation": (2, 1, 1)}),
    ((1, 4, 2, 3, 3), (4, 3, 2, 2, 2), True, {"stride": 2, "groups": 2}),
    ((2, 3, 2, 3, 3), (3, 1, 3, 3, 3), False, {"stride": 2, "padding": 1, "groups": 3}),
    (
        (2, 3, 3, 2),
        (2, 3, 2, 2, 3),
        True,
        {"stride": (1, 2, 1), "padding": (0, 1, 1)},
    ),  # (C, D, H, W)
    ((1, 2, 3, 2, 2), (2, 2, 1, 3, 3), True, {"padding": (1, 0, 0)}),  # depth cropped
]


def _transpose_samples():
    samples = []
    for k, (xs, ws, has_bias, kw) in enumerate(_TRANSPOSE):
        x, w = randn(*xs, seed=3300 + k), randn(*ws, seed=3400 + k)
        b = randn(ws[1] * kw.get("groups", 1), seed=3500 + k) if has_bias else None
        name = _name(xs, ws, kw=kw) + ("" if has_bias else "-nobias")
        samples.append(Sample(name, (x, w, b), kw))
    return samples


def _transpose_reference(x, w, b, **kw):
    if x.ndim == 5:
        return reference.conv_transpose3d(x, w, b, **kw)
    return reference.conv_transpose3d(x[None], w, b, **kw)[0]


def _transpose_reference_backward(g, x, w, b, **kw):
    batched = x.ndim == 5
    gx, gw, gb = reference.conv_transpose3d_backward(
        g if batched else g[None], x if batched else x[None], w, **kw
    )
    gx = gx if batched else gx[0]
    return (gx, gw, gb) if b is not None else (gx, gw)


def _transpose_backward(g, x, w, b, **kw):
    grads = conv_transpose3d_backward(g, x, w, **kw)
    return grads if b is not None else grads[:2]


def _transpose_errors():
    x, w = np.zeros((1, 2, 3, 4, 4)), np.zeros((2, 3, 3, 3, 3))
    return [
        ErrorCase(
            "stride-0",
            lambda: conv_transpose3d(x, w, stride=0),
            ValueError,
            "stride: expected values >= 1",
        ),
        ErrorCase(
            "stride-pair",
            lambda: conv_transpose3d(x, w, stride=(1, 2)),
            TypeError,
            r"stride: .*triple",
        ),
        ErrorCase(
            "padding-negative", lambda: conv_transpose3d(x, w, padding=-1), ValueError, "padding"
        ),
        ErrorCase(
            "padding-string",
            lambda: conv_transpose3d(x, w, padding="same"),
            TypeError,
            r"padding: .*no 'valid' or 'same'.*got 'same'",
        ),
        ErrorCase("dilation-0", lambda: conv_transpose3d(x, w, dilation=0), ValueError, "dilation"),
        ErrorCase(
            "output_padding-too-large",
            lambda: conv_transpose3d(x, w, stride=2, output_padding=(0, 0, 2)),
            ValueError,
            r"output_padding: expected values smaller than stride or dilation "
            r".*\(2, 2, 2\).*got \(0, 0, 2\)",
        ),
        ErrorCase(
            "output_padding-stride-1",
            lambda: conv_transpose3d(x, w, output_padding=(1, 0, 0)),
            ValueError,
            r"output_padding: .*\(1, 1, 1\) per axis.*got \(1, 0, 0\)",
        ),
        ErrorCase(
            "groups-C_in",
            lambda: conv_transpose3d(
                np.zeros((1, 3, 3, 4, 4)), np.zeros((3, 1, 3, 3, 3)), groups=2
            ),
            ValueError,
            r"groups: expected a divisor of C_in = 3, got groups = 2",
        ),
        ErrorCase(
            "weight-channels",
            lambda: conv_transpose3d(x, np.zeros((3, 2, 3, 3, 3))),
            ValueError,
            r"weight: expected 2 input channels on axis 0 \(layout \(C_in, C_out/groups",
        ),
        ErrorCase(
            "4-D weight",
            lambda: conv_transpose3d(x, w[:, :, 0]),
            ValueError,
            r"weight: expected a 5-D array \(C_in, C_out/groups, f0, f1, f2\), got 4-D",
        ),
        ErrorCase(
            "output-not-positive",
            lambda: conv_transpose3d(x, w, padding=(3, 0, 0)),
            ValueError,
            r"padding: the output depth .* = -1 is not positive",
        ),
        ErrorCase(
            "3-D input", lambda: conv_transpose3d(x[0, 0], w), ValueError, r"x\[None, None\]"
        ),
        ErrorCase(
            "mixed dtype", lambda: conv_transpose3d(x.astype(np.float32), w), TypeError, "dtype"
        ),
        ErrorCase("int input", lambda: conv_transpose3d(x.astype(int), w), TypeError, "float"),
        ErrorCase(
            "bias-length",
            lambda: conv_transpose3d(x, w, np.zeros(2)),
            ValueError,
            r"bias: expected shape \(3,\)",
        ),
        ErrorCase(
            "stride-beyond-memory",
            lambda: conv_transpose3d(x, w, stride=10**6),
            ValueError,
            r"conv_transpose3d: stride: the output would have shape \(1, 3, 2000003, 3000003, ",
        ),
        ErrorCase(
            "stride-beyond-index",
            lambda: conv_transpose3d(x, w, stride=10**20),
            ValueError,
            r"stride: expected values at most \d+ \(the largest array index\)",
        ),
        ErrorCase(
            "backward-grad-shape",
            lambda: conv_transpose3d_backward(np.zeros((1, 3, 5, 6, 5)), x, w),
            ValueError,
            r"conv_transpose3d_backward: grad_output: expected shape \(1, 3, 5, 6, 6\)",
        ),
        ErrorCase(
            "backward-mixed-dtype",
            lambda: conv_transpose3d_backward(np.zeros((1, 3, 5, 6, 6), np.float32), x, w),
            TypeError,
            "dtype",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Pooling: (x shape, options)


def _samples(table, seed):
    return lambda: [
        Sample(_name(xs, kw=kw), (randn(*xs, seed=seed + i),), kw)
        for i, (xs, kw) in enumerate(table)
    ]


_COMMON = [
    ((2, 2, 4, 4, 6), {"kernel_size": 2}),
    ((1, 2, 5, 6, 5), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 1, 5, 4, 6), {"kernel_size": (3, 2, 2), "stride": (1, 2, 1), "padding": (1, 0, 1)}),
    ((2, 4, 5, 4), {"kernel_size": 2, "stride": 1}),  # unbatched (C, D, H, W)
    # ceil_mode: the last window starts inside x and runs past the padding
    ((1, 2, 6, 5, 5), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 1, 5, 5, 4), {"kernel_size": 2, "ceil_mode": True}),
]
_MAX = [
    *_COMMON,
    ((1, 2, 6, 5, 6), {"kernel_size": 2, "stride": 1, "dilation": (2, 1, 2)}),
    (
        (1, 1, 7, 6, 6),
        {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True},
    ),
    ((1, 2, 5, 6, 5), {"kernel_size": 3, "stride": 2, "padding": 1, "return_indices": True}),
    ((2, 4, 5, 4), {"kernel_size": 2, "stride": 1, "return_indices": True}),
]
_AVG = [
    *_COMMON,
    ((1, 2, 5, 6, 5), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    (
        (1, 2, 6, 5, 5),
        {
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "ceil_mode": True,
            "count_include_pad": False,
        },
    ),
    ((1, 2, 4, 5, 4), {"kernel_size": 2, "padding": 1, "divisor_override": 3}),
]
_ADAPTIVE = [
    ((2, 2, 4, 6, 4), {"output_size": 2}),  # tiles
    ((1, 2, 5, 7, 6), {"output_size": (3, 4, 4)}),  # unequal, overlapping windows
    ((2, 2, 3, 4, 5), {"output_size": 1}),  # global pooling
    ((1, 2, 4, 5, 6), {"output_size": (None, 2, 3)}),
    ((2, 5, 4, 3), {"output_size": (3, 2, 2)}),  # unbatched
    ((1, 1, 2, 3, 2), {"output_size": (3, 4, 3)}),  # more cells than elements
]
_ADAPTIVE_MAX = [
    *_ADAPTIVE,
    ((1, 2, 5, 7, 6), {"output_size": (3, 4, 4), "return_indices": True}),
]


def _pool_errors(op, backward):
    x = np.zeros((1, 2, 4, 5, 5))
    return [
        ErrorCase("kernel-0", lambda: op(x, 0), ValueError, "kernel_size: expected values >= 1"),
        ErrorCase("kernel-pair", lambda: op(x, (2, 2)), TypeError, r"kernel_size: .*triple"),
        ErrorCase("stride-0", lambda: op(x, 2, 0), ValueError, "stride"),
        ErrorCase(
            "padding-over-half",
            lambda: op(x, 2, 1, 2),
            ValueError,
            r"padding: expected at most half the window \(<= \(1, 1, 1\)\)",
        ),
        ErrorCase(
            "kernel-too-deep",
            lambda: op(x, (5, 2, 2)),
            ValueError,
            r"kernel_size: effective kernel depth 5 .* padded input depth 4",
        ),
        ErrorCase("3-D input", lambda: op(x[0, 0], 2), ValueError, r"x\[None, None\]"),
        ErrorCase("int input", lambda: op(x.astype(int), 2), TypeError, "float"),
        ErrorCase("ceil_mode-int", lambda: op(x, 2, ceil_mode=1), TypeError, "ceil_mode"),
        ErrorCase(
            "backward-grad-shape",
            lambda: backward(np.zeros((1, 2, 2, 2, 3)), x, 2),
            ValueError,
            r"grad_output: expected shape \(1, 2, 2, 2, 2\)",
        ),
        ErrorCase(
            "backward-mixed-dtype",
            lambda: backward(np.zeros((1, 2, 2, 2, 2), np.float32), x, 2),
            TypeError,
            "dtype",
        ),
    ]


def _max_errors():
    x = np.zeros((1, 1, 5, 5, 5))
    return [
        *_pool_errors(max_pool3d, max_pool3d_backward),
        ErrorCase(
            "dilation-reads-padding-only",
            lambda: max_pool3d(x, 2, 4, 1, dilation=(6, 1, 1)),
            ValueError,
            "dilation: expected every window to hold an element of x",
        ),
        ErrorCase(
            "return_indices-int",
            lambda: max_pool3d(x, 2, return_indices=1),
            TypeError,
            "return_indices",
        ),
        ErrorCase(
            "backward-index-past-volume",
            lambda: max_pool3d_backward(
                np.zeros((1, 1, 2, 2, 2)), x, 2, indices=np.full((1, 1, 2, 2, 2), 125)
            ),
            ValueError,
            r"indices: expected positions in \[0, 125\)",
        ),
    ]


def _avg_errors():
    x = np.zeros((1, 2, 4, 5, 5))
    return [
        *_pool_errors(avg_pool3d, avg_pool3d_backward),
        ErrorCase(
            "divisor-0",
            lambda: avg_pool3d(x, 2, divisor_override=0),
            ValueError,
            "divisor_override",
        ),
        ErrorCase(
            "count_include_pad-int",
            lambda: avg_pool3d(x, 2, count_include_pad=0),
            TypeError,
            "count_include_pad",
        ),
    ]


def _adaptive_errors(op, backward):
    x = np.zeros((1, 2, 4, 6, 6))
    return [
        ErrorCase("output_size-0", lambda: op(x, 0), ValueError, "output_size: expected sizes"),
        ErrorCase("output_size-pair", lambda: op(x, (2, 3)), TypeError, r"output_size: .*triple"),
        ErrorCase("output_size-float", lambda: op(x, 2.5), TypeError, "output_size"),
        ErrorCase("3-D input", lambda: op(x[0, 0], 2), ValueError, r"x\[None, None\]"),
        ErrorCase("int input", lambda: op(x.astype(np.int64), 2), TypeError, "float"),
        ErrorCase(
            "empty input",
            lambda: op(np.zeros((1, 2, 0, 6, 6)), 2),
            ValueError,
            "x: expected depth, height and width",
        ),
        ErrorCase(
            "backward-grad-shape",
            lambda: backward(np.zeros((1, 2, 3, 3, 3)), x, (3, 2, 2)),
            ValueError,
            r"grad_output: expected shape \(1, 2, 3, 2, 2\)",
        ),
    ]


# max_unpool3d: (x shape, options); indices distinct positions of each output volume
_UNPOOL = [
    ((2, 2, 2, 2, 3), {"kernel_size": 2}),
    ((1, 2, 2, 3, 2), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 1, 2, 2, 2), {"kernel_size": (2, 3, 3), "stride": (2, 2, 1), "output_size": (5, 4, 4)}),
    ((1, 2, 2, 2), {"kernel_size": 2, "output_size": (1, 2, 4, 5, 4)}),  # unbatched
]


def _unpool_errors():
    x = np.zeros((1, 2, 1, 2, 2))
    ok = np.arange(4).reshape(1, 1, 1, 2, 2).repeat(2, axis=1)  # positions in a 2x4x4 volume
    return [
        ErrorCase(
            "index-past-volume",
            lambda: max_unpool3d(x, ok + 29, 2),
            ValueError,
            r"indices: expected positions in \[0, 32\) of an output plane 2x4x4",
        ),
        ErrorCase("indices-float", lambda: max_unpool3d(x, ok * 1.0, 2), TypeError, "max_pool3d"),
        ErrorCase(
            "output_size-pair",
            lambda: max_unpool3d(x, ok, 2, output_size=(4, 4)),
            TypeError,
            r"\(depth, height, width\)",
        ),
        ErrorCase(
            "output_size-out-of-range",
            lambda: max_unpool3d(x, ok, 2, output_size=(2, 4, 6)),
            ValueError,
            "strictly between",
        ),
        ErrorCase("kernel-pair", lambda: max_unpool3d(x, ok, (2, 2)), TypeError, "kernel_size"),
        ErrorCase("3-D input", lambda: max_unpool3d(x[0, 0], ok[0, 0], 2), ValueError, r"x\[None"),
        ErrorCase(
            "backward-grad-shape",
            lambda: max_unpool3d_backward(np.zeros((1, 2, 2, 4, 3)), x, ok, 2),
            ValueError,
            r"grad_output: expected shape \(1, 2, 2, 4, 4\)",
        ),
    ]


RECORDS = [
    OpRecord(
        name="conv3d",
        op=conv3d,
        reference=_conv_reference,
        samples=_conv_samples,
        torch=torch_functional("conv3d"),
        backward=_conv_backward,
        reference_backward=_conv_reference_backward,
        grad_args=(0, 1, 2),
        errors=_conv_errors,
    ),
    OpRecord(
        name="conv_transpose3d",
        op=conv_transpose3d,
        reference=_transpose_reference,
        samples=_transpose_samples,
        torch=torch_functional("conv_transpose3d"),
        backward=_transpose_backward,
        reference_backward=_transpose_reference_backward,
        grad_args=(0, 1, 2),
        errors=_transpose_errors,
    ),
    OpRecord(
        name="max_pool3d",
        op=max_pool3d,
        reference=_batched(reference.max_pool3d),
        samples=_samples(_MAX, 4000),
        torch=torch_functional("max_pool3d"),
        backward=_without_indices(max_pool3d_backward),
        reference_backward=_without_indices(_batched(reference.max_pool3d_backward)),
        errors=_max_errors,
    ),
    OpRecord(
        name="avg_pool3d",
        op=avg_pool3d,
        reference=_batched(reference.avg_pool3d),
        samples=_samples(_AVG, 4100),
        torch=torch_functional("avg_pool3d"),
        backward=avg_pool3d_backward,
        reference_backward=_batched(reference.avg_pool3d_backward),
        errors=_avg_errors,
    ),
    OpRecord(
        name="adaptive_avg_pool3d",
        op=adaptive_avg_pool3d,
        reference=_batched(reference.adaptive_avg_pool3d),
        samples=_samples(_ADAPTIVE, 4200),
        torch=torch_functional("adaptive_avg_pool3d"),
        backward=adaptive_avg_pool3d_backward,
        reference_backward=_batched(reference.adaptive_avg_pool3d_backward),
        errors=lambda: _adaptive_errors(adaptive_avg_pool3d, adaptive_avg_pool3d_backward),
    ),
    OpRecord(
        name="adaptive_max_pool3d",
        op=adaptive_max_pool3d,
        reference=_batched(reference.adaptive_max_pool3d),
        samples=_samples(_ADAPTIVE_MAX, 4300),
        torch=torch_functional("adaptive_max_pool3d"),
        backward=_without_indices(adaptive_max_pool3d_backward),
        reference_backward=_without_indices(_batched(reference.adaptive_max_pool3d_backward)),
        errors=lambda: _adaptive_errors(adaptive_max_pool3d, adaptive_max_pool3d_backward),
    ),
    OpRecord(
        name="max_unpool3d",
        op=max_unpool3d,
        reference=_batched(reference.max_unpool3d),
        samples=unpool_samples(_UNPOOL, rank=3, seed=4400),
        torch=torch_functional("max_unpool3d"),
        backward=max_unpool3d_backward,
        reference_backward=_batched(reference.max_unpool3d_backward),
        errors=_unpool_errors,
    ),
]
