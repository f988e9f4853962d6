"""Pixel shuffle and unshuffle: the layers against ``torch.nn.PixelShuffle`` /
``PixelUnshuffle`` (forward and autograd, float32 and float64, 3-5 axes), their messages,
ONNX's DepthToSpace and SpaceToDepth loaded (both channel orders) against onnxruntime and
PyTorch, and the layers in the tools that walk a model (receptive fields, tiling, the
summary against torchinfo). The ops themselves are in the op records
(tests/records/pixel_shuffle.py: oracle loops, PyTorch, finite differences); PyTorch's own
exports and ESPCN are in test_onnx_torch.py, saving in test_onnx_save.py."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, ops
from cnnmath.receptive import receptive_field
from cnnmath.summary import summary

torch = pytest.importorskip("torch")

SHAPES = [(2, 18, 3, 4), (18, 2, 5), (2, 3, 9, 2, 3)]  # 4-D, unbatched 3-D, 5-D


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("r", [1, 3])
def test_pixel_shuffle_layer_is_torchs(dtype, shape, r):
    """A permutation of the elements: equal to PyTorch's bit for bit, forward and backward."""
    rng = np.random.default_rng(r)
    x = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    want = torch.nn.PixelShuffle(r)(xt)
    layer = nn.PixelShuffle(r)
    y, ctx = layer.forward_ctx(x)
    assert y.dtype == dtype and not np.shares_memory(y, x)
    np.testing.assert_array_equal(y, want.detach().numpy())
    G = rng.standard_normal(y.shape).astype(dtype)
    want.backward(torch.tensor(G))
    grad = layer.backward_ctx(ctx, G)
    assert grad.dtype == dtype
    np.testing.assert_array_equal(grad, xt.grad.numpy())
    with pytest.raises(ValueError, match=r"PixelShuffle.backward: grad_output: expected"):
        layer.backward_ctx(ctx, G[..., :-1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 2, 6, 9), (1, 6, 3), (2, 3, 2, 3, 6)], ids=str)
@pytest.mark.parametrize("r", [1, 3])
def test_pixel_unshuffle_layer_is_torchs(dtype, shape, r):
    rng = np.random.default_rng(r)
    x = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    want = torch.nn.PixelUnshuffle(r)(xt)
    layer = nn.PixelUnshuffle(r)
    y, ctx = layer.forward_ctx(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, want.detach().numpy())
    G = rng.standard_normal(y.shape).astype(dtype)
    want.backward(torch.tensor(G))
    np.testing.assert_array_equal(layer.backward_ctx(ctx, G), xt.grad.numpy())
    with pytest.raises(ValueError, match=r"PixelUnshuffle.backward: grad_output: expected"):
        layer.backward_ctx(ctx, G.astype(np.float32 if dtype == np.float64 else np.float64))


def test_each_backward_is_the_other_op_and_they_are_inverses():
    """The docstrings' claim, checked against PyTorch's functions: ∂ℓ/∂X of a shuffle is
    the unshuffle of G and the other way round, and unshuffle undoes shuffle exactly."""
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    G = rng.standard_normal((2, 3, 8, 6))
    np.testing.assert_array_equal(
        ops.pixel_shuffle_backward(G, 2), F.pixel_unshuffle(torch.tensor(G), 2).numpy()
    )
    H = rng.standard_normal((2, 12, 4, 3))
    np.testing.assert_array_equal(
        ops.pixel_unshuffle_backward(H, 2), F.pixel_shuffle(torch.tensor(H), 2).numpy()
    )
    np.testing.assert_array_equal(ops.pixel_unshuffle(ops.pixel_shuffle(H, 2), 2), H)


def test_the_block_layout_by_hand():
    """Channel c·r² + i·r + j of pixel (h, w) lands at (c, h·r + i, w·r + j): channels 0-3
    of one pixel fill its 2×2 block row by row; channel 4 starts the next output channel."""
    x = np.arange(8.0).reshape(1, 8, 1, 1)
    y = ops.pixel_shuffle(x, 2)
    np.testing.assert_array_equal(y[0], [[[0, 1], [2, 3]], [[4, 5], [6, 7]]])


def test_reprs_and_argument_errors():
    assert (
        repr(nn.PixelShuffle(3))
        == repr(torch.nn.PixelShuffle(3))
        == ("PixelShuffle(upscale_factor=3)")
    )
    assert repr(nn.PixelUnshuffle(2)) == repr(torch.nn.PixelUnshuffle(2))
    with pytest.raises(
        ValueError, match=r"^PixelShuffle: upscale_factor: expected an int >= 1, got 0$"
    ):
        nn.PixelShuffle(0)
    with pytest.raises(
        TypeError, match=r"^PixelUnshuffle: downscale_factor: expected an int >= 1, got bool True$"
    ):
        nn.PixelUnshuffle(True)
    with pytest.raises(
        TypeError, match=r"^pixel_shuffle: upscale_factor: expected an int >= 1, got float 2.0$"
    ):
        ops.pixel_shuffle(np.zeros((1, 4, 2, 2)), 2.0)


@pytest.mark.parametrize(
    "call, pattern",
    [
        (
            lambda: ops.pixel_shuffle(np.zeros((2, 8, 3, 3)), 3),
            r"^pixel_shuffle: x: expected channels \(axis -3\) divisible by upscale_factor² = 9, "
            r"got 8 \(shape \(2, 8, 3, 3\)\)$",
        ),
        (
            lambda: ops.pixel_unshuffle(np.zeros((2, 1, 6, 4)), 3),
            r"^pixel_unshuffle: x: expected height and width \(axes -2, -1\) divisible by "
            r"downscale_factor = 3, got 6×4 \(shape \(2, 1, 6, 4\)\)$",
        ),
        (
            lambda: ops.pixel_shuffle(np.zeros((4, 4)), 2),
            r"^pixel_shuffle: x: expected shape \(…, C, H, W\) with at least 3 axes, got \(4, 4\)$",
        ),
        (
            lambda: ops.pixel_unshuffle_backward(np.zeros((1, 6, 2, 2)), 2),
            r"^pixel_unshuffle_backward: grad_output: expected channels \(axis -3\) divisible "
            r"by downscale_factor² = 4, got 6",
        ),
        (
            lambda: nn.PixelShuffle(2)(np.zeros((1, 6, 2, 2))),
            r"^pixel_shuffle: x: expected channels",
        ),
    ],
)
def test_shape_errors_name_the_argument_expected_and_given(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match=r"pixel_unshuffle: x: expected dtype float32 or float64"):
        ops.pixel_unshuffle(np.zeros((1, 1, 2, 2), dtype=np.int64), 2)


# -- ONNX's DepthToSpace and SpaceToDepth ----------------------------------------------------


def _model(op, shape, dtype=np.float32, opset=13, **attrs):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    node = helper.make_node(op, ["x"], ["y"], name="blocks", **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", elem, list(shape))],
        [helper.make_tensor_value_info("y", elem, [f"d{k}" for k in range(len(shape))])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset < 21 else 10
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _torch_spec(op, mode, x, b):
    """ONNX's definitions, as its operator documentation writes them, in PyTorch:
    reshape, permute, reshape (autograd gives the gradient)."""
    N, C, H, W = x.shape
    if op == "DepthToSpace":
        if mode == "DCR":
            t = x.reshape(N, b, b, C // b**2, H, W).permute(0, 3, 4, 1, 5, 2)
        else:
            t = x.reshape(N, C // b**2, b, b, H, W).permute(0, 1, 4, 2, 5, 3)
        return t.reshape(N, C // b**2, H * b, W * b)
    t = x.reshape(N, C, H // b, b, W // b, b)
    t = t.permute(0, 3, 5, 1, 2, 4) if mode == "DCR" else t.permute(0, 1, 3, 5, 2, 4)
    return t.reshape(N, C * b * b, H // b, W // b)


CASES = [  # op, mode attribute (None: absent), opset, x shape, block size, loaded as
    ("DepthToSpace", None, 13, (2, 18, 3, 4), 3, None),
    ("DepthToSpace", "DCR", 11, (2, 8, 3, 2), 2, None),
    ("DepthToSpace", "CRD", 11, (2, 8, 3, 2), 2, nn.PixelShuffle),
    ("DepthToSpace", "CRD", 17, (1, 27, 2, 3), 3, nn.PixelShuffle),
    ("SpaceToDepth", None, 13, (2, 3, 4, 6), 2, None),
    ("SpaceToDepth", "DCR", 28, (2, 2, 6, 3), 3, None),
    ("SpaceToDepth", "CRD", 28, (2, 3, 4, 6), 2, nn.PixelUnshuffle),
]


@pytest.mark.parametrize("op, mode, opset, shape, b, layer", CASES)
def test_onnx_blocks_load_as_onnxruntime_and_the_definition_compute(
    op, mode, opset, shape, b, layer
):
    """Each loads (PyTorch's channel order, "CRD", as the layer), equals onnxruntime's
    output in float32 bit for bit, and in float64 the ONNX definition's value and its
    PyTorch autograd gradient."""
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load

    attrs = dict(blocksize=b) if mode is None else dict(blocksize=b, mode=mode)
    rng = np.random.default_rng(b)
    x = rng.standard_normal(shape)
    data64 = _model(op, shape, np.float64, opset, **attrs)
    graph = load(data64)
    (node,) = graph.walk()
    if layer is not None:
        assert type(node.module) is layer
    else:
        assert getattr(node.module, "onnx_op", None) == op
    xt = torch.tensor(x, requires_grad=True)
    want = _torch_spec(op, mode or "DCR", xt, b)
    np.testing.assert_array_equal(graph(x), want.detach().numpy())
    G = rng.standard_normal(want.shape)
    want.backward(torch.tensor(G))
    graph.train()
    graph(x)
    np.testing.assert_array_equal(graph.backward(G), xt.grad.numpy())
    data32 = _model(op, shape, np.float32, opset, **attrs)
    session = ort.InferenceSession(data32, providers=["CPUExecutionProvider"])
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(load(data32)(x32), session.run(None, {"x": x32})[0])


@pytest.mark.parametrize(
    "op, shape, opset, attrs, message",
    [
        ("DepthToSpace", (1, 8, 2, 2), 13, dict(), r"attribute 'blocksize' is required"),
        (
            "DepthToSpace",
            (1, 8, 2, 2),
            13,
            dict(blocksize=2, mode="RDC"),
            r"attribute 'mode': expected 'DCR' or 'CRD', got 'RDC'",
        ),
        (
            "DepthToSpace",
            (1, 8, 2, 2),
            13,
            dict(blocksize=0),
            r"attribute 'blocksize': expected values >= 1, got 0",
        ),
        (
            "DepthToSpace",
            (1, 8, 2, 2),
            13,
            dict(blocksize=3),
            r"input 'input': expected channels divisible by blocksize² = 9, got 8",
        ),
        (
            "SpaceToDepth",
            (1, 2, 4, 6),
            13,
            dict(blocksize=2, mode="CRD"),
            r"attribute 'mode' is not supported",  # SpaceToDepth-13 has no mode
        ),
        (
            "SpaceToDepth",
            (1, 2, 4, 6),
            13,
            dict(blocksize=4),
            r"input 'input': expected height and width divisible by blocksize = 4",
        ),
    ],
)
def test_onnx_blocks_refusals_name_node_and_attribute(op, shape, opset, attrs, message):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from cnnmath.onnx import load

    node = helper.make_node(op, ["x"], ["y"], name="blocks", **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    with pytest.raises(ValueError, match=rf"node 'blocks' \({op}\): {message}"):
        load(model.SerializeToString())


def test_onnx_blocks_of_a_3d_value_are_refused():
    from cnnmath.onnx import load

    with pytest.raises(
        ValueError, match=r"input 'input': expected rank 4 \(N, C, H, W\), got rank 3"
    ):
        load(_model("DepthToSpace", (8, 2, 2), blocksize=2, mode="CRD"))


# -- the tools that walk a model -------------------------------------------------------------


def test_unshuffle_field_is_its_block_and_matches_the_gradient_support():
    """PixelUnshuffle(r) is an r×r window of stride r for the receptive field: output pixel
    (h, w), over all its channels, reads input block (h·r…h·r + r − 1, w·r…). Checked against
    the support of one output pixel's gradient (positive weights: nothing cancels)."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=np.float64),
        nn.PixelUnshuffle(2),
        nn.Conv2d(8, 3, 3, rng=rng, dtype=np.float64),
        nn.PixelUnshuffle(2),
    )
    for p in model.parameters():
        p.data[...] = rng.uniform(0.5, 1.0, p.shape)
    fields = receptive_field(model, (1, 24, 24))
    # conv 3/p1: r 3, j 1, c 0; unshuffle 2: r 4, j 2, c 0.5; conv 3: r 8, j 2, c 2.5;
    # unshuffle 2: r 10, j 4, c 3.5
    assert [(f.size, f.jump, f.start) for f in fields[1:]] == [
        ((3, 3), (1, 1), (0, 0)),
        ((4, 4), (2, 2), (0.5, 0.5)),
        ((8, 8), (2, 2), (2.5, 2.5)),
        ((10, 10), (4, 4), (3.5, 3.5)),
    ]
    assert [f.shape for f in fields[1:]] == [(2, 24, 24), (8, 12, 12), (3, 10, 10), (12, 5, 5)]
    x = rng.uniform(0.5, 1.0, (1, 1, 24, 24))
    y = model(x)
    for i, j in [(1, 2), (3, 3), (4, 0)]:
        g = np.zeros_like(y)
        g[0, :, i, j] = 1.0
        model(x)
        hit = model.backward(g)[0, 0] != 0
        rows, cols = np.nonzero(hit.any(axis=1))[0], np.nonzero(hit.any(axis=0))[0]
        got = ((rows.min(), rows.max()), (cols.min(), cols.max()))
        want = tuple(fields.output.interval(k, a) for a, k in enumerate((i, j)))
        if all(0 <= lo and hi < 24 for lo, hi in want):
            assert got == want, (i, j)
        else:
            assert all(lo <= a and b <= hi for (a, b), (lo, hi) in zip(got, want)), (i, j)
    with pytest.raises(
        ValueError,
        match=r"node '1' \(PixelUnshuffle\(downscale_factor=2\)\) "
        r"expected a height and width divisible by 2, got 23×24",
    ):
        receptive_field(model, (1, 23, 24))


def test_shuffle_has_no_field_and_is_refused_by_tiling():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, dtype=np.float64), nn.PixelShuffle(2))
    with pytest.raises(ValueError, match=r"PixelShuffle upsamples \(a fractional jump\)"):
        receptive_field(model, (1, 8, 8))
    da = pytest.importorskip("dask.array")
    from cnnmath import tiled

    with pytest.raises(ValueError, match=r"PixelShuffle upsamples"):
        tiled.apply(model, da.zeros((1, 1, 8, 8), chunks=(1, 1, 4, 4)))


def test_unshuffle_tiles_exactly():
    """Tiles of a network with PixelUnshuffle start on its blocks: the tiled result is the
    whole image's."""
    import warnings

    da = pytest.importorskip("dask.array")
    from cnnmath import tiled

    rng = np.random.default_rng(1)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=rng, dtype=np.float64),
        nn.PixelUnshuffle(2),
        nn.Conv2d(8, 3, 3, padding=1, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.PixelUnshuffle(3),
        nn.Conv2d(27, 2, 3, rng=rng, dtype=np.float64),
    )
    x = rng.standard_normal((2, 1, 48, 60))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tiled.TiledRechunkWarning)
        y = tiled.apply(model, da.from_array(x, chunks=(1, 1, (13, 20, 15), (25, 35))))
    assert y.numblocks[2] > 1 and y.numblocks[3] > 1
    np.testing.assert_allclose(y.compute(scheduler="synchronous"), model(x), rtol=1e-12, atol=1e-12)


def test_espcn_summary_counts_equal_torchinfo():
    torchinfo = pytest.importorskip("torchinfo")
    theirs_model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 5, padding=2),
        torch.nn.Tanh(),
        torch.nn.Conv2d(16, 9, 3, padding=1),
        torch.nn.PixelShuffle(3),
    )
    ours_model = nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2),
        nn.Tanh(),
        nn.Conv2d(16, 9, 3, padding=1),
        nn.PixelShuffle(3),
    )
    theirs = torchinfo.summary(theirs_model, input_size=(2, 1, 8, 7), verbose=0)
    ours = summary(ours_model, (2, 1, 8, 7))
    assert ours.total_parameters == theirs.total_params
    assert ours.total_mult_adds == theirs.total_mult_adds
    assert [r.mult_adds for r in ours.rows] == [lay.macs for lay in theirs.summary_list[1:]]
    assert [list(r.output_shape) for r in ours.rows] == [
        lay.output_size for lay in theirs.summary_list[1:]
    ]
    assert ours.rows[-1].output_shape == (2, 1, 24, 21)
    # the receptive field of an upsampling layer is not known: empty columns, and why
    assert all(r.field is None for r in ours.rows) and "PixelShuffle" in ours.field_note
