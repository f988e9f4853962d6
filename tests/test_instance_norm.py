"""nn.InstanceNorm2d against torch.nn.InstanceNorm2d (forward, autograd, running statistics,
repr, state_dict), and a style-transfer network (reflection padding, instance norm, a
residual block, upsampling) through ONNX both ways, against PyTorch and onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn
from helpers import loads_as_onnxruntime, rel_error, torch_onnx_export, trains_as_torch

torch = pytest.importorskip("torch")

CONFIGS = [
    dict(affine=False, track_running_stats=False),
    dict(affine=True, track_running_stats=False),
    dict(affine=False, track_running_stats=True),
    dict(affine=True, track_running_stats=True, momentum=0.3),
    dict(affine=True, track_running_stats=True, momentum=None),
]


def _pair(dtype, C=3, **kwargs):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    theirs = torch.nn.InstanceNorm2d(C, **kwargs).to(tdt)
    ours = nn.InstanceNorm2d(C, dtype=dtype, **kwargs)
    g = torch.Generator().manual_seed(0)
    if theirs.affine:
        theirs.weight.data.copy_(0.5 + torch.rand(C, generator=g))
        theirs.bias.data.copy_(torch.randn(C, generator=g))
    if theirs.track_running_stats:
        theirs.running_mean.copy_(torch.randn(C, generator=g))
        theirs.running_var.copy_(0.5 + torch.rand(C, generator=g))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("config", range(len(CONFIGS)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (3, 6, 5)], ids=["batch", "one image"])
def test_instance_norm_is_torchs_in_training_and_evaluation(config, dtype, shape):
    kwargs = CONFIGS[config]
    ours, theirs = _pair(dtype, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    tol = 1e-5 if dtype == np.float32 else 1e-12
    rng = np.random.default_rng(config)
    for training in (True, True, False):  # two steps update the statistics, then evaluation
        ours.train(training)
        theirs.train(training)
        x = (3.0 + 2.0 * rng.standard_normal(shape)).astype(dtype)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        y = ours(x)
        assert y.dtype == dtype and y.shape == shape
        assert rel_error(y, yt.detach().numpy()) <= tol
        G = rng.standard_normal(shape).astype(dtype)
        ours.zero_grad()
        theirs.zero_grad()
        yt.backward(torch.from_numpy(G))
        assert rel_error(ours.backward(G), xt.grad.numpy()) <= tol
        for name, p in theirs.named_parameters():
            assert rel_error(getattr(ours, name).grad, p.grad.numpy()) <= tol, name
        for name, b in theirs.named_buffers():
            assert rel_error(getattr(ours, name), b.numpy()) <= tol, name


def test_instance_norm_refuses_bad_input_naming_it():
    with pytest.raises(ValueError, match=r"InstanceNorm2d.forward: x: expected 3 channels"):
        nn.InstanceNorm2d(3, affine=True)(np.zeros((1, 4, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"InstanceNorm2d.forward: x: expected shape"):
        nn.InstanceNorm2d(3)(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected more than one pixel per image"):
        nn.InstanceNorm2d(3, track_running_stats=True)(np.zeros((2, 3, 1, 1), np.float32))
    layer = nn.InstanceNorm2d(3)
    layer(np.zeros((3, 4, 4)))  # any dtype and C without parameters or buffers, as torch
    with pytest.raises(ValueError, match=r"InstanceNorm2d.backward: grad_output: expected"):
        layer.backward(np.zeros((1, 3, 4, 4)))


class _Residual(torch.nn.Module):
    def __init__(self, C):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.ReflectionPad2d(1),
            torch.nn.Conv2d(C, C, 3, bias=False),
            torch.nn.InstanceNorm2d(C, affine=True),
            torch.nn.ReLU(),
            torch.nn.ReflectionPad2d(1),
            torch.nn.Conv2d(C, C, 3, bias=False),
            torch.nn.InstanceNorm2d(C, affine=True),
        )

    def forward(self, x):
        return x + self.body(x)


def _style_net():
    """A small fast-style-transfer generator: reflection padding, instance norm, a residual
    block, nearest upsampling. (A bias before an instance norm has a zero gradient, which
    only rounding noise would compare: those convolutions have none.)"""
    return torch.nn.Sequential(
        torch.nn.ReflectionPad2d(4),
        torch.nn.Conv2d(3, 8, 9, bias=False),
        torch.nn.InstanceNorm2d(8, affine=True),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, padding_mode="reflect", bias=False),
        torch.nn.InstanceNorm2d(16),
        torch.nn.ReLU(),
        _Residual(16),
        torch.nn.ReLU(),  # (else the residual's last shift β is undone by the next norm)
        torch.nn.Upsample(scale_factor=2),
        torch.nn.ReflectionPad2d(1),
        torch.nn.Conv2d(16, 8, 3, bias=False),
        torch.nn.InstanceNorm2d(8, affine=True),
        torch.nn.ReLU(),
        torch.nn.ReflectionPad2d(4),
        torch.nn.Conv2d(8, 3, 9),
    )


def _export(model, x, opset):
    return torch_onnx_export(model, x, opset_version=opset)


@pytest.mark.parametrize("opset", [11, 17])
def test_a_style_transfer_network_loads_and_trains_as_torch(opset):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load

    torch.manual_seed(opset)
    model = _style_net().double()
    for m in model.modules():  # trained γ, β: not the identity
        if isinstance(m, torch.nn.InstanceNorm2d) and m.affine:
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0.0, 0.2)
    x = torch.randn(2, 3, 16, 20, dtype=torch.float64)
    graph = load(_export(model, x, opset))
    with torch.no_grad():
        assert rel_error(graph(x.numpy()), model(x).numpy()) <= 1e-12
    trains_as_torch(model, x, graph)
    loads_as_onnxruntime(model, x, opset_version=opset)


def test_instance_norm_saves_for_onnxruntime():
    """Without running statistics: InstanceNormalization; with them (evaluation): the batch
    norm of the running statistics. onnxruntime's outputs are cnnmath's."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import tempfile
    from pathlib import Path

    from cnnmath.onnx import load, save

    rng = np.random.default_rng(3)
    tracked = nn.InstanceNorm2d(4, affine=True, track_running_stats=True)
    tracked.running_mean[...] = rng.standard_normal(4)
    tracked.running_var[...] = 0.5 + rng.random(4)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, rng=0),
        nn.InstanceNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, rng=1),
        nn.InstanceNorm2d(4, affine=True),
        tracked,
    )
    net[4].weight.data[...] = 0.5 + rng.random(4)
    net[4].bias.data[...] = rng.standard_normal(4)
    net.eval()
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    want = net(x)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "instance.onnx"
        save(net, path, x)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert rel_error(session.run(None, {"x": x})[0], want) <= 1e-5
        assert rel_error(load(path)(x), want) <= 1e-5


def test_receptive_field_instance_norm_is_global_unless_it_runs_on_running_statistics():
    from cnnmath.receptive import layer_geometry

    assert layer_geometry(nn.InstanceNorm2d(3)).kind == "global"
    tracked = nn.InstanceNorm2d(3, track_running_stats=True)
    assert layer_geometry(tracked).kind == "global"  # training: the image's statistics
    tracked.eval()
    assert layer_geometry(tracked).kind == "pointwise"
