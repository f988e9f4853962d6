"""Normalisation, activations, softmax, dropout and the losses on all cores: the same bits at
one thread and at two (``assert_thread_invariant``, which also checks that two threads really
ran blocks), on shapes large enough to be cut into several blocks; and the regimes the
blocked statistics choose between, against the float64 reference loops."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from cnnmath import losses
from cnnmath.ops import activations, norm
from cnnmath.ops.activations import ACTIVATIONS, _elementwise
from cnnmath.ops.norm import _rows
from helpers import assert_close, rel_error
from threads_helper import assert_thread_invariant

# the modules, not the functions of the same names that cnnmath.ops re-exports
sm = importlib.import_module("cnnmath.ops.softmax")
dropout = importlib.import_module("cnnmath.ops.dropout")


def _data(shape, dtype, *, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + offset).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Normalisation

NORM_SHAPE = (16, 32, 28, 28)  # 2¹⁸·1.5 values: several blocks of _BLOCK in every pass


# blocks of several planes, of a few rows, and of one large plane each
BATCH_NORM_SHAPES = {
    "planes 28x28": NORM_SHAPE,
    "planes 32x32": (64, 32, 32, 32),
    "planes 1024x1024": (2, 2, 1024, 1024),
    "small planes 7x7": (24, 512, 7, 7),  # image by image (`_channel_affine`), 5 a block
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 50.0], ids=["plain", "centred"])
@pytest.mark.parametrize("layout", sorted(BATCH_NORM_SHAPES))
def test_batch_norm_is_thread_invariant(layout, dtype, offset):
    shape = BATCH_NORM_SHAPES[layout]
    x = _data(shape, dtype, offset=offset)
    g = _data(shape, dtype, seed=1)
    C = shape[1]
    w, b = _data(C, dtype, seed=2), _data(C, dtype, seed=3)

    def run():
        rm, rv = np.zeros(C, dtype), np.ones(C, dtype)
        y = norm.batch_norm(x, rm, rv, w, b, True)
        grads = norm.batch_norm_backward(g, x, None, None, w, training=True)
        y_eval = norm.batch_norm(x, rm, rv, w, b, False)
        grads_eval = norm.batch_norm_backward(g, x, rm, rv, w, training=False)
        return y, rm, rv, grads, y_eval, grads_eval

    assert_thread_invariant(run)


def test_the_row_sums_run_in_blocks_of_more_than_500_rows():
    """NumPy keeps the GIL through a matmul or vecdot of at most 500 rows: the sums' blocks
    are larger (the last one may be shorter), several where there are rows enough."""
    spans = _rows._sum_spans(2048, 56 * 56)  # the bench's (32, 64, 56, 56)
    assert spans == [(0, 512), (512, 1024), (1024, 1536), (1536, 2048)]
    assert _rows._sum_spans(1500, 56 * 56) == [(0, 750), (750, 1500)]  # not 501, 501, 498
    assert _rows._sum_spans(1002, 56 * 56) == [(0, 501), (501, 1002)]
    assert _rows._sum_spans(1001, 56 * 56) == [(0, 1001)]  # halves of 500 would hold the GIL
    assert _rows._sum_spans(300, 56 * 56) == [(0, 300)]
    assert _rows._sum_spans(0, 56 * 56) == []
    # rows short enough that _BLOCK's blocks already hold more: as many, evened out
    spans = _rows._sum_spans(20000, 64)
    assert len(spans) == 9 and all(r1 - r0 in (2222, 2223) for r0, r1 in spans)
    assert spans[0][0] == 0 and spans[-1][1] == 20000


@pytest.mark.parametrize("layout", sorted(BATCH_NORM_SHAPES))
def test_batch_norm_cuts_agree_with_pytorch(layout):
    """Statistics, output and gradients against PyTorch in float64, for each cut."""
    torch = pytest.importorskip("torch")
    shape = BATCH_NORM_SHAPES[layout]
    x, g = _data(shape, np.float64, offset=2.0), _data(shape, np.float64, seed=1)
    C = shape[1]
    w, b = _data(C, np.float64, seed=2), _data(C, np.float64, seed=3)
    rm, rv = np.zeros(C), np.ones(C)
    trm, trv = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, True)
    ty.backward(torch.tensor(g))
    assert_close(norm.batch_norm(x, rm, rv, w, b, True), ty.detach().numpy())
    assert_close(rm, trm.numpy())
    assert_close(rv, trv.numpy())
    want = (tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy())
    for got, expected in zip(norm.batch_norm_backward(g, x, None, None, w, training=True), want):
        assert_close(got, expected)


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
    rows = _rows._channel_rows(16384, 1, 64, np.float32)
    shift = _rows._moments(x32.reshape(16384, 64), rows).shift
    assert shift is not None and abs(shift[0] - x.mean()) < 1e-3 * x.std()
    assert max(_first_sample_errors(torch, x, g, w)) <= 1e-5


# ---------------------------------------------------------------------------------------------
# Activations, softmax, dropout, losses

BIG = 1 << 20  # 16 blocks of the elementwise passes (the clamps: one, `_threads.pass_spans`)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_and_its_derivative_is_thread_invariant(name):
    x = _data(BIG, np.float32) * 4  # both sides of every kink and dip
    act = ACTIVATIONS[name]
    assert_thread_invariant(lambda: (act.f(x), act.df(x)))


def test_a_blocked_activation_is_the_one_block_one():
    """Cut into blocks, an activation gives what it gives on the whole array in one call
    (here with the block larger than x): the blocks change where work is done, not what."""
    x = _data(3 * _elementwise._BLOCK + 5, np.float64) * 4
    blocked = [activations.gelu(x), activations.softplus_grad(x, beta=2.0)]
    before = _elementwise._BLOCK
    _elementwise._BLOCK = x.size
    try:
        whole = [activations.gelu(x), activations.softplus_grad(x, beta=2.0)]
    finally:
        _elementwise._BLOCK = before
    for a, b in zip(blocked, whole):
        np.testing.assert_array_equal(a, b)


def test_a_clamp_is_one_pass_per_thread(monkeypatch):
    """relu, relu6 and hardtanh: one np.clip over all of x at one thread (no region), and at
    two threads while a half would be under `_threads._PASS_VALUES`; one contiguous piece
    per thread above (docs/performance.md, "Fewer, longer passes")."""
    import cnnmath
    from cnnmath.ops import _threads

    regions = []
    parallel = _threads.parallel

    def recording(body, blocks):
        regions.append(list(blocks))
        parallel(body, blocks)

    monkeypatch.setattr(_threads, "parallel", recording)
    x = _data(4 * _elementwise._BLOCK + 3, np.float32) * 8
    half = x.size // 2
    x[half - 3 : half + 3] = [-0.0, np.nan, -np.inf, np.inf, -0.0, -np.nan]  # at the cut
    assert x.size < 2 * _threads._PASS_VALUES
    before = cnnmath.get_num_threads()
    try:
        cnnmath.set_num_threads(1)
        one = [activations.relu(x), activations.relu6(x), activations.hardtanh(x)]
        cnnmath.set_num_threads(2)
        two = [activations.relu(x), activations.relu6(x), activations.hardtanh(x)]
        assert regions == []  # halves too short to hand off: one call at two threads too
        monkeypatch.setattr(_threads, "_PASS_VALUES", _elementwise._BLOCK)
        cut = [activations.relu(x), activations.relu6(x), activations.hardtanh(x)]
        regions.clear()
        assert_thread_invariant(lambda: (activations.relu6(x), activations.hardtanh(x)))
    finally:
        cnnmath.set_num_threads(before)
    assert regions and all(blocks == [(0, half), (half, x.size)] for blocks in regions)
    for a, b in zip(one, cut):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one[1], np.clip(x, 0, 6))


def test_a_bad_parameter_is_refused_before_the_blocks():
    with pytest.raises(ValueError, match="softplus: beta"):
        activations.softplus(_data(BIG, np.float32), beta=-1.0)


@pytest.mark.parametrize("shape", [(64, 16, 32, 32), (1 << 20,)])
def test_prelu_is_thread_invariant(shape):
    x, g = _data(shape, np.float32), _data(shape, np.float32, seed=1)
    w = _data(shape[1] if len(shape) > 1 else 1, np.float32, seed=2)
    assert_thread_invariant(lambda: (activations.prelu(x, w), activations.prelu_backward(g, x, w)))


@pytest.mark.parametrize(
    ("shape", "dim"), [((4096, 1000), 1), ((8, 1000, 64), 1), ((512, 3, 128), 0)]
)
def test_softmax_and_log_softmax_are_thread_invariant(shape, dim):
    x, g = _data(shape, np.float32) * 3, _data(shape, np.float32, seed=1)
    assert_thread_invariant(
        lambda: (
            sm.softmax(x, dim),
            sm.log_softmax(x, dim),
            sm.softmax_backward(g, x, dim),
            sm.log_softmax_backward(g, x, dim),
            sm.softmax_backward(g, x, dim, output=sm.softmax(x, dim)),
        )
    )


def test_softmax_blocks_agree_with_pytorch():
    """The blocked slices (both cuts: whole slices, and a long trailing extent) against PyTorch."""
    torch = pytest.importorskip("torch")
    for shape, dim in (((300, 700), 1), ((2, 700, 300), 1)):
        x = _data(shape, np.float64) * 3
        assert_close(sm.softmax(x, dim), torch.softmax(torch.from_numpy(x), dim).numpy())
        assert_close(sm.log_softmax(x, dim), torch.log_softmax(torch.from_numpy(x), dim).numpy())


def test_dropout_is_thread_invariant_and_its_mask_follows_the_seed_alone():
    x, g = _data(BIG, np.float32), _data(BIG, np.float32, seed=1)

    def run():
        y, mask = dropout.dropout(x, 0.3, rng=np.random.default_rng(7), return_mask=True)
        return y, mask, dropout.dropout_backward(g, mask, 0.3)

    assert_thread_invariant(run)
    _, mask = dropout.dropout(x, 0.3, rng=np.random.default_rng(7), return_mask=True)
    np.testing.assert_array_equal(mask, np.random.default_rng(7).random(x.shape) >= 0.3)


def test_cross_entropy_and_nll_loss_are_thread_invariant():
    z = _data((4096, 1000), np.float32) * 3
    labels = np.random.default_rng(1).integers(0, 1000, 4096)
    probs = sm.softmax(_data((4096, 1000), np.float32, seed=2), 1)
    w = np.abs(_data(1000, np.float32, seed=3))
    lp = sm.log_softmax(z, 1)
    assert_thread_invariant(
        lambda: (
            np.array(losses.cross_entropy(z, labels, w, label_smoothing=0.1)[0]),
            losses.cross_entropy(z, labels, w, label_smoothing=0.1)[1],
            losses.cross_entropy(z, probs, reduction="none"),
            losses.nll_loss(lp, labels, w)[1],
        )
    )
