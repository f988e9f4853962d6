"""The 1-D layers (Conv1d, MaxPool1d, AvgPool1d, AdaptiveAvgPool1d, AdaptiveMaxPool1d)
against PyTorch's (repr, state_dict, forward, autograd), a 1-D CNN through ONNX both ways
(PyTorch's export loaded and trained; save read by onnxruntime), and the tools that walk a
model (summary runs it; receptive fields and tiling refuse signals, naming the layer)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from cnnmath import nn
from helpers import loads_as_onnxruntime, rel_error, torch_onnx_export, trains_as_torch

torch = pytest.importorskip("torch")

CONVS = [
    dict(in_channels=3, out_channels=4, kernel_size=5, padding=2),
    dict(in_channels=2, out_channels=6, kernel_size=3, stride=2, dilation=2, groups=2),
    dict(in_channels=4, out_channels=4, kernel_size=4, padding="same", bias=False),
    dict(in_channels=4, out_channels=2, kernel_size=3, padding="valid"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="reflect"),
    dict(in_channels=3, out_channels=4, kernel_size=4, padding="same", padding_mode="circular"),
    dict(
        in_channels=3, out_channels=3, kernel_size=3, stride=2, padding=2, padding_mode="replicate"
    ),
]


def _torch_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


@pytest.mark.parametrize("index", range(len(CONVS)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one signal"])
def test_conv1d_is_torchs(index, dtype, batched):
    kwargs = CONVS[index]
    torch.manual_seed(index)
    theirs = torch.nn.Conv1d(**kwargs).to(_torch_dtype(dtype))
    ours = nn.Conv1d(**kwargs, dtype=dtype)
    assert repr(ours) == repr(theirs)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in state.items()
    }
    ours.load_state_dict(state)
    rng = np.random.default_rng(index)
    shape = (2, kwargs["in_channels"], 17) if batched else (kwargs["in_channels"], 17)
    x = rng.standard_normal(shape).astype(dtype)
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


POOLS = [
    (lambda: nn.MaxPool1d(2), lambda: torch.nn.MaxPool1d(2)),
    (
        lambda: nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True),
        lambda: torch.nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True),
    ),
    (lambda: nn.AvgPool1d(3), lambda: torch.nn.AvgPool1d(3)),
    (
        lambda: nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        lambda: torch.nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
    ),
    (lambda: nn.AdaptiveAvgPool1d(1), lambda: torch.nn.AdaptiveAvgPool1d(1)),
    (lambda: nn.AdaptiveAvgPool1d(5), lambda: torch.nn.AdaptiveAvgPool1d(5)),
    (lambda: nn.AdaptiveMaxPool1d(4), lambda: torch.nn.AdaptiveMaxPool1d(4)),
]


@pytest.mark.parametrize("index", range(len(POOLS)))
@pytest.mark.parametrize("batched", [True, False], ids=["batch", "one signal"])
def test_pools1d_are_torchs(index, batched):
    ours, theirs = POOLS[index][0](), POOLS[index][1]()
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(index)
    x = rng.standard_normal((2, 3, 17) if batched else (3, 17))
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    y = ours(x)
    assert y.shape == tuple(yt.shape)
    assert rel_error(y, yt.detach().numpy()) <= 1e-14
    G = rng.standard_normal(y.shape)
    yt.backward(torch.from_numpy(G))
    assert rel_error(ours.backward(G), xt.grad.numpy()) <= 1e-14


def test_1d_layers_refuse_bad_arguments_naming_them():
    with pytest.raises(ValueError, match=r"Conv1d: kernel_size: expected an int >= 1"):
        nn.Conv1d(1, 1, (3, 3))
    with pytest.raises(ValueError, match=r"Conv1d: padding: 'same' needs stride 1"):
        nn.Conv1d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"Conv1d.forward: x: expected shape \(N, C, L\)"):
        nn.Conv1d(1, 1, 3)(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"Conv1d.forward: x: expected 2 channels"):
        nn.Conv1d(2, 1, 3)(np.zeros((1, 3, 8), np.float32))
    with pytest.raises(ValueError, match=r"MaxPool1d: padding: expected at most half"):
        nn.MaxPool1d(2, padding=2)
    with pytest.raises(ValueError, match=r"AdaptiveAvgPool1d: output_size: expected an int"):
        nn.AdaptiveAvgPool1d(0)


class _Signal(torch.nn.Module):
    """A small 1-D CNN of the kind used on audio or sensor series."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv1d(2, 8, 5, padding=2, bias=False),  # (a zero gradient before BN)
            torch.nn.BatchNorm1d(8),
            torch.nn.ReLU(),
            torch.nn.MaxPool1d(2),
            torch.nn.Conv1d(8, 8, 3, stride=2, dilation=2, groups=2),
            torch.nn.ReLU(),
            torch.nn.AvgPool1d(3, 1, 1, count_include_pad=False),
            torch.nn.AdaptiveAvgPool1d(1),
        )
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


@pytest.mark.parametrize("opset", [11, 17])
def test_a_1d_cnn_exported_by_torch_loads_and_trains_as_torch(opset):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load

    torch.manual_seed(opset)
    model = _Signal().double()
    model.train()  # batch norm kept as a layer (not folded into the convolution)
    model(torch.randn(8, 2, 64, dtype=torch.float64))  # running statistics not the identity
    model.eval()
    x = torch.randn(3, 2, 64, dtype=torch.float64)
    graph = load(
        torch_onnx_export(model, x, opset_version=opset, training=torch.onnx.TrainingMode.PRESERVE)
    )
    kinds = {type(m).__name__ for m in graph.modules()}
    assert kinds >= {"Conv1d", "BatchNorm1d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d"}
    graph.eval()
    with torch.no_grad():
        assert rel_error(graph(x.numpy()), model(x).numpy()) <= 1e-12
    model.train()  # both normalise by the batch's statistics
    trains_as_torch(model, x, graph)
    model.eval()
    loads_as_onnxruntime(model, x, opset_version=opset)


def test_save_writes_1d_layers_onnxruntime_reads_back():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    net = nn.Sequential(
        nn.Conv1d(2, 4, 5, padding=2, rng=0),
        nn.ReLU(),
        nn.MaxPool1d(3, 2, 1, dilation=1, ceil_mode=True),
        nn.Conv1d(4, 4, 3, padding=1, padding_mode="reflect", groups=2, rng=1),
        nn.AvgPool1d(3, 1, 1, count_include_pad=False),
        nn.Conv1d(4, 6, 4, padding="same", rng=2),
        nn.AdaptiveMaxPool1d(4),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(6, 3, rng=3),
    )
    x = (
        np.random.default_rng(4).standard_normal((2, 2, 30)).astype(np.float32)
    )  # 16 after the ceil pool
    want = net(x)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signal.onnx"
        save(net, path, x)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert rel_error(session.run(None, {"x": x})[0], want) <= 1e-5
        assert rel_error(load(path)(x), want) <= 1e-5


def test_tools_run_or_refuse_signals():
    pytest.importorskip("dask")
    import dask.array as da

    from cnnmath import tiled
    from cnnmath.receptive import receptive_field
    from cnnmath.summary import summary

    net = nn.Sequential(nn.Conv1d(2, 4, 5, padding=2, rng=0), nn.ReLU(), nn.MaxPool1d(2))
    s = summary(net, (2, 40))  # one signal: the batch axis put in front
    assert [r.output_shape for r in s.rows] == [(1, 4, 40), (1, 4, 40), (1, 4, 20)]
    assert s.total_parameters == 2 * 4 * 5 + 4
    with pytest.raises(ValueError, match=r"Conv1d works on signals"):
        receptive_field(net, (1, 2, 40))
    x = np.zeros((1, 2, 40), np.float32)
    with pytest.raises(ValueError, match=r"Conv1d works on signals"):
        tiled.apply(net, da.from_array(x))
