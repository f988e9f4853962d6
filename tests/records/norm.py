"""Records for cnnmath.ops.norm: batch_norm, group_norm, layer_norm, rms_norm.

batch_norm has two records. "batch_norm" holds the calls that write nothing (evaluation, and
training without running statistics) and checks every gradient. "batch_norm_running_stats"
holds training calls that update running_mean and running_var in place (positions 1 and 2 in
``mutates``); its op returns (y, running_mean, running_var) after the call, so the updated
statistics are compared with the reference loops and with PyTorch like any output. It has no
backward in the record: the generic finite-difference test hands the op the same arrays on
every call and (rightly, for any other op) fails on an in-place write. The gradient of those
calls does not depend on the running statistics; tests/test_norm.py checks it against
PyTorch and finite differences with the statistics given.
"""

import numpy as np

from cnnmath import (
    batch_norm,
    batch_norm_backward,
    group_norm,
    group_norm_backward,
    layer_norm,
    layer_norm_backward,
    reference,
    rms_norm,
    rms_norm_backward,
)
from opinfo import ErrorCase, OpRecord, Sample, randn, rng

# ---------------------------------------------------------------------------------------------
# batch_norm


def _stats(C, seed):
    """running_mean (standard normal) and running_var (in [0.5, 1.5): positive)."""
    return randn(C, seed=seed), rng(seed + 1).random(C) + 0.5


def _batch_norm_samples():
    # (x shape, running stats?, weight?, bias?, kwargs)
    table = [
        ("eval-4d-affine", (2, 3, 4, 5), True, True, True, {}),
        ("eval-2d-plain", (5, 4), True, False, False, {}),
        ("eval-3d-weight-eps", (3, 2, 6), True, True, False, {"eps": 1e-3}),
        ("eval-4d-bias-only", (1, 3, 2, 3), True, False, True, {"training": False}),
        ("train-4d-affine", (3, 4, 3, 5), False, True, True, {"training": True}),
        ("train-2d-plain", (6, 3), False, False, False, {"training": True}),
        ("train-3d-bias-eps", (2, 3, 7), False, False, True, {"training": True, "eps": 1e-2}),
        ("train-4d-1x1", (5, 2, 1, 1), False, True, False, {"training": True}),
        ("train-4d-one-sample", (1, 2, 3, 4), False, True, True, {"training": True}),
    ]
    samples = []
    for i, (name, shape, stats, w, b, kw) in enumerate(table):
        C = shape[1]
        rm, rv = _stats(C, 10 * i + 1) if stats else (None, None)
        arrays = (
            randn(*shape, seed=10 * i) * 2 + 0.5,
            rm,
            rv,
            randn(C, seed=10 * i + 3) if w else None,
            randn(C, seed=10 * i + 4) if b else None,
        )
        samples.append(Sample(name, arrays, kw))
    return samples


def _running_stats_samples():
    table = [
        ("4d-affine", (3, 4, 3, 5), True, True, {}),
        ("2d-momentum-0.3", (5, 3), False, False, {"momentum": 0.3}),
        (
            "3d-cumulative-3rd-batch",
            (2, 3, 6),
            True,
            False,
            {"momentum": None, "num_batches_tracked": 3},
        ),
        (
            "4d-cumulative-1st-batch",
            (2, 2, 3, 2),
            False,
            True,
            {"momentum": None, "num_batches_tracked": 1},
        ),
        ("3d-momentum-0", (4, 2, 3), True, True, {"momentum": 0.0}),
        ("4d-momentum-1-eps", (2, 3, 2, 2), False, False, {"momentum": 1.0, "eps": 1e-3}),
    ]
    samples = []
    for i, (name, shape, w, b, kw) in enumerate(table):
        C = shape[1]
        rm, rv = _stats(C, 10 * i + 101)
        arrays = (
            randn(*shape, seed=10 * i + 100) * 1.5 - 0.7,
            rm,
            rv,
            randn(C, seed=10 * i + 103) if w else None,
            randn(C, seed=10 * i + 104) if b else None,
        )
        samples.append(Sample(name, arrays, {"training": True, **kw}))
    return samples


def _bn_backward(backward):
    def call(g, x, rm, rv, w, b, training=False, momentum=0.1, eps=1e-5, num_batches_tracked=None):
        gx, gw, gb = backward(g, x, rm, rv, w, training=training, eps=eps)
        return (gx,) + ((gw,) if w is not None else ()) + ((gb,) if b is not None else ())

    return call


def _torch_batch_norm(
    torch, x, rm, rv, w, b, training=False, momentum=0.1, eps=1e-5, num_batches_tracked=None
):
    """PyTorch's functional form takes the factor itself; its module passes
    1/num_batches_tracked for momentum=None (the count including this batch)."""
    factor = momentum if momentum is not None else 1.0 / num_batches_tracked
    return torch.nn.functional.batch_norm(x, rm, rv, w, b, training, factor, eps)


def _with_stats(op):
    """The op, returning the running statistics it updated in place beside y."""

    def call(x, rm, rv, *rest, **kw):
        return op(x, rm, rv, *rest, **kw), rm, rv

    return call


def _torch_with_stats(torch, x, rm, rv, *rest, **kw):
    return _torch_batch_norm(torch, x, rm, rv, *rest, **kw), rm, rv


def _batch_norm_errors():
    x, rm, rv = np.zeros((2, 3, 4)), np.zeros(3), np.ones(3)
    one = np.ones(2)
    f32 = x.astype(np.float32)
    return [
        ErrorCase(
            "weight-length",
            lambda: batch_norm(x, rm, rv, one),
            ValueError,
            r"batch_norm: weight: expected shape \(3,\).*got \(2,\)",
        ),
        ErrorCase(
            "bias-length",
            lambda: batch_norm(x, rm, rv, None, one),
            ValueError,
            r"bias: expected shape \(3,\).*got \(2,\)",
        ),
        ErrorCase(
            "running-mean-length",
            lambda: batch_norm(x, one, rv),
            ValueError,
            r"running_mean: expected shape \(3,\).*got \(2,\)",
        ),
        ErrorCase(
            "running-var-length",
            lambda: batch_norm(x, rm, one, training=True),
            ValueError,
            r"running_var: expected shape \(3,\)",
        ),
        ErrorCase(
            "eps-0",
            lambda: batch_norm(x, rm, rv, eps=0.0),
            ValueError,
            r"eps: expected a finite number > 0, got 0\.0",
        ),
        ErrorCase(
            "eps-negative",
            lambda: batch_norm(x, rm, rv, training=True, eps=-1e-5),
            ValueError,
            "eps: expected",
        ),
        ErrorCase(
            "eps-nan",
            lambda: batch_norm(x, rm, rv, eps=float("nan")),
            ValueError,
            "eps: expected a finite number",
        ),
        ErrorCase(
            "eps-inf",
            lambda: batch_norm(x, rm, rv, eps=float("inf")),
            ValueError,
            "eps: expected a finite number",
        ),
        ErrorCase(
            "one-value-per-channel",
            lambda: batch_norm(np.zeros((1, 3)), None, None, training=True),
            ValueError,
            r"x: expected more than 1 value per channel when training.*\(1, 3\)",
        ),
        ErrorCase(
            "mixed-dtype", lambda: batch_norm(f32, rm, rv), TypeError, "running_mean is float64"
        ),
        ErrorCase(
            "mixed-dtype-weight",
            lambda: batch_norm(x, rm, rv, np.ones(3, np.float32)),
            TypeError,
            "weight is float32",
        ),
        ErrorCase(
            "eval-without-stats",
            lambda: batch_norm(x, None, None),
            ValueError,
            r"running_mean: expected an array of shape \(3,\) in evaluation mode.*got None",
        ),
        ErrorCase(
            "1-d-x",
            lambda: batch_norm(np.zeros(3), rm, rv),
            ValueError,
            r"x: expected an array \(N, C, \*\) with at least 2 axes, got 1-D",
        ),
        ErrorCase(
            "int-x",
            lambda: batch_norm(x.astype(np.int64), rm, rv),
            TypeError,
            "x: expected dtype float32 or float64",
        ),
        ErrorCase(
            "training-not-bool",
            lambda: batch_norm(x, rm, rv, training=1),
            TypeError,
            "training: expected a bool, got int",
        ),
        ErrorCase(
            "backward-grad-shape",
            lambda: batch_norm_backward(np.zeros((2, 3, 5)), x, rm, rv),
            ValueError,
            r"grad_output: expected x's shape \(2, 3, 4\).*got \(2, 3, 5\)",
        ),
        ErrorCase(
            "backward-grad-dtype",
            lambda: batch_norm_backward(f32, x, rm, rv),
            TypeError,
            "grad_output is float32",
        ),
        ErrorCase(
            "backward-one-value",
            lambda: batch_norm_backward(
                np.zeros((1, 3)), np.zeros((1, 3)), None, None, training=True
            ),
            ValueError,
            "more than 1 value per channel",
        ),
    ]


def _running_stats_errors():
    """The arguments of the in-place update."""
    x, rm, rv = np.zeros((2, 3, 4)), np.zeros(3), np.ones(3)
    read_only = np.zeros(3)
    read_only.flags.writeable = False
    return [
        ErrorCase(
            "momentum-negative",
            lambda: batch_norm(x, rm, rv, training=True, momentum=-0.1),
            ValueError,
            r"momentum: expected .*>= 0 and <= 1, got -0\.1",
        ),
        ErrorCase(
            "momentum-over-1",
            lambda: batch_norm(x, rm, rv, training=True, momentum=1.5),
            ValueError,
            r"momentum: expected .*<= 1, got 1\.5",
        ),
        ErrorCase(
            "one-value-per-channel-4d",
            lambda: batch_norm(np.zeros((1, 3, 1, 1)), rm, rv, training=True),
            ValueError,
            "more than 1 value per channel",
        ),
        ErrorCase(
            "cumulative-without-count",
            lambda: batch_norm(x, rm, rv, training=True, momentum=None),
            ValueError,
            r"num_batches_tracked: expected an int >= 1 with momentum=None .*got None",
        ),
        ErrorCase(
            "cumulative-count-0",
            lambda: batch_norm(x, rm, rv, training=True, momentum=None, num_batches_tracked=0),
            ValueError,
            "num_batches_tracked: expected an int >= 1, got 0",
        ),
        ErrorCase(
            "one-running-stat",
            lambda: batch_norm(x, rm, None, training=True),
            ValueError,
            "running_mean, running_var: expected both arrays or both None",
        ),
        ErrorCase(
            "read-only-stats",
            lambda: batch_norm(x, read_only, rv, training=True),
            ValueError,
            "running_mean: expected a writable array",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# group_norm and layer_norm: arrays (x, weight, bias), the shape argument in kwargs


def _affine_samples(table, seed0):
    samples = []
    for i, (name, shape, param_shape, w, b, kw) in enumerate(table):
        s = seed0 + 10 * i
        arrays = (
            randn(*shape, seed=s) * 1.5 + 0.3,
            randn(*param_shape, seed=s + 1) if w else None,
            randn(*param_shape, seed=s + 2) if b else None,
        )
        samples.append(Sample(name, arrays, kw))
    return samples


def _group_norm_samples():
    return _affine_samples(
        [
            ("4d-3-groups-affine", (2, 6, 4, 5), (6,), True, True, {"num_groups": 3}),
            ("2d-2-groups", (3, 6), (6,), False, False, {"num_groups": 2}),
            ("3d-instance-weight", (2, 6, 7), (6,), True, False, {"num_groups": 6}),
            ("4d-1-group-bias", (2, 6, 3, 4), (6,), False, True, {"num_groups": 1}),
            ("4d-4-groups-eps", (1, 8, 3, 3), (8,), True, True, {"num_groups": 4, "eps": 1e-3}),
        ],
        200,
    )


def _layer_norm_samples():
    return _affine_samples(
        [
            ("2d-last-axis-affine", (4, 6), (6,), True, True, {"normalized_shape": (6,)}),
            ("4d-last-two-weight", (2, 3, 4, 5), (4, 5), True, False, {"normalized_shape": (4, 5)}),
            ("4d-chw", (2, 3, 4, 5), (3, 4, 5), False, False, {"normalized_shape": (3, 4, 5)}),
            ("2d-int-shape-bias", (3, 5), (5,), False, True, {"normalized_shape": 5}),
            ("3d-eps", (2, 1, 7), (1, 7), True, True, {"normalized_shape": (1, 7), "eps": 1e-3}),
            ("1d-one-row", (8,), (8,), True, True, {"normalized_shape": (8,)}),
        ],
        300,
    )


def _affine_backward(backward, shape_key):
    def call(g, x, w, b, eps=1e-5, **kw):
        gx, gw, gb = backward(g, x, kw[shape_key], w, eps=eps)
        return (gx,) + ((gw,) if w is not None else ()) + ((gb,) if b is not None else ())

    return call


def _group_norm(op):
    return lambda x, w, b, num_groups, eps=1e-5: op(x, num_groups, w, b, eps)


def _layer_norm(op):
    return lambda x, w, b, normalized_shape, eps=1e-5: op(x, normalized_shape, w, b, eps)


def _torch_group_norm(torch, x, w, b, num_groups, eps=1e-5):
    if w is None and b is not None:
        # PyTorch 2.13's backward fails ("tensor does not have a device") for a bias without
        # a weight; a constant γ = 1 that takes no gradient is the same computation.
        w = torch.ones(x.shape[1], dtype=x.dtype)
    return torch.nn.functional.group_norm(x, num_groups, w, b, eps)


def _torch_layer_norm(torch, x, w, b, normalized_shape, eps=1e-5):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    return torch.nn.functional.layer_norm(x, shape, w, b, eps)


def _group_norm_errors():
    x = np.zeros((2, 6, 3))
    f32 = x.astype(np.float32)
    return [
        ErrorCase(
            "groups-not-dividing",
            lambda: group_norm(x, 4),
            ValueError,
            r"group_norm: num_groups: expected a divisor of the 6 channels.*got 4",
        ),
        ErrorCase(
            "groups-0",
            lambda: group_norm(x, 0),
            ValueError,
            "num_groups: expected an int >= 1, got 0",
        ),
        ErrorCase(
            "groups-float", lambda: group_norm(x, 2.0), TypeError, "num_groups: expected an int"
        ),
        ErrorCase(
            "weight-length",
            lambda: group_norm(x, 2, np.ones(3)),
            ValueError,
            r"weight: expected shape \(6,\).*got \(3,\)",
        ),
        ErrorCase(
            "bias-length",
            lambda: group_norm(x, 2, None, np.ones(2)),
            ValueError,
            r"bias: expected shape \(6,\).*got \(2,\)",
        ),
        ErrorCase(
            "eps-0",
            lambda: group_norm(x, 2, eps=0),
            ValueError,
            "eps: expected a finite number > 0, got 0",
        ),
        ErrorCase(
            "eps-inf",
            lambda: group_norm(x, 2, eps=float("inf")),
            ValueError,
            "eps: expected a finite number",
        ),
        ErrorCase(
            "mixed-dtype", lambda: group_norm(f32, 2, np.ones(6)), TypeError, "weight is float64"
        ),
        ErrorCase("1-d-x", lambda: group_norm(np.zeros(6), 2), ValueError, "x: expected an array"),
        ErrorCase(
            "backward-grad-shape",
            lambda: group_norm_backward(np.zeros((2, 6)), x, 2),
            ValueError,
            r"grad_output: expected x's shape",
        ),
        ErrorCase(
            "backward-groups",
            lambda: group_norm_backward(x, x, 5),
            ValueError,
            "num_groups: expected a divisor",
        ),
    ]


def _layer_norm_errors():
    x = np.zeros((2, 6, 4))
    f32 = x.astype(np.float32)
    return [
        ErrorCase(
            "shape-not-trailing",
            lambda: layer_norm(x, (5,)),
            ValueError,
            r"layer_norm: normalized_shape: expected the trailing axes of x \(shape \(2, 6, 4\)\), got \(5,\)",
        ),
        ErrorCase(
            "shape-leading-axes",
            lambda: layer_norm(x, (2, 6)),
            ValueError,
            "normalized_shape: expected the trailing axes",
        ),
        ErrorCase(
            "shape-longer-than-x",
            lambda: layer_norm(np.zeros(4), (1, 4)),
            ValueError,
            "normalized_shape: expected the trailing axes",
        ),
        ErrorCase(
            "shape-empty",
            lambda: layer_norm(x, ()),
            TypeError,
            r"normalized_shape: expected an int or a non-empty tuple of ints",
        ),
        ErrorCase(
            "shape-0",
            lambda: layer_norm(np.zeros((2, 0)), 0),
            ValueError,
            "normalized_shape: expected sizes >= 1, got",
        ),
        ErrorCase(
            "weight-shape",
            lambda: layer_norm(x, (6, 4), np.ones(4)),
            ValueError,
            r"weight: expected normalized_shape \(6, 4\), got shape \(4,\)",
        ),
        ErrorCase(
            "bias-shape",
            lambda: layer_norm(x, 4, None, np.ones(6)),
            ValueError,
            r"bias: expected normalized_shape \(4,\), got shape \(6,\)",
        ),
        ErrorCase(
            "eps-negative",
            lambda: layer_norm(x, 4, eps=-1.0),
            ValueError,
            "eps: expected a finite number > 0",
        ),
        ErrorCase(
            "eps-nan",
            lambda: layer_norm(x, 4, eps=float("nan")),
            ValueError,
            "eps: expected a finite number",
        ),
        ErrorCase(
            "mixed-dtype", lambda: layer_norm(f32, 4, np.ones(4)), TypeError, "weight is float64"
        ),
        ErrorCase(
            "backward-grad-shape",
            lambda: layer_norm_backward(np.zeros((2, 6)), x, 4),
            ValueError,
            r"grad_output: expected x's shape",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# rms_norm: arrays (x, weight), the shape argument in kwargs; eps None is PyTorch's default


def _rms_norm_samples():
    table = [
        ("2d-last-axis-weight", (4, 6), True, {"normalized_shape": (6,)}),
        ("4d-last-two", (2, 3, 4, 5), False, {"normalized_shape": (4, 5)}),
        ("4d-chw-weight", (2, 3, 4, 5), True, {"normalized_shape": (3, 4, 5)}),
        ("2d-int-shape-eps", (3, 5), True, {"normalized_shape": 5, "eps": 1e-3}),
        ("3d-eps-0", (2, 1, 7), False, {"normalized_shape": (1, 7), "eps": 0.0}),
        ("1d-one-row", (8,), True, {"normalized_shape": (8,)}),
    ]
    samples = []
    for i, (name, shape, w, kw) in enumerate(table):
        s = 500 + 10 * i
        param_shape = shape[len(shape) - len(np.atleast_1d(kw["normalized_shape"])) :]
        arrays = (
            randn(*shape, seed=s) * 1.5 + 0.3,
            randn(*param_shape, seed=s + 1) if w else None,
        )
        samples.append(Sample(name, arrays, kw))
    return samples


def _rms_norm(op):
    return lambda x, w, normalized_shape, eps=None: op(x, normalized_shape, w, eps)


def _rms_norm_backward(backward):
    def call(g, x, w, normalized_shape, eps=None):
        gx, gw = backward(g, x, normalized_shape, w, eps=eps)
        return (gx, gw) if w is not None else (gx,)

    return call


def _torch_rms_norm(torch, x, w, normalized_shape, eps=None):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    return torch.nn.functional.rms_norm(x, shape, w, eps)


def _rms_norm_errors():
    x = np.zeros((2, 6, 4))
    return [
        ErrorCase(
            "shape-not-trailing",
            lambda: rms_norm(x, (6,)),
            ValueError,
            r"rms_norm: normalized_shape: expected the trailing axes of x \(shape \(2, 6, 4\)\), got \(6,\)",
        ),
        ErrorCase(
            "shape-longer-than-x",
            lambda: rms_norm(np.zeros(4), (1, 4)),
            ValueError,
            "normalized_shape: expected the trailing axes",
        ),
        ErrorCase(
            "shape-float",
            lambda: rms_norm(x, 4.0),
            TypeError,
            r"rms_norm: normalized_shape: expected an int or a non-empty tuple of ints",
        ),
        ErrorCase(
            "weight-shape",
            lambda: rms_norm(x, (6, 4), np.ones(4)),
            ValueError,
            r"weight: expected normalized_shape \(6, 4\), got shape \(4,\)",
        ),
        ErrorCase(
            "eps-negative",
            lambda: rms_norm(x, 4, eps=-1e-6),
            ValueError,
            r"rms_norm: eps: expected a finite number >= 0",
        ),
        ErrorCase("eps-text", lambda: rms_norm(x, 4, eps="small"), TypeError, "eps: expected"),
        ErrorCase(
            "mixed-dtype",
            lambda: rms_norm(x.astype(np.float32), 4, np.ones(4)),
            TypeError,
            "weight is float64",
        ),
        ErrorCase(
            "int-x", lambda: rms_norm(np.zeros((2, 4), int), 4), TypeError, "rms_norm: x: expected"
        ),
        ErrorCase(
            "backward-grad-shape",
            lambda: rms_norm_backward(np.zeros((2, 6)), x, 4),
            ValueError,
            r"rms_norm_backward: grad_output: expected x's shape",
        ),
    ]


RECORDS = [
    OpRecord(
        name="batch_norm",
        op=batch_norm,
        reference=reference.batch_norm,
        samples=_batch_norm_samples,
        torch=_torch_batch_norm,
        backward=_bn_backward(batch_norm_backward),
        reference_backward=_bn_backward(reference.batch_norm_backward),
        grad_args=(0, 3, 4),
        errors=_batch_norm_errors,
    ),
    OpRecord(
        name="batch_norm_running_stats",
        op=_with_stats(batch_norm),
        reference=_with_stats(reference.batch_norm),
        samples=_running_stats_samples,
        torch=_torch_with_stats,
        errors=_running_stats_errors,
        mutates=(1, 2),
    ),
    OpRecord(
        name="group_norm",
        op=_group_norm(group_norm),
        reference=_group_norm(reference.group_norm),
        samples=_group_norm_samples,
        torch=_torch_group_norm,
        backward=_affine_backward(group_norm_backward, "num_groups"),
        reference_backward=_affine_backward(reference.group_norm_backward, "num_groups"),
        grad_args=(0, 1, 2),
        errors=_group_norm_errors,
    ),
    OpRecord(
        name="layer_norm",
        op=_layer_norm(layer_norm),
        reference=_layer_norm(reference.layer_norm),
        samples=_layer_norm_samples,
        torch=_torch_layer_norm,
        backward=_affine_backward(layer_norm_backward, "normalized_shape"),
        reference_backward=_affine_backward(reference.layer_norm_backward, "normalized_shape"),
        grad_args=(0, 1, 2),
        errors=_layer_norm_errors,
    ),
    OpRecord(
        name="rms_norm",
        op=_rms_norm(rms_norm),
        reference=_rms_norm(reference.rms_norm),
        samples=_rms_norm_samples,
        torch=_torch_rms_norm,
        backward=_rms_norm_backward(rms_norm_backward),
        reference_backward=_rms_norm_backward(reference.rms_norm_backward),
        grad_args=(0, 1),
        errors=_rms_norm_errors,
    ),
]
