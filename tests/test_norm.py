"""Normalisation beyond the generic op records (tests/records/norm.py).

- The running statistics over several training steps, against PyTorch's BatchNorm modules
  (momentum 0.1 and None, the cumulative average), updated in place.
- Training gradients with running statistics given (the generic finite-difference test
  cannot hand an op that writes in place the same arrays twice): PyTorch and finite
  differences.
- Why the gradient checks use a non-uniform upstream gradient: Σ y of a batch norm does not
  depend on x, so with g = 1 every grad_x is zero and a wrong one passes; proved with a
  wrong backward that a uniform check accepts and the checks used here reject.
- Instance norm and layer norm over C·H·W as group_norm's special cases, against PyTorch's
  instance_norm and layer_norm.
- Accuracy when |μ| ≫ σ (the two-pass statistics), batch norm folded into a convolution in
  evaluation, and drawn shapes against PyTorch (hypothesis).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnmath import (
    batch_norm,
    batch_norm_backward,
    conv2d,
    group_norm,
    group_norm_backward,
    layer_norm,
    layer_norm_backward,
    reference,
)
from cnnmath.gradcheck import GradcheckError, check_gradients, numerical_vjp
from helpers import assert_close, rel_error
from opinfo import randn
from test_op_records import _grad_output


def _torch():
    return pytest.importorskip("torch")


def _leaf(torch, a):
    return torch.from_numpy(np.ascontiguousarray(a)).requires_grad_(True)


# ---------------------------------------------------------------------------------------------
# Running statistics over training steps


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum", [0.1, None, 0.7])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (8, 5), (3, 4, 7)], ids=["4d", "2d", "3d"])
def test_running_statistics_follow_torch_over_steps(shape, momentum, dtype):
    torch = _torch()
    C = shape[1]
    module = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}[
        len(shape)
    ](C, momentum=momentum, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(randn(C, seed=1).astype(dtype)))
        module.bias.copy_(torch.from_numpy(randn(C, seed=2).astype(dtype)))
    weight, bias = module.weight.detach().numpy().copy(), module.bias.detach().numpy().copy()
    running_mean, running_var = np.zeros(C, dtype), np.ones(C, dtype)
    mean_buffer, var_buffer = running_mean, running_var  # the same objects throughout
    count = 0
    module.train()
    for step in range(5):
        x = (randn(*shape, seed=10 + step) * (1 + step) + step - 2).astype(dtype)
        count += 1  # as the module does, before the forward
        y = batch_norm(
            x, running_mean, running_var, weight, bias, True, momentum, num_batches_tracked=count
        )
        want = module(torch.from_numpy(x)).detach().numpy()
        assert y.dtype == dtype
        assert_close(y, want, dtype)
        assert_close(running_mean, module.running_mean.numpy(), dtype)
        assert_close(running_var, module.running_var.numpy(), dtype)
        assert count == int(module.num_batches_tracked)
    assert running_mean is mean_buffer and running_var is var_buffer
    assert not np.allclose(running_mean, 0) and not np.allclose(running_var, 1)
    module.eval()
    x = randn(*shape, seed=99).astype(dtype)
    y = batch_norm(x, running_mean, running_var, weight, bias, False, momentum)
    assert_close(y, module(torch.from_numpy(x)).detach().numpy(), dtype)


def test_cumulative_average_is_the_mean_of_the_batch_statistics():
    """momentum=None: after k steps running_mean is the plain mean of the k batch means and
    running_var that of the k unbiased variances (from zeros and ones: the first step
    replaces them)."""
    rm, rv = np.zeros(3), np.ones(3)
    means, variances = [], []
    for step in range(4):
        x = randn(6, 3, 2, seed=step) + step
        batch_norm(x, rm, rv, training=True, momentum=None, num_batches_tracked=step + 1)
        means.append(x.mean(axis=(0, 2)))
        variances.append(x.var(axis=(0, 2), ddof=1))
    assert_close(rm, np.mean(means, axis=0))
    assert_close(rv, np.mean(variances, axis=0))


def test_evaluation_and_stat_free_training_write_nothing():
    x, rm, rv = randn(4, 3, 5), randn(3, seed=1), np.ones(3) * 2
    before = rm.copy(), rv.copy()
    batch_norm(x, rm, rv, training=False)
    batch_norm(x, None, None, training=True)
    batch_norm_backward(randn(4, 3, 5, seed=2), x, rm, rv, training=True)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])


def test_a_failed_call_updates_nothing():
    rm, rv = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="momentum"):
        batch_norm(randn(4, 3), rm, rv, training=True, momentum=2.0)
    with pytest.raises(ValueError, match="running_var: expected a writable array"):
        read_only = np.ones(3)
        read_only.flags.writeable = False
        batch_norm(randn(4, 3), rm, read_only, training=True)
    np.testing.assert_array_equal(rm, 0)
    np.testing.assert_array_equal(rv, 1)


# ---------------------------------------------------------------------------------------------
# Training gradients with running statistics given


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_gradients_with_running_statistics_match_torch(dtype):
    torch = _torch()
    x, w, b = randn(3, 4, 2, 5).astype(dtype), randn(4, seed=1).astype(dtype), None
    rm, rv = randn(4, seed=2).astype(dtype), (np.ones(4) * 1.5).astype(dtype)
    y = batch_norm(x, rm.copy(), rv.copy(), w, b, True)
    g = np.random.default_rng(3).standard_normal(y.shape).astype(dtype)
    gx, gw, gb = batch_norm_backward(g, x, rm, rv, w, training=True)
    tx, tw, tb = _leaf(torch, x), _leaf(torch, w), _leaf(torch, np.zeros(4, dtype))
    out = torch.nn.functional.batch_norm(
        tx, torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy()), tw, tb, True
    )
    out.backward(torch.from_numpy(g))
    for got, want in ((gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
        assert got.dtype == dtype
        assert_close(got, want.numpy(), dtype)


def test_training_gradients_with_running_statistics_match_finite_differences():
    rm, rv = randn(3, seed=4), np.full(3, 0.8)

    def forward(x, w, b):  # fresh copies of the statistics each call: nothing else varies
        return batch_norm(x, rm.copy(), rv.copy(), w, b, True, 0.3)

    def backward(g, x, w, b):
        return batch_norm_backward(g, x, rm, rv, w, training=True)

    check_gradients(forward, backward, [randn(4, 3, 3, seed=5), randn(3, seed=6), randn(3)])


def test_missing_weight_still_gives_the_gradient_at_gamma_one():
    torch = _torch()
    x, g = randn(5, 3, 4), randn(5, 3, 4, seed=1)
    tw, tx = _leaf(torch, np.ones(3)), _leaf(torch, x)
    for training in (True, False):
        tw.grad = None
        rm, rv = np.zeros(3), np.full(3, 2.0)
        out = torch.nn.functional.batch_norm(
            tx, torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy()), tw, None, training
        )
        out.backward(torch.from_numpy(g))
        _, gw, _ = batch_norm_backward(g, x, rm, rv, None, training=training)
        assert_close(gw, tw.grad.numpy())
    _, gw, _ = group_norm_backward(g, x, 3)
    assert_close(gw, group_norm_backward(g, x, 3, np.ones(3))[1])
    _, gw, _ = layer_norm_backward(g, x, 4)
    assert_close(gw, layer_norm_backward(g, x, 4, np.ones(4))[1])


# ---------------------------------------------------------------------------------------------
# Non-uniform upstream gradients: a uniform one is blind


def _forgets_the_variance(g, x, rm, rv, w, training=True, eps=1e-5):
    """A WRONG training backward: γ/√(σ²+ε)·(g − mean g), the x̂·mean(g x̂) term (σ²'s
    dependence on x) dropped. Right whenever mean(g x̂) = 0 — in particular for g = 1."""
    axes = (0, *range(2, x.ndim))
    keep = (1, -1) + (1,) * (x.ndim - 2)
    invstd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    gx = w.reshape(keep) * invstd * (g - g.mean(axis=axes, keepdims=True))
    return gx


def test_uniform_upstream_gradient_cannot_see_a_wrong_grad_x():
    x, w, b = randn(4, 3, 2, 3), randn(3, seed=1), randn(3, seed=2)

    def forward(x):
        return batch_norm(x, None, None, w, b, True)

    ones = np.ones((4, 3, 2, 3))
    (numerical,) = numerical_vjp(forward, [x], ones)
    # Σ y = Σ_c (γ_c Σ x̂ + m β_c) and Σ x̂ = 0: the true gradient is zero, ...
    assert np.abs(numerical).max() < 1e-8
    # ... and so are the right and the wrong backward: a check with g = 1 passes both.
    right = batch_norm_backward(ones, x, None, None, w, training=True)[0]
    wrong = _forgets_the_variance(ones, x, None, None, w)
    assert np.abs(right).max() < 1e-12 and np.abs(wrong).max() < 1e-12


def test_the_checks_used_here_catch_a_wrong_grad_x():
    # x's seed differs from check_gradients' (0): with the same seed and shape, g = x, which
    # is affine in x̂ per channel and as blind as g = 1 (the true gradient is then O(ε)).
    x, w, b = randn(4, 3, 2, 3, seed=7), randn(3, seed=1), randn(3, seed=2)

    def forward(x):
        return batch_norm(x, None, None, w, b, True)

    g = np.random.default_rng(1).standard_normal(x.shape)
    (numerical,) = numerical_vjp(forward, [x], g)
    wrong = _forgets_the_variance(g, x, None, None, w)
    right = batch_norm_backward(g, x, None, None, w, training=True)[0]
    assert rel_error(wrong, numerical) > 0.05
    assert rel_error(right, numerical) < 1e-7
    # check_gradients (the generic finite-difference test's engine) rejects the wrong one
    check_gradients(
        forward, lambda g, x: batch_norm_backward(g, x, None, None, w, training=True)[0], [x]
    )
    with pytest.raises(GradcheckError):
        check_gradients(forward, lambda g, x: _forgets_the_variance(g, x, None, None, w), [x])


def _naive_gradient(name, g, x, weight, kwargs):
    """γ g/√(σ²+ε): what ∂ℓ/∂x would be if μ and σ² did not depend on x. The true gradient
    removes from it, per statistic, its components along 1 and x̂; for g uniform or affine in
    x̂ nothing is left (every grad_x ~ 0, a wrong one too)."""
    eps = kwargs.get("eps", 1e-5)
    if name == "batch_norm":
        axes = (0, *range(2, x.ndim))
        invstd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
        gamma = 1.0 if weight is None else weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    elif name == "group_norm":
        groups = x.reshape(x.shape[0], kwargs["num_groups"], -1)
        invstd = np.broadcast_to(
            1 / np.sqrt(groups.var(axis=2, keepdims=True) + eps), groups.shape
        ).reshape(x.shape)
        gamma = 1.0 if weight is None else weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    else:
        shape = kwargs["normalized_shape"]
        k = 1 if isinstance(shape, int) else len(shape)
        axes = tuple(range(x.ndim - k, x.ndim))
        invstd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
        gamma = 1.0 if weight is None else weight
    return gamma * invstd * g


@pytest.mark.parametrize("name", ["batch_norm", "group_norm", "layer_norm"])
def test_the_generic_upstream_gradients_see_grad_x(name):
    """For every sample whose grad_x goes through the statistics, the upstream gradients of
    the generic tests (test_op_records' g, seed 1; check_gradients' g, seed 0) leave most of
    the naive gradient in grad_x: they are neither uniform nor aligned with x̂ (≈ √((m−2)/m)
    for a random g over m values; ~0 for a blind one, such as g = x)."""
    from records.norm import RECORDS

    record = next(r for r in RECORDS if r.name == name)
    for sample in record.samples():
        if name == "batch_norm" and not sample.kwargs.get("training", False):
            continue  # evaluation: ∂x = γ g/√(r_σ²+ε) sees every g
        x = sample.arrays[0]
        weight = sample.arrays[3] if name == "batch_norm" else sample.arrays[1]
        y = record.op(*sample.arrays, **sample.kwargs)
        for g in (
            _grad_output(record, sample, np.float64),
            np.random.default_rng(0).standard_normal(y.shape),
        ):
            grad_x = record.reference_backward(g, *sample.arrays, **sample.kwargs)[0]
            naive = _naive_gradient(name, g, x, weight, sample.kwargs)
            assert np.linalg.norm(grad_x) > 0.3 * np.linalg.norm(naive), sample.name


def test_a_blind_upstream_gradient_is_detected():
    """The measure above can fail: g = x (what equal seeds give) leaves nothing."""
    x, w = randn(4, 3, 2, 3), randn(3, seed=1)
    grad_x = batch_norm_backward(x, x, None, None, w, training=True)[0]
    naive = _naive_gradient("batch_norm", x, x, w, {})
    assert np.linalg.norm(grad_x) < 1e-3 * np.linalg.norm(naive)


# ---------------------------------------------------------------------------------------------
# group_norm's special cases


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 4, 6)])
def test_group_norm_with_C_groups_is_instance_norm(shape):
    torch = _torch()
    C = shape[1]
    x, w, b, g = randn(*shape) * 2 + 1, randn(C, seed=1), randn(C, seed=2), randn(*shape, seed=3)
    tx, tw, tb = _leaf(torch, x), _leaf(torch, w), _leaf(torch, b)
    want = torch.nn.functional.instance_norm(tx, weight=tw, bias=tb, eps=1e-5)
    want.backward(torch.from_numpy(g))
    assert_close(group_norm(x, C, w, b), want.detach().numpy())
    for got, t in zip(group_norm_backward(g, x, C, w), (tx, tw, tb)):
        assert_close(got, t.grad.numpy())


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 4, 6)])
def test_group_norm_with_one_group_is_layer_norm_over_chw(shape):
    torch = _torch()
    C, rest = shape[1], shape[1:]
    x, w, b, g = randn(*shape) - 3, randn(C, seed=1), randn(C, seed=2), randn(*shape, seed=3)
    # layer_norm's affine map is elementwise: a per-channel γ, β broadcast over space
    spread = (C,) + (1,) * (len(shape) - 2)
    tx = _leaf(torch, x)
    tw = _leaf(torch, np.broadcast_to(w.reshape(spread), rest).copy())
    tb = _leaf(torch, np.broadcast_to(b.reshape(spread), rest).copy())
    want = torch.nn.functional.layer_norm(tx, rest, tw, tb, 1e-5)
    want.backward(torch.from_numpy(g))
    assert_close(group_norm(x, 1, w, b), want.detach().numpy())
    gx, gw, gb = group_norm_backward(g, x, 1, w)
    assert_close(gx, tx.grad.numpy())
    axes = tuple(range(1, len(rest)))  # γ_c's gradient: the elementwise one summed over space
    assert_close(gw, tw.grad.numpy().sum(axis=axes))
    assert_close(gb, tb.grad.numpy().sum(axis=axes))
    # and without an affine map, our own layer_norm over (C, *spatial) is the same function
    assert_close(group_norm(x, 1), layer_norm(x, rest))
    assert_close(group_norm_backward(g, x, 1)[0], layer_norm_backward(g, x, rest)[0])


# ---------------------------------------------------------------------------------------------
# Accuracy, folding, drawn shapes


@pytest.mark.parametrize("op", ["batch_norm", "group_norm", "layer_norm"])
def test_float32_is_accurate_when_the_mean_dwarfs_the_spread(op):
    """|μ|/σ = 1000: mean(x²) − μ² would lose every digit in float32; the two passes and the
    rounding correction keep float32 within its usual bound of the float64 reference."""
    x = (1000 + randn(6, 4, 3, 5)).astype(np.float32)
    g = randn(6, 4, 3, 5, seed=1).astype(np.float32)
    if op == "batch_norm":
        calls = (
            lambda m: m.batch_norm(x, None, None, None, None, True),
            lambda m: m.batch_norm_backward(g, x, None, None, training=True),
        )
        axes = (0, 2, 3)
    elif op == "group_norm":
        calls = (lambda m: m.group_norm(x, 2), lambda m: m.group_norm_backward(g, x, 2))
        axes = None
    else:
        calls = (lambda m: m.layer_norm(x, (3, 5)), lambda m: m.layer_norm_backward(g, x, (3, 5)))
        axes = None
    import cnnmath

    assert_close(calls[0](cnnmath), calls[0](reference), np.float32)
    for got, want in zip(calls[1](cnnmath), calls[1](reference)):
        assert_close(got, want, np.float32)
    if axes is not None:  # the witness that the test can fail: the one-pass variance
        one_pass = (x * x).mean(axis=axes) - x.mean(axis=axes) ** 2
        true = x.astype(np.float64).var(axis=axes)
        assert rel_error(one_pass, true) > 1e-2


@pytest.mark.parametrize("op", ["batch_norm", "group_norm", "layer_norm"])
def test_float32_squares_past_float32s_range_are_summed_in_float64(op):
    """|x| ~ 1e30: x² overflows float32 (the per-row sums would be inf, σ² inf and x̂ zero),
    but fits in float64, where the sums are then taken: x̂ and the gradients are right."""
    torch = _torch()
    F = torch.nn.functional
    x = (1e30 * randn(4, 6, 3, 5)).astype(np.float32)
    g = randn(4, 6, 3, 5, seed=1).astype(np.float32)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)  # float64: x² fits
    if op == "batch_norm":
        y = batch_norm(x, None, None, training=True)
        grad_x = batch_norm_backward(g, x, None, None, training=True)[0]
        ty = F.batch_norm(tx, None, None, training=True)
    elif op == "group_norm":
        y, grad_x = group_norm(x, 3), group_norm_backward(g, x, 3)[0]
        ty = F.group_norm(tx, 3)
    else:
        y, grad_x = layer_norm(x, (3, 5)), layer_norm_backward(g, x, (3, 5))[0]
        ty = F.layer_norm(tx, (3, 5))
    ty.backward(torch.tensor(g.astype(np.float64)))
    assert np.abs(y).max() > 0.5  # the overflow gave x̂ = 0 everywhere
    assert_close(y, ty.detach().numpy(), np.float32)
    assert_close(grad_x, tx.grad.numpy(), np.float32)


def test_evaluation_batch_norm_folds_into_the_preceding_convolution():
    """Eval BN after a convolution is one convolution: w' = w γ/√(r_σ²+ε) per output
    channel, b' = (b − r_μ) γ/√(r_σ²+ε) + β (a composition of affine maps)."""
    x, w, b = randn(2, 3, 7, 6), randn(4, 3, 3, 3, seed=1), randn(4, seed=2)
    rm, rv = randn(4, seed=3), np.random.default_rng(4).random(4) + 0.5
    gamma, beta = randn(4, seed=5), randn(4, seed=6)
    scale = gamma / np.sqrt(rv + 1e-5)
    folded = conv2d(x, w * scale[:, None, None, None], (b - rm) * scale + beta, padding=1)
    assert_close(batch_norm(conv2d(x, w, b, padding=1), rm, rv, gamma, beta), folded)


@given(
    shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    affine=st.booleans(),
    training=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_hypothesis_batch_norm_matches_torch(shape, affine, training, seed):
    torch = _torch()
    shape = tuple(shape)
    C = shape[1]
    L = int(np.prod(shape[2:]))
    if training and shape[0] * L < 3:  # m = 2 has a gradient of order ε (x̂ = ±1): ill-posed
        shape = (-(-3 // L), *shape[1:])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * rng.uniform(0.1, 10) + rng.uniform(-5, 5)
    g = rng.standard_normal(shape)
    w, b = (rng.standard_normal(C), rng.standard_normal(C)) if affine else (None, None)
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    tx = _leaf(torch, x)
    tw, tb = (_leaf(torch, w), _leaf(torch, b)) if affine else (None, None)
    want = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training)
    want.backward(torch.from_numpy(g))
    assert_close(batch_norm(x, rm, rv, w, b, training), want.detach().numpy())
    assert_close(rm, trm.numpy())
    assert_close(rv, trv.numpy())
    stats = (None, None) if training else (rm, rv)
    gx, gw, gb = batch_norm_backward(g, x, *stats, w, training=training)
    assert_close(gx, tx.grad.numpy())
    if affine:
        assert_close(gw, tw.grad.numpy())
        assert_close(gb, tb.grad.numpy())


@pytest.mark.parametrize("block", [1, 7, 40])
def test_blocked_passes_agree_across_block_boundaries(block, monkeypatch):
    """The passes after the first run over blocks of rows: with blocks of 1, 7 and 40
    elements (one row, a partial last block, several rows; evaluation's blocks too) every
    op still agrees with the literal loops."""
    import cnnmath.ops.norm as norm
    from cnnmath.ops.norm import _rows, batch

    monkeypatch.setattr(_rows, "_BLOCK", block)
    monkeypatch.setattr(batch, "_EVAL_BLOCK", block)  # evaluation's own blocks
    x, g = randn(3, 4, 2, 5) * 3 + 1, randn(3, 4, 2, 5, seed=1)
    w, b = randn(4, seed=2), randn(4, seed=3)
    rm, rv = randn(4, seed=4), np.full(4, 0.7)
    assert_close(
        norm.batch_norm(x, rm, rv, w, b, False), reference.batch_norm(x, rm, rv, w, b, False)
    )
    r1, v1, r2, v2 = rm.copy(), rv.copy(), rm.copy(), rv.copy()
    assert_close(
        norm.batch_norm(x, r1, v1, w, b, True), reference.batch_norm(x, r2, v2, w, b, True)
    )
    assert_close(r1, r2)
    assert_close(v1, v2)
    for got, want in zip(
        norm.batch_norm_backward(g, x, None, None, w, training=True),
        reference.batch_norm_backward(g, x, None, None, w, training=True),
    ):
        assert_close(got, want)
    assert_close(norm.group_norm(x, 2, w, b), reference.group_norm(x, 2, w, b))
    for got, want in zip(
        norm.group_norm_backward(g, x, 2, w), reference.group_norm_backward(g, x, 2, w)
    ):
        assert_close(got, want)
    lw = randn(2, 5, seed=5)
    assert_close(norm.layer_norm(x, (2, 5), lw), reference.layer_norm(x, (2, 5), lw))
    for got, want in zip(
        norm.layer_norm_backward(g, x, (2, 5), lw), reference.layer_norm_backward(g, x, (2, 5), lw)
    ):
        assert_close(got, want)
