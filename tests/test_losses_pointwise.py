"""The element-by-element losses against torch.nn.functional with autograd: value and
gradient for every reduction, weights and pos_weight broadcast, the kinks' conventions,
extreme logits, and bad input named."""

import numpy as np
import pytest

from cnnmath import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional

REDUCTIONS = ["mean", "sum", "none"]


def _torch(fn, x, t, reduction, **kwargs):
    """torch's loss and the gradient of its sum (as cnnmath's "none" grad) or of itself."""
    tx = torch.from_numpy(x.copy()).requires_grad_()
    tt = torch.from_numpy(t.copy())
    loss = fn(tx, tt, reduction=reduction, **kwargs)
    loss.sum().backward()
    return loss.detach().numpy(), tx.grad.numpy()


def _check(ours_fn, torch_fn, x, t, reduction, rtol=1e-12, atol=1e-300, **kwargs):
    loss, grad = ours_fn(x, t, reduction=reduction, **kwargs)
    want_loss, want_grad = _torch(torch_fn, x, t, reduction, **_torch_kwargs(kwargs))
    if reduction == "none":
        assert loss.shape == x.shape and loss.dtype == x.dtype
    else:
        assert isinstance(loss, float)
    np.testing.assert_allclose(loss, want_loss, rtol=rtol, atol=atol)
    assert grad.dtype == x.dtype and grad.shape == x.shape
    np.testing.assert_allclose(grad, want_grad, rtol=rtol, atol=atol)


def _torch_kwargs(kwargs):
    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


def _data(shape=(4, 3, 5), seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("l1_loss", {}),
        ("mse_loss", {}),
        ("smooth_l1_loss", {}),
        ("smooth_l1_loss", {"beta": 0.3}),
        ("smooth_l1_loss", {"beta": 0.0}),
        ("huber_loss", {}),
        ("huber_loss", {"delta": 0.4}),
    ],
)
def test_regression_losses_are_torchs(name, kwargs, reduction):
    x, t = _data()
    _check(getattr(losses, name), getattr(F, name), x, t, reduction, **kwargs)
    x32, t32 = x.astype(np.float32), t.astype(np.float32)
    _check(getattr(losses, name), getattr(F, name), x32, t32, reduction, rtol=1e-5, **kwargs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("l1_loss", {}), ("mse_loss", {}), ("huber_loss", {}), ("huber_loss", {"delta": 0.4})],
)
def test_element_weights_are_torchs(name, kwargs, reduction):
    # l1 and mse average over Σw, huber over the element count: PyTorch's two rules
    x, t = _data(seed=5)
    w = np.random.default_rng(6).uniform(0.0, 3.0, size=x.shape)
    w[0, 0] = 0.0
    _check(getattr(losses, name), getattr(F, name), x, t, reduction, weight=w, **kwargs)
    x32, t32, w32 = x.astype(np.float32), t.astype(np.float32), w.astype(np.float32)
    fn, torch_fn = getattr(losses, name), getattr(F, name)
    _check(fn, torch_fn, x32, t32, reduction, rtol=1e-5, weight=w32, **kwargs)


def test_element_weights_count_an_element_w_times():
    # an independent reading of "mean" as the weighted average: integer weights repeat elements
    x, t = _data(shape=(6,), seed=7)
    w = np.array([1.0, 3.0, 0.0, 2.0, 1.0, 1.0])
    repeats = w.astype(int)
    for name in ("l1_loss", "mse_loss"):
        weighted, _ = getattr(losses, name)(x, t, weight=w)
        repeated, _ = getattr(losses, name)(np.repeat(x, repeats), np.repeat(t, repeats))
        assert weighted == pytest.approx(repeated, rel=1e-14)


def test_all_zero_weights_give_nan_and_weights_summing_to_zero_infinity_as_torch():
    x, t = _data(shape=(3,))
    for name in ("l1_loss", "mse_loss"):
        _check(getattr(losses, name), getattr(F, name), x, t, "mean", weight=np.zeros(3))
        w = np.array([1.0, -1.0, 0.0])  # Σw = 0, Σwℓ ≠ 0: ±∞
        _check(getattr(losses, name), getattr(F, name), x, t, "mean", weight=w)
        assert np.isinf(getattr(losses, name)(x, t, weight=w)[0])


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.5}), ("huber_loss", {"delta": 0.5})],
)
def test_kinks_follow_torchs_convention(name, kwargs):
    # residuals exactly 0 and exactly at the switch point ±β / ±δ
    x = np.array([0.0, 0.5, -0.5, 2.0, 1.25])
    t = np.array([0.0, 0.0, 0.0, 2.0, 0.75])
    _check(getattr(losses, name), getattr(F, name), x, t, "sum", **kwargs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_is_torchs(reduction):
    x, _ = _data(seed=1)
    t = np.random.default_rng(2).uniform(size=x.shape)
    _check(
        losses.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, x, t, reduction
    )
    weight = np.random.default_rng(3).uniform(size=(3, 1))  # broadcast over the last axis
    pos_weight = np.array([0.5, 2.0, 1.0, 3.0, 0.1])  # one per class on the last axis
    _check(
        losses.binary_cross_entropy_with_logits,
        F.binary_cross_entropy_with_logits,
        x,
        t,
        reduction,
        weight=weight,
        pos_weight=pos_weight,
    )


def test_bce_with_logits_is_finite_and_torchs_at_extreme_logits():
    x = np.array([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4])
    for target in (0.0, 1.0, 0.3):
        t = np.full_like(x, target)
        loss, grad = losses.binary_cross_entropy_with_logits(x, t, reduction="none")
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
        # torch's log(e^(−m) + e^(−x−m)) form rounds losses below ~1e-13 (to 0 at x = −100,
        # t = 0, where softplus is 3.7e-44): equal to 1e-12 of the scale
        _check(
            losses.binary_cross_entropy_with_logits,
            F.binary_cross_entropy_with_logits,
            x,
            t,
            "none",
            atol=1e-12,
        )
        _check(
            losses.binary_cross_entropy_with_logits,
            F.binary_cross_entropy_with_logits,
            x.astype(np.float32),
            t.astype(np.float32),
            "none",
            rtol=1e-6,
            atol=1e-6,
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_is_torchs_with_its_clamps(reduction):
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(6, 4))
    x[0, :] = [0.0, 1.0, 1e-50, 1 - 1e-16]  # logs clamped at −100, gradient's 1e-12 floor
    t = rng.uniform(size=x.shape)
    t[0, :] = [1.0, 0.0, 1.0, 0.0]
    _check(losses.binary_cross_entropy, F.binary_cross_entropy, x, t, reduction)
    _check(
        losses.binary_cross_entropy,
        F.binary_cross_entropy,
        x,
        t,
        reduction,
        weight=rng.uniform(size=(4,)),
    )


@pytest.mark.filterwarnings("ignore:reduction. .mean. divides")
@pytest.mark.parametrize("reduction", [*REDUCTIONS, "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_is_torchs(reduction, log_target):
    rng = np.random.default_rng(5)
    z = rng.normal(size=(4, 6))
    x = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # log-softmax of a student
    q = rng.dirichlet(np.ones(6), size=4)
    q[0, :2] = 0.0  # a teacher certain some classes are impossible: 0·log 0 = 0
    q[0] /= q[0].sum()
    t = np.log(q + 1e-300) if log_target else q
    _check(losses.kl_div, F.kl_div, x, t, reduction, log_target=log_target)


def test_kl_div_batchmean_is_the_kl_per_example():
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    q = np.array([[0.25, 0.75], [0.5, 0.5]])
    loss, _ = losses.kl_div(np.log(q), p, reduction="batchmean")
    by_hand = np.mean(np.sum(p * np.log(p / q), axis=1))
    assert loss == pytest.approx(by_hand, rel=1e-14)


def test_mse_loss_mean_is_the_old_mse():
    x, t = _data(seed=6)
    old = losses.mse(x, t)
    new = losses.mse_loss(x, t)
    assert new[0] == pytest.approx(old[0], rel=1e-14)
    np.testing.assert_allclose(new[1], old[1], rtol=1e-14)


def test_nan_in_gives_nan_out():
    x = np.array([np.nan, 1.0])
    t = np.array([0.0, 1.0])
    for fn in (
        losses.l1_loss,
        losses.huber_loss,
        losses.binary_cross_entropy_with_logits,
        losses.binary_cross_entropy,
    ):
        loss, grad = fn(x, t)
        assert np.isnan(loss) and np.isnan(grad[0]) and np.isfinite(grad[1])


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (
            lambda: losses.l1_loss(np.zeros(3), np.zeros((3, 1))),
            ValueError,
            ["target", "(3,)", "(3, 1)"],
        ),
        (
            lambda: losses.mse_loss(np.zeros(3), np.zeros(3, np.float32)),
            TypeError,
            ["float32", "float64"],
        ),
        (lambda: losses.huber_loss(np.zeros(3), np.zeros(3), delta=0), ValueError, ["delta", "0"]),
        (
            lambda: losses.smooth_l1_loss(np.zeros(3), np.zeros(3), beta=-1),
            ValueError,
            ["beta", "-1"],
        ),
        (
            lambda: losses.l1_loss(np.zeros(3), np.zeros(3), reduction="avg"),
            ValueError,
            ["reduction", "'avg'"],
        ),
        (
            lambda: losses.kl_div(np.zeros(3), np.zeros(3), log_target=1),
            TypeError,
            ["log_target", "1"],
        ),
        (
            lambda: losses.binary_cross_entropy(np.array([1.5]), np.zeros(1)),
            ValueError,
            ["input", "[0, 1]", "1.5"],
        ),
        (
            lambda: losses.binary_cross_entropy_with_logits(
                np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(2)
            ),
            ValueError,
            ["pos_weight", "(2,)", "(2, 3)"],
        ),
        (lambda: losses.l1_loss(np.zeros(3, int), np.zeros(3, int)), TypeError, ["input", "int"]),
        (
            lambda: losses.mse_loss(np.zeros((2, 3)), np.zeros((2, 3)), weight=np.ones(3)),
            ValueError,
            ["mse_loss", "weight", "(2, 3)", "(3,)"],
        ),
        (
            lambda: losses.huber_loss(np.zeros(3), np.zeros(3), weight=np.ones(3, np.float32)),
            TypeError,
            ["huber_loss", "weight", "float32"],
        ),
    ],
)
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)
