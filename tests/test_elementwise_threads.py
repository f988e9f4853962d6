"""Normalisation, activations, softmax, dropout and the losses on all cores: the same bits at
one thread and at two (``assert_thread_invariant``, which also checks that two threads really
ran blocks), on shapes large enough to be cut into several blocks; and the regimes the
blocked statistics choose between, against the float64 reference loops."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.ops import norm
from helpers import rel_error
from threads_helper import assert_thread_invariant


def _data(shape, dtype, *, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + offset).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Normalisation

NORM_SHAPE = (16, 32, 28, 28)  # 2¹⁸·1.5 values: several blocks of _BLOCK in every pass


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 50.0], ids=["plain", "centred"])
def test_batch_norm_is_thread_invariant(dtype, offset):
    x = _data(NORM_SHAPE, dtype, offset=offset)
    g = _data(NORM_SHAPE, dtype, seed=1)
    C = NORM_SHAPE[1]
    w, b = _data(C, dtype, seed=2), _data(C, dtype, seed=3)

    def run():
        rm, rv = np.zeros(C, dtype), np.ones(C, dtype)
        y = norm.batch_norm(x, rm, rv, w, b, True)
        grads = norm.batch_norm_backward(g, x, None, None, w, training=True)
        y_eval = norm.batch_norm(x, rm, rv, w, b, False)
        grads_eval = norm.batch_norm_backward(g, x, rm, rv, w, training=False)
        return y, rm, rv, grads, y_eval, grads_eval

    assert_thread_invariant(run)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_and_layer_norm_are_thread_invariant(dtype):
    x = _data(NORM_SHAPE, dtype, offset=3.0)
    g = _data(NORM_SHAPE, dtype, seed=1)
    C = NORM_SHAPE[1]
    w, b = _data(C, dtype, seed=2), _data(C, dtype, seed=3)
    lw, lb = _data(NORM_SHAPE[2:], dtype, seed=4), _data(NORM_SHAPE[2:], dtype, seed=5)
    assert_thread_invariant(
        lambda: (norm.group_norm(x, 4, w, b), norm.group_norm_backward(g, x, 4, w))
    )
    assert_thread_invariant(
        lambda: (
            norm.layer_norm(x, NORM_SHAPE[2:], lw, lb),
            norm.layer_norm_backward(g, x, NORM_SHAPE[2:], lw),
        )
    )


def _first_sample_apart():
    """x (16384, 1, 8, 8) whose first sample sits 1000 above the others (spread 1): the
    pilot (the first plane's mean) is 1000 from the channel's mean, 128 of its σ ≈ 7.8."""
    x = _data((16384, 1, 8, 8), np.float64)
    x[0] += 1000.0
    return x, _data(x.shape, np.float64, seed=1), _data(1, np.float64, seed=2)


def _first_sample_errors(torch, x, g, w):
    """float32 batch norm and its gradients against PyTorch's in float64."""
    xd, gd, wd = x.astype(np.float32), g.astype(np.float32), w.astype(np.float32)
    got = [norm.batch_norm(xd, None, None, wd, None, True)]
    got += norm.batch_norm_backward(gd, xd, None, None, wd, training=True)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.batch_norm(tx, None, None, tw, None, True)
    ty.backward(torch.tensor(g))
    want = [ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()]
    return [rel_error(a, b) for a, b in zip(got, want)]


def test_a_first_sample_unlike_the_rest_is_centred_again():
    """The pilot shift is the mean of each channel's first plane; when it is more than 2σ
    from the channel's mean the statistics are taken again on the mean (the shift the
    moments report is the mean, not the pilot), and float32 stays within its bound of
    PyTorch in float64."""
    torch = pytest.importorskip("torch")
    x, g, w = _first_sample_apart()
    x32 = x.astype(np.float32)
    rows = norm._channel_rows(16384, 1, 64, np.float32)
    shift = norm._moments(x32.reshape(16384, 64), rows).shift
    assert shift is not None and abs(shift[0] - x.mean()) < 1e-3 * x.std()
    assert max(_first_sample_errors(torch, x, g, w)) <= 1e-5
