"""Records for cnnmath.ops.softmax, cnnmath.ops.dropout and cnnmath.losses.

The losses return ``(loss, grad)``; the records adapt them to the op convention: the forward
is the loss as an array in the logits' dtype, and the backward of an upstream gradient g is
``grad · g`` for a reduced loss, ``grad · expand_dims(g, class axis)`` for reduction "none"
(grad is then the gradient of the sum of the per-position losses, each of which depends on its
own logits only). Class-index targets are int64 arrays (left as they are by the dtype casts),
probability targets are float masters like the logits.

An unbatched class-index target is 0-d, which the generic tests' conversion to a tensor
(``numpy.ascontiguousarray``) turns into shape (1,); tests/test_losses.py checks that case
against PyTorch instead. Logits far apart (softmax within rounding of one-hot) are there too:
here the gradient would be all cancellation, measured against its own tiny scale.

Dropout in training is random; its record fixes the mask (``mask=``), which has no PyTorch
counterpart, so that record is checked against the literal loops and finite differences only.
Dropout in eval mode is checked against ``torch.nn.functional.dropout(training=False)``.
"""

import importlib

import numpy as np

from cnnmath import losses
from opinfo import ErrorCase, OpRecord, Sample, randn

# The modules, not the functions of the same names that the packages re-export.
drop = importlib.import_module("cnnmath.ops.dropout")
sm = importlib.import_module("cnnmath.ops.softmax")
ref = importlib.import_module("cnnmath.reference.softmax")

W4 = np.array([0.3, 1.7, 0.9, 2.2])


def _ints(*values):
    return np.array(values, dtype=np.int64)


def _class_axis(x):
    return 0 if x.ndim == 1 else 1


# ------------------------------------------------------------------- softmax, log_softmax
def _softmax_samples():
    return [
        Sample("rows-dim1", (randn(5, 7, seed=1),), {"dim": 1}),
        Sample("rows-dim0", (randn(5, 7, seed=2),), {"dim": 0}),
        Sample("image-channels", (3 * randn(2, 4, 3, 5, seed=3),), {"dim": 1}),
        Sample("image-last", (randn(2, 3, 4, 6, seed=4),), {"dim": -1}),
        Sample("vector", (randn(9, seed=5),), {"dim": 0}),
        Sample("wide-logits", (8 * randn(4, 6, seed=6),), {"dim": 1}),
    ]


def _softmax_errors(op):
    x = np.zeros((2, 3))
    name = op.__name__
    return lambda: [
        ErrorCase("dim-out-of-range", lambda: op(x, 2), ValueError, rf"{name}: dim: .*got 2"),
        ErrorCase("dim-float", lambda: op(x, 1.0), TypeError, "dim: expected an int"),
        ErrorCase("0-d", lambda: op(np.zeros(()), 0), ValueError, "x: expected at least 1 axis"),
        ErrorCase("int", lambda: op(np.zeros((2, 3), int), 1), TypeError, f"{name}: x"),
    ]


def _softmax_backward_errors():
    x = np.zeros((2, 3))
    return [
        ErrorCase(
            "grad-shape",
            lambda: sm.softmax_backward(np.zeros((3, 2)), x, 1),
            ValueError,
            "grad_output",
        ),
        ErrorCase(
            "grad-dtype",
            lambda: sm.log_softmax_backward(np.zeros((2, 3), np.float32), x, 1),
            TypeError,
            "dtype",
        ),
    ]


# ------------------------------------------------------------------- cross_entropy, nll_loss
def _loss_samples(probabilities=True, smoothing=True):
    rng = np.random.default_rng(21)

    def make():
        table = [
            ("default", randn(5, 4, seed=11), _ints(0, 3, 1, 1, 2), None, {}),
            ("weight", randn(6, 4, seed=12), _ints(0, 3, 2, 2, 1, 0), W4, {}),
            ("ignore", randn(6, 4, seed=13), _ints(0, -100, 3, 2, -100, 1), W4, {}),
            (
                "ignore-index-2",
                randn(6, 4, seed=14),
                _ints(0, 2, 3, 2, 1, 1),
                None,
                {"ignore_index": 2},
            ),
            ("sum", randn(5, 4, seed=15), _ints(0, 1, -100, 3, 1), W4, {"reduction": "sum"}),
            ("none", randn(5, 4, seed=16), _ints(0, 1, -100, 3, 1), W4, {"reduction": "none"}),
            ("spatial", randn(2, 4, 3, 5, seed=17), rng.integers(0, 4, (2, 3, 5)), W4, {}),
            (
                "spatial-none",
                randn(2, 4, 3, seed=18),
                rng.integers(0, 4, (2, 3)),
                None,
                {"reduction": "none"},
            ),
        ]
        if smoothing:
            table += [
                (
                    "smoothing",
                    randn(5, 4, seed=20),
                    _ints(0, 1, -100, 3, 1),
                    None,
                    {"label_smoothing": 0.2},
                ),
                (
                    "smoothing-weight",
                    randn(5, 4, seed=21),
                    _ints(0, 1, -100, 3, 1),
                    W4,
                    {"label_smoothing": 0.3},
                ),
                (
                    "smoothing-weight-none",
                    randn(5, 4, seed=22),
                    _ints(0, 1, -100, 3, 1),
                    W4,
                    {"label_smoothing": 0.3, "reduction": "none"},
                ),
                (
                    "smoothing-spatial",
                    randn(2, 4, 3, seed=23),
                    rng.integers(0, 4, (2, 3)),
                    W4,
                    {"label_smoothing": 0.1},
                ),
            ]
        if probabilities:
            table += [
                ("probabilities", randn(5, 4, seed=24), rng.dirichlet(np.ones(4), 5), None, {}),
                (
                    "probabilities-weight-smoothing",
                    randn(5, 4, seed=25),
                    rng.dirichlet(np.ones(4), 5),
                    W4,
                    {"label_smoothing": 0.25},
                ),
                (
                    "probabilities-spatial-sum",
                    randn(2, 4, 3, seed=26),
                    np.moveaxis(rng.dirichlet(np.ones(4), (2, 3)), -1, 1),
                    W4,
                    {"reduction": "sum"},
                ),
                (
                    "probabilities-unbatched-none",
                    randn(4, seed=27),
                    rng.dirichlet(np.ones(4)),
                    None,
                    {"reduction": "none"},
                ),
            ]
        return [Sample(name, (z, t, w), kw) for name, z, t, w, kw in table]

    return make


def _loss_op(fn):
    def op(x, target, weight, **kw):
        return np.asarray(fn(x, target, weight, **kw)[0], dtype=x.dtype)

    return op


def _loss_backward(fn):
    def backward(g, x, target, weight, **kw):
        grad = fn(x, target, weight, **kw)[1]
        upstream = np.expand_dims(g, _class_axis(x)) if kw.get("reduction") == "none" else g
        return grad * upstream

    return backward


def _torch_loss(name):
    def call(torch, x, target, weight, **kw):
        return getattr(torch.nn.functional, name)(x, target, weight, **kw)

    call.__name__ = f"torch.nn.functional.{name}"
    return call


def _loss_errors(fn):
    z = np.zeros((3, 4))
    name = fn.__name__
    return lambda: [
        ErrorCase("target-range", lambda: fn(z, _ints(0, 4, 1)), ValueError, r"target\[1\] = 4"),
        ErrorCase("target-shape", lambda: fn(z, _ints(0, 1)), ValueError, r"target.*\(3,\)"),
        ErrorCase("weight-shape", lambda: fn(z, _ints(0, 1, 2), np.ones(3)), ValueError, "weight"),
        ErrorCase(
            "reduction", lambda: fn(z, _ints(0, 1, 2), reduction="avg"), ValueError, "reduction"
        ),
        ErrorCase("input-int", lambda: fn(z.astype(int), _ints(0, 1, 2)), TypeError, f"{name}: "),
    ]


# ------------------------------------------------------------------- dropout
def _dropout_eval_samples():
    return [
        Sample("eval-p0.3", (randn(4, 5, seed=31),), {"p": 0.3, "training": False}),
        Sample("eval-default-p", (randn(2, 3, 4, seed=32),), {"training": False}),
    ]


def _dropout_mask_samples():
    rng = np.random.default_rng(33)
    return [
        Sample("p0.5", (randn(4, 6, seed=34), rng.random((4, 6)) >= 0.5), {"p": 0.5}),
        Sample(
            "p0.2-image", (randn(2, 3, 4, 5, seed=35), rng.random((2, 3, 4, 5)) >= 0.2), {"p": 0.2}
        ),
        Sample("p0", (randn(7, seed=36), np.ones(7, dtype=bool)), {"p": 0.0}),
        Sample("p1", (randn(3, 4, seed=37), np.zeros((3, 4), dtype=bool)), {"p": 1.0}),
    ]


def _dropout_errors():
    x = np.zeros((2, 3))
    return [
        ErrorCase("p-above-1", lambda: drop.dropout(x, 1.5), ValueError, r"dropout: p: .*<= 1"),
        ErrorCase("p-negative", lambda: drop.dropout(x, -0.1), ValueError, r"dropout: p: .*>= 0"),
        ErrorCase("training", lambda: drop.dropout(x, 0.5, "yes"), TypeError, "training"),
        ErrorCase("rng", lambda: drop.dropout(x, 0.5, True, 3), TypeError, "rng"),
        ErrorCase("mask-dtype", lambda: drop.dropout(x, mask=np.ones((2, 3))), TypeError, "mask"),
        ErrorCase("mask-shape", lambda: drop.dropout(x, mask=np.ones(3, bool)), ValueError, "mask"),
        ErrorCase("int", lambda: drop.dropout(x.astype(int)), TypeError, "dropout: x"),
    ]


RECORDS = [
    OpRecord(
        name="softmax",
        op=sm.softmax,
        reference=ref.softmax,
        samples=_softmax_samples,
        torch=lambda torch, x, dim: torch.nn.functional.softmax(x, dim=dim),
        backward=sm.softmax_backward,
        reference_backward=ref.softmax_backward,
        errors=lambda: [*_softmax_errors(sm.softmax)(), *_softmax_backward_errors()],
    ),
    OpRecord(
        name="log_softmax",
        op=sm.log_softmax,
        reference=ref.log_softmax,
        samples=_softmax_samples,
        torch=lambda torch, x, dim: torch.nn.functional.log_softmax(x, dim=dim),
        backward=sm.log_softmax_backward,
        reference_backward=ref.log_softmax_backward,
        errors=_softmax_errors(sm.log_softmax),
    ),
    OpRecord(
        name="cross_entropy",
        op=_loss_op(losses.cross_entropy),
        reference=_loss_op(ref.cross_entropy),
        samples=_loss_samples(),
        torch=_torch_loss("cross_entropy"),
        backward=_loss_backward(losses.cross_entropy),
        reference_backward=_loss_backward(ref.cross_entropy),
        errors=_loss_errors(losses.cross_entropy),
    ),
    OpRecord(
        name="nll_loss",
        op=_loss_op(losses.nll_loss),
        reference=_loss_op(ref.nll_loss),
        samples=_loss_samples(probabilities=False, smoothing=False),
        torch=_torch_loss("nll_loss"),
        backward=_loss_backward(losses.nll_loss),
        reference_backward=_loss_backward(ref.nll_loss),
        errors=_loss_errors(losses.nll_loss),
    ),
    OpRecord(
        name="dropout",
        op=drop.dropout,
        reference=lambda x, p=0.5, training=True: ref.dropout(x, p, training),
        samples=_dropout_eval_samples,
        torch=lambda torch, x, **kw: torch.nn.functional.dropout(x, **kw),
        backward=lambda g, x, **kw: drop.dropout_backward(g, np.ones(g.shape, bool), **kw),
        reference_backward=lambda g, x, p=0.5, training=True: ref.dropout_backward(
            g, np.ones(g.shape, bool), p, training
        ),
        errors=_dropout_errors,
    ),
    OpRecord(
        name="dropout_fixed_mask",
        op=lambda x, mask, p: drop.dropout(x, p, mask=mask),
        reference=lambda x, mask, p: ref.dropout(x, p, True, mask),
        samples=_dropout_mask_samples,
        backward=lambda g, x, mask, p: drop.dropout_backward(g, mask, p),
        reference_backward=lambda g, x, mask, p: ref.dropout_backward(g, mask, p),
        errors=lambda: [
            ErrorCase(
                "backward-mask-shape",
                lambda: drop.dropout_backward(np.zeros((2, 3)), np.ones((3, 2), bool)),
                ValueError,
                "dropout_backward: mask",
            ),
            ErrorCase(
                "backward-p",
                lambda: drop.dropout_backward(np.zeros(2), np.ones(2, bool), p=2.0),
                ValueError,
                "dropout_backward: p",
            ),
        ],
    ),
]
