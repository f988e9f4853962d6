"""nn.InstanceNorm3d and the 3-D padding layers (ZeroPad3d, ConstantPad3d, ReflectionPad3d,
ReplicationPad3d, CircularPad3d) against torch.nn's: forward and autograd in float64 and
float32, batched and unbatched, training and evaluation with running statistics, reprs and
state_dicts, bad arguments; ONNX both ways (cnnmath's save run by onnxruntime and read back,
PyTorch's export read by cnnmath) and the summary / receptive-field handling of volumes."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn
from helpers import rel_error, run_onnxruntime, torch_onnx_export

torch = pytest.importorskip("torch")

TOL = {np.float32: 1e-5, np.float64: 1e-12}
NORM_CONFIGS = [
    {},
    {"affine": True},
    {"track_running_stats": True},
    {"affine": True, "track_running_stats": True, "momentum": 0.25},
    {"affine": True, "track_running_stats": True, "momentum": None, "eps": 1e-3},
]
PAD_CLASSES = ["ZeroPad3d", "ConstantPad3d", "ReflectionPad3d", "ReplicationPad3d", "CircularPad3d"]
PADDINGS = [1, (2, 0, 1, 3, 0, 2), (-1, 2, 0, -2, 1, 1)]


def _torch_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def _norms(dtype, C, config):
    """torch's InstanceNorm3d with random γ, β and running statistics, and cnnmath's built
    with the same arguments, loaded from torch's state_dict."""
    theirs = torch.nn.InstanceNorm3d(C, **config).to(_torch_dtype(dtype))
    gen = torch.Generator().manual_seed(C)
    for value in theirs.state_dict().values():
        if value.is_floating_point():  # weight, bias, running_mean, running_var
            value.copy_(0.5 + torch.rand(value.shape, generator=gen, dtype=value.dtype))
    ours = nn.InstanceNorm3d(C, dtype=dtype, **config)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _same_step(ours, theirs, x, G, tol):
    """One forward and backward of both on x, G: outputs, ∂ℓ/∂x, parameter gradients and
    buffers (after the step) compared by name."""
    theirs.zero_grad()
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(G))
    want = {"y": yt.detach(), "grad_x": xt.grad}
    want |= {f"{n}.grad": p.grad for n, p in theirs.named_parameters()}
    want |= dict(theirs.named_buffers())
    ours.zero_grad()
    got = {"y": ours(x), "grad_x": ours.backward(G)}
    got |= {f"{n}.grad": getattr(ours, n).grad for n, _ in theirs.named_parameters()}
    got |= {n: getattr(ours, n) for n, _ in theirs.named_buffers()}
    assert got["y"].shape == x.shape and got["y"].dtype == x.dtype
    assert list(got) == list(want)
    for name, value in want.items():
        assert rel_error(got[name], value.numpy()) <= tol, name


@pytest.mark.parametrize("config", range(len(NORM_CONFIGS)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(2, 3, 4, 3, 5), (3, 2, 4, 3)], ids=["batch", "one volume"])
def test_instance_norm3d_is_torchs_in_training_and_evaluation(config, dtype, shape):
    ours, theirs = _norms(dtype, 3, NORM_CONFIGS[config])
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(config)
    for training in (True, True, False):  # two steps update the statistics, then evaluation
        ours.train(training)
        theirs.train(training)
        x = (1.5 + 2.0 * rng.standard_normal(shape)).astype(dtype)
        G = rng.standard_normal(shape).astype(dtype)
        _same_step(ours, theirs, x, G, TOL[dtype])


def test_instance_norm3d_evaluation_with_running_statistics_differs_from_training():
    """With tracked statistics, evaluation normalises by the buffers (torch's and ours
    alike), not by the volume's own statistics; without them both modes agree."""
    x = np.random.default_rng(1).standard_normal((2, 3, 3, 4, 2)) * 3.0 + 1.0
    tracked = nn.InstanceNorm3d(3, track_running_stats=True, dtype=np.float64)
    trained = tracked(x)
    tracked.eval()
    assert rel_error(tracked(x), trained) > 0.1
    theirs = torch.nn.InstanceNorm3d(3, track_running_stats=True).double()
    theirs(torch.from_numpy(x))
    theirs.eval()
    assert rel_error(tracked(x), theirs(torch.from_numpy(x)).numpy()) <= 1e-12
    plain = nn.InstanceNorm3d(3, dtype=np.float64)
    y = plain(x)
    plain.eval()
    assert np.array_equal(plain(x), y)


@pytest.mark.filterwarnings("ignore:input's size at dim=1 does not match num_features")
def test_instance_norm3d_of_a_strided_view_and_any_channels_without_parameters():
    """A non-contiguous input (a transposed volume) gives torch's output and gradient; with
    neither γ nor buffers any channel count and dtype is taken, as torch."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 4, 3, 6)).transpose(0, 1, 4, 3, 2)
    G = rng.standard_normal(x.shape)
    ours, theirs = _norms(np.float64, 5, {"affine": True})
    _same_step(ours, theirs, x, G, 1e-12)
    loose = nn.InstanceNorm3d(3)  # float32 by default, fed 4 channels of float64
    want = torch.nn.InstanceNorm3d(3)(torch.from_numpy(x[:, :4].copy())).numpy()
    assert rel_error(loose(x[:, :4]), want) <= 1e-12


@pytest.mark.parametrize("name", PAD_CLASSES)
@pytest.mark.parametrize("padding", PADDINGS, ids=["int", "six", "crop"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5, 6), (3, 4, 5, 6)], ids=["batch", "one volume"])
def test_pad3d_is_torchs_forward_and_backward(name, padding, dtype, shape):
    args = (padding, 2.5) if name == "ConstantPad3d" else (padding,)
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict() == {} and list(theirs.state_dict()) == []
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    assert y.dtype == dtype and y.shape == tuple(yt.shape)
    assert np.array_equal(y, yt.detach().numpy())  # copies: exact
    G = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(G))
    assert rel_error(ours.backward(G), xt.grad.numpy()) <= TOL[dtype]


def test_reflection_pad3d_refuses_pads_torch_refuses():
    """Reflection needs each pad smaller than its axis: torch and cnnmath refuse the same
    pads (width 6 at pad 6, depth 4 at pad 4) and take the largest allowed."""
    x = np.zeros((1, 2, 4, 5, 6))
    for padding in [(6, 0, 0, 0, 0, 0), (0, 0, 0, 5, 0, 0), (0, 0, 0, 0, 0, 4)]:
        with pytest.raises(RuntimeError, match="Padding size should be less"):
            torch.nn.ReflectionPad3d(padding)(torch.from_numpy(x))
        with pytest.raises(ValueError, match=r"padding: reflect needs each pad smaller"):
            nn.ReflectionPad3d(padding)(x)
    assert nn.ReflectionPad3d((5, 5, 4, 4, 3, 3))(x).shape == (1, 2, 10, 13, 16)


@pytest.mark.parametrize(
    "build, x, error, match",
    [
        (lambda: nn.InstanceNorm3d(0), None, ValueError, r"InstanceNorm3d: num_features"),
        (lambda: nn.InstanceNorm3d(3, eps=-1.0), None, ValueError, r"InstanceNorm3d: eps"),
        (lambda: nn.InstanceNorm3d(3, momentum=2.0), None, ValueError, r"momentum: expected"),
        (lambda: nn.InstanceNorm3d(3, affine=1), None, TypeError, r"affine: expected a bool"),
        (
            lambda: nn.InstanceNorm3d(3, track_running_stats="yes"),
            None,
            TypeError,
            r"track_running_stats: expected a bool",
        ),
        (
            lambda: nn.InstanceNorm3d(3),
            np.zeros((2, 3, 4, 4), np.float32),  # 4-D: one volume of 2 channels, taken
            None,
            None,
        ),
        (
            lambda: nn.InstanceNorm3d(3),
            np.zeros((3, 4, 4), np.float32),
            ValueError,
            r"InstanceNorm3d.forward: x: expected shape \(N, C, D, H, W\) or \(C, D, H, W\), "
            r"got \(3, 4, 4\)",
        ),
        (
            lambda: nn.InstanceNorm3d(3, affine=True),
            np.zeros((1, 4, 2, 2, 2), np.float32),
            ValueError,
            r"InstanceNorm3d.forward: x: expected 3 channels \(num_features\), got shape "
            r"\(1, 4, 2, 2, 2\)",
        ),
        (
            lambda: nn.InstanceNorm3d(3, affine=True),
            np.zeros((1, 3, 2, 2, 2)),
            TypeError,
            r"InstanceNorm3d.forward: x: expected dtype float32 \(the layer's\), got float64",
        ),
        (
            lambda: nn.InstanceNorm3d(3, track_running_stats=True),
            np.zeros((2, 3, 1, 1, 1), np.float32),
            ValueError,
            r"InstanceNorm3d.forward: x: expected more than one pixel per image",
        ),
        (
            lambda: nn.InstanceNorm3d(3),
            np.zeros((1, 3, 2, 2, 2), np.int64),
            TypeError,
            r"InstanceNorm3d.forward: x: expected dtype float32 or float64, got int64",
        ),
        (
            lambda: nn.ZeroPad3d((1, 1, 1, 1)),
            None,
            ValueError,
            r"ZeroPad3d: padding: expected an int or six ints \(left, right, top, bottom, front, "
            r"back\), got \(1, 1, 1, 1\)",
        ),
        (lambda: nn.ReplicationPad3d(True), None, ValueError, r"ReplicationPad3d: padding"),
        (lambda: nn.ReflectionPad3d(1.5), None, ValueError, r"ReflectionPad3d: padding"),
        (lambda: nn.ConstantPad3d(1, "0"), None, TypeError, r"ConstantPad3d: value: expected"),
        (lambda: nn.Pad3d(1, mode="wrap"), None, ValueError, r"Pad3d: mode: expected one of"),
        (
            lambda: nn.CircularPad3d(1),
            np.zeros((3, 4, 4), np.float32),
            ValueError,
            r"CircularPad3d.forward: x: expected a volume \(C, D, H, W\) or a batch "
            r"\(N, C, D, H, W\), got \(3, 4, 4\)",
        ),
        (
            lambda: nn.ZeroPad3d(1),
            np.zeros((1, 2, 3, 4), np.int32),
            TypeError,
            r"ZeroPad3d.forward: x: expected dtype float32 or float64, got int32",
        ),
        (
            lambda: nn.ZeroPad3d((0, 0, 0, 0, -3, -2)),
            np.zeros((1, 2, 4, 4), np.float32),
            ValueError,
            r"padding: \(-3, -2\) crops more than axis 1 has \(2\)",
        ),
    ],
)
def test_bad_arguments_are_refused_naming_them(build, x, error, match):
    if x is None:
        with pytest.raises(error, match=match):
            build()
        return
    layer = build()
    if error is None:
        assert layer(x).shape == x.shape
        return
    with pytest.raises(error, match=match):
        layer(x)


def test_backward_refuses_a_gradient_of_another_shape():
    norm = nn.InstanceNorm3d(2, dtype=np.float64)
    norm(np.ones((1, 2, 2, 2, 3)))
    with pytest.raises(ValueError, match=r"InstanceNorm3d.backward: grad_output: expected"):
        norm.backward(np.ones((1, 2, 2, 3, 2)))
    pad = nn.ReplicationPad3d(1)
    pad(np.ones((1, 2, 2, 2, 3)))
    with pytest.raises(
        ValueError, match=r"grad_output: expected the padded shape \(1, 2, 4, 4, 5\)"
    ):
        pad.backward(np.ones((1, 2, 4, 5, 4)))


def _unet_block(rng):
    """nnU-Net's block with every 3-D pad and both instance norms: pads, Conv3d,
    InstanceNorm3d (γ, β), LeakyReLU, a tracked InstanceNorm3d (evaluation: its buffers)."""
    tracked = nn.InstanceNorm3d(4, affine=True, track_running_stats=True)
    tracked.running_mean[...] = rng.standard_normal(4)
    tracked.running_var[...] = 0.5 + rng.random(4)
    model = nn.Sequential(
        nn.ReflectionPad3d((1, 1, 1, 0, 1, 1)),
        nn.Conv3d(2, 4, 3, rng=0),
        nn.InstanceNorm3d(4, affine=True),
        nn.LeakyReLU(0.01),
        nn.ReplicationPad3d((1, 0, 2, 1, 0, 1)),
        nn.ConstantPad3d((0, 1, 1, 0, 1, 1), 2.5),
        nn.ZeroPad3d(1),
        nn.CircularPad3d((1, 1, 0, 1, 1, 0)),
        nn.Conv3d(4, 4, 1, rng=1),
        nn.InstanceNorm3d(4),
        tracked,
    )
    model[2].weight.data[...] = 0.5 + rng.random(4)
    model[2].bias.data[...] = rng.standard_normal(4)
    return model.eval()


def test_the_3d_layers_save_for_onnxruntime_and_load_back(tmp_path):
    """cnnmath.onnx.save writes Pad (constant with its value, reflect, edge, wrap) and
    InstanceNormalization (BatchNormalization for the tracked one): onnxruntime's output is
    cnnmath's, and cnnmath's load of the file gives it back."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    rng = np.random.default_rng(4)
    model = _unet_block(rng)
    x = rng.standard_normal((2, 2, 4, 5, 3)).astype(np.float32)
    want = model(x)
    path = tmp_path / "block.onnx"
    save(model, path, x, opset=19)  # (Pad's "wrap" arrived in opset 19)
    nodes = onnx.load(path).graph.node
    pads = [n for n in nodes if n.op_type == "Pad"]
    modes = [a.s.decode() for n in pads for a in n.attribute if a.name == "mode"]
    assert modes == ["reflect", "edge", "constant", "constant", "wrap"]
    assert [n.op_type for n in nodes].count("InstanceNormalization") == 2
    assert [n.op_type for n in nodes].count("BatchNormalization") == 1
    assert rel_error(run_onnxruntime(path.read_bytes(), {"x": x})[0], want) <= 1e-5
    graph = load(path)
    assert rel_error(graph(x), want) <= 1e-5
    kinds = [type(n.module).__name__ for n in graph.walk()]
    assert [k for k in kinds if k.endswith("Pad3d")] == [
        "ReflectionPad3d",
        "ReplicationPad3d",
        "CircularPad3d",
    ]  # (the constant borders stay ONNX's Pad op)
    G = rng.standard_normal(want.shape).astype(np.float32)
    model(x)
    assert rel_error(graph.backward(G), model.backward(G)) <= 1e-5
    x3 = rng.standard_normal((3, 2, 4, 5, 3)).astype(np.float32)  # the batch axis is symbolic
    assert rel_error(run_onnxruntime(path.read_bytes(), {"x": x3})[0], model(x3)) <= 1e-5


def test_circular_padding_of_a_volume_needs_opset_19(tmp_path):
    from cnnmath.onnx import save

    x = np.zeros((1, 1, 2, 2, 2), np.float32)
    with pytest.raises(ValueError, match=r"save: opset: circular padding .* needs opset 19"):
        save(nn.Sequential(nn.CircularPad3d(1)), tmp_path / "c.onnx", x, opset=17)
    assert not (tmp_path / "c.onnx").exists()


def _torch_unet_block():
    torch.manual_seed(5)
    model = torch.nn.Sequential(
        torch.nn.ReflectionPad3d(1),
        torch.nn.Conv3d(3, 4, 3),
        torch.nn.InstanceNorm3d(4, affine=True),
        torch.nn.LeakyReLU(0.01),
        torch.nn.ReplicationPad3d((1, 0, 2, 1, 0, 1)),
        torch.nn.CircularPad3d((1, 1, 0, 1, 1, 0)),
        torch.nn.ConstantPad3d((0, 1, 1, 0, 1, 1), 2.5),
        torch.nn.ZeroPad3d(1),
        torch.nn.Conv3d(4, 2, 1),  # (torch's exporter loses the channels of a Pad's output)
        torch.nn.InstanceNorm3d(2),
    )
    model[2].weight.data.uniform_(0.5, 1.5)
    model[2].bias.data.normal_(0.0, 0.3)
    return model


@pytest.mark.parametrize("opset", [11, 17])
def test_torchs_export_loads_and_agrees_with_onnxruntime_and_the_layers(opset):
    """PyTorch's own export (TorchScript, dynamo=False) of a block with InstanceNorm3d and
    every 3-D pad: cnnmath's load gives onnxruntime's output, and the same block of
    cnnmath's 3-D layers with torch's state_dict gives the same."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load

    model = _torch_unet_block()
    x = torch.randn(2, 3, 4, 5, 6)
    data = torch_onnx_export(model, x, opset_version=opset)
    witness = run_onnxruntime(data, {"x": x.numpy()})[0]
    assert rel_error(load(data)(x.numpy()), witness) <= 1e-5
    ours = nn.Sequential(
        nn.ReflectionPad3d(1),
        nn.Conv3d(3, 4, 3),
        nn.InstanceNorm3d(4, affine=True),
        nn.LeakyReLU(0.01),
        nn.ReplicationPad3d((1, 0, 2, 1, 0, 1)),
        nn.CircularPad3d((1, 1, 0, 1, 1, 0)),
        nn.ConstantPad3d((0, 1, 1, 0, 1, 1), 2.5),
        nn.ZeroPad3d(1),
        nn.Conv3d(4, 2, 1),
        nn.InstanceNorm3d(2),
    )
    ours.load_state_dict({k: v.numpy() for k, v in model.state_dict().items()})
    assert rel_error(ours(x.numpy()), witness) <= 1e-5


def test_summary_takes_a_volume_and_receptive_fields_and_tiling_refuse_it():
    """A model that opens with a 3-D pad takes (C, D, H, W) in the summary as one volume;
    receptive fields and tiling name the 3-D layer they cannot follow."""
    from cnnmath.receptive import layer_geometry
    from cnnmath.summary import summary

    model = nn.Sequential(nn.ReplicationPad3d(1), nn.Conv3d(2, 3, 3, rng=0), nn.InstanceNorm3d(3))
    s = summary(model, (2, 4, 5, 6))
    assert [r.output_shape for r in s.rows] == [(1, 2, 6, 7, 8), (1, 3, 4, 5, 6), (1, 3, 4, 5, 6)]
    assert "not volumes" in s.field_note
    for layer in (nn.ZeroPad3d(1), nn.InstanceNorm3d(3), nn.CircularPad3d(2)):
        with pytest.raises(ValueError, match=r"works on volumes \(N, C, D, H, W\)"):
            layer_geometry(layer)
    da = pytest.importorskip("dask.array")
    from cnnmath import tiled

    x = da.from_array(np.zeros((1, 2, 5, 6), np.float32))  # (as an image: 4-D)
    with pytest.raises(ValueError, match=r"ReplicationPad3d works on volumes"):
        tiled.apply(model, x)
