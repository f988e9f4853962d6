"""cnnmath.ops.einsum and einsum_backward beyond the generic record (tests/records/einsum.py):
forward and every operand's gradient against torch.einsum and its autograd on a table of
equations (float64, 1e-12), finite differences, the float32 dtype kept, implicit output in
NumPy's order, and bad equations refused naming ``equation``, what was expected and given;
integer_einsum (ONNX's integer Einsum) against exact Python-integer sums modulo 2^bits."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.gradcheck import check_gradients
from cnnmath.ops import einsum, einsum_backward
from cnnmath.ops.einsum import integer_einsum
from helpers import rel_error

# (equation, operand shapes): each a case torch.einsum computes as NumPy does
EQUATIONS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),  # matrix product
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),  # batched
    ("...ij,...jk->...ik", [(2, 3, 2, 4), (3, 4, 5)]),  # ellipsis, broadcast
    ("i,j->ij", [(3,), (4,)]),  # outer product
    ("ii", [(4, 4)]),  # trace (implicit: no output)
    ("ii->i", [(4, 4)]),  # diagonal
    ("...ii->...i", [(2, 3, 3)]),  # batched diagonal
    ("ij->ji", [(3, 5)]),  # transpose
    ("ijk->j", [(2, 3, 4)]),  # sum out
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),  # three operands
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output ik
    ("ba,ca", [(2, 3), (4, 3)]),  # implicit output bc
    ("bij,bjk->bik", [(1, 3, 4), (5, 4, 2)]),  # a size-1 batch broadcast
    ("ij,k->ik", [(2, 3), (4,)]),  # j summed out of one operand alone
    ("iij,jk->ki", [(3, 3, 2), (2, 4)]),  # a diagonal inside a product
    ("B G H I D, B G H J D -> B G H I J", [(1, 2, 2, 3, 4), (1, 2, 2, 5, 4)]),  # maxvit_t's
    ("->", [()]),  # a scalar
    ("ij,ik,jk->", [(1, 1), (3, 1), (4, 1)]),  # size-1 labels broadcast, summed out
    ("bi,bj->bij", [(1, 3), (4, 2)]),  # a size-1 label broadcast into the output
    ("ii,i->i", [(1, 1), (3,)]),  # a size-1 diagonal broadcast
]


def _operands(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


@pytest.mark.parametrize("equation, shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_forward_and_gradients_are_torchs(equation, shapes):
    torch = pytest.importorskip("torch")
    operands = _operands(shapes)
    y = einsum(equation, *operands)
    tensors = [torch.tensor(x, requires_grad=True) for x in operands]
    want = torch.einsum(equation, *tensors)
    assert y.shape == tuple(want.shape) and y.dtype == np.float64
    assert rel_error(y, want.detach().numpy()) <= 1e-12
    G = np.random.default_rng(1).standard_normal(y.shape)
    want.backward(torch.from_numpy(G))
    grads = einsum_backward(equation, G, *operands)
    assert len(grads) == len(operands)
    for i, (grad, t) in enumerate(zip(grads, tensors)):
        assert grad.shape == operands[i].shape and grad.dtype == np.float64
        assert rel_error(grad, t.grad.numpy()) <= 1e-12, i


@pytest.mark.parametrize(
    "equation, shapes",
    [
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
        ("iij,jk->ki", [(3, 3, 2), (2, 4)]),
        ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]),
        ("ij,k->ik", [(2, 3), (4,)]),
    ],
)
def test_gradients_match_finite_differences(equation, shapes):
    def backward(G, *operands):
        return einsum_backward(equation, G, *operands)

    check_gradients(lambda *xs: einsum(equation, *xs), backward, _operands(shapes, seed=2))


def test_a_broadcast_size_1_label_costs_the_forwards_memory_in_backward():
    """Equation "ij,ik,jk->", X0 of shape (1, 1) against (n, 1) twice: X0's gradient sums an
    (n, n) product, which backward must not build (32 MB for n = 2000) to reduce it to
    (1, 1); its peak stays within a few times the operands' bytes, as the forward's."""
    import tracemalloc

    rng = np.random.default_rng(0)
    equation = "ij,ik,jk->"
    einsum_backward(equation, np.ones(()), *_operands([(1, 1), (3, 1), (3, 1)]))  # warm up
    operands = [rng.standard_normal(s) for s in [(1, 1), (2000, 1), (2000, 1)]]
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        grads = einsum_backward(equation, np.ones(()), *operands)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 5 * sum(x.nbytes for x in operands), peak
    x0, x1, x2 = operands
    np.testing.assert_allclose(grads[0], [[x1.sum() * x2.sum()]], rtol=1e-12)
    np.testing.assert_allclose(grads[1], np.full_like(x1, x0[0, 0] * x2.sum()), rtol=1e-12)


def test_float32_stays_float32_and_the_output_is_never_a_view():
    x = np.arange(9, dtype=np.float32).reshape(3, 3)
    for equation in ("ij->ji", "ii->i", "ij->ij"):
        y = einsum(equation, x)
        assert y.dtype == np.float32 and not np.shares_memory(y, x)
        (grad,) = einsum_backward(equation, np.ones_like(y), x)
        assert grad.dtype == np.float32 and not np.shares_memory(grad, y)
    np.testing.assert_array_equal(einsum("ii->i", x), np.diag(x))


def test_implicit_output_is_numpys_order():
    """Without '->': '...' first, then the labels written once in ASCII order (upper case
    first), as NumPy (ONNX's reference) orders them."""
    a, b = _operands([(2, 3, 4), (4, 5)])
    for equation in ("bAi,iC", "...i,iC", "iz,ya"):
        ops = (a, b) if equation != "iz,ya" else (a[0], b.T)
        np.testing.assert_allclose(einsum(equation, *ops), np.einsum(equation, *ops), rtol=1e-13)


BAD = [
    ("ij->ii", [(2, 2)], ValueError, r"equation: expected each output label once"),
    ("i,j", [(2,)], ValueError, r"one comma-separated term per operand \(1\), found 2"),
    ("ij-k", [(2, 2)], ValueError, r"\(found '-' in 'ij-k'\), got 'ij-k'"),
    ("i..j", [(2, 2)], ValueError, r"found '\.' in 'i\.\.j'"),
    ("ab->c", [(2, 2)], ValueError, r"output labels that appear in the inputs, \['c'\] do not"),
    ("...i->i", [(2, 2)], ValueError, r"'\.\.\.' in the output when an input has it"),
    ("ij", [(2,)], ValueError, r"operands\[0\]: expected 2 axes for term 'ij'"),
    ("ij,jk", [(2, 3), (2, 3)], ValueError, r"operands\[1\]: expected size 3 \(or 1\)"),
    (  # no invented letter for the axes '...' stands for
        "...i,...i",
        [(2, 3), (4, 3)],
        ValueError,
        r"operands\[1\]: expected size 2 \(or 1\) for the dimensions under '\.\.\.' \(axis 0\)",
    ),
]


@pytest.mark.parametrize("equation, shapes, error, match", BAD, ids=[b[0] for b in BAD])
def test_bad_equations_are_refused_naming_what_was_expected(equation, shapes, error, match):
    with pytest.raises(error, match=match):
        einsum(equation, *_operands(shapes))
    with pytest.raises(error, match=match.replace("einsum", "einsum_backward")):
        einsum_backward(equation, np.zeros(()), *_operands(shapes))


@pytest.mark.parametrize("equation, shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int32, np.int64], ids=str)
def test_integer_einsum_is_the_exact_sum_wrapped_into_the_type(equation, shapes, dtype):
    """integer_einsum over the type's whole range: the sum in Python integers (exact)
    reduced modulo 2^bits, two's complement for a signed type; the dtype kept, a new array."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(8)
    args = [rng.integers(info.min, info.max, s, dtype=dtype, endpoint=True) for s in shapes]
    got = integer_einsum(equation, *args)
    exact = np.einsum(equation, *(a.astype(object) for a in args))
    modulus = 2**info.bits
    want = [(int(v) - info.min) % modulus + info.min for v in np.ravel(exact)]
    assert got.dtype == dtype and got.shape == np.shape(exact)
    assert got.ravel().tolist() == want
    assert not any(np.may_share_memory(got, a) for a in args)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64], ids=str)
@pytest.mark.parametrize(
    "a, b, below",
    [
        ([[2**26 + 1, 3]], [[2**26 - 1], [5]], True),  # bound 2·(2^52 − 1) = 2^53 − 2
        ([[2**27 + 1]], [[2**26 + 1]], False),  # 2^53 + 2^27 + 2^26 + 1: odd, float64 rounds it
    ],
)
def test_integer_einsum_is_exact_on_both_sides_of_float64s_integers(dtype, a, b, below):
    """Products at 2^53, where float64 stops holding every integer: the bound
    (terms · Π max|X_k| < 2^53) picks the float64 product only below it; the Python-integer
    sum is the witness either way."""
    a, b = np.array(a, dtype), np.array(b, dtype)
    got = integer_einsum("ij,jk->ik", a, b)
    exact = (a.astype(object) @ b.astype(object)).ravel().tolist()
    assert got.dtype == dtype and got.ravel().tolist() == exact
    assert (a.shape[1] * int(a.max()) * int(b.max()) < 2**53) == below  # the bound's side


def test_integer_einsum_refuses_floats_and_mixed_types_naming_the_operand():
    a = np.arange(6).reshape(2, 3)
    with pytest.raises(TypeError, match=r"^integer_einsum: operands\[1\]: expected an integer "
                                        r"dtype \(int8 … int64, uint8 … uint64\), got float64"):  # fmt: skip
        integer_einsum("ij,jk->ik", a, np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"^integer_einsum: expected all arrays to share one "
                                        r"dtype, got operands\[0\] is int64, operands\[1\] is int32"):  # fmt: skip
        integer_einsum("ij,jk->ik", a, np.ones((3, 2), np.int32))
    with pytest.raises(TypeError, match=r"^integer_einsum: operands\[0\]: expected a plain "):
        integer_einsum("i->i", [1, 2])
    with pytest.raises(ValueError, match=r"^integer_einsum: operands\[1\]: expected size 3"):
        integer_einsum("ij,jk->ik", a, np.ones((2, 2), np.int64))
