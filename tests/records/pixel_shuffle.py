"""Records for cnnmath.ops.pixel_shuffle (pixel shuffle and unshuffle)."""

import numpy as np

from cnnmath import reference
from cnnmath.ops import (
    channel_shuffle,
    channel_shuffle_backward,
    pixel_shuffle,
    pixel_shuffle_backward,
    pixel_unshuffle,
    pixel_unshuffle_backward,
)
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional


def _shuffle_samples():
    return [
        Sample("espcn-3", (randn(2, 9, 3, 4),), dict(upscale_factor=3)),
        Sample("two-channels", (randn(1, 8, 2, 3, seed=1),), dict(upscale_factor=2)),
        Sample("unbatched", (randn(12, 3, 2, seed=2),), dict(upscale_factor=2)),
        Sample("5-d", (randn(2, 3, 4, 2, 3, seed=3),), dict(upscale_factor=2)),
        Sample("one", (randn(2, 3, 4, 5, seed=4),), dict(upscale_factor=1)),
    ]


def _unshuffle_samples():
    return [
        Sample("by-3", (randn(2, 1, 6, 9),), dict(downscale_factor=3)),
        Sample("two-channels", (randn(1, 2, 4, 6, seed=1),), dict(downscale_factor=2)),
        Sample("unbatched", (randn(3, 4, 2, seed=2),), dict(downscale_factor=2)),
        Sample("5-d", (randn(2, 3, 2, 4, 6, seed=3),), dict(downscale_factor=2)),
        Sample("one", (randn(2, 3, 4, 5, seed=4),), dict(downscale_factor=1)),
    ]


def _shuffle_errors():
    x = np.zeros((1, 8, 3, 3))
    return [
        ErrorCase("zero", lambda: pixel_shuffle(x, 0), ValueError, "upscale_factor: expected"),
        ErrorCase("bool", lambda: pixel_shuffle(x, True), TypeError, "upscale_factor: expected"),
        ErrorCase("float", lambda: pixel_shuffle(x, 2.0), TypeError, "upscale_factor: expected"),
        ErrorCase(
            "channels", lambda: pixel_shuffle(x, 3), ValueError, r"divisible by upscale_factor²"
        ),
        ErrorCase("ndim", lambda: pixel_shuffle(x[0, 0], 1), ValueError, "x: expected shape"),
        ErrorCase("int", lambda: pixel_shuffle(x.astype(int), 2), TypeError, "x: expected"),
        ErrorCase(
            "grad shape",
            lambda: pixel_shuffle_backward(np.zeros((1, 2, 6, 5)), 2),
            ValueError,
            "grad_output: expected height and width",
        ),
    ]


def _unshuffle_errors():
    x = np.zeros((1, 2, 6, 4))
    return [
        ErrorCase("zero", lambda: pixel_unshuffle(x, -1), ValueError, "downscale_factor"),
        ErrorCase("bool", lambda: pixel_unshuffle(x, True), TypeError, "downscale_factor"),
        ErrorCase("size", lambda: pixel_unshuffle(x, 3), ValueError, "divisible by downscale"),
        ErrorCase("ndim", lambda: pixel_unshuffle(x[0, 0], 2), ValueError, "x: expected shape"),
        ErrorCase("int", lambda: pixel_unshuffle(x.astype(int), 2), TypeError, "x: expected"),
        ErrorCase(
            "grad shape",
            lambda: pixel_unshuffle_backward(np.zeros((1, 6, 3, 2)), 2),
            ValueError,
            "grad_output: expected channels",
        ),
    ]


def _channel_shuffle_samples():
    return [
        Sample("shufflenet-2", (randn(2, 6, 3, 4),), dict(groups=2)),
        Sample("three-groups", (randn(1, 12, 2, 3, seed=1),), dict(groups=3)),
        Sample("one-group", (randn(2, 4, 3, 3, seed=2),), dict(groups=1)),
        Sample("one-per-group", (randn(2, 5, 4, seed=3),), dict(groups=5)),
        Sample("5-d", (randn(2, 4, 2, 3, 2, seed=4),), dict(groups=2)),
    ]


def _channel_shuffle_errors():
    x = np.zeros((1, 6, 2, 2))
    return [
        ErrorCase("zero", lambda: channel_shuffle(x, 0), ValueError, "groups: expected"),
        ErrorCase("bool", lambda: channel_shuffle(x, True), TypeError, "groups: expected"),
        ErrorCase("split", lambda: channel_shuffle(x, 4), ValueError, "divisible by groups"),
        ErrorCase("int", lambda: channel_shuffle(x.astype(int), 2), TypeError, "x: expected"),
        ErrorCase(
            "grad split",
            lambda: channel_shuffle_backward(np.zeros((1, 6, 2)), 4),
            ValueError,
            r"^channel_shuffle_backward: grad_output: expected channels \(axis 1\) divisible",
        ),
    ]


RECORDS = [
    OpRecord(
        name="channel_shuffle",
        op=channel_shuffle,
        reference=reference.channel_shuffle,
        samples=_channel_shuffle_samples,
        torch=torch_functional("channel_shuffle"),
        backward=lambda g, x, **kw: channel_shuffle_backward(g, **kw),
        reference_backward=lambda g, x, **kw: reference.channel_shuffle_backward(g, **kw),
        errors=_channel_shuffle_errors,
    ),
    OpRecord(
        name="pixel_shuffle",
        op=pixel_shuffle,
        reference=reference.pixel_shuffle,
        samples=_shuffle_samples,
        torch=torch_functional("pixel_shuffle"),
        backward=lambda g, x, **kw: pixel_shuffle_backward(g, **kw),
        reference_backward=lambda g, x, **kw: reference.pixel_shuffle_backward(g, **kw),
        errors=_shuffle_errors,
    ),
    OpRecord(
        name="pixel_unshuffle",
        op=pixel_unshuffle,
        reference=reference.pixel_unshuffle,
        samples=_unshuffle_samples,
        torch=torch_functional("pixel_unshuffle"),
        backward=lambda g, x, **kw: pixel_unshuffle_backward(g, **kw),
        reference_backward=lambda g, x, **kw: reference.pixel_unshuffle_backward(g, **kw),
        errors=_unshuffle_errors,
    ),
]
