"""Records for cnnmath.ops.pool: max, average and power-average (Lp, 1-D to 3-D) pooling with
every option, max unpooling and adaptive pooling. Max pooling needs distinct values in a window for a unique gradient, which
standard-normal draws give with probability 1."""

import numpy as np

from cnnmath import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_unpool2d,
    max_unpool2d_backward,
    ops,
    reference,
)
from cnnmath.ops import max_unpool1d, max_unpool1d_backward
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional


def _batched(fn):
    """A reference that takes (N, C, H, W) only, applied to an unbatched (C, H, W) too."""

    def call(*arrays, **kw):
        if arrays[-1].ndim == 4:
            return fn(*arrays, **kw)
        out = fn(*(a[None] for a in arrays), **kw)
        return tuple(o[0] for o in out) if isinstance(out, tuple) else out[0]

    return call


def _without_indices(backward):
    """A backward called with a forward sample's keywords: ``return_indices`` only shapes
    the forward's result, so the backward does not take it."""

    def call(*arrays, return_indices=False, **kw):
        return backward(*arrays, **kw)

    return call


def _name(shape, kw):
    return f"x{'x'.join(map(str, shape))}" + "".join(f"-{k}{v}" for k, v in kw.items())


def _samples(table):
    return lambda: [
        Sample(_name(xs, kw), (randn(*xs, seed=i),), kw) for i, (xs, kw) in enumerate(table)
    ]


# (x shape, options)
_COMMON = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((1, 2, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((2, 1, 6, 7), {"kernel_size": (3, 2), "stride": (1, 2), "padding": (1, 0)}),
    ((1, 2, 5, 5), {"kernel_size": 2, "stride": 1}),
    ((3, 6, 6), {"kernel_size": 3, "stride": 3}),  # unbatched (C, H, W)
]
_MAX = [
    *_COMMON,
    ((1, 2, 9, 8), {"kernel_size": 3, "stride": 1, "dilation": 2}),
    ((2, 1, 8, 9), {"kernel_size": (2, 3), "stride": 2, "padding": 1, "dilation": (3, 1)}),
    ((1, 2, 7, 7), {"kernel_size": 2, "ceil_mode": True}),
    # ceil_mode: the last window starts in x and runs past the right padding
    ((2, 1, 8, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 1, 6, 5), {"kernel_size": 2, "stride": 1, "padding": 1, "dilation": 2, "ceil_mode": True}),
    ((1, 2, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "return_indices": True}),
    (
        (2, 2, 9, 8),
        {
            "kernel_size": (3, 2),
            "stride": (2, 1),
            "padding": 1,
            "dilation": (2, 3),
            "ceil_mode": True,
            "return_indices": True,
        },
    ),
    ((3, 7, 6), {"kernel_size": 2, "ceil_mode": True, "return_indices": True}),  # unbatched
]
_AVG = [
    *_COMMON,
    ((1, 2, 8, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((2, 1, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    (
        (1, 2, 8, 7),
        {
            "kernel_size": (3, 2),
            "stride": 2,
            "padding": 1,
            "ceil_mode": True,
            "count_include_pad": False,
        },
    ),
    ((2, 1, 6, 6), {"kernel_size": 2, "divisor_override": 3}),
    (
        (1, 2, 7, 7),
        {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": 5},
    ),
    (
        (3, 7, 8),  # unbatched
        {
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "ceil_mode": True,
            "count_include_pad": False,
        },
    ),
    ((1, 1, 5, 9), {"kernel_size": (2, 4), "stride": (1, 3), "padding": (1, 2)}),
]


def _pool_errors(op):
    x = np.zeros((1, 2, 6, 6))
    return [
        ErrorCase("kernel-0", lambda: op(x, 0), ValueError, "kernel_size"),
        ErrorCase("stride-0", lambda: op(x, 2, stride=0), ValueError, "stride"),
        ErrorCase("padding-over-half", lambda: op(x, 2, padding=2), ValueError, "padding"),
        ErrorCase("padding-negative", lambda: op(x, 2, padding=-1), ValueError, "padding"),
        ErrorCase("2-D input", lambda: op(x[0, 0], 2), ValueError, r"x\[None, None\]"),
        ErrorCase("int input", lambda: op(x.astype(np.int64), 2), TypeError, "float"),
        ErrorCase("ceil_mode-int", lambda: op(x, 2, ceil_mode=1), TypeError, "ceil_mode"),
        ErrorCase("window-over-input", lambda: op(x, 7), ValueError, "kernel_size"),
    ]


def _max_errors():
    x = np.zeros((1, 2, 6, 6))
    return [
        *_pool_errors(max_pool2d),
        # PyTorch's bound is half the kernel size; dilation does not widen it
        ErrorCase(
            "padding-over-half-dilated",
            lambda: max_pool2d(x, 2, padding=2, dilation=3),
            ValueError,
            "padding: expected at most half",
        ),
        ErrorCase("dilation-0", lambda: max_pool2d(x, 2, dilation=0), ValueError, "dilation"),
        ErrorCase("dilation-str", lambda: max_pool2d(x, 2, dilation="2"), TypeError, "dilation"),
        ErrorCase(
            "dilated-window-reads-only-padding",  # taps at -1 and 6 of a length-6 axis
            lambda: max_pool2d(x, 2, stride=1, padding=1, dilation=7),
            ValueError,
            "dilation: expected every window to hold an element of x",
        ),
        ErrorCase(
            "window-a-stride-over-input",
            lambda: max_pool2d(x, 3, stride=1, dilation=4, ceil_mode=True),
            ValueError,
            "kernel_size: effective kernel height 9",
        ),
        ErrorCase(
            "return_indices-str",
            lambda: max_pool2d(x, 2, return_indices="yes"),
            TypeError,
            "return_indices",
        ),
        ErrorCase(
            "backward-grad-shape",
            lambda: max_pool2d_backward(np.zeros((1, 2, 2, 2)), x, 3, 2, ceil_mode=True),
            ValueError,
            r"grad_output: expected shape \(1, 2, 3, 3\)",
        ),
        ErrorCase(
            "backward-dilation-0",
            lambda: max_pool2d_backward(np.zeros((1, 2, 3, 3)), x, 2, dilation=0),
            ValueError,
            "dilation",
        ),
        ErrorCase(
            "backward-indices-float",
            lambda: max_pool2d_backward(
                np.zeros((1, 2, 3, 3)), x, 2, indices=np.zeros((1, 2, 3, 3))
            ),
            TypeError,
            "indices: expected an integer array",
        ),
        ErrorCase(
            "backward-indices-shape",
            lambda: max_pool2d_backward(
                np.zeros((1, 2, 3, 3)), x, 2, indices=np.zeros((1, 2, 3), dtype=np.int64)
            ),
            TypeError,
            r"indices: expected an integer array of grad_output's shape \(1, 2, 3, 3\)",
        ),
        ErrorCase(
            "backward-indices-outside-the-plane",
            lambda: max_pool2d_backward(
                np.zeros((1, 2, 3, 3)), x, 2, indices=np.full((1, 2, 3, 3), 36)
            ),
            ValueError,
            r"indices: expected positions in \[0, 36\)",
        ),
    ]


def _avg_errors():
    x = np.zeros((1, 2, 6, 6))
    return [
        *_pool_errors(avg_pool2d),
        ErrorCase(
            "count_include_pad-None",
            lambda: avg_pool2d(x, 2, count_include_pad=None),
            TypeError,
            "count_include_pad",
        ),
        ErrorCase(
            "divisor_override-0",
            lambda: avg_pool2d(x, 2, divisor_override=0),
            ValueError,
            "divisor_override: expected a nonzero int, got 0",
        ),
        ErrorCase(
            "divisor_override-float",
            lambda: avg_pool2d(x, 2, divisor_override=2.5),
            TypeError,
            "divisor_override",
        ),
        ErrorCase(
            "backward-divisor_override-0",
            lambda: avg_pool2d_backward(np.zeros((1, 2, 3, 3)), x, 2, divisor_override=0),
            ValueError,
            "divisor_override",
        ),
        ErrorCase(
            "backward-grad-shape",
            lambda: avg_pool2d_backward(np.zeros((1, 2, 3, 3)), x, 3, 2, 1, ceil_mode=True),
            ValueError,
            r"grad_output: expected shape \(1, 2, 4, 4\)",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# max_unpool2d: (x shape, options); the indices are distinct positions of each output plane,
# drawn at random (distinct, so that every value lands and the gather is the derivative)

_UNPOOL = [
    ((2, 3, 4, 4), {"kernel_size": 2}),
    ((1, 2, 3, 4), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 3, 4), {"kernel_size": 3, "stride": 2, "padding": 1, "output_size": (6, 8)}),
    ((2, 1, 3, 3), {"kernel_size": (2, 3), "stride": (2, 1), "output_size": (1, 1, 7, 5)}),
    ((3, 3, 3), {"kernel_size": 2}),  # unbatched
]


def _unpool_size(shape, kw, rank=2):
    if kw.get("output_size") is not None:
        return tuple(np.ravel(kw["output_size"])[-rank:])
    k = np.broadcast_to(kw["kernel_size"], rank)
    s = np.broadcast_to(kw.get("stride", k), rank)
    p = np.broadcast_to(kw.get("padding", 0), rank)
    return tuple(int((shape[-rank + a] - 1) * s[a] - 2 * p[a] + k[a]) for a in range(rank))


def unpool_samples(table, rank=2, seed=100):
    """Samples of max_unpool{rank}d: x and distinct random positions of each output plane
    (shared with records.volumetric for the 3-D op)."""

    def samples():
        out = []
        for i, (xs, kw) in enumerate(table):
            size = int(np.prod(_unpool_size(xs, kw, rank)))
            rng = np.random.default_rng(seed + i)
            planes = int(np.prod(xs[:-rank]))
            per_plane = int(np.prod(xs[-rank:]))
            indices = np.stack([rng.permutation(size)[:per_plane] for _ in range(planes)])
            x = randn(*xs, seed=seed + i)
            out.append(Sample(_name(xs, kw), (x, indices.reshape(xs).astype(np.int64)), kw))
        return out

    return samples


_unpool_samples = unpool_samples(_UNPOOL)

# max_unpool1d: the same scatter over signals (N, C, L)
_UNPOOL_1D = [
    ((2, 3, 5), {"kernel_size": 2}),
    ((1, 2, 4), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 4), {"kernel_size": 3, "stride": 2, "padding": 1, "output_size": (8,)}),
    ((2, 1, 3), {"kernel_size": (2,), "stride": (3,), "output_size": (2, 1, 8)}),
    ((3, 4), {"kernel_size": 2}),  # one signal
]


def _batched_1d(fn):
    """A 1-D reference (N, C, L only) applied to one signal (C, L) too."""

    def call(*arrays, **kw):
        if arrays[-1].ndim == 3:
            return fn(*arrays, **kw)
        return fn(*(a[None] for a in arrays), **kw)[0]

    return call


def _unpool_1d_errors():
    x = np.zeros((1, 2, 3))
    ok = np.array([[[0, 3, 5], [1, 2, 4]]])  # positions in a signal of 6
    return [
        ErrorCase("index-past-end", lambda: max_unpool1d(x, ok + 1, 2), ValueError, r"\[0, 6\)"),
        ErrorCase("indices-float", lambda: max_unpool1d(x, ok * 1.0, 2), TypeError, "indices"),
        ErrorCase("indices-shape", lambda: max_unpool1d(x, ok[:, :1], 2), TypeError, "max_pool1d"),
        ErrorCase(
            "output_size-out-of-range",
            lambda: max_unpool1d(x, ok, 2, output_size=(8,)),
            ValueError,
            "output_size: expected sizes >= 1 strictly between",
        ),
        ErrorCase(
            "output_size-2-entries",
            lambda: max_unpool1d(x, ok, 2, output_size=(1, 6)),
            TypeError,
            r"output_size: expected None or \(L,\)",
        ),
        ErrorCase("kernel-pair", lambda: max_unpool1d(x, ok, (2, 2)), TypeError, "kernel_size"),
        ErrorCase("stride-0", lambda: max_unpool1d(x, ok, 2, stride=0), ValueError, "stride"),
        ErrorCase("1-D input", lambda: max_unpool1d(x[0, 0], ok[0, 0], 2), ValueError, r"x\[None"),
        ErrorCase("int input", lambda: max_unpool1d(x.astype(np.int32), ok, 2), TypeError, "float"),
        ErrorCase(
            "backward-grad-shape",
            lambda: max_unpool1d_backward(np.zeros((1, 2, 5)), x, ok, 2),
            ValueError,
            r"grad_output: expected shape \(1, 2, 6\)",
        ),
    ]


def _unpool_errors():
    x = np.zeros((1, 2, 3, 3))
    ok = np.arange(9).reshape(1, 1, 3, 3).repeat(2, axis=1)  # positions in a 6x6 plane
    g = np.zeros((1, 2, 6, 6))
    return [
        ErrorCase(
            "index-past-plane",
            lambda: max_unpool2d(x, ok + 28, 2),
            ValueError,
            r"indices.*\[0, 36\)",
        ),
        ErrorCase("index-negative", lambda: max_unpool2d(x, ok - 1, 2), ValueError, "indices"),
        ErrorCase(
            "indices-float", lambda: max_unpool2d(x, ok * 1.0, 2), TypeError, "indices: expected"
        ),
        ErrorCase(
            "indices-shape", lambda: max_unpool2d(x, ok[:, :1], 2), TypeError, "indices: expected"
        ),
        ErrorCase("indices-list", lambda: max_unpool2d(x, [0], 2), TypeError, "indices"),
        ErrorCase(
            "output_size-out-of-range",
            lambda: max_unpool2d(x, ok, 2, output_size=(8, 6)),
            ValueError,
            "output_size: expected sizes >= 1 strictly between",
        ),
        ErrorCase(
            "output_size-3-entries",
            lambda: max_unpool2d(x, ok, 2, output_size=(1, 6, 6)),
            TypeError,
            "output_size",
        ),
        ErrorCase("kernel-0", lambda: max_unpool2d(x, ok, 0), ValueError, "kernel_size"),
        ErrorCase("stride-0", lambda: max_unpool2d(x, ok, 2, stride=0), ValueError, "stride"),
        ErrorCase(
            "empty-output", lambda: max_unpool2d(x, ok, 2, 1, padding=2), ValueError, "padding"
        ),
        ErrorCase("2-D input", lambda: max_unpool2d(x[0, 0], ok[0, 0], 2), ValueError, "x"),
        ErrorCase("int input", lambda: max_unpool2d(x.astype(np.int32), ok, 2), TypeError, "float"),
        ErrorCase(
            "backward-grad-shape",
            lambda: max_unpool2d_backward(g[..., :5], x, ok, 2),
            ValueError,
            r"grad_output: expected shape \(1, 2, 6, 6\)",
        ),
        ErrorCase(
            "backward-index-past-plane",
            lambda: max_unpool2d_backward(g, x, ok + 28, 2),
            ValueError,
            "indices",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Adaptive pooling: (x shape, output_size or options)

_ADAPTIVE = [
    ((2, 3, 8, 8), {"output_size": 4}),  # windows are tiles
    ((1, 2, 7, 9), {"output_size": (3, 4)}),  # windows of unequal length, overlapping
    ((2, 2, 5, 6), {"output_size": 1}),  # global pooling
    ((1, 2, 6, 10), {"output_size": (None, 3)}),
    ((3, 7, 5), {"output_size": (4, 3)}),  # unbatched
    ((1, 1, 3, 4), {"output_size": (5, 7)}),  # more cells than elements
    ((1, 2, 10, 10), {"output_size": 7}),
    ((2, 1, 9, 5), {"output_size": (2, None)}),
]
_ADAPTIVE_MAX = [
    *_ADAPTIVE,
    ((1, 2, 7, 9), {"output_size": (3, 4), "return_indices": True}),
    ((3, 7, 5), {"output_size": (4, 3), "return_indices": True}),
    ((1, 1, 3, 4), {"output_size": (5, 7), "return_indices": True}),
    ((2, 2, 5, 6), {"output_size": 1, "return_indices": True}),
]


def _adaptive_errors(op, backward):
    x = np.zeros((1, 2, 6, 6))
    return [
        ErrorCase("output_size-0", lambda: op(x, 0), ValueError, "output_size: expected sizes"),
        ErrorCase("output_size-negative", lambda: op(x, (-1, 2)), ValueError, "output_size"),
        ErrorCase("output_size-3-entries", lambda: op(x, (2, 3, 4)), TypeError, "output_size"),
        ErrorCase("output_size-float", lambda: op(x, 2.5), TypeError, "output_size"),
        ErrorCase("output_size-bool", lambda: op(x, (True, 2)), TypeError, "output_size"),
        ErrorCase("2-D input", lambda: op(x[0, 0], 2), ValueError, r"x\[None, None\]"),
        ErrorCase("int input", lambda: op(x.astype(np.int64), 2), TypeError, "float"),
        ErrorCase(
            "empty input", lambda: op(np.zeros((1, 2, 0, 6)), 2), ValueError, "x: expected height"
        ),
        ErrorCase(
            "backward-grad-shape",
            lambda: backward(np.zeros((1, 2, 3, 3)), x, (3, 2)),
            ValueError,
            r"grad_output: expected shape \(1, 2, 3, 2\)",
        ),
        ErrorCase(
            "backward-output_size-0",
            lambda: backward(np.zeros((1, 2, 3, 3)), x, 0),
            ValueError,
            "output_size",
        ),
    ]


def _adaptive_max_errors():
    x = np.zeros((1, 2, 6, 6))
    return [
        *_adaptive_errors(adaptive_max_pool2d, adaptive_max_pool2d_backward),
        ErrorCase(
            "return_indices-int",
            lambda: adaptive_max_pool2d(x, 2, return_indices=1),
            TypeError,
            "return_indices",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Power-average (Lp) pooling: (x shape, options). X^p of a negative element is NaN unless p is
# an integer and an odd p's window sum may be negative, so x is positive except for p = 1, 2
# and inf (where any sign is defined and differentiable away from ties and zeros).

_LP_2D = [
    ((2, 3, 6, 6), {"norm_type": 2, "kernel_size": 2}),
    ((1, 2, 7, 9), {"norm_type": 3, "kernel_size": 3, "stride": 2}),
    ((2, 1, 7, 8), {"norm_type": 1.5, "kernel_size": (3, 2), "stride": (2, 1), "ceil_mode": True}),
    ((1, 2, 7, 7), {"norm_type": 0.5, "kernel_size": 2, "ceil_mode": True}),
    ((1, 2, 6, 5), {"norm_type": np.inf, "kernel_size": 2, "stride": 1}),
    ((1, 1, 5, 7), {"norm_type": 1, "kernel_size": 2, "stride": (1, 3)}),
    ((3, 6, 6), {"norm_type": 2, "kernel_size": 3}),  # unbatched
]
_LP_1D = [
    ((2, 3, 9), {"norm_type": 2, "kernel_size": 3}),
    ((1, 2, 10), {"norm_type": 2.5, "kernel_size": 3, "stride": (2,), "ceil_mode": True}),
    ((2, 2, 7), {"norm_type": np.inf, "kernel_size": 2, "stride": 1}),
    ((3, 8), {"norm_type": 0.75, "kernel_size": 2}),  # one signal
]
_LP_3D = [
    ((1, 2, 4, 4, 4), {"norm_type": 2, "kernel_size": 2}),
    ((2, 1, 5, 6, 5), {"norm_type": 1.5, "kernel_size": (2, 3, 2), "stride": 2, "ceil_mode": True}),
    ((1, 2, 4, 5, 4), {"norm_type": np.inf, "kernel_size": (2, 2, 3), "stride": 1}),
    ((2, 4, 4, 4), {"norm_type": 3, "kernel_size": 2}),  # unbatched
]


def _lp_samples(table, seed):
    def samples():
        out = []
        for i, (xs, kw) in enumerate(table):
            x = randn(*xs, seed=seed + i)
            if kw["norm_type"] not in (1, 2, np.inf):
                x = np.abs(x) + 0.2
            out.append(Sample(_name(xs, kw), (x,), kw))
        return out

    return samples


def _lp_batched(fn, rank):
    """A reference that takes batched input only, applied to an unbatched one too."""

    def call(*arrays, **kw):
        if arrays[-1].ndim == rank + 2:
            return fn(*arrays, **kw)
        return fn(*(a[None] for a in arrays), **kw)[0]

    return call


def _lp_errors(rank):
    op, backward = getattr(ops, f"lp_pool{rank}d"), getattr(ops, f"lp_pool{rank}d_backward")
    x = np.ones((1, 2) + (6,) * rank)
    g = np.ones((1, 2) + (3,) * rank)
    return [
        ErrorCase(
            "norm_type-0", lambda: op(x, 0, 2), ValueError, "norm_type: expected a number > 0"
        ),
        ErrorCase("norm_type-negative", lambda: op(x, -1.0, 2), ValueError, "norm_type"),
        ErrorCase("norm_type-minus-inf", lambda: op(x, -np.inf, 2), ValueError, "norm_type"),
        ErrorCase("norm_type-nan", lambda: op(x, np.nan, 2), ValueError, "norm_type"),
        ErrorCase("norm_type-bool", lambda: op(x, True, 2), TypeError, "norm_type"),
        ErrorCase("norm_type-str", lambda: op(x, "2", 2), TypeError, "norm_type"),
        ErrorCase("kernel-0", lambda: op(x, 2, 0), ValueError, "kernel_size"),
        ErrorCase("kernel-float", lambda: op(x, 2, 2.5), TypeError, "kernel_size"),
        ErrorCase("stride-0", lambda: op(x, 2, 2, stride=0), ValueError, "stride"),
        ErrorCase("window-over-input", lambda: op(x, 2, 7), ValueError, "kernel_size"),
        ErrorCase("ceil_mode-int", lambda: op(x, 2, 2, ceil_mode=1), TypeError, "ceil_mode"),
        ErrorCase("int input", lambda: op(x.astype(np.int64), 2, 2), TypeError, "float"),
        ErrorCase("too few axes", lambda: op(x[0, 0], 2, 2), ValueError, "x"),
        ErrorCase(
            "backward-grad-shape",
            lambda: backward(g[..., :2], x, 2, 2),
            ValueError,
            "grad_output",
        ),
    ]


RECORDS = [
    OpRecord(
        name="max_pool2d",
        op=max_pool2d,
        reference=_batched(reference.max_pool2d),
        samples=_samples(_MAX),
        torch=torch_functional("max_pool2d"),
        backward=_without_indices(max_pool2d_backward),
        reference_backward=_without_indices(_batched(reference.max_pool2d_backward)),
        errors=_max_errors,
    ),
    OpRecord(
        name="avg_pool2d",
        op=avg_pool2d,
        reference=_batched(reference.avg_pool2d),
        samples=_samples(_AVG),
        torch=torch_functional("avg_pool2d"),
        backward=avg_pool2d_backward,
        reference_backward=_batched(reference.avg_pool2d_backward),
        errors=_avg_errors,
    ),
    OpRecord(
        name="max_unpool2d",
        op=max_unpool2d,
        reference=_batched(reference.max_unpool2d),
        samples=_unpool_samples,
        torch=torch_functional("max_unpool2d"),
        backward=max_unpool2d_backward,
        reference_backward=_batched(reference.max_unpool2d_backward),
        errors=_unpool_errors,
    ),
    OpRecord(
        name="max_unpool1d",
        op=max_unpool1d,
        reference=_batched_1d(reference.max_unpool1d),
        samples=unpool_samples(_UNPOOL_1D, rank=1, seed=150),
        torch=torch_functional("max_unpool1d"),
        backward=max_unpool1d_backward,
        reference_backward=_batched_1d(reference.max_unpool1d_backward),
        errors=_unpool_1d_errors,
    ),
    OpRecord(
        name="adaptive_avg_pool2d",
        op=adaptive_avg_pool2d,
        reference=_batched(reference.adaptive_avg_pool2d),
        samples=_samples(_ADAPTIVE),
        torch=torch_functional("adaptive_avg_pool2d"),
        backward=adaptive_avg_pool2d_backward,
        reference_backward=_batched(reference.adaptive_avg_pool2d_backward),
        errors=lambda: _adaptive_errors(adaptive_avg_pool2d, adaptive_avg_pool2d_backward),
    ),
    OpRecord(
        name="adaptive_max_pool2d",
        op=adaptive_max_pool2d,
        reference=_batched(reference.adaptive_max_pool2d),
        samples=_samples(_ADAPTIVE_MAX),
        torch=torch_functional("adaptive_max_pool2d"),
        backward=_without_indices(adaptive_max_pool2d_backward),
        reference_backward=_without_indices(_batched(reference.adaptive_max_pool2d_backward)),
        errors=_adaptive_max_errors,
    ),
    *(
        OpRecord(
            name=f"lp_pool{rank}d",
            op=getattr(ops, f"lp_pool{rank}d"),
            reference=_lp_batched(getattr(reference, f"lp_pool{rank}d"), rank),
            samples=_lp_samples(table, seed=200 + 20 * rank),
            torch=torch_functional(f"lp_pool{rank}d"),
            backward=getattr(ops, f"lp_pool{rank}d_backward"),
            reference_backward=_lp_batched(getattr(reference, f"lp_pool{rank}d_backward"), rank),
            errors=lambda rank=rank: _lp_errors(rank),
        )
        for rank, table in ((1, _LP_1D), (2, _LP_2D), (3, _LP_3D))
    ),
]
