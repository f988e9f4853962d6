"""Products with one to three columns (a filter gradient for C_out <= 3) as matrix-vector
products, one per column (`_conv_engine._times_transposed`): against float64 products and
the reference loops, at every width around the switch."""

import numpy as np
import pytest

from cnnmath import conv2d, conv2d_backward, reference
from cnnmath.ops import _conv_engine as engine
from helpers import assert_close


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("N", [1, 2, 3, 4, 5])
def test_times_transposed_is_the_product(N, groups, dtype):
    rng = np.random.default_rng(N)
    a = rng.standard_normal((groups, 7, 3000)).astype(dtype)
    b = rng.standard_normal((groups, 2 * N, 3000)).astype(dtype)[:, ::2]  # rows apart
    out = np.full((groups, 7, N), np.nan, dtype=dtype)
    engine._times_transposed(a, b, out)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64).transpose(0, 2, 1))
    assert_close(out, want, dtype)


@pytest.mark.parametrize("c_out", [1, 2, 3, 4])
def test_thin_filter_gradients_match_the_reference_loops(c_out, monkeypatch):
    """The filter gradient by "im2row_sum" (its blocks summed) for layers of one to four
    output channels, in blocks small enough to need several partial sums."""
    monkeypatch.setattr(engine, "select_method", lambda *a, **k: "im2row_sum")
    monkeypatch.setattr(engine, "_CHUNK_BYTES", 4096)
    rng = np.random.default_rng(c_out)
    x = rng.standard_normal((3, 5, 17, 19))
    w = rng.standard_normal((c_out, 5, 3, 3))
    g = rng.standard_normal(conv2d(x, w, None, 2, 1).shape)
    got = conv2d_backward(g, x, w, 2, 1)[1]
    assert_close(got, reference.conv2d_backward(g, x, w, 2, 1)[1])
