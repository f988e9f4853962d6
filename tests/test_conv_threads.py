"""Convolution at one thread and at two: the same bits, and two threads really used.

Every method is forced in turn (as tests/test_conv.py does) on shapes large enough to be cut
into several blocks, forward and backward, plain, grouped, depthwise and transposed.
"""

import threading

import numpy as np
import pytest

import cnnmath
from cnnmath import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from cnnmath.ops import _conv_engine as engine
from cnnmath.ops import _threads, _windows
from cnnmath.ops import conv as conv_module
from cnnmath.ops._conv_engine import _blocks as engine_blocks
from cnnmath.ops.conv import _passes as conv_passes
from cnnmath.train import num_threads
from helpers import set_everywhere
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
    # kernel = stride: grad_x is "depth_to_space" (in chunks of rows with small_blocks)
    "tiles": ((6, 8, 22, 21), (12, 8, 2, 2), 2, 0, 1, 1),
    # three output channels: filter-gradient products one column at a time (`_matmul`)
    "thin": ((8, 8, 20, 20), (3, 8, 3, 3), 1, 1, 1, 1),
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


@pytest.fixture(params=["side by side", "in turn"])
def passes(request, monkeypatch):
    """A backward's two passes on a thread each (at two threads, these shapes' default),
    or one after the other, each threaded by its own blocks."""
    if request.param == "in turn":
        set_everywhere(monkeypatch, conv_module, "_SIDE_BY_SIDE_BYTES", -1)
    return request.param


@pytest.fixture
def small_blocks(monkeypatch):
    """Cache budgets small enough that these shapes are cut into many blocks."""
    for name, size in [
        ("_CHUNK_BYTES", 1 << 13),
        ("_TAPS_CHUNK_BYTES", 1 << 12),
        ("_SHIFTED_COLUMNS", 256),
        ("_SCATTER_BYTES", 1 << 13),
    ]:
        set_everywhere(monkeypatch, engine, name, size)
    monkeypatch.setattr(_threads, "_CUT_WIDTH", 16)  # products cut into blocks 16 wide and up
    monkeypatch.setattr(_threads, "_CUT_ROWS", 16)
    monkeypatch.setattr(_threads, "_CUT_FLOPS", 1 << 12)
    monkeypatch.setattr(_windows, "COPY_BLOCK_BYTES", 1 << 12)


@pytest.mark.parametrize("schedule", ["chunks", "cut"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_method_is_thread_invariant(
    name, method, schedule, small_blocks, passes, monkeypatch
):
    """Both schedules of a kernel's chunks: on the threads with whole products ("chunks"),
    or one after another with each copy and product cut into blocks ("cut")."""
    set_everywhere(monkeypatch, engine, "_MANY_CHUNKS", 1 if schedule == "chunks" else 10**9)
    set_everywhere(monkeypatch, engine, "select_method", lambda *a, **k: method)
    x_shape, w_shape, s, p, d, groups = SHAPES[name]
    x, w = _data(x_shape, w_shape)
    assert_thread_invariant(_conv_both(x, w, s, p, d, groups))


@pytest.fixture
def fallback_budgets(monkeypatch):
    pin_fallback_budgets(monkeypatch)


@pytest.mark.parametrize("name", sorted(SHAPES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_default_dispatch_is_thread_invariant_at_real_budgets(
    name, dtype, fallback_budgets, passes
):
    """Real budgets, not shrunk ones: the bench-like shapes still cut into blocks."""
    x_shape, w_shape, s, p, d, groups = SHAPES[name]
    x_shape = (16 * x_shape[0], *x_shape[1:])
    x, w = _data(x_shape, w_shape, dtype)
    assert_thread_invariant(_conv_both(x, w, s, p, d, groups))


@pytest.mark.parametrize("groups", [1, 4])
def test_conv_transpose2d_is_thread_invariant(groups, small_blocks, passes):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 32 // groups, 4, 4)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)

    def run():
        y = conv_transpose2d(x, w, b, 2, 1, 0, groups)
        return (y, *conv_transpose2d_backward(np.sin(y), x, w, 2, 1, 0, groups))

    assert_thread_invariant(run)


SMALL, BIG = conv_passes._SMALL_PASS_MACS - 1, conv_passes._SMALL_PASS_MACS
FITS, TOO_BIG = conv_passes._SIDE_BY_SIDE_BYTES, conv_passes._SIDE_BY_SIDE_BYTES + 1


@pytest.mark.parametrize(
    ("threads", "macs", "nbytes", "side_by_side"),
    [
        (1, SMALL, FITS, False),  # one thread: nothing to share
        (2, SMALL, FITS, True),
        (2, BIG, FITS, True),  # two threads: both busy either way, the passes' blocks idle one
        (2, SMALL, TOO_BIG, False),  # a huge image: one pass's copies at a time
        (4, SMALL, FITS, True),
        (4, BIG, FITS, False),  # more threads: a big pass uses them all by its blocks
    ],
)
def test_when_a_backwards_passes_run_side_by_side(threads, macs, nbytes, side_by_side, monkeypatch):
    monkeypatch.setattr(_threads, "current", lambda: threads)
    calls = []

    def spy(first, second):
        calls.append(1)
        return first(), second()

    monkeypatch.setattr(_threads, "side_by_side", spy)
    assert conv_passes._two_passes(lambda: "w", lambda: "x", macs, nbytes) == ("w", "x")
    assert bool(calls) == side_by_side


@pytest.mark.parametrize("transpose", [False, True])
def test_both_backwards_run_their_passes_side_by_side_at_two_threads(transpose, monkeypatch):
    """conv2d_backward and conv_transpose2d_backward on LeNet-sized shapes: the filter
    gradient on the caller, the input gradient beside it on a second thread, and the same
    bits as at one thread."""
    ran = {}
    original = _threads.side_by_side
    taken = threading.Event()  # the input gradient has started

    def where(name, task):
        def run():
            ran[name] = threading.get_ident()
            if name == "input":
                taken.set()
            else:
                # on a loaded machine the caller could finish first and, the worker not yet
                # awake, run the second pass itself (side_by_side's fallback): wait for it
                taken.wait(timeout=10)
            return task()

        return run

    def spy(first, second):
        return original(where("weight", first), where("input", second))

    monkeypatch.setattr(_threads, "side_by_side", spy)
    x, w = _data((16, 6, 14, 14), (6, 16, 5, 5) if transpose else (16, 6, 5, 5))
    op, forward = (
        (conv_transpose2d_backward, conv_transpose2d) if transpose else (conv2d_backward, conv2d)
    )
    g = np.cos(forward(x, w))
    before = cnnmath.get_num_threads()
    try:
        cnnmath.set_num_threads(1)
        expected = op(g, x, w)
        assert not ran
        cnnmath.set_num_threads(2)
        got = op(g, x, w)
    finally:
        cnnmath.set_num_threads(before)
    assert ran["weight"] == threading.get_ident() != ran["input"]
    for a, b in zip(expected, got, strict=True):
        assert a.tobytes() == b.tobytes()


def test_a_few_chunks_are_the_threads_blocks_unless_their_products_cut_finer(monkeypatch):
    """`_cut`: one chunk always cuts its product; a few chunks run on the threads with whole
    products unless each product is cut into more blocks than there are chunks (the
    transposed upsampling's four phase chunks of 64 × 256 by 256 × 2048, each product two
    blocks, ran one after another with a hand-off between each copy and half-product)."""
    pin_fallback_budgets(monkeypatch)
    one, four, two = [(0, 1)], [(k, k + 1) for k in range(4)], [(0, 1), (1, 2)]
    assert len(engine_blocks._product_blocks((1, 64, 256), 2048)) == 2
    assert engine_blocks._cut(one, (1, 64, 256), 2048)
    assert not engine_blocks._cut(four, (1, 64, 256), 2048)
    assert len(engine_blocks._product_blocks((1, 64, 576), 4096)) == 8
    assert engine_blocks._cut(two, (1, 64, 576), 4096)
    assert not engine_blocks._cut(
        [(k, k + 1) for k in range(engine_blocks._MANY_CHUNKS)], (1, 64, 576), 4096
    )


def test_conv_transpose2ds_phase_chunks_keep_their_products_whole(monkeypatch):
    pin_fallback_budgets(monkeypatch)
    widths = []
    real = np.matmul

    def recording(a, b, *args, **kwargs):
        widths.append(b.shape[-1])
        return real(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "matmul", recording)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 64, 32, 32), dtype=np.float32)
    w = rng.standard_normal((64, 64, 4, 4), dtype=np.float32)
    with num_threads(2):
        conv_transpose2d(x, w, None, 2, 1)
    # four phases, each four chunks of two images (2 · 32 · 32 columns), none cut
    assert sorted(set(widths)) == [2048] and len(widths) == 16


def test_the_bias_add_is_one_pass_per_thread(monkeypatch):
    """conv2d's bias: one add over the batch at one thread, one per thread over a
    contiguous share of the images at two where each share holds `_threads._PASS_VALUES`
    values or more (here made small), the same bits (docs/performance.md, "Fewer, longer
    passes")."""
    regions = []
    parallel = _threads.parallel

    def recording(body, blocks):
        if body.__name__ == "images":  # `_add_bias`'s region
            regions.append(list(blocks))
        parallel(body, blocks)

    monkeypatch.setattr(_threads, "parallel", recording)
    monkeypatch.setattr(_threads, "_PASS_VALUES", 1 << 16)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 4, 34, 34), dtype=np.float32)
    w = rng.standard_normal((16, 4, 3, 3), dtype=np.float32)
    b = rng.standard_normal(16, dtype=np.float32)
    with num_threads(1):
        one = conv2d(x, w, b, padding=1)
    with num_threads(2):
        two = conv2d(x, w, b, padding=1)
    assert 12 * 16 * 34 * 34 >= 2 * _threads._PASS_VALUES
    assert regions == [[(0, 12)], [(0, 6), (6, 12)]]
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, conv2d(x, w, None, padding=1) + b[:, None, None])
