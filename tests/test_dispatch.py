"""The convolution dispatch: which method each benchmark shape gets (pinned, so a change of
choice is seen), that the plan is what the ops really call, and every method run through its
chunk and band loops (budgets shrunk to a few bytes) against the reference loops."""

import threading

import numpy as np
import pytest

from cnnmath import (
    conv2d,
    conv2d_backward,
    conv_transpose2d,
    conv_transpose2d_backward,
    reference,
)
from cnnmath.bench.ops import CONV_CASES
from cnnmath.ops import _conv_engine as engine
from cnnmath.ops import _machine as machine
from cnnmath.ops import _threads
from cnnmath.ops import _windows as windows_module
from cnnmath.ops import conv as conv_module
from cnnmath.ops._conv_engine import _blocks as engine_blocks
from cnnmath.ops._conv_engine import _dispatch as engine_dispatch
from cnnmath.ops._conv_engine import _elementwise as engine_elementwise
from cnnmath.ops._conv_engine import _input_gradient as engine_input_gradient
from cnnmath.ops._conv_engine import _products as engine_products
from cnnmath.ops.conv import dispatch_plan, select_method
from cnnmath.ops.pool import _common as pool_common
from helpers import assert_close, set_everywhere
from threads_helper import assert_thread_invariant

METHODS = sorted(engine.METHODS)


def _plan(forward, grad_input, grad_weight):
    return {"forward": [forward], "grad_input": grad_input, "grad_weight": [grad_weight]}


# The choice for each benchmark shape (N, C_in, H, W, C_out, k, stride, pad), float32.
EXPECTED = {
    "result 1, finite differences": _plan("im2col", ["scatter_rows"], "per_output"),
    # the windows tile the image (kernel = stride): grad_x is one product and one copy
    "result 2, average as conv": _plan("im2col", ["depth_to_space"], "im2row_sum"),
    "result 3, grayscale": _plan("im2col", ["taps"], "im2row"),
    "LeNet conv 1": _plan("im2col", ["scatter_rows"], "im2row_sum"),
    "LeNet conv 2": _plan("im2col_bl", ["scatter"], "im2row_cl"),
    "ResNet-like 3x3": _plan("im2col", ["im2col"], "im2row_sum"),
    "ResNet-like stride 2": _plan("im2col", ["im2col"] * 4, "im2row_sum"),
    # depthwise: one fused multiply-add per tap for all channels; the filter gradient one
    # dot product per (image, channel) plane and tap position
    "MobileNetV2 depthwise 3x3": _plan("planes", ["planes"], "dots"),
    "MobileNetV2 depthwise s2": _plan("planes", ["planes"] * 4, "dots"),
    # conv2d's plan on the (8, 64, 64, 64) output: its grad_input is the transpose's forward
    # its filter gradient: a sum over 8 images of 32 × 32, 64 channels × 4 × 4 positions tall
    "conv_transpose2d upsampling": _plan("im2col", ["im2col"] * 4, "im2row_sum"),
}
CASES = {case.name: case for case in CONV_CASES}


def _shapes(case):
    """conv2d's x shape, weight shape, stride, padding, groups; for a transposed case the
    conv2d whose input gradient it is (x: the transpose's output)."""
    N, C, H, W, O, k, s, p = case.shape
    if case.transpose:
        out = ((H - 1) * s - 2 * p + k, (W - 1) * s - 2 * p + k)
        return (N, O, *out), (C, O // case.groups, k, k), s, p, case.groups
    return (N, C, H, W), (O, C // case.groups, k, k), s, p, case.groups


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_benchmark_shape_selects_its_method(name):
    x_shape, w_shape, s, p, groups = _shapes(CASES[name])
    assert dispatch_plan(x_shape, w_shape, s, p, groups=groups) == EXPECTED[name]


def test_every_benchmark_shape_is_pinned():
    assert set(EXPECTED) == set(CASES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_plan_is_what_the_ops_call(name, monkeypatch):
    """Record every select_method call of a real forward + backward: the plan's, in order."""
    x_shape, w_shape, s, p, groups = _shapes(CASES[name])
    chosen = []

    def new_spy():
        """A new selection rule (the plans are memoized per rule: each op plans afresh)."""

        def spy(*args, **kwargs):
            chosen.append((threading.get_ident(), select_method(*args, **kwargs)))
            return chosen[-1][1]

        set_everywhere(monkeypatch, engine, "select_method", spy)

    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    plan = EXPECTED[name]
    if CASES[name].transpose:  # the transpose of x's gradient: forward, then its backward
        g = rng.standard_normal(conv2d(x, w, None, s, p).shape, dtype=np.float32)
        new_spy()
        y = conv_transpose2d(g, w, None, s, p)
        new_spy()
        conv_transpose2d_backward(np.ones_like(y), g, w, s, p)
        assert _in_pass_order(chosen) == plan["grad_input"] + plan["grad_weight"] + plan["forward"]
        return
    new_spy()
    y = conv2d(x, w, None, s, p, 1, groups)
    new_spy()
    conv2d_backward(np.ones_like(y), x, w, s, p, 1, groups)
    # "depth_to_space" is the geometry's choice (the windows tile x), not select_method's
    selected = [m for m in plan["grad_input"] if m != "depth_to_space"]
    assert _in_pass_order(chosen) == plan["forward"] + plan["grad_weight"] + selected


def _in_pass_order(records):
    """The names of (thread, name) records in the order the passes come: a backward's two
    passes may run side by side (`conv._passes._two_passes`), the filter gradient on the
    calling thread, the input gradient on another; each thread's own records keep their
    order."""
    caller = threading.get_ident()
    return [n for t, n in records if t == caller] + [n for t, n in records if t != caller]


# shapes beyond the benchmark's: (x shape, weight shape, stride, padding, dilation, groups)
EXTRA_SHAPES = [
    ((2, 3, 17, 15), (4, 3, 3, 3), 2, 1, 1, 1),  # strided, odd sizes
    ((2, 4, 12, 12), (4, 2, 3, 3), 1, 2, 2, 2),  # grouped, dilated
    ((3, 8, 11, 11), (8, 1, 5, 5), 3, 2, 1, 8),  # depthwise, stride 3 (phases no tap reaches)
    ((1, 2, 9, 9), (3, 2, 9, 9), 1, 0, 1, 1),  # one output position
]


def _record_kernels(monkeypatch):
    """Wrap every kernel of the engine (the correlations and the adjoint of tiling windows)
    so that the methods actually run are recorded."""
    ran = []

    def recorder(name, kernel):
        def recording(*args, **kwargs):
            ran.append((threading.get_ident(), name))
            return kernel(*args, **kwargs)

        return recording

    for name, kernel in list(engine.METHODS.items()):
        monkeypatch.setitem(engine.METHODS, name, recorder(name, kernel))
    set_everywhere(
        monkeypatch, engine, "depth_to_space", recorder("depth_to_space", engine.depth_to_space)
    )
    return ran


def _run_and_compare(monkeypatch, x_shape, w_shape, s, p, d, groups):
    ran = _record_kernels(monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    y = conv2d(x, w, None, s, p, d, groups)
    assert _in_pass_order(ran) == dispatch_plan(x_shape, w_shape, s, p, d, groups)["forward"]
    ran.clear()
    conv2d_backward(np.ones_like(y), x, w, s, p, d, groups)
    plan = dispatch_plan(x_shape, w_shape, s, p, d, groups)
    assert _in_pass_order(ran) == plan["grad_weight"] + plan["grad_input"]
    assert len(plan["forward"]) >= 1 and len(plan["grad_input"]) >= 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_kernels_that_run_are_the_plan(name, monkeypatch):
    """The methods the kernels really run (recorded inside the engine, not at the choice)
    are dispatch_plan's report, correlation by correlation, for every benchmark shape."""
    # a transposed case's plan is conv2d's on its output shape (`_shapes`): run as conv2d
    x_shape, w_shape, s, p, groups = _shapes(CASES[name])
    _run_and_compare(monkeypatch, x_shape, w_shape, s, p, 1, groups)


@pytest.mark.parametrize("shape", EXTRA_SHAPES, ids=str)
def test_the_kernels_that_run_are_the_plan_beyond_the_bench(shape, monkeypatch):
    _run_and_compare(monkeypatch, *shape)


def test_the_plan_holds_in_bands(monkeypatch):
    """With a band budget small enough for several bands, the plan lists one method per band
    and per stride phase's band, and exactly those run."""
    set_everywhere(monkeypatch, conv_module, "_BAND_BYTES", 2048)
    plan = dispatch_plan((2, 3, 20, 18), (4, 3, 3, 3), 2, 1)
    assert len(plan["forward"]) > 1 and len(plan["grad_input"]) > 4
    _run_and_compare(monkeypatch, (2, 3, 20, 18), (4, 3, 3, 3), 2, 1, 1, 1)


@pytest.mark.parametrize(
    "xp_shape, w_shape, stride, dilation, expected",
    [
        ((1, 3, 8, 8), (2, 3, 8, 8), (1, 1), (1, 1), "im2row"),  # one output position
        ((8, 4, 10, 10), (2, 4, 8, 8), (1, 1), (1, 1), "im2col_bl"),  # tiny output, batch
        ((4, 12, 10, 10), (2, 12, 8, 8), (1, 1), (1, 1), "im2row_cl"),  # runs 96 = 8 · 3·4
        ((4, 11, 10, 10), (2, 11, 8, 8), (1, 1), (1, 1), "im2col_bl"),  # runs 88 < 8 · 3·4
        ((4, 32, 20, 10), (2, 32, 8, 8), (1, 1), (2, 1), "im2row_cl"),  # rows dilated: same
        ((4, 32, 10, 20), (2, 32, 8, 8), (1, 1), (1, 2), "im2col_bl"),  # columns: runs of 32
        ((8, 4, 31, 31), (2, 4, 28, 28), (1, 1), (1, 1), "per_output"),  # 16 positions
        ((8, 4, 24, 24), (2, 4, 17, 17), (1, 1), (1, 1), "im2col_bl"),  # much flat waste
        ((1, 1, 66, 66), (2, 1, 64, 64), (1, 1), (1, 1), "per_output"),  # little flat waste
        ((1, 1, 66, 66), (2, 1, 32, 32), (1, 1), (2, 2), "im2row_sum"),  # dilated: not flat
        ((64, 32, 34, 34), (64, 32, 32, 32), (1, 1), (1, 1), "im2row_sum"),  # ResNet grad_w
        ((64, 8, 58, 58), (64, 8, 56, 56), (1, 1), (1, 1), "im2row_sum"),  # batch 8
        ((64, 8, 16, 16), (64, 8, 14, 14), (1, 1), (1, 1), "im2col_bl"),  # sum only 4x taller
        ((6, 64, 14, 14), (16, 64, 10, 10), (1, 1), (1, 1), "im2row_cl"),  # LeNet conv 2
        ((4, 1, 8, 12, 12), (4, 1, 8, 10, 10), (1, 1), (1, 1), "dots"),  # depthwise grad_w
        ((4, 1, 8, 12, 12), (4, 2, 8, 10, 10), (1, 1), (1, 1), "dots"),  # multiplier 2
        ((4, 1, 8, 11, 11), (4, 5, 8, 10, 10), (1, 1), (1, 1), "per_output"),  # 5 outputs
        ((1, 1, 12, 12), (2, 1, 9, 9), (1, 1), (1, 1), "im2row"),  # much flat waste
        ((1, 1, 20, 20), (3, 1, 1, 1), (1, 1), (1, 1), "taps"),  # a product one deep
        ((1, 2, 20, 20), (3, 2, 1, 1), (1, 1), (1, 1), "taps"),  # two deep
        ((32, 8, 12, 12), (8, 8, 3, 3), (1, 1), (1, 1), "im2col_bl"),  # small images
        ((32, 8, 12, 12), (8, 8, 3, 3), (2, 2), (1, 1), "shifted"),  # strided: not bl
        ((2, 8, 40, 40), (4, 8, 3, 3), (1, 1), (1, 1), "shifted"),  # few outputs
        ((2, 3, 40, 40), (4, 3, 3, 3), (1, 1), (1, 1), "im2col"),  # few inputs
        ((2, 16, 40, 40), (16, 16, 3, 3), (1, 1), (1, 1), "im2col"),
    ],
)
def test_select_method_rules(xp_shape, w_shape, stride, dilation, expected):
    """(The tiny outputs here are filter gradients' correlations, as `_grad_weight_plan`
    asks for them.)"""
    assert select_method(xp_shape, w_shape, stride, dilation, filter_gradient=True) == expected


@pytest.mark.parametrize(
    "xp_shape, w_shape, stride, filter_gradient, expected",
    [
        ((4, 12, 10, 10), (2, 12, 8, 8), (1, 1), True, "im2row_cl"),
        ((4, 12, 10, 10), (2, 12, 8, 8), (1, 1), False, "im2col_bl"),  # not a filter gradient
        # a strided correlation (a dilated layer's filter gradient): im2col_bl's runs are B
        ((4, 3, 10, 17), (2, 3, 8, 8), (1, 2), True, "im2col_bl"),  # 24 < 8 · 4
        ((4, 4, 10, 17), (2, 4, 8, 8), (1, 2), True, "im2row_cl"),  # 32 = 8 · 4
        # deep layers on 2 × 2 maps: the forward's output is tiny too, its filter is not
        ((32, 256, 4, 4), (256, 256, 3, 3), (1, 1), False, "im2col_bl"),
        ((8, 512, 4, 4), (512, 512, 3, 3), (1, 1), False, "im2col_bl"),
    ],
)
def test_im2row_cl_only_for_filter_gradients_with_much_longer_runs(
    xp_shape, w_shape, stride, filter_gradient, expected
):
    got = select_method(xp_shape, w_shape, stride, (1, 1), filter_gradient=filter_gradient)
    assert got == expected


@pytest.mark.parametrize(
    "xp_shape, w_shape, stride, expected",
    [
        # depthwise (G, B, 1, H, W) with (G, 1, 1, 3, 3): planes' passes H_out·W_q long
        # against 1.5× that many G·f1·f2 of einsum_cl's
        ((960, 1, 1, 9, 9), (960, 1, 1, 3, 3), (1, 1), "einsum_cl"),  # 8640 >= 1.5 · 63
        ((192, 1, 1, 30, 30), (192, 1, 1, 3, 3), (1, 1), "einsum_cl"),  # 1728 >= 1.5 · 840
        ((144, 1, 1, 58, 58), (144, 1, 1, 3, 3), (2, 2), "einsum_cl"),  # 1296 >= 1.5 · 812
        ((144, 1, 1, 58, 58), (144, 1, 1, 3, 3), (1, 1), "planes"),  # 1296 < 1.5 · 3248
        ((96, 32, 1, 58, 58), (96, 1, 1, 3, 3), (2, 2), "planes"),  # the bench's s2: 864 < 1218
        ((32, 32, 1, 58, 58), (32, 1, 1, 3, 3), (1, 1), "planes"),  # the bench's 3×3
        # a stride-2 input gradient's phase with four taps, or one: planes, then einsum_cl
        ((144, 8, 1, 29, 29), (144, 1, 1, 2, 2), (1, 1), "planes"),  # 576 < 1.5 · 812
        ((576, 8, 1, 8, 8), (576, 1, 1, 1, 1), (1, 1), "einsum_cl"),  # 576 >= 1.5 · 64
        # two channels per group, or two outputs: planes (einsum_cl is for C = O = 1)
        ((480, 1, 2, 9, 9), (480, 1, 2, 3, 3), (1, 1), "planes"),
        ((480, 1, 1, 9, 9), (480, 2, 1, 3, 3), (1, 1), "planes"),
    ],
)
def test_deep_depthwise_layers_on_small_maps_take_einsum_cl(xp_shape, w_shape, stride, expected):
    assert select_method(xp_shape, w_shape, stride, (1, 1)) == expected


@pytest.mark.parametrize(
    "xp_shape, w_shape, dilation, expected",
    [
        # a depthwise filter gradient (G, 1, B, H, W) by (G, 1, B, H_out, W_out), dilated by
        # the layer's stride: dots takes a dot product per plane and position, einsum_cl
        # runs along the G groups
        ((960, 1, 8, 9, 9), (960, 1, 8, 7, 7), 1, "einsum_cl"),  # 8 · 960 >= 49
        ((144, 1, 8, 57, 57), (144, 1, 8, 28, 28), 2, "einsum_cl"),  # 1152 >= 784
        ((96, 1, 32, 57, 57), (96, 1, 32, 28, 28), 2, "dots"),  # the bench's s2: 768 < 784
        ((32, 1, 32, 58, 58), (32, 1, 32, 56, 56), 1, "dots"),  # the bench's 3×3
        ((960, 1, 8, 9, 9), (960, 2, 8, 7, 7), 1, "dots"),  # a depth multiplier of 2
    ],
)
def test_depthwise_filter_gradients_on_small_maps_take_einsum_cl(
    xp_shape, w_shape, dilation, expected
):
    d = (dilation, dilation)
    assert select_method(xp_shape, w_shape, (1, 1), d, filter_gradient=True) == expected


def test_mobilenet_deep_blocks_plan_einsum_cl():
    """MobileNetV2's 960-channel depthwise layer on 7 × 7 (batch 1): einsum_cl for all
    three correlations."""
    plan = dispatch_plan((1, 960, 7, 7), (960, 1, 3, 3), 1, 1, groups=960)
    assert plan == _plan("einsum_cl", ["einsum_cl"], "einsum_cl")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_einsum_cl_filter_gradient_sums_in_blocks_the_same_at_any_thread_count(dtype):
    """A depthwise filter gradient is one small output with a long sum over the batch:
    einsum_cl sums it in shape-fixed blocks of images added in block order, the same bits
    at one thread and two, and the reference's values."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((12, 48, 10, 10)).astype(dtype)
    w = rng.standard_normal((48, 1, 3, 3)).astype(dtype)
    assert dispatch_plan(x.shape, w.shape, 2, 1, groups=48)["grad_weight"] == ["einsum_cl"]
    g = rng.standard_normal(conv2d(x, w, None, 2, 1, 1, 48).shape).astype(dtype)
    assert_thread_invariant(lambda: conv2d_backward(g, x, w, 2, 1, 1, 48)[1:2])
    want = reference.conv2d_backward(g, x, w, 2, 1, 1, 48)[1]
    assert_close(conv2d_backward(g, x, w, 2, 1, 1, 48)[1], want, dtype)


def test_deep_layers_on_tiny_maps_keep_im2col_bl_outside_the_filter_gradient():
    plan = dispatch_plan((8, 512, 2, 2), (512, 512, 3, 3), 1, 1)
    assert plan["forward"] == ["im2col_bl"] and plan["grad_input"] == ["im2col_bl"]


@pytest.mark.parametrize(
    "data_hw, expected",
    [
        ((10, 10), "scatter"),  # LeNet conv 2's grad_x: 31 % of the 18×18 window is data
        ((13, 12), "scatter"),  # just at half
        ((14, 14), "im2col_bl"),  # 60 % data, as many channels out as in
        (None, "im2col_bl"),  # no padding
    ],
)
def test_select_method_scatter_rule(data_hw, expected):
    shape = ((64, 16, 18, 18), (16, 16, 5, 5), (1, 1), (1, 1))
    assert select_method(*shape, data_hw) == expected


@pytest.mark.parametrize(
    "w_shape, data_hw, expected",
    [
        ((6, 16, 5, 5), (14, 14), "scatter_rows"),  # 60 % data, 16 -> 6 channels (below)
        ((8, 16, 5, 5), (14, 14), "scatter_rows"),  # just halves them
        ((9, 16, 5, 5), (14, 14), "im2col_bl"),  # less than half
        ((6, 16, 2, 2), (14, 14), "shifted"),  # 4 taps: its adds gain too little
        ((6, 16, 5, 5), (18, 18), "im2col_bl"),  # no padding in the window
    ],
)
def test_select_method_scatter_rule_for_fewer_channels(w_shape, data_hw, expected):
    assert select_method((64, 16, 18, 18), w_shape, (1, 1), (1, 1), data_hw) == expected


@pytest.mark.parametrize(
    "xp_shape, w_shape, data_hw, expected",
    [
        # LeNet's second layer at padding 2: 2.8 against scatter's 3.8 ms (one thread)
        ((64, 16, 18, 18), (6, 16, 5, 5), (14, 14), "scatter_rows"),
        ((64, 16, 18, 18), (6, 16, 5, 5), (14, 13), "scatter"),  # over a quarter is padding
        ((64, 16, 18, 18), (6, 16, 5, 5), (8, 14), "scatter_rows"),  # under half is data
        ((64, 16, 18, 18), (6, 16, 5, 1), (8, 14), "scatter"),  # f2 = 1: nothing to gain
        ((8, 32, 10, 10), (16, 32, 3, 3), (8, 8), "scatter_rows"),  # the digits CNN's
        ((8, 64, 10, 10), (16, 64, 3, 3), (8, 8), "scatter"),  # scatter's product is deep
    ],
)
def test_select_method_scatter_rows_rule(xp_shape, w_shape, data_hw, expected):
    assert select_method(xp_shape, w_shape, (1, 1), (1, 1), data_hw) == expected


# ---------------------------------------------------------------------------------------------
# Every method through its loops: chunks and bands a few bytes large, so each loop runs many
# times and its edges (last partial chunk, one channel or one filter row per chunk) are hit.

LOOP_SAMPLES = [
    # (x shape, weight shape, stride, padding, dilation[, groups])
    ((2, 4, 9, 8), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2),  # grouped
    ((3, 4, 8, 7), (4, 1, 3, 3), 1, 1, 1, 4),  # depthwise
    ((2, 3, 9, 9), (6, 1, 2, 3), 3, 2, (2, 1), 3),  # depthwise, multiplier 2, stride > kernel
    ((2, 3, 9, 8), (4, 3, 3, 2), (2, 1), (1, 0), (1, 2)),
    ((1, 1, 12, 11), (2, 1, 3, 3), 1, 1, 1),
    ((3, 2, 7, 7), (1, 2, 2, 2), 2, 0, 2),  # gcd(stride, dilation) = 2: phases without taps
    ((2, 4, 6, 5), (3, 4, 1, 1), 1, 0, 1),  # 1×1
    ((2, 2, 8, 8), (3, 2, 2, 2), 2, 0, 1),  # stride = kernel
    ((1, 3, 5, 6), (2, 3, 5, 6), 1, 0, 1),  # one output position
    ((2, 2, 10, 9), (2, 2, 3, 3), 3, 2, 1),  # stride above the kernel: rows no window reads
]


@pytest.fixture
def tiny_chunks(monkeypatch):
    for name, size in [
        ("_CHUNK_BYTES", 96),
        ("_TAPS_CHUNK_BYTES", 64),
        ("_SHIFTED_COLUMNS", 5),
        ("_BAND_BYTES", 64),
        ("_SCATTER_BYTES", 96),
    ]:
        set_everywhere(monkeypatch, conv_module if name == "_BAND_BYTES" else engine, name, size)
    # "planes" and "dots" copy their phases block by block (the tiny work buffers are kept)
    monkeypatch.setattr(_threads, "_SCRATCH_BYTES", 512)
    set_everywhere(monkeypatch, engine, "_FRESH_PAGES_BYTES", 0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "sample", LOOP_SAMPLES, ids=[str(s[:2]) + str(s[5:]) for s in LOOP_SAMPLES]
)
def test_every_method_in_tiny_chunks_matches_reference(sample, method, tiny_chunks, monkeypatch):
    set_everywhere(monkeypatch, engine, "select_method", lambda *a, **k: method)
    x_shape, w_shape, s, p, d, *groups = sample
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    y = conv2d(x, w, b, s, p, d, *groups)
    assert_close(y, reference.conv2d(x, w, b, s, p, d, *groups))
    g = rng.standard_normal(y.shape)
    for got, want in zip(
        conv2d_backward(g, x, w, s, p, d, *groups),
        reference.conv2d_backward(g, x, w, s, p, d, *groups),
    ):
        assert_close(got, want)


@pytest.mark.parametrize("budgets, images", [(2, 8), (1, 4)])
def test_im2col_chunks_of_small_maps_are_wide_where_four_budgets_hold_them(
    budgets, images, monkeypatch
):
    """A deep layer's 7 × 7 maps make 49 columns an image: a chunk takes enough images for
    _WIDE_COLUMNS (384) columns, 8 here, where four budgets hold them, else what four hold."""
    x_shape, w_shape = (8, 8, 7, 7), (8, 8, 3, 3)
    per_image = 8 * 9 * 49 * 4  # one image's columns, float32
    set_everywhere(monkeypatch, engine, "_CHUNK_BYTES", budgets * per_image)
    widths = []

    def recording(a, b, out, cut=True):
        widths.append(b.shape[-1])
        np.matmul(a, b, out=out)

    set_everywhere(monkeypatch, engine, "_matmul", recording)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    y = engine_dispatch._correlate(
        np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), w, (1, 1), (1, 1), "im2col"
    )
    assert widths == [images * 49] * (8 // images)
    assert_close(
        y, reference.conv2d(x.astype(np.float64), w.astype(np.float64), None, 1, 1), np.float32
    )


@pytest.mark.parametrize("method", METHODS)
def test_non_finite_values_stay_in_their_windows(method, tiny_chunks, monkeypatch):
    """per_output multiplies zeros by pixels outside each window: non-finite input must
    take its exact path; the same holds for every other method, chunked."""
    set_everywhere(monkeypatch, engine, "select_method", lambda *a, **k: method)
    x = np.ones((1, 1, 9, 9))
    x[0, 0, 0, 8] = np.inf  # read by the top-right windows only
    x[0, 0, 8, 0] = np.nan  # read by the bottom-left windows only
    w = np.ones((1, 1, 3, 3))
    y = conv2d(x, w)[0, 0]
    assert np.isposinf(y[0, 6]) and np.isnan(y[6, 0])
    assert np.isfinite(np.delete(y.ravel(), [6, 42])).all()
    # the filter gradient's "filter" is G; its input holds the inf and the NaN
    _, gw, _ = conv2d_backward(np.ones((1, 1, 7, 7)), x, w)
    assert np.isnan(gw[0, 0, 2, 0]) and np.isposinf(gw[0, 0, 0, 2])
    assert np.isfinite(np.delete(gw.ravel(), [2, 6])).all()


def test_benchmark_prints_each_shape_with_its_methods(capsys):
    pytest.importorskip("torch")
    pytest.importorskip("threadpoolctl")
    from cnnmath.bench import main

    assert (
        main(
            [
                "--threads",
                "1",
                "--repeats",
                "1",
                "--only",
                "LeNet conv 1",
                "--no-memory",
                "--no-train",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "BLAS:" in out and "1 thread(s)" in out
    row = next(line for line in out.splitlines() if line.startswith("LeNet conv 1"))
    assert "im2col / scatter_rows / im2row_sum" in row


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["--threads", "0"], "--threads"),
        (["--threads", "two"], "--threads"),
        (["--repeats", "0"], "--repeats: expected a whole number >= 1, got 0"),
        (["--memory-size", "2"], "--memory-size: expected a whole number >= 3"),
    ],
)
def test_benchmark_rejects_bad_options(argv, pattern, capsys):
    """One line on stderr naming ``cnnmath bench``, exit status 2 (as every command)."""
    from cnnmath.bench import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert pattern in captured.err and captured.err.startswith("cnnmath bench: error:")
    assert captured.out == ""


# "scatter" reads the window of its input with the padding implicit (never multiplied): the
# same correlation as the explicit copy that every other method gets, also strided/dilated.
WINDOWS = [
    # (x shape, weight shape, stride, dilation, (start, length))
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (1, 1), ((-2, -2), (10, 9))),  # full correlation
    ((2, 3, 6, 5), (4, 3, 3, 2), (2, 3), (1, 2), ((-3, -1), (11, 9))),  # strided, dilated
    ((1, 2, 7, 7), (2, 2, 2, 2), (1, 1), (2, 2), ((1, 2), (5, 4))),  # inside x: a crop
    ((1, 2, 4, 4), (2, 2, 2, 2), (1, 1), (1, 1), ((5, -6), (3, 3))),  # no data at all
]


# (A non-finite w is not this correlation: the window's zeros are absent outputs there, and
# tests/test_conv.py checks that case end to end against the reference backward.)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference computes 0·inf
@pytest.mark.parametrize("method", sorted(engine_dispatch._WINDOWED))
@pytest.mark.parametrize("nonfinite", [None, "x"])
@pytest.mark.parametrize("sample", WINDOWS, ids=[str(s[4]) for s in WINDOWS])
def test_scatter_window_is_the_padded_correlation(sample, nonfinite, method, tiny_chunks):
    x_shape, w_shape, s, d, window = sample
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    if nonfinite == "x":
        x[0, 0, 1, 1], x[-1, -1, -1, 0] = np.inf, np.nan
    got = engine_dispatch._correlate(x, w, s, d, method=method, window=window)
    xp = windows_module.crop_or_pad(x, *window)
    want = reference.conv2d(xp, w, None, s, 0, d)
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    assert_close(got[finite], want[finite])


def test_a_nonfinite_filter_leaves_scatter_rows_for_scatter():
    """scatter_rows multiplies the window's zero columns, so an infinite weight would make
    NaN of outputs that only padding reaches: `_correlate` runs scatter instead, whose sum
    leaves the padding out (the input gradient's absent outputs)."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    w[1, 2, 0, 2] = np.inf
    window, s = ((-2, -2), (10, 9)), (1, 1)
    with np.errstate(invalid="ignore"):
        alone = engine.METHODS["scatter_rows"](x[None], w[None], s, s, window)[0]
        routed = engine_dispatch._correlate(x, w, s, s, method="scatter_rows", window=window)
        scatter = engine_dispatch._correlate(x, w, s, s, method="scatter", window=window)
    assert np.isnan(alone).sum() > np.isnan(scatter).sum()  # the zero columns' 0·inf
    assert routed.tobytes() == scatter.tobytes()


# ---------------------------------------------------------------------------------------------
# The cache sizes behind the engine's budgets (cnnmath.ops._machine)


def _fake_cache(root, entries):
    """A sysfs-like cache directory: index<k>/{level,type,size} for each entry."""
    for k, (level, kind, size) in enumerate(entries):
        d = root / f"index{k}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
    return root


def test_cache_sizes_are_read_from_sysfs(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "_from_sysconf", dict)
    root = _fake_cache(
        tmp_path,
        [
            (1, "Data", "48K"),
            (1, "Instruction", "32K"),
            (2, "Unified", "1280K"),
            (3, "Unified", "30M"),
        ],
    )
    caches = machine.read_caches(root)
    assert caches == machine.Caches(1280 * 1024, 30 * 1024 * 1024)
    b = machine.budgets(caches)
    assert b.chunk_bytes == 2 << 20 and b.taps_chunk_bytes == 640 * 1024  # the chunk's floor
    assert b.scatter_bytes == 8 * 1280 * 1024 and b.shifted_columns == 1280 * 1024 // 64
    assert b.pool_block_bytes == 2 << 20 and b.copy_block_bytes == 1280 * 1024  # (4 L2s, capped)


def test_cache_sizes_fall_back_when_unreadable(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "_from_sysconf", dict)
    assert machine.read_caches(tmp_path / "missing") == machine.FALLBACK
    # garbage sizes and an instruction cache only: still the fallback
    root = _fake_cache(
        tmp_path, [(2, "Unified", "lots"), (2, "Instruction", "1M"), (3, "Unified", "0")]
    )
    assert machine.read_caches(root) == machine.FALLBACK
    # the fallback's budgets are the constants measured on it
    assert machine.budgets(machine.FALLBACK) == machine.Budgets(
        chunk_bytes=2 << 20,
        taps_chunk_bytes=256 << 10,
        scatter_bytes=4 << 20,
        shifted_columns=8192,
        pool_block_bytes=2 << 20,
        copy_block_bytes=512 << 10,
    )


def test_cache_sizes_from_sysconf_then_sysfs_per_level(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "_from_sysconf", lambda: {2: 2 << 20, 3: 16 << 20})
    assert machine.read_caches(tmp_path / "missing") == machine.Caches(2 << 20, 16 << 20)
    root = _fake_cache(tmp_path, [(2, "Unified", "256K")])  # sysfs wins where it has a level
    assert machine.read_caches(root) == machine.Caches(256 << 10, 16 << 20)


def test_a_machine_without_l3_and_degenerate_sizes(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "_from_sysconf", dict)
    root = _fake_cache(tmp_path, [(2, "Unified", "1M")])
    assert machine.read_caches(root) == machine.Caches(1 << 20, 1 << 20)
    tiny = machine.budgets(machine.Caches(1024, 1024))  # clamped to a 128 KiB L2
    assert tiny.taps_chunk_bytes == 64 << 10 and tiny.chunk_bytes == 128 << 10
    huge = machine.budgets(machine.Caches(1 << 30, 1 << 30))  # clamped to a 4 MiB L2
    assert huge.chunk_bytes == 4 << 20
    # a 2 MiB L2 (the Xeon of docs/performance.md): a chunk of one L2, not four, and a
    # pooling block of one L2 (four would hold a ResNet activation whole, on one thread)
    xeon = machine.budgets(machine.Caches(2 << 20, 300 << 20))
    assert xeon.chunk_bytes == 2 << 20 and xeon.pool_block_bytes == 2 << 20
    assert machine.budgets(machine.Caches(256 << 10, 30 << 20)).pool_block_bytes == 1 << 20
    # the floor yields to a small L3's quarter, never below one L2
    assert machine.budgets(machine.Caches(256 << 10, 4 << 20)).chunk_bytes == 1 << 20
    assert machine.budgets(machine.Caches(512 << 10, 512 << 10)).chunk_bytes == 512 << 10


def test_the_engine_uses_the_machine_budgets():
    b = machine.BUDGETS
    assert (engine_blocks._CHUNK_BYTES, engine_blocks._TAPS_CHUNK_BYTES) == (
        b.chunk_bytes,
        b.taps_chunk_bytes,
    )
    assert (engine_input_gradient._SCATTER_BYTES, engine_products._SHIFTED_COLUMNS) == (
        b.scatter_bytes,
        b.shifted_columns,
    )
    assert (pool_common._BLOCK_BYTES, windows_module.COPY_BLOCK_BYTES) == (
        b.pool_block_bytes,
        b.copy_block_bytes,
    )


@pytest.mark.parametrize("method", METHODS)
def test_no_method_returns_a_view_of_its_window(method, monkeypatch):
    """`_correlate` makes an explicit window in a kept work buffer, which the next call
    rewrites: a result sharing memory with it would change under the caller's feet."""
    monkeypatch.setattr(windows_module, "KEPT_WINDOW_BYTES", 64)
    seen = []
    kernel = engine.METHODS[method]

    def spy(xw, *args):
        result = kernel(xw, *args)
        seen.append(np.shares_memory(result, xw))
        return result

    monkeypatch.setitem(engine.METHODS, method, spy)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 9, 8))
    w = rng.standard_normal((5, 4, 3, 3))
    for window in [((-1, -1), (11, 10)), ((-2, 0), (12, 8))]:
        y = engine_dispatch._padded_correlate(x, w, (1, 1), (1, 1), window, method)
        want = reference.conv2d(np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))), w)
        r0, c0 = window[0][0] + 2, window[0][1] + 2
        assert_close(y, want[:, :, r0 : r0 + y.shape[2], c0 : c0 + y.shape[3]])
    assert seen == [False, False]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("image_major", [False, True], ids=["group-major", "image-major"])
@pytest.mark.parametrize("window", [None, ((-1, -2), (10, 11))], ids=["whole", "window"])
@pytest.mark.parametrize("tiny", [False, True], ids=["budgets", "tiny-chunks"])
def test_every_method_writes_into_a_strided_out(method, image_major, window, tiny, request):
    """`_correlate(..., out=)` as the input gradient's stride phases use it: the result lands
    in a strided view of a larger array (a phase's rows and columns), the same bits as
    without ``out``, and nothing outside the view is written; in whole blocks of images
    and in tiny chunks."""
    if tiny:
        request.getfixturevalue("tiny_chunks")
    G, B, C, O = 2, 3, 2, 3
    rng = np.random.default_rng(7)
    if image_major:  # the (G, B, ...) view of a (B, G·C, ...) batch, as `_split_groups` makes
        xp = rng.standard_normal((B, G, C, 9, 10)).transpose(1, 0, 2, 3, 4)
    else:
        xp = rng.standard_normal((G, B, C, 9, 10))
    w = rng.standard_normal((G, O, C, 3, 2))
    want = engine_dispatch._correlate(xp, w, (1, 1), (1, 1), method, window)
    Ho, Wo = want.shape[-2:]
    whole = np.full((B, G, O, 2 * Ho + 1, 2 * Wo), np.nan)
    out = whole.transpose(1, 0, 2, 3, 4)[..., 1::2, ::2]
    got = engine_dispatch._correlate(xp, w, (1, 1), (1, 1), method, window, out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)
    written = np.zeros(whole.shape, dtype=bool)
    written[..., 1::2, ::2] = True
    assert np.isnan(whole[~written]).all()


def test_planes_view_numbers_the_planes_of_out_or_declines():
    """The planes of `_correlate_planes` are r = b·G + g (image-major) or g·B + b: a view of
    ``out`` where its strides allow that numbering, else None (the method then copies)."""
    whole = np.arange(2 * 3 * 4 * 5 * 6.0).reshape(3, 2, 4, 5, 6)  # (B, G, O, H, W)
    out = whole.transpose(1, 0, 2, 3, 4)[..., ::2, 1:]  # (G, B, O, H', W'): a phase
    planes = engine_elementwise._planes_view(out, image_major=True)
    assert planes is not None and np.shares_memory(planes, whole)
    for b in range(3):
        for g in range(2):
            np.testing.assert_array_equal(planes[b * 2 + g], out[g, b])
    assert engine_elementwise._planes_view(out, image_major=False) is None
    one_group = whole[:, :1].transpose(1, 0, 2, 3, 4)  # G = 1: either numbering is b
    for image_major in (False, True):
        planes = engine_elementwise._planes_view(one_group, image_major)
        assert planes is not None
        np.testing.assert_array_equal(planes, whole[:, 0])


@pytest.mark.parametrize("groups", [1, 2])
def test_a_forward_in_bands_writes_each_band_into_y(groups, monkeypatch):
    """Several bands of output rows: each band's correlation is given its rows of Y as
    ``out`` (no band's result held beside Y), and Y is the reference's."""
    set_everywhere(monkeypatch, conv_module, "_BAND_BYTES", 64)
    outs = []
    into = engine_dispatch._into

    def spy(out, name, *args):
        outs.append(out)
        return into(out, name, *args)

    set_everywhere(monkeypatch, engine, "_into", spy)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 4, 9, 7))
    w = rng.standard_normal((6, 4 // groups, 3, 3))
    y = conv2d(x, w, None, 1, 1, 1, groups)
    assert_close(y, reference.conv2d(x, w, None, 1, 1, 1, groups))
    assert len(outs) == 9  # one band per output row
    assert all(out is not None and np.shares_memory(out, y) for out in outs)
