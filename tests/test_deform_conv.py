"""Deformable convolution (``ops.deform_conv2d``, ``nn.DeformConv2d``, ONNX DeformConv)
against onnxruntime's DeformConv, against ``conv2d`` where the offsets make it one (zero
offsets; whole-pixel offsets shift the image), torchvision's layer repr, and finite
differences through a graph that computes its offsets and mask from its input. The op
record (tests/records/deform_conv.py) adds the literal loops."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, ops
from cnnmath.gradcheck import check_gradients
from helpers import rel_error

# (C_in, C_out, groups, offset groups, kernel, stride, padding, dilation, H, W)
GEOMETRIES = [
    (2, 3, 1, 1, 3, 1, 0, 1, 5, 5),
    (4, 6, 2, 2, 3, 2, 1, 1, 7, 6),
    (4, 4, 1, 4, 2, 1, 1, 2, 6, 6),
    (3, 6, 3, 1, (3, 2), 1, 1, 1, 5, 4),
]


def _arrays(geometry, rng, dtype=np.float64, scale=2.0):
    C, O, groups, G, k, s, p, d, H, W = geometry
    kh, kw = k if isinstance(k, tuple) else (k, k)
    Ho, Wo = (H + 2 * p - d * (kh - 1) - 1) // s + 1, (W + 2 * p - d * (kw - 1) - 1) // s + 1
    x = rng.standard_normal((2, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C // groups, kh, kw)).astype(dtype)
    offset = (scale * rng.standard_normal((2, G * 2 * kh * kw, Ho, Wo))).astype(dtype)
    mask = rng.uniform(0, 1, (2, G * kh * kw, Ho, Wo)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    return x, offset, w, b, mask, dict(stride=s, padding=p, dilation=d)


def _onnxruntime(x, offset, w, b, mask, geometry, opts):
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    groups, G = geometry[2], geometry[3]
    s, p, d = opts["stride"], opts["padding"], opts["dilation"]
    node = helper.make_node(
        "DeformConv",
        ["X", "W", "offset", "B", "mask"],
        ["Y"],
        kernel_shape=list(w.shape[2:]),
        strides=[s, s],
        pads=[p] * 4,
        dilations=[d, d],
        group=groups,
        offset_group=G,
    )
    feeds = {"X": x, "W": w, "offset": offset, "B": b, "mask": mask}
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in feeds],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_agrees_with_onnxruntime(geometry):
    """Offsets of a few pixels (points between pixels, near and past the edges), a mask,
    grouped filters and several offset groups: onnxruntime's DeformConv, float32."""
    x, offset, w, b, mask, opts = _arrays(geometry, np.random.default_rng(0), np.float32)
    got = ops.deform_conv2d(x, offset, w, b, mask=mask, **opts)
    want = _onnxruntime(x, offset, w, b, mask, geometry, opts)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert rel_error(got, want) <= 1e-6


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_zero_offsets_and_whole_pixel_shifts_are_conv2d(geometry):
    """With zero offsets and no mask it is conv2d (groups included); with every offset the
    whole pixels (Δy, Δx) = (1, −2) it is conv2d of the image moved by them, zeros coming
    in at the edges — the offsets move where each tap reads."""
    x, offset, w, b, _, opts = _arrays(geometry, np.random.default_rng(1))
    groups = geometry[2]
    zero = np.zeros_like(offset)
    want = ops.conv2d(x, w, b, groups=groups, **opts)
    assert rel_error(ops.deform_conv2d(x, zero, w, b, **opts), want) <= 1e-14
    shift = zero.copy()
    shift[:, 0::2], shift[:, 1::2] = 1.0, -2.0
    p = opts["padding"]  # the zeros made explicit: a moved tap may read a real pixel there
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    moved = np.zeros_like(x)  # moved[u, v] = x[u + 1, v − 2]
    moved[:, :, :-1, 2:] = x[:, :, 1:, :-2]
    unpadded = {**opts, "padding": 0}
    want = ops.conv2d(moved, w, b, groups=groups, **unpadded)
    assert rel_error(ops.deform_conv2d(x, shift, w, b, **unpadded), want) <= 1e-14


@pytest.mark.parametrize("geometry", GEOMETRIES[:3], ids=str)
def test_all_five_gradients_against_finite_differences(geometry):
    x, offset, w, b, mask, opts = _arrays(geometry, np.random.default_rng(2), scale=1.5)

    def forward(x, offset, w, b, mask):
        return ops.deform_conv2d(x, offset, w, b, mask=mask, **opts)

    def backward(g, x, offset, w, b, mask):
        return ops.deform_conv2d_backward(g, x, offset, w, mask=mask, **opts)

    assert max(check_gradients(forward, backward, [x, offset, w, b, mask])) <= 1e-8


def test_points_at_and_past_the_edge_read_zero_and_pass_no_gradient():
    """A tap moved to row −1 or beyond the last row reads 0 and its offset gets no
    gradient (torchvision's rule); one just inside reads its bilinear mix."""
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 1, 1))
    offset = np.zeros((1, 2, 3, 3))
    offset[0, 0, 0, 0] = -1.0  # row 0 moved to −1
    offset[0, 0, 2, 2] = 0.5  # row 2 moved to 2.5: past the last row's centre
    offset[0, 0, 1, 1] = -0.25  # inside: between rows 0 and 1
    y = ops.deform_conv2d(x, offset, w)
    assert y[0, 0, 0, 0] == 0.0
    assert y[0, 0, 2, 2] == pytest.approx(0.5 * x[0, 0, 2, 2])  # half of the last row, half 0
    assert y[0, 0, 1, 1] == pytest.approx(0.25 * x[0, 0, 0, 1] + 0.75 * x[0, 0, 1, 1])
    _, g_offset, *_ = ops.deform_conv2d_backward(np.ones_like(y), x, offset, w)
    assert g_offset[0, :, 0, 0].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((2, 3, 3), {}),
        ((4, 6, (3, 2)), dict(stride=2, padding=1, dilation=2, groups=2, bias=False)),
        ((3, 3, 1), dict(padding=(1, 0))),
    ],
)
def test_layer_repr_keys_and_initialisation_are_torchvisions(args, kwargs):
    from torchvision_helper import import_torchvision

    theirs = import_torchvision().ops.DeformConv2d(*args, **kwargs)
    ours = nn.DeformConv2d(*args, **kwargs, rng=0)
    assert repr(ours) == repr(theirs)
    want = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == want
    bound = 1 / np.sqrt(np.prod(ours.weight.shape[1:]))  # U(±1/√fan_in), Conv2d's law
    assert np.abs(ours.weight.data).max() <= bound
    assert np.abs(ours.weight.data).max() > 0.8 * bound


def _deformable_block(dtype=np.float64):
    """x → offsets = Conv2d(x), mask = σ(Conv2d(x)) → DeformConv2d(x, offsets, mask), as a
    deformable ConvNet (v2) block computes its own sampling points."""
    g = nn.Graph(inputs=["x"])
    offsets = g.add(nn.Conv2d(3, 2 * 9, 3, padding=1, rng=1, dtype=dtype), "x", name="offsets")
    logits = g.add(nn.Conv2d(3, 9, 3, padding=1, rng=2, dtype=dtype), "x", name="mask_logits")
    mask = g.add(nn.Sigmoid(), logits, name="mask")
    deform = nn.DeformConv2d(3, 4, 3, padding=1, rng=3, dtype=dtype)
    g.set_output(g.add(deform, "x", offsets, mask, name="deform"))
    return g


def test_a_block_that_computes_its_offsets_trains():
    """The gradient reaches x through the samples, the offsets and the mask together
    (finite differences), and every parameter receives one."""
    block = _deformable_block()
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 5))

    def forward(x):
        return block(x)

    def backward(g, x):
        block.zero_grad()
        block(x)
        return block.backward(g)

    assert check_gradients(forward, backward, [x])[0] <= 1e-7
    assert all(np.any(p.grad) for p in block.parameters())


def test_onnx_round_trip_through_onnxruntime(tmp_path):
    """The block saved (DeformConv at opset 19) runs in onnxruntime as in cnnmath, and loads
    back with an nn.DeformConv2d node whose output and gradients are the block's; below
    opset 19 saving is refused, naming the op."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    block = _deformable_block(np.float32)
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 5)).astype(np.float32)
    save(block, tmp_path / "d.onnx", x, opset=19)
    session = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    assert rel_error(session.run(None, {name: x})[0], block(x)) <= 1e-5
    loaded = load(tmp_path / "d.onnx")
    assert any(isinstance(n.module, nn.DeformConv2d) for n in loaded.walk())
    assert rel_error(loaded(x), block(x)) <= 1e-6
    block64 = _deformable_block()
    save(block64, tmp_path / "d64.onnx", x.astype(np.float64), opset=19)
    loaded64, x64 = load(tmp_path / "d64.onnx"), x.astype(np.float64)
    G = np.random.default_rng(6).standard_normal(block64(x64).shape)
    loaded64(x64)
    assert rel_error(loaded64.backward(G), block64.backward(G)) <= 1e-12
    with pytest.raises(ValueError, match=r"DeformConv2d \(node 'deform'\) needs opset 19"):
        save(block, tmp_path / "old.onnx", x, opset=17)
    assert not (tmp_path / "old.onnx").exists()


def test_onnx_offset_group_that_contradicts_the_offsets_is_refused():
    """offset_group=1 with 36 offset channels for a 3×3 kernel (two groups' worth): refused
    at load when the offset's shape is known, when the graph runs when it is not (as
    onnxruntime refuses it), instead of inferring two groups from the offsets."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from cnnmath.onnx import load

    w = np.ones((4, 2, 3, 3), np.float32)
    node = helper.make_node("DeformConv", ["X", "W", "offset"], ["Y"], name="d", offset_group=1)
    message = r"node 'd' \(DeformConv\): attribute 'offset_group': 1 groups of 9 taps need 18"
    for offset_shape in ([1, 36, 3, 3], None):
        graph = helper.make_graph(
            [node],
            "g",
            [
                helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2, 5, 5]),
                helper.make_tensor_value_info("offset", TensorProto.FLOAT, offset_shape),
            ],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
            [numpy_helper.from_array(w, "W")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
        with pytest.raises(ValueError, match=message):
            load(model.SerializeToString())(
                np.zeros((1, 2, 5, 5), np.float32), np.zeros((1, 36, 3, 3), np.float32)
            )
