"""Products with one to three columns (a filter gradient for C_out <= 3) as one
matrix-vector product per column (`_conv_engine._blocks._matmul`): against float64 products and
the reference loops, at every width around the switch (few rows and few columns), whole
and cut into blocks."""

import numpy as np
import pytest

from cnnmath import conv2d, conv2d_backward, reference
from cnnmath.ops import _conv_engine as engine
from cnnmath.ops import _threads
from cnnmath.ops._conv_engine import _blocks as engine_blocks
from helpers import assert_close, set_everywhere


@pytest.mark.parametrize("cut", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("thin", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("side", ["rows", "columns"])
def test_thin_products_are_the_product(side, thin, groups, dtype, cut, monkeypatch):
    monkeypatch.setattr(_threads, "_CUT_WIDTH", 16)  # cut into blocks 16 wide and up
    monkeypatch.setattr(_threads, "_CUT_ROWS", 16)
    monkeypatch.setattr(_threads, "_CUT_FLOPS", 1 << 10)
    rng = np.random.default_rng(thin)
    M, K, N = (thin, 300, 2000) if side == "rows" else (2000, 300, thin)
    a = rng.standard_normal((groups, M, 2 * K)).astype(dtype)[:, :, ::2]  # strided
    b = rng.standard_normal((groups, N, K)).astype(dtype).transpose(0, 2, 1)
    out = np.full((groups, M, N), np.nan, dtype=dtype)
    engine_blocks._matmul(a, b, out, cut)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert_close(out, want, dtype)


@pytest.mark.parametrize("method", ["im2row_sum", "im2row", "im2col", "im2col_bl"])
@pytest.mark.parametrize("c_out", [1, 2, 3, 4])
def test_thin_layers_match_the_reference_loops(c_out, method, monkeypatch):
    """Forward and gradients of layers of one to four output channels, by methods whose
    products are then thin, in blocks small enough for several chunks and partial sums."""
    set_everywhere(monkeypatch, engine, "select_method", lambda *a, **k: method)
    set_everywhere(monkeypatch, engine, "_CHUNK_BYTES", 4096)
    rng = np.random.default_rng(c_out)
    x = rng.standard_normal((3, 5, 17, 19))
    w = rng.standard_normal((c_out, 5, 3, 3))
    b = rng.standard_normal(c_out)
    y = conv2d(x, w, b, 2, 1)
    assert_close(y, reference.conv2d(x, w, b, 2, 1))
    g = rng.standard_normal(y.shape)
    for got, want in zip(conv2d_backward(g, x, w, 2, 1), reference.conv2d_backward(g, x, w, 2, 1)):
        assert_close(got, want)
