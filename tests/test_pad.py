"""Padding: ops.pad2d's modes, the padding layers, Conv2d's padding_mode, and their ONNX forms,
against PyTorch (F.pad, the layers, autograd), NumPy's np.pad, onnxruntime and ONNX's own
node tests (tests/test_onnx_backend.py). The literal-loop oracle and the generic checks are
in the op records (tests/records/pad.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, ops
from cnnmath.ops.pad import pad_axes, pad_axes_backward
from helpers import loads_as_onnxruntime, rel_error, torch_onnx_export, trains_as_torch

torch = pytest.importorskip("torch")
F = torch.nn.functional

MODES = ("constant", "reflect", "replicate", "circular")


def _torch_allows(mode, padding, H, W):
    """Where PyTorch's F.pad is defined: reflection shorter than the side, circular padding
    wrapping at most once what the crop keeps, no side cropped past the image."""
    for (before, after), n in (((padding[0], padding[1]), W), ((padding[2], padding[3]), H)):
        kept = n - max(0, -before) - max(0, -after)
        if kept < 1:
            return False
        if mode == "reflect" and max(before, after) >= n:
            return False
        if mode == "circular" and max(before, after) > kept:
            return False
    return True


@pytest.mark.parametrize("mode", MODES)
def test_pad2d_is_torch_pad_on_a_sweep_of_borders_and_crops(mode):
    """Every border from −3 to 5 cells on each side of 1×1 to 8×8 images: the same values as
    F.pad and the same gradient as its autograd, bit for bit (float64)."""
    rng = np.random.default_rng(MODES.index(mode))
    checked = 0
    for _ in range(300):
        H, W = (int(v) for v in rng.integers(1, 9, 2))
        padding = tuple(int(v) for v in rng.integers(-3, 6, 4))
        if not _torch_allows(mode, padding, H, W):
            continue
        x = rng.standard_normal((2, 3, H, W))
        xt = torch.tensor(x, requires_grad=True)
        kwargs = {"value": 0.25} if mode == "constant" else {}
        yt = F.pad(xt, padding, mode=mode, **kwargs)
        y = ops.pad2d(x, padding, mode, **kwargs)
        np.testing.assert_array_equal(y, yt.detach().numpy(), err_msg=f"{padding} on {H}x{W}")
        g = rng.standard_normal(y.shape)
        yt.backward(torch.from_numpy(g))
        gx = ops.pad2d_backward(g, x, padding, mode)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-14, atol=1e-14)
        checked += 1
    assert checked > 50


@pytest.mark.parametrize(
    ("mode", "numpy_mode"), [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")]
)
def test_pad_axes_is_numpy_pad_including_circular_wrapping_several_times(mode, numpy_mode):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 5))
    widths = [(2, 1), (0, 3)] if mode == "reflect" else [(7, 2), (4, 9)]
    y = pad_axes(x, widths, axes=[0, 2], mode=mode)
    np.testing.assert_array_equal(y, np.pad(x, [widths[0], (0, 0), widths[1]], mode=numpy_mode))
    # integers too (ONNX pads integer tensors)
    xi = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(
        pad_axes(xi, [(1, 2)], axes=[-1], mode=mode), np.pad(xi, [(0, 0), (1, 2)], mode=numpy_mode)
    )


def test_pad_axes_backward_is_the_adjoint():
    """⟨pad(x), G⟩ = ⟨x, pad_backward(G)⟩ for every mode: the backward is the transpose."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 5, 6))
    for mode in MODES:
        widths = [(1, -2), (4, 3)] if mode != "reflect" else [(1, -2), (4, 5)]
        y = pad_axes(x, widths, axes=[1, 2], mode=mode)
        G = rng.standard_normal(y.shape)
        gx = pad_axes_backward(G, x, widths, axes=[1, 2], mode=mode)
        assert abs(np.vdot(y, G) - np.vdot(x, gx)) <= 1e-12 * np.abs(y).sum() * np.abs(G).max()


def _layers():
    pairs = [
        (nn.ZeroPad2d((1, 2, 0, 3)), torch.nn.ZeroPad2d((1, 2, 0, 3))),
        (nn.ConstantPad2d(2, -1.5), torch.nn.ConstantPad2d(2, -1.5)),
        (nn.ConstantPad2d(1, 3), torch.nn.ConstantPad2d(1, 3)),  # repr: value=3, as given
        (nn.ReflectionPad2d((2, 1, 3, 0)), torch.nn.ReflectionPad2d((2, 1, 3, 0))),
        (nn.ReplicationPad2d(3), torch.nn.ReplicationPad2d(3)),
        (nn.CircularPad2d((1, 3, 2, 2)), torch.nn.CircularPad2d((1, 3, 2, 2))),
        (nn.ReplicationPad2d((-1, 2, 1, -2)), torch.nn.ReplicationPad2d((-1, 2, 1, -2))),
    ]
    return pairs


@pytest.mark.parametrize("index", range(7))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_padding_layers_are_torchs(index, dtype):
    ours, theirs = _layers()[index]
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(index)
    for shape in ((2, 3, 5, 4), (3, 5, 4)):  # a batch and one image
        x = rng.standard_normal(shape).astype(dtype)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        y = ours(x)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, yt.detach().numpy())
        G = rng.standard_normal(y.shape).astype(dtype)
        yt.backward(torch.from_numpy(G))
        np.testing.assert_allclose(ours.backward(G), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_padding_layers_refuse_bad_arguments_naming_them():
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding: expected an int or four"):
        nn.ReflectionPad2d((1, 2))
    with pytest.raises(TypeError, match=r"ConstantPad2d: value: expected a real number"):
        nn.ConstantPad2d(1, "0")
    with pytest.raises(ValueError, match=r"ZeroPad2d.forward: x: expected an image \(C, H, W\)"):
        nn.ZeroPad2d(1)(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"pad2d: padding: reflect needs each pad smaller"):
        nn.ReflectionPad2d(3)(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"Conv2d: padding_mode: expected one of zeros, "):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")


def _conv_pair(mode, dtype, **kwargs):
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(padding_mode=mode, **kwargs).to(
        torch.float64 if dtype == np.float64 else torch.float32
    )
    ours = nn.Conv2d(padding_mode=mode, dtype=dtype, **kwargs)
    ours.weight.data[...] = theirs.weight.detach().numpy()
    if ours.bias is not None:
        ours.bias.data[...] = theirs.bias.detach().numpy()
    return ours, theirs


CONVS = [
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1),
    dict(in_channels=2, out_channels=4, kernel_size=(3, 5), padding=(2, 1), stride=2),
    dict(in_channels=4, out_channels=4, kernel_size=4, padding="same", dilation=(1, 2), bias=False),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=2, groups=2, dilation=2),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("index", range(len(CONVS)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_padding_mode_is_torchs(mode, index, dtype):
    """Forward and all three gradients of Conv2d(padding_mode=...) equal torch.nn.Conv2d's,
    "same" with an even kernel (the extra cell after) included."""
    kwargs = CONVS[index]
    ours, theirs = _conv_pair(mode, dtype, **kwargs)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(index)
    x = rng.standard_normal((2, kwargs["in_channels"], 7, 8)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert y.shape == tuple(yt.shape) and y.dtype == dtype
    assert rel_error(y, yt.detach().numpy()) <= tol
    G = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(G))
    assert rel_error(ours.backward(G), xt.grad.numpy()) <= tol
    assert rel_error(ours.weight.grad, theirs.weight.grad.numpy()) <= tol
    if ours.bias is not None:
        assert rel_error(ours.bias.grad, theirs.bias.grad.numpy()) <= tol


def test_a_first_layer_with_a_padding_mode_trains_as_torchs():
    """The first layer of a network takes no input gradient (backward_params_ctx): its
    weight gradient under a padding_mode must still come through the padded image."""
    ours, theirs = _conv_pair(
        "reflect", np.float64, in_channels=1, out_channels=2, kernel_size=3, padding=1
    )
    net = nn.Sequential(ours, nn.ReLU())
    x = np.random.default_rng(3).standard_normal((2, 1, 6, 6))
    y = net(x)
    G = np.ones_like(y)
    assert net.backward(G, input_grad=False) is None
    torch.relu(theirs(torch.from_numpy(x))).sum().backward()
    assert rel_error(ours.weight.grad, theirs.weight.grad.numpy()) <= 1e-12


class _Bordered(torch.nn.Module):
    """Every padding layer and padding_mode, the way a style-transfer or U-Net port pads."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.ReflectionPad2d((1, 2, 3, 1)),
            torch.nn.Conv2d(3, 4, 3),
            torch.nn.ReplicationPad2d(1),
            torch.nn.ZeroPad2d((1, 0, 2, 0)),
            torch.nn.ConstantPad2d(1, 0.5),
            torch.nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"),
            torch.nn.Tanh(),
            torch.nn.Conv2d(4, 4, 3, padding=(2, 1), padding_mode="replicate"),
            torch.nn.Conv2d(4, 2, 3, padding=1, padding_mode="circular"),
            torch.nn.CircularPad2d((2, 1, 1, 1)),
        )

    def forward(self, x):
        return self.body(x)


def _export(model, x, opset):
    return torch_onnx_export(model, x, opset_version=opset)


@pytest.mark.parametrize("opset", [11, 13, 17, 19])
def test_torch_exports_of_every_border_load_and_train_as_torch(opset):
    """PyTorch's exports (Pad with reflect and edge; circular as Slices and Concats) load,
    agree with PyTorch (float64) and onnxruntime (float32), and give PyTorch's gradients."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load

    torch.manual_seed(opset)
    model = _Bordered().double()
    x = torch.randn(2, 3, 8, 9, dtype=torch.float64)
    data = _export(model, x, opset)
    graph = load(data)
    kinds = {type(m).__name__ for m in graph.modules()}
    assert {"ReflectionPad2d", "ReplicationPad2d"} <= kinds
    with torch.no_grad():
        want = model(x).numpy()
    assert rel_error(graph(x.numpy()), want) <= 1e-13
    loads_as_onnxruntime(model, x, opset_version=opset)
    trains_as_torch(model, x, graph)


def _pad_model(x_shape, pads, mode, axes=None):
    from onnx import TensorProto, helper

    inputs = ["x", "pads"] + (["", "axes"] if axes is not None else [])
    inits = [helper.make_tensor("pads", TensorProto.INT64, [len(pads)], pads)]
    if axes is not None:
        inits.append(helper.make_tensor("axes", TensorProto.INT64, [len(axes)], axes))
    graph = helper.make_graph(
        [helper.make_node("Pad", inputs, ["y"], mode=mode)],
        "pad",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    return model.SerializeToString()


@pytest.mark.parametrize(
    ("mode", "pads", "axes"),
    [
        ("reflect", [0, 1, 2, 0, 0, 2, 1, 0], None),  # channels and rows of (N, C, H, W)
        ("edge", [1, -1, 0, 3, 2, 0], None),  # a rank-3 value, a crop
        ("wrap", [1, 5, 0, 7], [1, -1]),  # axes given; wrapping more than once
        ("reflect", [0, 0, 1, 2, 0, 0, 2, 1], None),  # H and W only: the layer
    ],
)
def test_onnx_pad_modes_agree_with_onnxruntime(mode, pads, axes):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load

    shape = [2, 3, 4, 5] if len(pads) == 8 or axes is not None else [3, 4, 5]
    data = _pad_model(shape, pads, mode, axes)
    x = np.random.default_rng(len(pads)).standard_normal(shape)
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    graph = load(data)
    got = graph(x)
    np.testing.assert_array_equal(got, want)
    layer = pads[:2] == [0, 0] and pads[4:6] == [0, 0] and len(pads) == 8 and axes is None
    assert any(isinstance(m, nn.ReflectionPad2d) for m in graph.modules()) == layer
    G = np.random.default_rng(1).standard_normal(got.shape)
    graph.zero_grad()
    gx = graph.backward(G)
    assert abs(np.vdot(got, G) - np.vdot(x, gx)) <= 1e-12 * np.abs(got).sum() * np.abs(G).max()


def test_an_onnx_border_too_large_for_memory_is_refused_naming_padding():
    pytest.importorskip("onnx")
    from cnnmath.onnx import load

    x = np.zeros((1, 1, 4, 4))
    for pads, axes in (([0, 0, 10**12, 0, 0, 0, 0, 0], None), ([0, 10**12], [1])):
        graph = load(_pad_model([1, 1, 4, 4], pads, "edge", axes))
        with pytest.raises(ValueError, match=r"(padding|\(Pad\)): .* more than this machine's"):
            graph(x)


def test_save_writes_borders_onnxruntime_reads_back():
    """Every padding layer and padding_mode saved: onnxruntime's output is cnnmath's; the
    file loads back into the same numbers. Circular padding needs opset 19 ("wrap"): at 17
    the refusal names the opset and no file is left."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import tempfile
    from pathlib import Path

    from cnnmath.onnx import load, save

    rng = np.random.default_rng(5)
    net = nn.Sequential(
        nn.ReflectionPad2d((1, 2, 3, 1)),
        nn.Conv2d(3, 4, 3, rng=0),
        nn.ReplicationPad2d(1),
        nn.ConstantPad2d((1, 0, 2, 0), -0.5),
        nn.ZeroPad2d(1),
        nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect", rng=1),
        nn.Conv2d(4, 4, 4, padding="same", padding_mode="replicate", rng=2),
        nn.Conv2d(4, 2, 3, padding=(2, 1), padding_mode="circular", rng=3),
        nn.CircularPad2d((2, 1, 1, 1)),
    )
    x = rng.standard_normal((2, 3, 8, 9)).astype(np.float32)
    want = net(x)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bordered.onnx"
        with pytest.raises(ValueError, match=r"save: opset: circular padding .* needs opset 19"):
            save(net, path, x, opset=17)
        assert not path.exists()
        save(net, path, x, opset=19)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert rel_error(session.run(None, {"x": x})[0], want) <= 1e-6
        assert rel_error(load(path)(x), want) <= 1e-6


def test_receptive_field_of_a_padding_layer_is_a_padded_window():
    """ZeroPad2d then a valid convolution has the field of the convolution padded itself."""
    from cnnmath.receptive import receptive_field

    padded = nn.Sequential(nn.ReflectionPad2d((1, 1, 2, 2)), nn.Conv2d(1, 1, (5, 3)))
    direct = nn.Sequential(nn.Conv2d(1, 1, (5, 3), padding=(2, 1)))
    a = receptive_field(padded, (1, 1, 9, 7))[-1]
    b = receptive_field(direct, (1, 1, 9, 7))[-1]
    assert (a.shape, a.size, a.jump, a.start) == (b.shape, b.size, b.jump, b.start)
    with pytest.raises(ValueError, match=r"ZeroPad2d crops"):
        receptive_field(nn.Sequential(nn.ZeroPad2d((-1, 0, 0, 0))), (1, 1, 4, 4))


def test_tiled_runs_constant_borders_and_refuses_the_image_s_own():
    pytest.importorskip("dask")
    import dask.array as da

    from cnnmath import tiled

    rng = np.random.default_rng(6)
    net = nn.Sequential(nn.ZeroPad2d((2, 1, 0, 3)), nn.Conv2d(1, 2, 3, rng=0), nn.ReLU())
    net.eval()
    x = rng.standard_normal((1, 1, 40, 36)).astype(np.float32)
    got = tiled.apply(net, da.from_array(x, chunks=(1, 1, 16, 12))).compute()
    np.testing.assert_allclose(got, net(x), rtol=1e-6, atol=1e-6)
    for layer in (nn.ReflectionPad2d(1), nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular")):
        with pytest.raises(ValueError, match=r"pads with the image's own pixels"):
            tiled.apply(nn.Sequential(layer), da.from_array(x, chunks=(1, 1, 16, 12)))


def test_pad_axes_refuses_bad_input_naming_it():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"pad_axes: widths: expected one \(before, after\) pair"):
        pad_axes(x, [(1, 1)], axes=[0, 1])
    with pytest.raises(ValueError, match=r"pad_axes: axes: expected axes of x \(ndim 2\), got 2"):
        pad_axes(x, [(1, 1)], axes=[2])
    with pytest.raises(ValueError, match=r"pad_axes: axes: expected distinct axes"):
        pad_axes(x, [(1, 1), (0, 1)], axes=[1, -1])
    with pytest.raises(TypeError, match=r"pad_axes: x: expected an integer or float array"):
        pad_axes(np.zeros(3, bool), [(1, 1)], axes=[0])
    with pytest.raises(ValueError, match=r"pad_axes: mode: expected one of"):
        pad_axes(x, [(1, 1)], axes=[0], mode="edge")
    with pytest.raises(ValueError, match=r"pad_axes_backward: grad_output: expected the padded"):
        pad_axes_backward(np.zeros((2, 3)), x, [(1, 1)], axes=[0])
