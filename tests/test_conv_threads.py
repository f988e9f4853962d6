"""Convolution at one thread and at two: the same bits, and two threads really used.

Every method is forced in turn (as tests/test_conv.py does) on shapes large enough to be cut
into several blocks, forward and backward, plain, grouped, depthwise and transposed.
"""

import numpy as np
import pytest

from cnnmath import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from cnnmath.ops import _conv_engine as engine
from cnnmath.ops import _threads, _windows
from threads_helper import assert_thread_invariant, pin_fallback_budgets

METHODS = sorted(engine.METHODS)

# (x shape, weight shape, stride, padding, dilation, groups)
SHAPES = {
    "resnet": ((8, 16, 20, 20), (16, 16, 3, 3), 1, 1, 1, 1),
    "strided": ((6, 8, 21, 19), (12, 8, 3, 3), 2, 1, 1, 1),
    "grouped": ((4, 12, 18, 18), (12, 4, 3, 3), 1, 1, 1, 3),
    "depthwise": ((8, 32, 30, 30), (32, 1, 3, 3), 1, 1, 1, 32),
    "depthwise s2": ((8, 32, 31, 31), (32, 1, 3, 3), 2, 1, 1, 32),
    "dilated": ((4, 8, 24, 24), (8, 8, 3, 3), 1, 2, 2, 1),
    # im2col's chunks of several small images, wider than the budget (_WIDE_COLUMNS)
    "small maps": ((16, 8, 5, 5), (8, 8, 3, 3), 1, 1, 1, 1),
}


def _data(x_shape, w_shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)


def _conv_both(x, w, s, p, d, groups):
    b = np.linspace(-1, 1, w.shape[0]).astype(x.dtype)

    def run():
        y = conv2d(x, w, b, s, p, d, groups)
        g = np.cos(y)  # a fixed, non-constant output gradient
        return (y, *conv2d_backward(g, x, w, s, p, d, groups))

    return run


@pytest.fixture
def small_blocks(monkeypatch):
    """Cache budgets small enough that these shapes are cut into many blocks."""
    for name, size in [
        ("_CHUNK_BYTES", 1 << 13),
        ("_TAPS_CHUNK_BYTES", 1 << 12),
        ("_SHIFTED_COLUMNS", 256),
        ("_SCATTER_BYTES", 1 << 13),
    ]:
        monkeypatch.setattr(engine, name, size)
    monkeypatch.setattr(_threads, "_CUT_WIDTH", 16)  # products cut into blocks 16 wide and up
    monkeypatch.setattr(_threads, "_CUT_ROWS", 16)
    monkeypatch.setattr(_threads, "_CUT_FLOPS", 1 << 12)
    monkeypatch.setattr(_windows, "COPY_BLOCK_BYTES", 1 << 12)


@pytest.mark.parametrize("schedule", ["chunks", "cut"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_method_is_thread_invariant(name, method, schedule, small_blocks, monkeypatch):
    """Both schedules of a kernel's chunks: on the threads with whole products ("chunks"),
    or one after another with each copy and product cut into blocks ("cut")."""
    monkeypatch.setattr(engine, "_MANY_CHUNKS", 1 if schedule == "chunks" else 10**9)
    monkeypatch.setattr(engine, "select_method", lambda *a, **k: method)
    x_shape, w_shape, s, p, d, groups = SHAPES[name]
    x, w = _data(x_shape, w_shape)
    assert_thread_invariant(_conv_both(x, w, s, p, d, groups))


@pytest.fixture
def fallback_budgets(monkeypatch):
    pin_fallback_budgets(monkeypatch)


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_default_dispatch_is_thread_invariant_at_real_budgets(name, dtype, fallback_budgets):
    """Real budgets, not shrunk ones: the bench-like shapes still cut into blocks."""
    x_shape, w_shape, s, p, d, groups = SHAPES[name]
    x_shape = (16 * x_shape[0], *x_shape[1:])
    x, w = _data(x_shape, w_shape, dtype)
    assert_thread_invariant(_conv_both(x, w, s, p, d, groups))


@pytest.mark.parametrize("groups", [1, 4])
def test_conv_transpose2d_is_thread_invariant(groups, small_blocks):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 32 // groups, 4, 4)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)

    def run():
        y = conv_transpose2d(x, w, b, 2, 1, 0, groups)
        return (y, *conv_transpose2d_backward(np.sin(y), x, w, 2, 1, 0, groups))

    assert_thread_invariant(run)
