"""window_phases: the stride phases of a zero-padded (or cropped) window in one copy, equal
to padding first (crop_or_pad) and then splitting (phase_split), which copy twice."""

import itertools

import numpy as np
import pytest

from cnnmath.ops._windows import crop_or_pad, flat_phases, phase_split, window_phases


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
