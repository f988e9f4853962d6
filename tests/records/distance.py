"""Records for cnnmath.ops.distance: pairwise_distance, cosine_similarity, normalize.

The samples keep every vector's norm away from the clamps at ε: there cosine_similarity's
gradient is PyTorch's straight-through one, not the derivative finite differences measure
(tests/test_margin_losses.py checks the clamped vectors, p = 0 and ties against PyTorch).
"""

import math

import numpy as np

from cnnmath import reference
from cnnmath.ops import (
    cosine_similarity,
    cosine_similarity_backward,
    normalize,
    normalize_backward,
    pairwise_distance,
    pairwise_distance_backward,
)
from opinfo import ErrorCase, OpRecord, Sample, randn, torch_functional


def _pairs(*shape, seed):
    return randn(*shape, seed=seed), randn(*shape, seed=seed + 100)


def _distance_samples():
    return [
        Sample("p2", _pairs(4, 5, seed=1)),
        Sample("p1-keepdim", _pairs(4, 5, seed=2), {"p": 1.0, "keepdim": True}),
        Sample("p3-eps0", _pairs(3, 6, seed=3), {"p": 3.0, "eps": 0.0}),
        Sample("p1.5", _pairs(2, 3, 4, seed=4), {"p": 1.5}),
        Sample("p0.5", _pairs(4, 3, seed=5), {"p": 0.5, "eps": 0.1}),
        Sample("pinf", _pairs(4, 5, seed=6), {"p": math.inf}),
        Sample("vector", _pairs(7, seed=7)),
    ]


def _cosine_samples():
    return [
        Sample("dim1", _pairs(4, 5, seed=11)),
        Sample("dim0", _pairs(5, 3, seed=12), {"dim": 0}),
        Sample("images", _pairs(2, 3, 4, 2, seed=13), {"dim": 1}),
        Sample("last-eps", _pairs(3, 4, seed=14), {"dim": -1, "eps": 1e-3}),
        Sample("vector", _pairs(6, seed=15), {"dim": 0}),
    ]


def _normalize_samples():
    return [
        Sample("p2", (randn(4, 5, seed=21),)),
        Sample("p1-dim0", (randn(4, 5, seed=22),), {"p": 1.0, "dim": 0}),
        Sample("p3-last", (randn(2, 3, 4, seed=23),), {"p": 3.0, "dim": -1}),
        Sample("pinf", (randn(3, 4, seed=24),), {"p": math.inf}),
        Sample("big-eps", (randn(3, 4, seed=25),), {"eps": 0.5}),
    ]


def _distance_errors():
    x = np.zeros((3, 4))
    return [
        ErrorCase("shape", lambda: pairwise_distance(x, x[:2]), ValueError, "x2: expected"),
        ErrorCase("dtype", lambda: pairwise_distance(x, x.astype(np.float32)), TypeError, "x2"),
        ErrorCase("p", lambda: pairwise_distance(x, x, p=-2.0), ValueError, "p: expected"),
        ErrorCase("eps", lambda: pairwise_distance(x, x, eps=-1.0), ValueError, "eps"),
        ErrorCase("keepdim", lambda: pairwise_distance(x, x, keepdim=1), TypeError, "keepdim"),
        ErrorCase("0-d", lambda: pairwise_distance(np.zeros(()), np.zeros(())), ValueError, "x1"),
        ErrorCase(
            "grad",
            lambda: pairwise_distance_backward(np.zeros(4), x, x),
            ValueError,
            "grad_output",
        ),
    ]


def _cosine_errors():
    x = np.zeros((3, 4))
    return [
        ErrorCase("dim", lambda: cosine_similarity(x, x, dim=2), ValueError, "dim"),
        ErrorCase("int", lambda: cosine_similarity(x.astype(int), x), TypeError, "x1"),
        ErrorCase(
            "cos-grad",
            lambda: cosine_similarity_backward(np.zeros(4), x, x),
            ValueError,
            "grad_output",
        ),
    ]


def _normalize_errors():
    x = np.zeros((3, 4))
    return [
        ErrorCase("norm-dim", lambda: normalize(x, dim=-3), ValueError, "dim"),
        ErrorCase("norm-p", lambda: normalize(x, p=np.nan), ValueError, "p: expected"),
        ErrorCase("norm-grad", lambda: normalize_backward(x.T, x), ValueError, "grad_output"),
    ]


RECORDS = [
    OpRecord(
        name="pairwise_distance",
        op=pairwise_distance,
        reference=reference.pairwise_distance,
        samples=_distance_samples,
        torch=torch_functional("pairwise_distance"),
        backward=pairwise_distance_backward,
        reference_backward=reference.pairwise_distance_backward,
        grad_args=(0, 1),
        errors=_distance_errors,
    ),
    OpRecord(
        name="cosine_similarity",
        op=cosine_similarity,
        reference=reference.cosine_similarity,
        samples=_cosine_samples,
        torch=torch_functional("cosine_similarity"),
        backward=cosine_similarity_backward,
        reference_backward=reference.cosine_similarity_backward,
        grad_args=(0, 1),
        errors=_cosine_errors,
    ),
    OpRecord(
        name="normalize",
        op=normalize,
        reference=reference.normalize,
        samples=_normalize_samples,
        torch=torch_functional("normalize"),
        backward=normalize_backward,
        reference_backward=reference.normalize_backward,
        errors=_normalize_errors,
    ),
]
