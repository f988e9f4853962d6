"""The input gradient where the windows tile the image (kernel = stride, no dilation, nothing
padded before): one product and one copy ("depth_to_space") instead of a correlation per
stride phase. Against the reference loops, PyTorch, and the phases' path it replaces."""

import numpy as np
import pytest

from cnnmath import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward, reference
from cnnmath.ops import _conv_engine as engine
from cnnmath.ops import conv as conv_module
from cnnmath.ops._windows import copy_runs
from cnnmath.ops.conv import dispatch_plan
from helpers import assert_close, set_everywhere

# (x shape, weight shape, stride): the windows tile x; some leave rows or columns no window
# reads (their gradient is zero), some are rectangular
TILING = [
    ((2, 3, 8, 8), (4, 3, 2, 2), 2),
    ((3, 2, 9, 11), (5, 2, 2, 2), 2),  # one row and one column left over
    ((2, 4, 9, 12), (3, 4, 3, 3), 3),
    ((1, 2, 17, 16), (6, 2, 4, 4), 4),  # f2·itemsize 16 (float32), 32 (float64)
    ((2, 3, 10, 9), (4, 3, 2, 3), (2, 3)),
    ((2, 3, 11, 5), (4, 3, 3, 1), (3, 1)),  # runs of one value
    ((1, 1, 6, 10), (1, 1, 1, 5), (1, 5)),
]
IDS = [f"x{x}-w{w}-s{s}" for x, w, s in TILING]


@pytest.fixture(params=["one chunk", "chunks"])
def chunks(request, monkeypatch):
    """The engine's chunk budget as it is, or a few hundred bytes: a chunk per row or two."""
    if request.param == "chunks":
        set_everywhere(monkeypatch, engine, "_CHUNK_BYTES", 256)
    return request.param


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("x_shape", "w_shape", "s"), TILING, ids=IDS)
def test_conv2d_input_gradient_matches_the_reference_loops(x_shape, w_shape, s, dtype, chunks):
    assert dispatch_plan(x_shape, w_shape, s, 0, itemsize=np.dtype(dtype).itemsize)[
        "grad_input"
    ] == ["depth_to_space"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    g = rng.standard_normal(conv2d(x, w, None, s).shape).astype(dtype)
    grad_x, grad_w, grad_b = conv2d_backward(g, x, w, s)
    want = reference.conv2d_backward(g, x, w, s)
    for got, ref in zip((grad_x, grad_w, grad_b), want):
        assert got.dtype == dtype and got.shape == ref.shape
        assert_close(got, ref, dtype)


@pytest.mark.parametrize(("x_shape", "w_shape", "s"), TILING, ids=IDS)
def test_conv_transpose2d_with_tiling_windows_matches_the_reference_loops(
    x_shape, w_shape, s, chunks
):
    """conv_transpose2d's forward is the same adjoint: kernel = stride upsampling (a U-Net's
    2 × 2, stride 2), with an output padding that leaves rows and columns no tap reaches."""
    rng = np.random.default_rng(1)
    C_out, C_in = w_shape[:2]
    g = rng.standard_normal((x_shape[0], C_out, 4, 3))
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(C_in)
    sh, sw = (s, s) if isinstance(s, int) else s
    for output_padding in [(0, 0), (sh - 1, sw - 1)]:
        y = conv_transpose2d(g, w, b, s, 0, output_padding)
        assert_close(y, reference.conv_transpose2d(g, w, b, s, 0, output_padding))
        grads = conv_transpose2d_backward(np.cos(y), g, w, s, 0, output_padding)
        want = reference.conv_transpose2d_backward(np.cos(y), g, w, s, 0, output_padding)
        for got, ref in zip(grads, want):
            assert_close(got, ref)


def test_agrees_with_the_stride_phases_it_replaces(monkeypatch):
    """The phases' correlations (the path taken when `_tiles` says no) give the same
    gradient to rounding, on a layer big enough for several chunks."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 16, 64, 48)).astype(np.float32)
    w = rng.standard_normal((32, 16, 2, 2)).astype(np.float32)
    g = rng.standard_normal((4, 32, 32, 24)).astype(np.float32)
    fast = conv2d_backward(g, x, w, 2)[0]
    set_everywhere(monkeypatch, conv_module, "_tiles", lambda *args: False)
    set_everywhere(monkeypatch, engine, "select_method", lambda *a, **k: "im2col")  # plan afresh
    assert dispatch_plan(x.shape, w.shape, 2)["grad_input"] == ["im2col"] * 4
    phases = conv2d_backward(g, x, w, 2)[0]
    assert_close(fast, phases, np.float32)


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 64, 66)).astype(np.float32)
    w = rng.standard_normal((8, 3, 4, 4)).astype(np.float32)
    g = rng.standard_normal((2, 8, 16, 16)).astype(np.float32)
    tx = torch.from_numpy(x).requires_grad_()
    torch.nn.functional.conv2d(tx, torch.from_numpy(w), stride=4).backward(torch.from_numpy(g))
    assert_close(conv2d_backward(g, x, w, 4)[0], tx.grad.numpy(), np.float32)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf in the reference's sums
def test_non_finite_values_reach_exactly_the_positions_they_reach_in_the_loops():
    """Each value of grad_x is one output's sum over the filters, nothing else multiplied:
    a NaN in G, an inf in w give NaN / inf exactly where the loops do; the rows no window
    reads stay zero."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 7, 9))
    w = rng.standard_normal((3, 2, 2, 2))
    g = rng.standard_normal((2, 3, 3, 4))
    g[1, 2, 0, 3] = np.nan
    w[0, 1, 1, 0] = np.inf
    got = conv2d_backward(g, x, w, 2)[0]
    want = reference.conv2d_backward(g, x, w, 2)[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    assert np.isnan(got).any() and np.isinf(got).any()
    finite = np.isfinite(want)
    assert_close(got[finite], want[finite])
    assert not got[:, :, 6].any() and not got[:, :, :, 8].any()


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "dilation", "groups", "tiles"),
    [
        ((2, 3, 8, 8), (4, 3, 2, 2), 2, 0, 1, 1, True),
        ((2, 3, 9, 8), (4, 3, 3, 2), (3, 2), 0, 1, 1, True),
        ((2, 3, 8, 8), (4, 3, 2, 2), 2, 1, 1, 1, False),  # padded before: windows shifted
        ((2, 3, 8, 8), (4, 3, 2, 2), 2, (0, 1), 1, 1, False),
        ((2, 3, 8, 8), (4, 3, 2, 2), 2, 0, 2, 1, False),  # dilated: gaps between taps
        ((2, 4, 8, 8), (4, 2, 2, 2), 2, 0, 1, 2, False),  # grouped: the phases' path
        ((2, 3, 8, 8), (4, 3, 1, 1), 1, 0, 1, 1, False),  # 1 × 1: already one product
        ((2, 3, 8, 8), (4, 3, 2, 2), 3, 0, 1, 1, False),  # stride past the kernel
        ((2, 3, 8, 8), (4, 3, 3, 3), 2, 0, 1, 1, False),  # overlapping windows
    ],
)
def test_which_shapes_take_depth_to_space(
    x_shape, w_shape, stride, padding, dilation, groups, tiles
):
    plan = dispatch_plan(x_shape, w_shape, stride, padding, dilation, groups)
    assert (plan["grad_input"] == ["depth_to_space"]) == tiles
    assert ("depth_to_space" in plan["grad_input"]) == tiles


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.bool_])
@pytest.mark.parametrize("run", [1, 2, 3, 4, 5])
def test_copy_runs_is_copyto(run, dtype):
    """copy_runs moves runs as whole items where their size allows, else place by place:
    either way dst ends up as np.copyto leaves it, through transposed views of both."""
    rng = np.random.default_rng(run)
    src = (rng.standard_normal((3, 4, 5, run)) * 50).astype(dtype)
    dst_base = np.zeros((5, 3, 4, run + 2), dtype=dtype)
    dst = dst_base[..., 1 : run + 1].transpose(1, 2, 0, 3)  # (3, 4, 5, run), runs inside rows
    source = np.ascontiguousarray(src.transpose(2, 0, 1, 3)).transpose(1, 2, 0, 3)
    copy_runs(dst, source)
    want = np.zeros_like(dst_base)
    want[..., 1 : run + 1] = src.transpose(2, 0, 1, 3)
    np.testing.assert_array_equal(dst_base, want)


def test_copy_runs_keeps_every_bit():
    """Runs moved as 8- or 16-byte items are moved, not converted: NaN payloads and -0.0
    arrive bit for bit."""
    bits = np.array([0x7FC00001, 0x80000000, 0xFF800000, 0x3F800000], dtype=np.uint32)
    for run in (2, 4):
        src = np.resize(bits, (6, run)).view(np.float32)
        dst = np.empty((6, run), dtype=np.float32)
        copy_runs(dst, src)
        np.testing.assert_array_equal(dst.view(np.uint32), src.view(np.uint32))


def test_copy_runs_of_one_value_take_any_stride():
    a = np.zeros((2, 5))
    runs = a[:, ::2][:, :1]  # (2, 1): a run of one value, two items apart
    assert runs.strides[-1] == 2 * a.itemsize
    copy_runs(runs, np.array([[3.0], [4.0]]))
    np.testing.assert_array_equal(a, [[3, 0, 0, 0, 0], [4, 0, 0, 0, 0]])


def test_left_over_columns_of_one_tap_windows():
    """A kernel one column wide (f2 = 1) with a column no window reads: the runs are single
    values, strided in X."""
    rng = np.random.default_rng(6)
    g, w = rng.standard_normal((2, 3, 2, 1)), rng.standard_normal((3, 2, 2, 1))
    got = engine.depth_to_space(g, w, (5, 3))
    want = np.zeros((2, 2, 5, 3))
    want[:, :, :4, :1] = np.einsum("ocae,boij->bciaje", w, g).reshape(2, 2, 4, 1)
    assert_close(got, want)
    assert not got[:, :, 4:].any() and not got[..., 1:].any()


def test_copy_runs_refuses_runs_that_are_not_contiguous():
    a = np.zeros((4, 6))
    with pytest.raises(AssertionError, match="contiguous"):
        copy_runs(a[:, ::2], np.zeros((4, 3)))
