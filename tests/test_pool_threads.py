"""Pooling gives the same bits at one thread and at two, and really runs on two.

Every public pooling op cuts its (batch, channel) planes into blocks fixed by the shape
(``pool._common._plane_spans``); the inputs here are large enough to make several blocks,
and hold ties, NaN and -inf (the paths of the max-pool choice that differ block by block), so
that blocks taking different paths run side by side. Correctness against the reference loops and
PyTorch is tests/test_pool.py's; here two threads must change nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

import cnnmath
from cnnmath import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_unpool2d,
    max_unpool2d_backward,
)
from cnnmath.ops.pool._common import _plane_spans
from threads_helper import assert_thread_invariant, pin_fallback_budgets

SHAPE = (8, 64, 56, 56)  # ResNet's first pooling: 4 blocks of planes in float32


@pytest.fixture(autouse=True)
def _fallback_budgets(monkeypatch):
    """The fallback's blocks of planes (2 MiB), whatever this L2."""
    pin_fallback_budgets(monkeypatch)


@pytest.fixture(autouse=True)
def _restore_count():
    before = cnnmath.get_num_threads()
    yield
    cnnmath.set_num_threads(before)


def _x(shape=SHAPE, dtype=np.float32, seed=0, nan=False):
    """Few distinct values (ties in most windows); with ``nan`` also NaNs in a few planes
    and an all -inf corner next to the padding (the tap-by-tap rule's case), each in a
    different block."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=shape).astype(dtype)
    if nan:
        x[0, 1, 5, 7] = x[3, 10, 20:22, 30] = x[7, 63, -1, -1] = np.nan
        x[5, 2, :3, :3] = -np.inf
    return x


def _g(y, seed=1):
    return np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)


def test_the_shapes_make_several_blocks():
    x = _x()
    spans = _plane_spans(x.shape[0] * x.shape[1], x[0, 0].nbytes)
    assert len(spans) >= 4
    assert spans == _plane_spans(x.shape[0] * x.shape[1], x[0, 0].nbytes)  # fixed


MAX_OPTIONS = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": (3, 2), "stride": 1, "padding": (1, 0)},
    {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2},
    {"kernel_size": 2, "stride": 3},
]
MAX_IDS = ["-".join(f"{k}{v}" for k, v in o.items()) for o in MAX_OPTIONS]


@pytest.mark.parametrize("nan", [False, True], ids=["ties", "nan"])
@pytest.mark.parametrize("options", MAX_OPTIONS, ids=MAX_IDS)
def test_max_pool(options, nan):
    x = _x(nan=nan)
    g = _g(max_pool2d(x, **options))

    def run():
        y = max_pool2d(x, **options)
        y2, indices = max_pool2d(x, **options, return_indices=True)
        by_indices = max_pool2d_backward(g, x, **options, indices=indices)
        return y, y2, indices, max_pool2d_backward(g, x, **options), by_indices

    assert_thread_invariant(run)


@pytest.mark.parametrize("nan", [False, True], ids=["ties", "nan"])
def test_max_pool_narrow_tiles(nan):
    """Tiles fewer than 8 to a row (the digits CNN's 8×8 activations) take the walk one axis
    at a time (`pool._max_choice._tile_walk_wide`), in several blocks of planes."""
    x = _x((256, 64, 8, 8))
    x[1, 3, :2, :2] = -0.0
    if nan:  # in planes of different blocks
        x[0, 1, 5, 7] = x[60, 10, 2:4, 3] = x[255, 63, -1, -1] = np.nan
    assert len(_plane_spans(256 * 64, x[0, 0].nbytes)) >= 2
    g = _g(max_pool2d(x, 2))

    def run():
        y, indices = max_pool2d(x, 2, return_indices=True)
        return y, indices, max_pool2d_backward(g, x, 2, indices=indices)

    assert_thread_invariant(run)


def test_max_pool_float64_and_non_finite_gradients():
    """float64 blocks; a NaN and an inf in grad_output take the tap-by-tap routing in the
    blocks that hold them, the choice by rows and columns elsewhere."""
    x = _x(dtype=np.float64, nan=True)
    g = _g(max_pool2d(x, 3, 2, 1))
    g[1, 4, 3, 3], g[6, 50, 0, 1] = np.nan, np.inf
    assert_thread_invariant(lambda: (max_pool2d(x, 3, 2, 1), max_pool2d_backward(g, x, 3, 2, 1)))


AVG_OPTIONS = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
    {"kernel_size": (3, 2), "stride": 1, "padding": (1, 0), "divisor_override": 5},
]
AVG_IDS = ["-".join(f"{k}{v}" for k, v in o.items()) for o in AVG_OPTIONS]


@pytest.mark.parametrize("options", AVG_OPTIONS, ids=AVG_IDS)
def test_avg_pool(options):
    x = np.random.default_rng(2).standard_normal(SHAPE).astype(np.float32)
    g = _g(avg_pool2d(x, **options))
    assert_thread_invariant(
        lambda: (avg_pool2d(x, **options), avg_pool2d_backward(g, x, **options))
    )


def test_max_unpool():
    y, indices = max_pool2d(_x(nan=True), 3, 2, 1, return_indices=True)
    g = _g(max_unpool2d(y, indices, 3, 2, 1, output_size=SHAPE[2:]))

    def run():
        return (
            max_unpool2d(y, indices, 3, 2, 1, output_size=SHAPE[2:]),
            max_unpool2d_backward(g, y, indices, 3, 2, 1, output_size=SHAPE[2:]),
        )

    assert_thread_invariant(run)


@pytest.mark.parametrize("output_size", [1, (5, 3), 28, (7, None)])
def test_adaptive_pooling(output_size):
    """Global pooling, uneven windows, windows that tile (plain pooling's path) and None."""
    x = _x(nan=True)
    xa = np.nan_to_num(x, nan=0.5, neginf=-2.0)
    g = _g(adaptive_max_pool2d(x, output_size))

    def run():
        return (
            adaptive_max_pool2d(x, output_size, return_indices=True),
            adaptive_max_pool2d_backward(g, x, output_size),
            adaptive_avg_pool2d(xa, output_size),
            adaptive_avg_pool2d_backward(g, xa, output_size),
        )

    assert_thread_invariant(run)


def test_small_inputs_stay_one_block():
    """LeNet's activations in one or two blocks: no thread overhead for tiny work."""
    x = _x((4, 6, 28, 28))
    assert len(_plane_spans(24, x[0, 0].nbytes)) == 1
    assert_thread_invariant(lambda: max_pool2d_backward(_g(max_pool2d(x, 2)), x, 2), threaded=False)
