"""cnnmath.losses against torch.nn.functional (value and autograd gradient), SciPy's
log_softmax, finite differences, extreme logits and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cnnmath.gradcheck import check_gradients
from cnnmath.losses import (
    cross_entropy,
    log_softmax,
    mse,
    nll_loss,
    softmax,
    softmax_cross_entropy,
)
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


# ---------------------------------------------------------------------------------------------
# cross_entropy and nll_loss: every option against torch.nn.functional, and finite differences

W4 = np.array([0.3, 1.7, 0.9, 2.2])


def _ce_case(name):
    """(logits, target, kwargs) for one variant: float64 masters, seeded."""
    rng = np.random.default_rng(sum(map(ord, name)))
    z = rng.standard_normal
    if name == "default":
        return z((5, 4)), rng.integers(0, 4, 5), {}
    if name == "weight":
        return z((6, 4)), rng.integers(0, 4, 6), {"weight": W4}
    if name == "ignore":
        return z((6, 4)), np.array([0, -100, 3, 2, -100, 1]), {"weight": W4}
    if name == "ignore-in-range":
        return z((6, 4)), np.array([0, 2, 3, 2, 1, 1]), {"ignore_index": 2}
    if name == "all-ignored":
        return z((3, 4)), np.full(3, -100), {}
    if name == "sum":
        return z((5, 4)), np.array([0, 1, -100, 3, 1]), {"weight": W4, "reduction": "sum"}
    if name == "none":
        return z((5, 4)), np.array([0, 1, -100, 3, 1]), {"weight": W4, "reduction": "none"}
    if name == "smoothing":
        return z((5, 4)), np.array([0, 1, -100, 3, 1]), {"label_smoothing": 0.2}
    if name == "smoothing-weight":
        return z((5, 4)), np.array([0, 1, -100, 3, 1]), {"weight": W4, "label_smoothing": 0.3}
    if name == "smoothing-weight-none":
        t = np.array([0, 1, -100, 3, 1])
        return z((5, 4)), t, {"weight": W4, "label_smoothing": 0.3, "reduction": "none"}
    if name == "smoothing-one":
        return z((4, 4)), rng.integers(0, 4, 4), {"weight": W4, "label_smoothing": 1.0}
    if name == "spatial":
        t = rng.integers(0, 4, (2, 3, 5))
        t[0, 1, 2] = -100
        return z((2, 4, 3, 5)), t, {"weight": W4, "label_smoothing": 0.1}
    if name == "spatial-none":
        return z((2, 4, 3)), rng.integers(0, 4, (2, 3)), {"reduction": "none"}
    if name == "unbatched":
        return z(4), np.array(2), {"weight": W4}
    if name == "probabilities":
        return z((5, 4)), rng.dirichlet(np.ones(4), 5), {}
    if name == "probabilities-weight-smoothing":
        return z((5, 4)), rng.dirichlet(np.ones(4), 5), {"weight": W4, "label_smoothing": 0.25}
    if name == "probabilities-spatial-sum":
        p = np.moveaxis(rng.dirichlet(np.ones(4), (2, 3)), -1, 1)
        return z((2, 4, 3)), p, {"weight": W4, "reduction": "sum"}
    if name == "probabilities-unbatched-none":
        return z(4), rng.dirichlet(np.ones(4)), {"reduction": "none", "label_smoothing": 0.1}
    if name == "large":
        return 1e4 * z((3, 5)), rng.integers(0, 5, 3), {"weight": np.linspace(0.5, 2, 5)}
    raise KeyError(name)


CE_CASES = [
    "default",
    "weight",
    "ignore",
    "ignore-in-range",
    "all-ignored",
    "sum",
    "none",
    "smoothing",
    "smoothing-weight",
    "smoothing-weight-none",
    "smoothing-one",
    "spatial",
    "spatial-none",
    "unbatched",
    "probabilities",
    "probabilities-weight-smoothing",
    "probabilities-spatial-sum",
    "probabilities-unbatched-none",
    "large",
]
NLL_CASES = [c for c in CE_CASES if "probabilities" not in c and "smoothing" not in c]
LOSS_TOL = {np.float64: 1e-12, np.float32: 1e-5}


def _cast(z, t, kwargs, dtype):
    t = t.astype(dtype) if np.issubdtype(t.dtype, np.floating) else t
    kw = {k: v.astype(dtype) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    return z.astype(dtype), t, kw


def _torch_loss(torch, fn, x, t, kw, upstream):
    """PyTorch's loss value and its gradient for the upstream gradient ``upstream``."""
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    kwt = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    tt = torch.from_numpy(np.asarray(t))
    loss = getattr(torch.nn.functional, fn)(xt, tt, **kwt)
    loss.backward(torch.from_numpy(np.asarray(upstream, dtype=x.dtype)))
    return loss.detach().numpy(), xt.grad.numpy()


def _upstream(x, loss, kw):
    """An upstream gradient of the loss's shape, and its action on cnnmath's grad."""
    if kw.get("reduction") == "none":
        g = np.random.default_rng(7).standard_normal(np.shape(loss))
        return g, np.expand_dims(g, 0 if x.ndim == 1 else 1)
    return np.array(1.5), 1.5


def _check_against_torch(fn, name, dtype):
    torch = pytest.importorskip("torch")
    x, t, kw = _cast(*_ce_case(name), dtype)
    ours = cross_entropy if fn == "cross_entropy" else nll_loss
    if fn == "nll_loss":
        x = log_softmax(x, axis=0 if x.ndim == 1 else 1)
        kw.pop("label_smoothing", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray floating-point warnings, even for NaN losses
        loss, grad = ours(x, t, **kw)
    g, g_ours = _upstream(x, loss, kw)
    want_loss, want_grad = _torch_loss(torch, fn, x, t, kw, g)
    assert grad.dtype == dtype and grad.shape == x.shape
    if kw.get("reduction") == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype
        assert loss.shape == want_loss.shape
        assert rel_error(loss, want_loss) <= LOSS_TOL[dtype]
    else:
        assert isinstance(loss, float)
        if np.isnan(want_loss):
            assert np.isnan(loss)
        else:
            assert abs(loss - want_loss) <= LOSS_TOL[dtype] * max(abs(float(want_loss)), 1.0)
    assert rel_error(grad * g_ours, want_grad) <= LOSS_TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", CE_CASES)
def test_cross_entropy_variants_match_torch(name, dtype):
    _check_against_torch("cross_entropy", name, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", NLL_CASES)
def test_nll_loss_variants_match_torch(name, dtype):
    _check_against_torch("nll_loss", name, dtype)


FD_CASES = [
    (fn, name)
    for fn, names in (("cross_entropy", CE_CASES), ("nll_loss", NLL_CASES))
    for name in names
    if name not in ("all-ignored", "large")  # NaN loss; logits of 1e4 swamp the differences
]


@pytest.mark.parametrize("fn, name", FD_CASES)
def test_cross_entropy_and_nll_gradients_match_finite_differences(fn, name):
    x, t, kw = _ce_case(name)
    ours = cross_entropy if fn == "cross_entropy" else nll_loss
    if fn == "nll_loss":
        kw.pop("label_smoothing", None)
    class_axis = 0 if x.ndim == 1 else 1

    def func(z):
        return np.asarray(ours(z, t, **kw)[0])

    def backward(G, z):
        grad = ours(z, t, **kw)[1]
        return grad * (np.expand_dims(G, class_axis) if kw.get("reduction") == "none" else G)

    errors = check_gradients(func, backward, [x], rtol=1e-7)
    assert errors[0] <= 1e-7


def test_softmax_cross_entropy_is_cross_entropy():
    z = _normal((6, 5), seed=11, scale=3.0)
    y = np.array([0, 4, 1, 1, 3, 2])
    loss, grad = softmax_cross_entropy(z, y)
    want_loss, want_grad = cross_entropy(z, y)
    # written out on its own (the training loop's fast path): the same to rounding
    assert abs(loss - want_loss) <= 1e-14 * abs(want_loss)
    np.testing.assert_allclose(grad, want_grad, rtol=0, atol=1e-16)
    z32 = z.astype(np.float32)
    loss32, grad32 = softmax_cross_entropy(z32, y)
    assert grad32.dtype == np.float32
    np.testing.assert_allclose(grad32, want_grad, rtol=0, atol=1e-7)
    assert abs(loss32 - want_loss) <= 1e-6 * abs(want_loss)


CE_ERRORS = [
    (
        lambda: cross_entropy(Z, np.array([0, 1, 4])),
        ValueError,
        r"target.*\[0, 3\].*target\[2\] = 4",
    ),
    (lambda: cross_entropy(Z, np.array([0, -3, 1])), ValueError, r"target\[1\] = -3"),
    (lambda: cross_entropy(Z, np.array([0, 1])), ValueError, r"target.*\(3,\).*\(2,\)"),
    (lambda: cross_entropy(Z, np.array([True, False, True])), ValueError, "target.*bool"),
    (lambda: cross_entropy(Z, np.zeros((3, 4), np.float32)), TypeError, "float64.*float32"),
    (lambda: cross_entropy(Z, np.zeros((3, 5))), ValueError, r"target.*probabilities.*\(3, 5\)"),
    (lambda: cross_entropy(Z, np.zeros(3, int), weight=np.ones(3)), ValueError, r"weight.*\(4,\)"),
    (lambda: cross_entropy(Z, np.zeros(3, int), weight=np.ones(4, int)), TypeError, "weight"),
    (lambda: cross_entropy(Z, np.zeros(3, int), reduction="avg"), ValueError, "reduction.*'avg'"),
    (
        lambda: cross_entropy(Z, np.zeros(3, int), label_smoothing=1.5),
        ValueError,
        "label_smoothing",
    ),
    (lambda: cross_entropy(Z, np.zeros(3, int), ignore_index=1.0), TypeError, "ignore_index"),
    (lambda: cross_entropy(np.zeros(()), np.zeros((), int)), ValueError, "logits.*0-d"),
    (lambda: cross_entropy(np.zeros((3, 0)), np.zeros(3, int)), ValueError, "logits.*C >= 1"),
    (lambda: cross_entropy(Z.astype(int), np.zeros(3, int)), TypeError, "logits"),
    (lambda: nll_loss(Z, np.array([0.0, 1.0, 2.0])), ValueError, "target.*integer"),
    (lambda: nll_loss(Z, np.array([0, 4, 1])), ValueError, r"target\[1\] = 4"),
    (lambda: nll_loss([[0.0]], np.array([0])), TypeError, "log_probs"),
    (lambda: nll_loss(Z, np.zeros(3, int), reduction=None), ValueError, "reduction"),
]


@pytest.mark.parametrize("call, exc, pattern", CE_ERRORS)
def test_cross_entropy_and_nll_bad_input(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# ---------------------------------------------------------------------------------------------
# dropout: what the fixed-mask record cannot show (the draw itself)


def test_dropout_draws_a_bernoulli_mask_and_scales_by_one_over_keep():
    from cnnmath.ops.dropout import dropout, dropout_backward

    x = np.ones((400, 500))
    y, mask = dropout(x, p=0.3, rng=np.random.default_rng(0), return_mask=True)
    kept = mask.mean()
    assert abs(kept - 0.7) < 4 * np.sqrt(0.7 * 0.3 / x.size)  # four standard deviations
    np.testing.assert_array_equal(y, np.where(mask, 1 / 0.7, 0.0))
    # the same generator state draws the same mask; the backward applies it to g
    y2 = dropout(x, p=0.3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(y, y2)
    g = _normal(x.shape, seed=40)
    np.testing.assert_array_equal(dropout_backward(g, mask, p=0.3), g * np.where(mask, 1 / 0.7, 0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_eval_is_the_identity_and_p_one_drops_everything(dtype):
    from cnnmath.ops.dropout import dropout

    x = _normal((3, 4), dtype, seed=41)
    y, mask = dropout(x, p=0.9, training=False, return_mask=True)
    np.testing.assert_array_equal(y, x)
    assert y is not x and y.dtype == dtype and mask.all()
    zero = dropout(x, p=1.0, rng=np.random.default_rng(1))
    assert zero.dtype == dtype and not zero.any()
    assert np.array_equal(dropout(x, p=0.0, rng=np.random.default_rng(1)), x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_with_a_mask_is_x_times_the_scaled_mask_bit_for_bit(dtype):
    """y = x · (m/(1 − p)) elementwise, as PyTorch's x·noise: a dropped inf or NaN is NaN, a
    dropped negative a −0; over several blocks (the op's threads' cut)."""
    from cnnmath.ops.dropout import _BLOCK, dropout, dropout_backward

    n = 3 * _BLOCK + 5
    x = _normal((n,), dtype, seed=42)
    x[:8] = [np.inf, -np.inf, np.nan, -0.0, 0.0, -3.0, 2.0, 1e-30]
    mask = np.random.default_rng(43).random(n) >= 0.4
    mask[:8] = [False, True, False, False, True, False, True, True]
    bits = np.uint64 if dtype == np.float64 else np.uint32
    with np.errstate(invalid="ignore"):  # inf·0
        want = x * np.where(mask, dtype(1 / 0.6), dtype(0))
        got = dropout(x, p=0.4, mask=mask)
        np.testing.assert_array_equal(got.view(bits), want.view(bits))
        np.testing.assert_array_equal(dropout_backward(x, mask, p=0.4).view(bits), want.view(bits))


def test_dropout_like_pytorch_in_distribution():
    """PyTorch's draw differs, but not its law: the kept fraction and the scale agree."""
    torch = pytest.importorskip("torch")
    from cnnmath.ops.dropout import dropout

    x = np.ones(200_000)
    ours = dropout(x, p=0.25, rng=np.random.default_rng(5))
    torch.manual_seed(5)
    theirs = torch.nn.functional.dropout(torch.from_numpy(x), p=0.25).numpy()
    assert set(np.unique(ours)) == set(np.unique(theirs)) == {0.0, 1 / 0.75}
    assert abs((ours > 0).mean() - (theirs > 0).mean()) < 0.01


def test_float_class_labels_are_told_to_be_integers():
    """Labels given as floats of the batch's shape (not probabilities of the logits' shape)
    are read as probabilities, as PyTorch reads them, and refused: the message says class
    indices must be integers; integer labels of the same values then give PyTorch's loss."""
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(2).standard_normal((2, 10))
    with pytest.raises(ValueError, match=r"got shape \(2,\) of dtype float64; class indices must"):
        cross_entropy(z, np.array([1.0, 2.0]))
    loss, _ = cross_entropy(z, np.array([1.0, 2.0]).astype(np.int64))
    want = torch.nn.functional.cross_entropy(torch.from_numpy(z), torch.tensor([1, 2]))
    assert abs(loss - want.item()) < 1e-12
    with pytest.raises(ValueError) as caught:  # probabilities of a wrong shape: no such hint
        cross_entropy(z, np.full((2, 9), 0.1))
    assert "integers" not in str(caught.value)
