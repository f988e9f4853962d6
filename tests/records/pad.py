"""Records for cnnmath.ops.pad (constant, reflected, replicated and circular padding)."""

import numpy as np

from cnnmath import reference
from cnnmath.ops import pad2d, pad2d_backward
from opinfo import ErrorCase, OpRecord, Sample, randn


def _torch_pad(torch, x, padding, mode="constant", value=0.0):
    if isinstance(padding, int):
        padding = (padding,) * 4
    if mode == "constant":
        return torch.nn.functional.pad(x, padding, mode=mode, value=value)
    return torch.nn.functional.pad(x, padding, mode=mode)


def _samples():
    return [
        Sample("reflect", (randn(2, 3, 4, 5),), dict(padding=(1, 2, 3, 1), mode="reflect")),
        Sample("replicate", (randn(1, 2, 3, 3, seed=1),), dict(padding=2, mode="replicate")),
        Sample(
            "circular", (randn(2, 1, 4, 3, seed=2),), dict(padding=(3, 1, 2, 4), mode="circular")
        ),
        Sample("constant", (randn(2, 2, 3, 4, seed=3),), dict(padding=(1, 0, 2, 1), value=-1.5)),
        Sample("crop", (randn(1, 2, 5, 4, seed=4),), dict(padding=(-1, 2, 1, -2), mode="reflect")),
        Sample(
            "crop wrap", (randn(3, 5, 4, seed=5),), dict(padding=(2, -1, -2, 1), mode="circular")
        ),
        Sample(
            "unbatched", (randn(2, 3, 2, seed=6),), dict(padding=(1, 1, 0, 2), mode="replicate")
        ),
    ]


def _errors():
    x = np.zeros((1, 1, 3, 3))
    return [
        ErrorCase("mode", lambda: pad2d(x, 1, mode="edge"), ValueError, "mode: expected one of"),
        ErrorCase("padding", lambda: pad2d(x, (1, 2)), ValueError, "padding: expected"),
        ErrorCase("reflect", lambda: pad2d(x, 3, mode="reflect"), ValueError, "padding: reflect"),
        ErrorCase("crop", lambda: pad2d(x, (-2, -2, 0, 0)), ValueError, "padding: .* crops"),
        ErrorCase(
            "huge",
            lambda: pad2d(x, (0, 0, 10**12, 0), mode="replicate"),
            ValueError,
            "padding: .* more than this machine's memory",
        ),
        ErrorCase("ndim", lambda: pad2d(np.zeros(3), 1), ValueError, "x: expected shape"),
        ErrorCase("value", lambda: pad2d(x, 1, value="a"), TypeError, "value"),
        ErrorCase("int", lambda: pad2d(x.astype(int), 1), TypeError, "x"),
        ErrorCase(
            "grad shape",
            lambda: pad2d_backward(np.zeros((1, 1, 4, 4)), x, 1),
            ValueError,
            "grad_output",
        ),
    ]


RECORDS = [
    OpRecord(
        name="pad2d",
        op=pad2d,
        reference=reference.pad2d,
        samples=_samples,
        torch=_torch_pad,
        backward=lambda g, x, padding, mode="constant", value=0.0: pad2d_backward(
            g, x, padding, mode
        ),
        reference_backward=lambda g, x, padding, mode="constant", value=0.0: (
            reference.pad2d_backward(g, x, padding, mode)
        ),
        errors=_errors,
    ),
]
