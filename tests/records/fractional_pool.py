"""Records for cnnmath.ops.pool.fractional: fractional max pooling, 2-D and 3-D. The op is
pure: each sample carries its random samples u (the second array, (N, C, 2) or (N, C, 3) in
[0, 1)), which PyTorch takes as ``_random_samples``; standard-normal x has distinct values in a
window with probability 1, so the gradient is unique."""

import numpy as np

from cnnmath import ops, reference
from opinfo import ErrorCase, OpRecord, Sample, randn


def _with_samples(fn):
    """The op or oracle called as (x, u, **options), u passed as ``_random_samples``."""
    return lambda x, u, **kw: fn(x, _random_samples=u, **kw)


def _backward_with_samples(fn):
    """A backward called with a forward sample's keywords (``return_indices`` only shapes the
    forward's result)."""
    return lambda g, x, u, return_indices=False, **kw: fn(g, x, _random_samples=u, **kw)


def _torch(rank):
    def call(torch, x, u, **kw):
        fn = getattr(torch.nn.functional, f"fractional_max_pool{rank}d")
        if isinstance(kw.get("output_ratio"), float):  # torch's functional 2-D takes len() of
            kw = {**kw, "output_ratio": (kw["output_ratio"],) * rank}  # it; its layer pairs it
        return fn(x, _random_samples=u, **kw)

    return call


def _u(batch, channels, rank, seed):
    """Samples in [0, 1) that stay below 1 when cast to float32."""
    return np.minimum(np.random.default_rng(100 + seed).random((batch, channels, rank)), 0.999)


def _name(shape, kw):
    return f"x{'x'.join(map(str, shape))}" + "".join(
        f"-{k}{v}".replace(" ", "") for k, v in kw.items()
    )


def _samples(table, rank):
    def build():
        out = []
        for i, (xs, kw) in enumerate(table):
            batch, channels = (1, xs[0]) if len(xs) == rank + 1 else xs[:2]
            out.append(
                Sample(_name(xs, kw), (randn(*xs, seed=i), _u(batch, channels, rank, i)), kw)
            )
        return out

    return build


# (x shape, options): output_size and output_ratio, square and oblong windows, overlapping
# windows (steps of 1 and 2), a step above 2 (input over twice the output), one output, an
# unbatched image, indices.
_TABLE_2D = [
    ((2, 3, 8, 8), {"kernel_size": 2, "output_size": 4}),
    ((1, 2, 9, 7), {"kernel_size": 3, "output_size": (5, 4)}),
    ((2, 1, 10, 11), {"kernel_size": (2, 3), "output_ratio": 0.5}),
    ((1, 2, 12, 9), {"kernel_size": 2, "output_ratio": (0.7, 0.4)}),
    ((1, 1, 20, 7), {"kernel_size": 2, "output_size": (6, 3)}),  # steps of 3 and 4
    ((2, 2, 6, 5), {"kernel_size": (3, 2), "output_size": 1}),
    ((1, 1, 5, 6), {"kernel_size": 1, "output_size": (5, 6)}),  # every element its window
    ((3, 7, 6), {"kernel_size": 2, "output_size": (3, 4)}),  # unbatched (C, H, W)
    ((2, 2, 9, 8), {"kernel_size": 3, "output_size": (4, 5), "return_indices": True}),
]
_TABLE_3D = [
    ((1, 2, 6, 7, 8), {"kernel_size": 2, "output_size": 3}),
    ((2, 1, 7, 6, 9), {"kernel_size": (3, 2, 2), "output_size": (2, 3, 4)}),
    ((1, 1, 8, 9, 10), {"kernel_size": 2, "output_ratio": (0.5, 0.6, 0.4)}),
    ((2, 5, 6, 7), {"kernel_size": (1, 2, 3), "output_size": (2, 2, 3)}),  # unbatched
    ((1, 2, 6, 6, 7), {"kernel_size": 2, "output_size": (3, 1, 4), "return_indices": True}),
]


def _errors(rank):
    op = getattr(ops, f"fractional_max_pool{rank}d")
    backward = getattr(ops, f"fractional_max_pool{rank}d_backward")
    x = randn(1, 2, *(8,) * rank)
    u = _u(1, 2, rank, 0)
    out = (8 - 2 + (rank == 2),) + (3,) * (rank - 1)  # the largest first axis torch takes
    y = op(x, 2, 3, _random_samples=u)

    def case(name, call, exception, match):
        return ErrorCase(name, call, exception, match)

    return [
        case("int-x", lambda: op(x.astype(int), 2, 3, _random_samples=u), TypeError, "x: .*float"),
        case(
            "missing-axes",
            lambda: op(x[0, 0], 2, 3, _random_samples=u[:1]),
            ValueError,
            r"x: expected a .*add the axes",
        ),
        case("kernel-0", lambda: op(x, 0, 3, _random_samples=u), ValueError, "kernel_size: .*>= 1"),
        case(
            "neither-size",
            lambda: op(x, 2, _random_samples=u),
            ValueError,
            "output_size, output_ratio: expected exactly one of them, got neither",
        ),
        case(
            "both-sizes",
            lambda: op(x, 2, 3, 0.5, _random_samples=u),
            ValueError,
            "output_size, output_ratio: expected exactly one of them, got both",
        ),
        case(
            "ratio-1",
            lambda: op(x, 2, output_ratio=1.0, _random_samples=u),
            ValueError,
            r"output_ratio: expected a finite number > 0 and < 1, got 1.0",
        ),
        case(
            "ratio-0",
            lambda: op(x, 2, output_ratio=0, _random_samples=u),
            ValueError,
            r"output_ratio: expected a finite number > 0 and < 1",
        ),
        case(
            "ratio-to-0",
            lambda: op(x, 2, output_ratio=0.1, _random_samples=u),
            ValueError,
            r"output_ratio: expected output sizes >= 1, got \(0,",
        ),
        case(
            "ratio-length",
            lambda: op(x, 2, output_ratio=(0.5,) * (rank + 1), _random_samples=u),
            TypeError,
            "output_ratio: expected a number or",
        ),
        case("output-0", lambda: op(x, 2, 0, _random_samples=u), ValueError, "output_size: .*>= 1"),
        case(  # one past the largest output torch takes along the first axis
            "too-large",
            lambda: op(x, 2, (out[0] + 1,) + out[1:], _random_samples=u),
            ValueError,
            r"kernel_size, output_size: expected output \+ kernel_size .*<= the input's size",
        ),
        case(
            "indices-flag",
            lambda: op(x, 2, 3, return_indices=1, _random_samples=u),
            TypeError,
            "return_indices: expected True or False",
        ),
        case(
            "no-samples",
            lambda: op(x, 2, 3),
            TypeError,
            rf"_random_samples: expected an array \(N, C, {rank}\) .*got None",
        ),
        case(
            "samples-channels",
            lambda: op(x, 2, 3, _random_samples=_u(1, 3, rank, 0)),
            ValueError,
            rf"_random_samples: expected shape \(N', 2, {rank}\) with N' >= 1",
        ),
        case(
            "samples-last-axis",
            lambda: op(x, 2, 3, _random_samples=_u(1, 2, rank + 1, 0)),
            ValueError,
            rf"_random_samples: expected shape \(N', 2, {rank}\)",
        ),
        case(
            "samples-batch",
            lambda: op(np.concatenate([x, x]), 2, 3, _random_samples=u),
            ValueError,
            r"_random_samples: expected shape .* with N' >= 2",
        ),
        case(
            "samples-dtype",
            lambda: op(x, 2, 3, _random_samples=u.astype(np.float32)),
            TypeError,
            "x is float64, _random_samples is float32",
        ),
        case(
            "samples-1",
            lambda: op(x, 2, 3, _random_samples=np.ones_like(u)),
            ValueError,
            r"_random_samples: expected values in \[0, 1\)",
        ),
        case(
            "samples-negative",
            lambda: op(x, 2, 3, _random_samples=u - 0.5),
            ValueError,
            r"_random_samples: expected values in \[0, 1\)",
        ),
        case(
            "samples-nan",
            lambda: op(x, 2, 3, _random_samples=np.full_like(u, np.nan)),
            ValueError,
            r"_random_samples: expected values in \[0, 1\).*nan",
        ),
        case(
            "grad-shape",
            lambda: backward(y[..., :-1], x, 2, 3, _random_samples=u),
            ValueError,
            "grad_output: expected shape",
        ),
        case(
            "grad-indices",
            lambda: backward(y, x, 2, 3, indices=np.zeros(y.shape[:-1], dtype=np.int64)),
            TypeError,
            "indices: expected an integer array",
        ),
        case(
            "grad-no-samples",
            lambda: backward(y, x, 2, 3),
            TypeError,
            "_random_samples: expected an array",
        ),
    ]


def _record(rank, table):
    name = f"fractional_max_pool{rank}d"
    return OpRecord(
        name=name,
        op=_with_samples(getattr(ops, name)),
        reference=_with_samples(getattr(reference, name)),
        samples=_samples(table, rank),
        torch=_torch(rank),
        backward=_backward_with_samples(getattr(ops, f"{name}_backward")),
        reference_backward=_backward_with_samples(getattr(reference, f"{name}_backward")),
        errors=lambda: _errors(rank),
    )


RECORDS = [_record(2, _TABLE_2D), _record(3, _TABLE_3D)]
