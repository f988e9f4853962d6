"""Records for cnnmath.ops.alpha_dropout: alpha_dropout and feature_alpha_dropout in eval mode
against PyTorch (the identity), and in training on given masks against the literal reference
and finite differences (PyTorch draws its own masks: tests/test_alpha_dropout.py compares
its statistics and values)."""

import importlib

import numpy as np

from cnnmath import reference as ref
from opinfo import ErrorCase, OpRecord, Sample, randn

ad = importlib.import_module("cnnmath.ops.alpha_dropout")


def _eval_samples():
    return [
        Sample("eval-p0.3", (randn(4, 5, seed=81),), {"p": 0.3, "training": False}),
        Sample("eval-default", (randn(2, 3, 4, seed=82),)),
        Sample("train-p0", (randn(2, 3, 5, seed=83),), {"p": 0.0, "training": True}),
    ]


def _mask_samples(feature):
    def make():
        rng = np.random.default_rng(84 + feature)
        samples = []
        for shape, p in (((4, 6), 0.5), ((2, 3, 4, 5), 0.2), ((3, 4, 7), 0.9)):
            mask_shape = shape[:2] + (1,) * (len(shape) - 2) if feature else shape
            x = randn(*shape, seed=85 + len(shape))
            mask = rng.random(mask_shape) >= p
            samples.append(Sample(f"p{p}-{'x'.join(map(str, shape))}", (x, mask), {"p": p}))
        x = randn(3, 4, seed=89)
        samples.append(Sample("p1", (x, np.zeros((3, 4), dtype=bool)), {"p": 1.0}))
        return samples

    return make


def _errors(op, name):
    def make():
        x = np.zeros((2, 3))
        return [
            ErrorCase("p-above-1", lambda: op(x, 1.5), ValueError, rf"^{name}: p: .*<= 1.*1.5"),
            ErrorCase("p-nan", lambda: op(x, np.nan), ValueError, rf"^{name}: p: "),
            ErrorCase("p-bool", lambda: op(x, True), TypeError, rf"^{name}: p: expected a real"),
            ErrorCase("training", lambda: op(x, 0.5, "yes"), TypeError, rf"^{name}: training"),
            ErrorCase("rng", lambda: op(x, 0.5, True, 3), TypeError, "rng"),
            ErrorCase("mask-dtype", lambda: op(x, mask=np.ones((2, 3))), TypeError, "mask: exp"),
            ErrorCase("mask-shape", lambda: op(x, mask=np.ones(3, bool)), ValueError, "mask: exp"),
            ErrorCase("int", lambda: op(x.astype(int)), TypeError, rf"^{name}: x"),
            ErrorCase(
                "backward-mask-shape",
                lambda: ad.alpha_dropout_backward(np.zeros((2, 3)), np.ones((3, 2), bool), 0.5),
                ValueError,
                r"^alpha_dropout_backward: mask: expected shape \(2, 3\)",
            ),
            ErrorCase(
                "backward-p",
                lambda: ad.alpha_dropout_backward(np.zeros(2), np.ones(2, bool), p=2.0),
                ValueError,
                "alpha_dropout_backward: p",
            ),
        ]

    return make


def _feature_errors():
    return [
        *_errors(ad.feature_alpha_dropout, "feature_alpha_dropout")(),
        ErrorCase(
            "one-axis",
            lambda: ad.feature_alpha_dropout(np.zeros(5), 0.5, True),
            ValueError,
            r"^feature_alpha_dropout: x: expected at least 2 axes \(N, C, …\).*got shape \(5,\)",
        ),
    ]


def _record(name, op, reference, errors):
    feature = name.startswith("feature")
    return [
        OpRecord(
            name=name,
            op=op,
            reference=reference,
            samples=_eval_samples,
            torch=lambda torch, x, **kw: getattr(torch.nn.functional, name)(x, **kw),
            backward=lambda g, x, **kw: ad.alpha_dropout_backward(
                g, np.ones(g.shape[:2] + (1,) * (g.ndim - 2) if feature else g.shape, bool), **kw
            ),
            reference_backward=lambda g, x, **kw: ref.alpha_dropout_backward(
                g, np.ones(g.shape, bool), **kw
            ),
            errors=errors,
        ),
        OpRecord(
            name=f"{name}_fixed_mask",
            op=lambda x, mask, p: op(x, p, True, mask=mask),
            reference=lambda x, mask, p: reference(x, p, True, mask),
            samples=_mask_samples(feature),
            backward=lambda g, x, mask, p: ad.alpha_dropout_backward(g, mask, p, True),
            reference_backward=lambda g, x, mask, p: ref.alpha_dropout_backward(g, mask, p, True),
            errors=errors,
        ),
    ]


RECORDS = [
    *_record(
        "alpha_dropout",
        ad.alpha_dropout,
        ref.alpha_dropout,
        _errors(ad.alpha_dropout, "alpha_dropout"),
    ),
    *_record(
        "feature_alpha_dropout",
        ad.feature_alpha_dropout,
        ref.feature_alpha_dropout,
        _feature_errors,
    ),
]
