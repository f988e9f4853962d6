"""Batch-last copies: out[..., c, h, w, b] = x[..., b, c, h, w], in one copy or, when the
images lie a multiple of 2 or 4 KiB apart (their reads would share a few cache sets), in two
steps through runs of 16 elements. Either way the literal np.moveaxis copy, bit for bit."""

import numpy as np
import pytest

from cnnmath.ops import _conv_engine, _threads, _windows
from cnnmath.ops._conv_engine import _dispatch as engine_dispatch
from cnnmath.ops._conv_engine import _filter_gradient as engine_filter_gradient
from cnnmath.ops._windows import batch_last, channels_last, crop_or_pad
from threads_helper import assert_thread_invariant, pin_fallback_budgets, run_at

# (shape, whether its images alias): float32 images of 16·8·8 (4 KiB apart) in a batch of
# 32 and 32·4·4 (2 KiB) in one of 64 take the two steps (32 rows a cache set); 6·14·14
# (4704 B), 16·8·8 in a batch of 16 and 32·4·4 in one of 32 (16 rows a set) do not, nor
# 96 depthwise planes of 112² (50176 B: 24 rows a set)
SHAPES = [
    ((32, 16, 8, 8), True),
    ((1, 64, 32, 4, 4), True),
    ((2, 33, 64, 4, 4), True),  # lead axes, an odd batch
    ((64, 6, 14, 14), False),
    ((16, 16, 8, 8), False),
    ((32, 32, 4, 4), False),
    ((96, 1, 112, 112), False),
    ((32, 3, 5, 5), False),  # C·H·W = 75: no runs of 16
    ((32, 64, 12, 12), True),  # 36 KiB apart, 4.5 MiB: copies cut into blocks on threads
]


def _special(shape, seed=0):
    """Random float32 with NaN, ±inf, -0.0 and subnormals scattered in (a copy keeps bits)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, size=min(flat.size, 20), replace=False)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-42] * 4, dtype=np.float32)
    flat[picks] = special[: picks.size]
    return x


@pytest.mark.parametrize(("shape", "aliased"), SHAPES)
def test_batch_last_is_the_moved_copy(shape, aliased):
    x = _special(shape)
    assert (_windows._batch_runs(x) is not None) == aliased
    got = batch_last(x)
    expected = np.ascontiguousarray(np.moveaxis(x, -4, -1))
    assert got.flags.c_contiguous and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize(("shape", "aliased"), SHAPES)
@pytest.mark.parametrize(
    ("start", "grow"),
    [((-1, -1), (2, 2)), ((-2, 0), (3, 1)), ((0, -1), (-1, 1)), ((1, 1), (-1, -1))],
)
def test_crop_or_pad_batch_last_is_the_padded_copy(shape, aliased, start, grow):
    x = _special(shape, seed=1)
    h, w = x.shape[-2:]
    length = (h + grow[0], w + grow[1])
    got = crop_or_pad(x, start, length, batch_last=True)
    # the literal zero-padded window: pad every side by 2, then slice
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(2, 2), (2, 2)])
    r0, c0 = start[0] + 2, start[1] + 2
    expected = padded[..., r0 : r0 + length[0], c0 : c0 + length[1]]
    assert got.shape == expected.shape
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(expected).tobytes()
    if not np.shares_memory(got, x):  # a copy (not a view inside x): batch-last in memory
        assert np.moveaxis(got, -4, -1).flags.c_contiguous


def test_two_steps_on_the_threads_match_one_thread(monkeypatch):
    """A copy cut into blocks gives the same bits at 1 and 2 threads."""
    pin_fallback_budgets(monkeypatch)  # 512 KiB copy blocks whatever this L2: 2 MiB is cut
    x = _special((32, 64, 16, 16), seed=2)  # images 64 KiB apart: aliased, 2 MiB
    assert _windows._batch_runs(x) is not None
    copied = _threads.op(batch_last)
    assert_thread_invariant(lambda: copied(x))
    assert copied(x).tobytes() == np.ascontiguousarray(np.moveaxis(x, -4, -1)).tobytes()


def test_aliased_counts_rows_per_cache_set():
    # 32 rows 4 KiB apart: all in one set; 64 rows 2 KiB apart: two sets, 32 each
    assert _windows._aliased(32, 4096) and _windows._aliased(64, 2048)
    # 32 rows 2 KiB apart: 16 a set; 1 KiB: 8 a set; 16 rows 4 KiB apart: 16 in one set
    assert not _windows._aliased(32, 2048) and not _windows._aliased(32, 1024)
    assert not _windows._aliased(16, 4096) and not _windows._aliased(31, 4096)
    # strides that are not multiples of a line spread over many sets
    assert not _windows._aliased(64, 4704) and not _windows._aliased(64, 6400)
    # 6400 = 25·256: 256 rows reach 16 sets, 16 rows each; 512 rows, 32 each
    assert not _windows._aliased(256, 6400) and _windows._aliased(512, 6400)


@pytest.mark.parametrize(("shape", "aliased"), SHAPES)
def test_channels_last_is_the_moved_copy(shape, aliased):
    """channels_last(x)[..., b, h, w, c] = x[..., b, c, h, w]; a swapped view of a batch
    (the filter gradient's images) comes out as that batch laid out batch-last."""
    x = _special(shape, seed=3)
    got = channels_last(x)
    expected = np.ascontiguousarray(np.moveaxis(x, -3, -1))
    assert got.flags.c_contiguous and got.tobytes() == expected.tobytes()
    swapped = np.swapaxes(x, -4, -3)  # channels as the batch, the batch as the channels
    assert channels_last(swapped).tobytes() == batch_last(x).tobytes()


def test_a_channels_last_method_reads_its_padded_window_without_a_second_copy(monkeypatch):
    """`_correlate` lays a padded window out as the method reads it: channels_last on it is
    a view, and the window holds x zero-padded."""
    x = _special((2, 3, 5, 6), seed=4).astype(np.float64)
    x[~np.isfinite(x)] = 1.0
    seen = []

    def spy(xw, w, stride, dilation):
        seen.append((xw, channels_last(xw)))
        return engine_filter_gradient._correlate_im2row_cl(xw, w, stride, dilation)

    monkeypatch.setitem(_conv_engine.METHODS, "im2row_cl", spy)
    w = np.ones((1, 4, 3, 2, 2))
    window = ((-1, -2), (7, 9))
    engine_dispatch._correlate(x[None], w, (1, 1), (1, 1), "im2row_cl", window, padding=True)
    (xw, laid_out), *_ = seen
    assert np.shares_memory(laid_out, xw)
    expected = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 1)))[None]
    assert xw.shape == expected.shape and np.array_equal(xw, expected)


@pytest.fixture
def kept_windows(monkeypatch):
    """Windows of 64 bytes or more go into the work buffer when one is named."""
    monkeypatch.setattr(_windows, "KEPT_WINDOW_BYTES", 64)


@pytest.mark.parametrize("batch_last_layout", [False, True])
def test_crop_or_pad_into_a_kept_buffer_zeroes_its_border(batch_last_layout, kept_windows):
    """A window made in a work buffer that holds old values (NaN here) is still the literal
    zero-padded window, in the layout asked for; a second call reuses the buffer."""
    x = _special((4, 3, 9, 10), seed=5)
    _threads.scratch("test window", 4 * 3 * 12 * 14, np.float32).fill(np.nan)
    got = crop_or_pad(x, (-1, -2), (12, 14), batch_last_layout, "test window")
    padded = np.pad(x, ((0, 0), (0, 0), (1, 2), (2, 2)))
    assert np.ascontiguousarray(got).tobytes() == padded.tobytes()
    if batch_last_layout:
        assert np.moveaxis(got, -4, -1).flags.c_contiguous
    again = crop_or_pad(x, (-1, -2), (12, 14), batch_last_layout, "test window")
    assert np.shares_memory(again, got)


def test_crop_or_pad_into_a_kept_buffer_keeps_the_lead_axes_memory_order(kept_windows):
    """A (G, B, C, H, W) view of a (B, G·C, H, W) batch is padded row by row into the work
    buffer, laid out as a fresh copy would be (np.empty_like's order "K")."""
    x = _special((3, 8, 5, 6), seed=6)
    view = x.reshape(3, 2, 4, 5, 6).transpose(1, 0, 2, 3, 4)
    _threads.scratch("test window", 2 * 3 * 4 * 7 * 7, np.float32).fill(np.nan)
    got = crop_or_pad(view, (-1, 0), (7, 7), scratch="test window")
    fresh = crop_or_pad(view, (-1, 0), (7, 7))
    assert got.strides == fresh.strides and not np.shares_memory(got, fresh)
    assert got.tobytes() == fresh.tobytes()
    assert np.shares_memory(crop_or_pad(view, (-1, 0), (7, 7), scratch="test window"), got)


def test_a_small_window_is_made_fresh_even_when_a_buffer_is_named():
    """Under KEPT_WINDOW_BYTES a fresh zeroed copy measured faster than a kept buffer."""
    x = _special((2, 3, 5, 6), seed=9)
    assert 2 * 3 * 7 * 8 * x.itemsize < _windows.KEPT_WINDOW_BYTES
    first = crop_or_pad(x, (-1, -1), (7, 8), scratch="test window")
    second = crop_or_pad(x, (-1, -1), (7, 8), scratch="test window")
    assert not np.shares_memory(first, second)
    assert first.tobytes() == np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).tobytes()


@pytest.mark.parametrize(("shape", "aliased"), SHAPES)
def test_batch_last_into_a_kept_buffer(shape, aliased):
    x = _special(shape, seed=7)
    got = batch_last(x, "test batch-last")
    assert got.tobytes() == np.ascontiguousarray(np.moveaxis(x, -4, -1)).tobytes()
    kept = x.nbytes <= _threads._SCRATCH_BYTES
    assert np.shares_memory(batch_last(x, "test batch-last"), got) == kept


def test_a_padded_window_is_made_in_the_same_buffer_call_after_call(monkeypatch, kept_windows):
    """`_correlate`'s explicit window is kept per thread: two calls hand the method the same
    memory (a fresh window on every call can fault in anew: docs/performance.md)."""
    seen = []
    original = _conv_engine.METHODS["im2col"]

    def spy(xw, *args):
        seen.append(xw)
        return original(xw, *args)

    monkeypatch.setitem(_conv_engine.METHODS, "im2col", spy)
    x = _special((2, 3, 16, 16), seed=8)
    x[~np.isfinite(x)] = 0
    w = np.ones((4, 3, 3, 3), np.float32)
    first = engine_dispatch._padded_correlate(x, w, (1, 1), (1, 1), ((-1, -1), (18, 18)), "im2col")
    second = engine_dispatch._padded_correlate(x, w, (1, 1), (1, 1), ((-1, -1), (18, 18)), "im2col")
    assert len(seen) == 2 and np.shares_memory(seen[0], seen[1])
    assert np.array_equal(first, second)


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 0, 1, 2), (1, 2, 3, 0)])
def test_a_threaded_copy_cuts_along_the_outermost_axis_in_memory(order, monkeypatch):
    """`copy` on threads cuts dst into blocks along the axis with the largest stride, so
    each block is one stretch of memory (a batch-last destination is a transposed view:
    cut along its first axis, every block would write into every cache line)."""
    monkeypatch.setattr(_windows, "COPY_BLOCK_BYTES", 1 << 12)
    memory = np.zeros((6, 8, 10, 12), dtype=np.float32)
    dst = memory.transpose(*np.argsort(order))  # memory's axes seen in another order
    src = np.arange(dst.size, dtype=np.float32).reshape(dst.shape)
    outer = int(np.argmax(dst.strides))
    cuts = []
    copyto = np.copyto

    def spy(a, b):
        cuts.append([k for k in range(a.ndim) if a.shape[k] != dst.shape[k]])
        copyto(a, b)

    monkeypatch.setattr(np, "copyto", spy)
    run_at(2, lambda: _windows.copy(dst, src))
    assert np.array_equal(dst, src)
    assert len(cuts) > 1 and all(cut in ([outer], []) for cut in cuts)
