"""window_phases: the stride phases of a zero-padded (or cropped) window in one copy, equal
to padding first (crop_or_pad) and then splitting (phase_split), which copy twice."""

import itertools

import numpy as np
import pytest

from cnnmath.ops._windows import (
    crop_or_pad,
    flat_phases,
    merge_phases,
    phase_split,
    split_padded,
    window_phases,
)


@pytest.mark.parametrize("hw", [(7, 9), (8, 8), (5, 3), (1, 1)])
def test_window_phases_equal_padding_then_splitting(hw):
    x = np.random.default_rng(0).standard_normal((2, 3, *hw))
    for r0, c0, lh, lw, sh, sw in itertools.product(
        [-3, -1, 0, 1, 4], [-1, 0, 2], [1, 3, 6, 11], [2, 5, 10], [1, 2, 3], [1, 2, 3]
    ):
        expected = phase_split(crop_or_pad(x, (r0, c0), (lh, lw)), (sh, sw))
        got = window_phases(x, (r0, c0), (lh, lw), (sh, sw), np.empty(expected.shape))
        assert got.shape == expected.shape and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected, err_msg=str((r0, c0, lh, lw, sh, sw)))


def test_window_phases_keep_non_finite_values_where_they_are():
    x = np.arange(36, dtype=np.float32).reshape(1, 1, 6, 6)
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 5, 0] = np.inf
    got = window_phases(x, (-1, -1), (8, 8), (2, 2), np.empty((1, 1, 2, 2, 4, 4), np.float32))
    # padded row 3 = x's row 2 (phase 1, q 1), padded column 4 = x's column 3 (phase 0, v 2)
    assert np.isnan(got[0, 0, 1, 0, 1, 2]) and np.isnan(got).sum() == 1
    assert got[0, 0, 0, 1, 3, 0] == np.inf and np.isinf(got).sum() == 1
    assert got[0, 0, 0, 0, 0, :].tolist() == [0, 0, 0, 0]  # the padding row


@pytest.mark.parametrize("hw", [(7, 9), (8, 8), (1, 1)])
def test_window_phases_into_a_used_buffer_equal_a_fresh_copy(hw):
    """Written into ``out`` (a reused buffer holding old values), every entry the copies
    leave (padding, past the window) is zeroed: the same array as a fresh copy."""
    x = np.random.default_rng(1).standard_normal((2, 3, *hw))
    for r0, c0, lh, lw, sh, sw in itertools.product(
        [-3, -1, 0, 2], [-1, 0, 2], [1, 6, 11], [2, 5, 10], [1, 2, 3], [1, 3]
    ):
        expected = phase_split(crop_or_pad(x, (r0, c0), (lh, lw)), (sh, sw))
        out = np.full(expected.shape, np.nan)
        got = window_phases(x, (r0, c0), (lh, lw), (sh, sw), out)
        assert got is out
        np.testing.assert_array_equal(got, expected, err_msg=str((r0, c0, lh, lw, sh, sw)))


def test_flat_phases_are_a_view_only_for_whole_rows_at_stride_1():
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 7))
    view = flat_phases(x, ((1, 0), (5, 7)), (1, 1))  # rows 1..5, whole
    assert view is not None and np.shares_memory(view, x)
    np.testing.assert_array_equal(view, x[:, :, 1:6].reshape(2, 3, 1, 35))
    assert flat_phases(x, None, (1, 1)) is not None
    for window, stride in [
        (((0, 1), (8, 5)), (1, 1)),  # part of each row
        (((-1, 0), (10, 7)), (1, 1)),  # padded rows
        (None, (2, 1)),  # a stride: the phases interleave
    ]:
        assert flat_phases(x, window, stride) is None
        (r0, c0), (lh, lw) = window or ((0, 0), (8, 7))
        P = phase_split(crop_or_pad(x, (r0, c0), (lh, lw)), stride)
        out = np.full((2, 3, P.shape[2] * P.shape[3], P.shape[4] * P.shape[5]), np.nan)
        got = flat_phases(x, window, stride, out)
        assert got is out
        np.testing.assert_array_equal(got, P.reshape(out.shape))


def test_a_buffer_that_is_not_contiguous_is_refused():
    """The copy must land in ``out`` itself: a strided buffer would be reshaped into a copy."""
    x = np.zeros((2, 3, 8, 7))
    with pytest.raises(ValueError, match="window_phases: out: expected a contiguous"):
        window_phases(x, (0, 0), (8, 7), (2, 1), np.empty((2, 3, 1, 2, 8, 7))[:, :, :, :, :4])
    with pytest.raises(ValueError, match="flat_phases: out: expected a contiguous"):
        flat_phases(x, None, (2, 1), np.empty((3, 2, 2, 28)).transpose(1, 0, 2, 3))


def test_stride_2_copies_all_of_x_at_once_even_with_odd_padding(monkeypatch):
    """At stride 2 x's rows pair up whatever the padding: a padding of 1 puts row 0 in phase
    1 and row 1 in phase 0 of the next q, a fixed step, so x is one copy — where copies
    of whole aligned groups and single edge rows and columns took nine. At stride 3 with
    a padding of 1 the groups straddle q unevenly: edges stay apart."""
    import cnnmath.ops._windows as windows

    copies = []
    real_copy = windows.copy
    monkeypatch.setattr(
        windows, "copy", lambda dst, src: (copies.append(dst.shape), real_copy(dst, src))
    )
    x = np.random.default_rng(4).standard_normal((4, 5, 56, 56)).astype(np.float32)
    out = np.empty((4, 5, 2, 2, 29, 29), np.float32)
    window_phases(x, (-1, -1), (58, 58), (2, 2), out)
    assert copies == [(4, 5, 28, 2, 28, 2)]
    np.testing.assert_array_equal(out, phase_split(crop_or_pad(x, (-1, -1), (58, 58)), (2, 2)))
    copies.clear()
    window_phases(x[..., :55, :55], (-1, -1), (57, 57), (2, 2), np.empty((4, 5, 2, 2, 29, 29)))
    assert len(copies) == 4  # the odd last row and column
    copies.clear()
    window_phases(x, (-1, -1), (58, 58), (3, 3), np.empty((4, 5, 3, 3, 20, 20), np.float32))
    assert len(copies) > 1


@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 2, 8, 8), (2, 1, 1, 5)])
def test_split_padded_and_merge_phases_are_inverse(shape):
    """split_padded pads with the fill and splits (against np.pad + phase_split, bool too);
    merge_phases writes every element of x back from the phases."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape)
    flags = rng.random(shape) < 0.5
    for (sh, sw), (pt, pb, pl, pr) in itertools.product(
        [(1, 1), (2, 2), (2, 3), (3, 2)], [(0, 0, 0, 0), (1, 1, 1, 1), (1, 0, 2, 1), (2, 2, 0, 1)]
    ):
        pads = ((pt, pb), (pl, pr))
        for a, fill in ((x, -np.inf), (flags, False)):
            X = split_padded(a, (sh, sw), pads, fill)
            padded = np.pad(a, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
            hq, wq = -(-padded.shape[2] // sh), -(-padded.shape[3] // sw)
            extended = np.full((*shape[:2], hq * sh, wq * sw), fill, dtype=a.dtype)
            extended[:, :, : padded.shape[2], : padded.shape[3]] = padded
            expected = phase_split(extended, (sh, sw)).transpose(2, 3, 0, 1, 4, 5)
            np.testing.assert_array_equal(X, expected.reshape(X.shape))
            back = np.empty_like(a)
            merge_phases(X, (sh, sw), pads, back)
            np.testing.assert_array_equal(back, a)
