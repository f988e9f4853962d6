"""Records for cnnmath.ops.einsum: one record, its samples of one to three operands (arrays
padded with None to three, so that one record covers every arity)."""

import numpy as np

from cnnmath import reference
from cnnmath.ops import einsum, einsum_backward
from opinfo import ErrorCase, OpRecord, Sample, randn


def _given(arrays):
    return [a for a in arrays if a is not None]


def _sample(name, equation, *shapes):
    arrays = tuple(randn(*shape, seed=i) for i, shape in enumerate(shapes))
    return Sample(name, arrays + (None,) * (3 - len(arrays)), dict(equation=equation))


def _samples():
    return [
        _sample("matmul", "ij,jk->ik", (3, 4), (4, 2)),
        _sample("batched-ellipsis", "...ij,...jk->...ik", (2, 3, 2, 4), (2, 3, 4, 5)),
        _sample("broadcast-ellipsis", "...ij,...jk->...ik", (2, 3, 2, 4), (4, 5)),
        _sample("broadcast-size-1", "bij,bjk->bik", (1, 2, 3), (4, 3, 2)),
        _sample("outer", "i,j->ij", (3,), (4,)),
        _sample("trace", "ii", (4, 4)),
        _sample("diagonal", "ii->i", (3, 3)),
        _sample("batch-diagonal", "...ii->...i", (2, 3, 3)),
        _sample("diagonal-product", "iij,jk->ki", (3, 3, 2), (2, 4)),
        _sample("transpose", "ijk->kij", (2, 3, 4)),
        _sample("sum-out", "ijk->j", (2, 3, 4)),
        _sample("sum-out-of-one", "ij,jk->ik", (2, 3), (3, 4)),
        _sample("summed-alone", "ij,k->i", (2, 3), (4,)),
        _sample("three", "ij,jk,kl->il", (2, 3), (3, 4), (4, 2)),
        _sample("implicit", "ij,jk", (2, 3), (3, 4)),
        _sample("implicit-order", "Bai,iA", (2, 3, 4), (4, 2)),
        _sample("implicit-ellipsis", "...ij,jk", (2, 2, 3), (3, 4)),
        _sample("inner", "i,i", (5,), (5,)),
        _sample("maxvit", "B G H I D, B G H J D -> B G H I J", (1, 2, 2, 3, 4), (1, 2, 2, 5, 4)),
        _sample("bilinear", "bn,anm,bm->ba", (2, 3), (4, 3, 5), (2, 5)),
    ]


def _errors():
    a, b = np.zeros((2, 3)), np.zeros((3, 4))
    return [
        ErrorCase("not-str", lambda: einsum(3, a), TypeError, "equation: expected a str"),
        ErrorCase(
            "character",
            lambda: einsum("ij;jk", a, b),
            ValueError,
            r"einsum: equation: expected terms of letters .* \(found ';' in 'ij;jk'\)",
        ),
        ErrorCase(
            "two-arrows", lambda: einsum("ij->j->i", a), ValueError, "equation: expected terms"
        ),
        ErrorCase("dots", lambda: einsum("..ij", a), ValueError, r"found '\.' in '\.\.ij'"),
        ErrorCase(
            "terms", lambda: einsum("ij->i", a, b), ValueError, r"one comma-separated term per"
        ),
        ErrorCase(
            "repeated-output", lambda: einsum("ij->ii", a), ValueError, r"\['i'\] repeat, got"
        ),
        ErrorCase("unknown-output", lambda: einsum("ij->k", a), ValueError, r"\['k'\] do not, got"),
        ErrorCase(
            "ellipsis-dropped",
            lambda: einsum("...j->j", a),
            ValueError,
            r"expected '\.\.\.' in the output",
        ),
        ErrorCase(
            "rank",
            lambda: einsum("ijk", a),
            ValueError,
            r"operands\[0\]: expected 3 axes for term 'ijk'.*got shape \(2, 3\)",
        ),
        ErrorCase(
            "rank-ellipsis",
            lambda: einsum("...ijk", a),
            ValueError,
            r"operands\[0\]: expected at least 3 axes",
        ),
        ErrorCase(
            "sizes",
            lambda: einsum("ij,jk->ik", a, a),
            ValueError,
            r"operands\[1\]: expected size 3 \(or 1\) for label 'j', as in operands\[0\], got 2",
        ),
        ErrorCase(
            "diagonal-sizes",
            lambda: einsum("ii->i", a),
            ValueError,
            r"operands\[0\]: expected equal sizes for label 'i'",
        ),
        ErrorCase("int", lambda: einsum("ij", a.astype(int)), TypeError, r"operands\[0\]"),
        ErrorCase(
            "mixed-dtype",
            lambda: einsum("ij,jk", a, b.astype(np.float32)),
            TypeError,
            r"operands\[0\] is float64, operands\[1\] is float32",
        ),
        ErrorCase("none", lambda: einsum("->"), TypeError, "operands: expected at least one"),
        ErrorCase(
            "grad-shape",
            lambda: einsum_backward("ij,jk->ik", np.zeros((2, 3)), a, b),
            ValueError,
            r"grad_output: expected the output's shape \(2, 4\)",
        ),
    ]


RECORDS = [
    OpRecord(
        name="einsum",
        op=lambda *arrays, equation: einsum(equation, *_given(arrays)),
        reference=lambda *arrays, equation: reference.einsum(equation, *_given(arrays)),
        samples=_samples,
        torch=lambda torch, *tensors, equation: torch.einsum(equation, *_given(tensors)),
        backward=lambda g, *arrays, equation: einsum_backward(equation, g, *_given(arrays)),
        reference_backward=lambda g, *arrays, equation: reference.einsum_backward(
            equation, g, *_given(arrays)
        ),
        grad_args=(0, 1, 2),
        errors=_errors,
        nonfinite=(np.nan,),  # ±inf: the contraction order decides inf or NaN (see einsum)
    ),
]
