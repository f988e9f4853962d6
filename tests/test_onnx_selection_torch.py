"""PyTorch models whose export uses the selection ops — ``x.scatter`` and ``x.scatter_add``
(ScatterElements), ``torch.triu`` / ``torch.tril`` (Trilu), ``F.one_hot`` (OneHot) and a
boolean mask ``y[y > 0]`` (NonZero, then GatherND) — exported with the TorchScript exporter,
load in cnnmath and give PyTorch's output (float64, 1e-12) and onnxruntime's (float32), and
one backward gives PyTorch's autograd's gradients for the input and every parameter."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.onnx import load
from helpers import loads_as_onnxruntime, rel_error, torch_onnx_export, trains_as_torch

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


class _Scatter(torch.nn.Module):
    """A conv's per-channel means written (or added) into a row of 5 by fixed indices, one of
    them repeated (for ``scatter_add``)."""

    def __init__(self, add):
        super().__init__()
        self.conv, self.add = torch.nn.Conv2d(2, 4, 3), add
        self.register_buffer(
            "index", torch.tensor([[3, 0, 4, 0]]) if add else torch.tensor([[3, 0, 4, 1]])
        )

    def forward(self, x):
        y = self.conv(x).mean(dim=(2, 3))  # (N, 4)
        base = torch.tanh(x.mean(dim=(1, 2)))  # (N, 5): a value of the input, not zeros
        index = self.index.expand(x.shape[0], -1)
        return base.scatter_add(1, index, y) if self.add else base.scatter(1, index, y)


class _Triangle(torch.nn.Module):
    def __init__(self, upper, k):
        super().__init__()
        self.conv, self.upper, self.k = torch.nn.Conv2d(2, 3, 3), upper, k

    def forward(self, x):
        y = self.conv(x)
        return torch.triu(y, self.k) if self.upper else torch.tril(y, self.k)


class _OneHot(torch.nn.Module):
    """Each pixel's argmax channel as a one-hot vector, weighted by the channels' sum."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        hot = torch.nn.functional.one_hot(y.argmax(1), 4).to(y.dtype)
        return hot * y.sum(1, keepdim=True).permute(0, 2, 3, 1)


class _Masked(torch.nn.Module):
    """The positive outputs of a conv, as a vector: NonZero of the mask, then GatherND."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3)

    def forward(self, x):
        y = self.conv(x)
        return y[y > 0] * 2


@pytest.mark.parametrize(
    ("make", "opset", "ops"),
    [
        (lambda: _Scatter(False), 11, {"ScatterElements"}),
        (lambda: _Scatter(True), 16, {"ScatterElements"}),
        (lambda: _Triangle(True, 1), 14, {"Trilu"}),
        (lambda: _Triangle(False, -1), 17, {"Trilu"}),
        (_OneHot, 17, {"OneHot"}),
        (_Masked, 17, {"NonZero", "GatherND"}),
    ],
    ids=["scatter", "scatter_add", "triu", "tril", "one_hot", "mask"],
)
def test_exported_model_agrees_and_trains_as_torch(make, opset, ops):
    torch.manual_seed(0)
    model = make().double()
    x = torch.randn(3, 2, 6, 5, dtype=torch.float64)
    data = torch_onnx_export(model, x, opset_version=opset)
    used = {n.op_type for n in onnx.load_from_string(data).graph.node}
    assert ops <= used, used
    graph = load(data)
    with torch.no_grad():
        want = model(x).numpy()
    got = graph(x.numpy())
    assert got.shape == want.shape and rel_error(got, want) <= 1e-12
    loads_as_onnxruntime(model, x, opset_version=opset)
    trains_as_torch(model, x, graph)
    assert np.any(graph.backward(np.ones_like(got)) != 0)
