"""cnnmath.losses against torch.nn.functional (value and autograd gradient), SciPy's
log_softmax, finite differences, extreme logits and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cnnmath.gradcheck import check_gradients
from cnnmath.losses import log_softmax, mse, softmax, softmax_cross_entropy
from helpers import rel_error

TOL = {np.float64: 1e-12, np.float32: 1e-6}


def _normal(shape, dtype=np.float64, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Against PyTorch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 4, 5)])
def test_mse_matches_torch(shape, dtype):
    torch = pytest.importorskip("torch")
    pred, target = _normal(shape, dtype, 0), _normal(shape, dtype, 1)
    loss, grad = mse(pred, target)
    pt = torch.from_numpy(pred.copy()).requires_grad_(True)
    lt = torch.nn.functional.mse_loss(pt, torch.from_numpy(target))
    lt.backward()
    assert isinstance(loss, float)
    assert abs(loss - lt.item()) <= TOL[dtype] * lt.item()
    assert grad.dtype == dtype and grad.shape == shape
    assert rel_error(grad, pt.grad.numpy()) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B, K, scale", [(1, 1, 1.0), (5, 10, 1.0), (8, 3, 30.0), (3, 7, 1e4)])
def test_cross_entropy_matches_torch(B, K, scale, dtype):
    torch = pytest.importorskip("torch")
    logits = _normal((B, K), dtype, seed=B + K, scale=scale)
    labels = np.random.default_rng(1).integers(0, K, size=B)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow/underflow warnings even at 1e4
        loss, grad = softmax_cross_entropy(logits, labels)
    zt = torch.from_numpy(logits.copy()).requires_grad_(True)
    lt = torch.nn.functional.cross_entropy(zt, torch.from_numpy(labels))
    lt.backward()
    assert np.isfinite(loss)
    assert abs(loss - lt.item()) <= TOL[dtype] * max(abs(lt.item()), 1.0)
    assert grad.dtype == dtype and grad.shape == (B, K)
    assert rel_error(grad, zt.grad.numpy()) <= max(TOL[dtype], 1e-6 if dtype == np.float32 else 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_log_softmax_and_softmax_match_torch_and_scipy(axis, dtype):
    torch = pytest.importorskip("torch")
    special = pytest.importorskip("scipy.special")
    z = _normal((4, 6), dtype, seed=2, scale=50.0)
    want = torch.log_softmax(torch.from_numpy(z), dim=axis).numpy()
    got = log_softmax(z, axis=axis)
    assert got.dtype == dtype
    assert rel_error(got, want) <= TOL[dtype]
    assert (
        rel_error(
            log_softmax(z.astype(np.float64), axis),
            special.log_softmax(z.astype(np.float64), axis=axis),
        )
        <= 1e-13
    )
    p = softmax(z, axis=axis)
    assert rel_error(p, torch.softmax(torch.from_numpy(z), dim=axis).numpy()) <= TOL[dtype] * 10
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=10 * TOL[dtype])


# ---------------------------------------------------------------------------------------------
# Finite differences and closed forms


def test_cross_entropy_gradient_matches_finite_differences():
    logits = _normal((4, 5), seed=3, scale=2.0)
    labels = np.array([0, 4, 2, 2])

    def func(z, y):
        return np.array(softmax_cross_entropy(z, y)[0])

    def backward(G, z, y):
        return softmax_cross_entropy(z, y)[1] * G

    errors = check_gradients(func, backward, [logits, labels], wrt=0, rtol=1e-7)
    assert errors[0] <= 1e-7


def test_mse_gradient_matches_finite_differences():
    pred, target = _normal((3, 4), seed=4), _normal((3, 4), seed=5)
    errors = check_gradients(
        lambda p: np.array(mse(p, target)[0]),
        lambda G, p: mse(p, target)[1] * G,
        [pred],
        rtol=1e-7,
    )
    assert errors[0] <= 1e-7


def test_cross_entropy_closed_forms():
    # Uniform logits: every class has probability 1/K, so ℓ = log K whatever the labels.
    loss, grad = softmax_cross_entropy(np.zeros((3, 4)), np.array([0, 1, 3]))
    assert loss == pytest.approx(np.log(4), rel=1e-15)
    # Each row of the gradient sums to zero (softmax sums to 1, the one-hot too).
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-15)
    # A huge margin on the right class: loss ≈ 0, no NaN; on a wrong class: loss ≈ margin.
    big = np.array([[1e4, 0.0, -1e4]])
    assert softmax_cross_entropy(big, np.array([0]))[0] == 0.0
    assert softmax_cross_entropy(big, np.array([2]))[0] == pytest.approx(2e4, rel=1e-15)
    # Shifting all logits of a row leaves the loss unchanged (log-sum-exp invariance).
    z = _normal((2, 5), seed=6)
    y = np.array([1, 3])
    assert softmax_cross_entropy(z + 1e3, y)[0] == pytest.approx(
        softmax_cross_entropy(z, y)[0], rel=1e-12
    )


def test_nan_logits_give_nan_loss_not_an_exception():
    logits = np.array([[0.0, np.nan], [1.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = softmax_cross_entropy(logits, np.array([0, 1]))
        assert np.isnan(loss)
        assert np.isnan(grad[0]).all() and np.isfinite(grad[1]).all()
        loss_inf, _ = softmax_cross_entropy(np.array([[np.inf, 0.0]]), np.array([0]))
        assert np.isnan(loss_inf)  # inf − inf, as PyTorch
        assert np.isnan(mse(np.array([np.nan, 1.0]), np.zeros(2))[0])


# ---------------------------------------------------------------------------------------------
# Bad input: (call, exception, message pattern)

Z = np.zeros((3, 4))

ERROR_INPUTS = [
    (
        lambda: softmax_cross_entropy(Z, np.array([0, 1, 4])),
        ValueError,
        r"labels.*\[0, 3\].*labels\[2\] = 4",
    ),
    (lambda: softmax_cross_entropy(Z, np.array([0, -1, 2])), ValueError, r"labels\[1\] = -1"),
    (lambda: softmax_cross_entropy(Z, np.array([0.0, 1.0, 2.0])), ValueError, "labels.*float64"),
    (lambda: softmax_cross_entropy(Z, np.array([True, False, True])), ValueError, "labels.*bool"),
    (lambda: softmax_cross_entropy(Z, np.array([0, 1])), ValueError, r"labels.*\(3,\).*\(2,\)"),
    (lambda: softmax_cross_entropy(Z, np.array([[0], [1], [2]])), ValueError, "labels.*shape"),
    (lambda: softmax_cross_entropy(np.zeros(4), np.array([0])), ValueError, r"logits.*\[None\]"),
    (lambda: softmax_cross_entropy(np.zeros((3, 0)), np.array([0, 0, 0])), ValueError, "logits"),
    (lambda: softmax_cross_entropy(Z.astype(int), np.array([0, 1, 2])), TypeError, "logits"),
    (lambda: mse(np.zeros((3, 1)), np.zeros(3)), ValueError, r"target.*\(3, 1\).*\(3,\)"),
    (lambda: mse(np.zeros(3), np.zeros(3, np.float32)), TypeError, "float64.*float32"),
    (lambda: mse(np.zeros(0), np.zeros(0)), ValueError, "pred"),
    (lambda: mse([1.0], np.zeros(1)), TypeError, "pred"),
    (lambda: log_softmax(np.float64(1.0)), TypeError, "logits"),
    (lambda: log_softmax(np.zeros(())), ValueError, "logits"),
    (lambda: softmax(Z, axis=2), ValueError, "axis"),
]


@pytest.mark.parametrize("call, exc, pattern", ERROR_INPUTS)
def test_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
