"""The input gradient's stride phases read windows of G that reach past its edge: padded
once for all of them (`conv._passes._shared_window`) instead of once per phase, with the
same bits as the copy per phase, and never where a non-finite filter needs the padding
absent."""

import numpy as np
import pytest

from cnnmath import conv2d, conv2d_backward, conv_transpose2d, reference
from cnnmath.ops import _conv_engine as engine
from cnnmath.ops import _windows
from cnnmath.ops import conv as conv_module
from cnnmath.ops.conv import _passes as conv_passes
from helpers import assert_close, set_everywhere

# (x shape, weight shape, stride, padding, dilation, groups): every one shares a window
SHAPES = [
    ((4, 8, 16, 16), (12, 8, 3, 3), 2, 1, 1, 1),  # a ResNet downsampling layer
    ((4, 16, 20, 20), (16, 8, 3, 3), 2, 1, 1, 2),  # grouped
    ((2, 4, 17, 17), (5, 4, 5, 5), 3, 2, 1, 1),  # nine phases
    ((2, 4, 12, 14), (4, 4, 4, 3), (2, 1), 1, 1, 1),
]


def _recording(monkeypatch, check=None):
    """Record what each `_shared_window` call returns (``check`` asserts on it first)."""
    returned = []
    shared_window = conv_passes._shared_window

    def recording(*args):
        returned.append(shared_window(*args))
        if check is not None:
            check(returned[-1])
        return returned[-1]

    set_everywhere(monkeypatch, conv_module, "_shared_window", recording)
    return returned


def _gradient(x_shape, w_shape, s, p, d, groups, dtype=np.float32, w_fill=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    if w_fill is not None:
        w[0, 0, 0, 0] = w_fill
    g = rng.standard_normal(conv2d(x, w, None, s, p, d, groups).shape).astype(dtype)
    return g, x, w, conv2d_backward(g, x, w, s, p, d, groups)[0]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_same_bits_as_a_window_per_phase(shape, monkeypatch):
    returned = _recording(monkeypatch)
    _, _, _, shared = _gradient(*shape)
    assert len(returned) == 1 and returned[0] is not None
    set_everywhere(monkeypatch, conv_module, "_shared_window", lambda *args: None)
    _, _, _, per_phase = _gradient(*shape)
    np.testing.assert_array_equal(shared, per_phase)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_the_reference_loops(shape):
    g, x, w, got = _gradient(*shape, dtype=np.float64)
    assert_close(got, reference.conv2d_backward(g, x, w, *shape[2:])[0])


def test_one_padded_copy_for_the_phases_that_reach_past_g(monkeypatch):
    """A 3 × 3 stride-2 layer's input gradient: of its four phases, three read past G's
    edge; G is padded once, and every phase reads a view (of the copy, or of G itself)."""
    g, _, w, _ = _gradient((4, 8, 16, 16), (12, 8, 3, 3), 2, 1, 1, 1)
    copies = {"conv": [], "engine": []}

    def counting(where, crop_or_pad):
        def crop(source, *args, **kwargs):
            result = crop_or_pad(source, *args, **kwargs)
            copies[where].append(not np.shares_memory(result, source))
            return result

        return crop

    set_everywhere(
        monkeypatch, conv_module, "crop_or_pad", counting("conv", conv_module.crop_or_pad)
    )
    set_everywhere(monkeypatch, engine, "crop_or_pad", counting("engine", _windows.crop_or_pad))
    conv_passes._conv_transpose(g, w, 1, (2, 2), (1, 1), (1, 1), (16, 16))
    assert copies["conv"] == [True]  # the shared copy
    assert len(copies["engine"]) == 4 and not any(copies["engine"])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0·inf in the forward's padding
def test_a_non_finite_filter_keeps_its_absent_terms(monkeypatch):
    """With an inf in w the phases' padding must not be multiplied (0·inf = NaN): no shared
    copy, and grad_x is NaN exactly where the loops make it NaN."""

    def refuse(result):
        assert result is None, "a non-finite filter got a shared padded window"

    returned = _recording(monkeypatch, refuse)
    shape = SHAPES[0]
    g, x, w, got = _gradient(*shape, dtype=np.float64, w_fill=np.inf)
    assert returned == [None]
    want = reference.conv2d_backward(g, x, w, *shape[2:])[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    assert_close(got[finite], want[finite])


def test_conv_transpose2d_upsampling_shares_the_window(monkeypatch):
    """conv_transpose2d's forward is the same adjoint (4 × 4, stride 2, padding 1: four
    phases of 2 × 2 taps, each reading past the edge)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 3, 4, 4))
    b = rng.standard_normal(3)
    returned = _recording(monkeypatch)
    y = conv_transpose2d(x, w, b, 2, 1)
    assert len(returned) == 1 and returned[0] is not None
    assert_close(y, reference.conv_transpose2d(x, w, b, 2, 1))
