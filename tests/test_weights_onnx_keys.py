"""``weights.load`` into a graph ``cnnmath.onnx.load`` read: a PyTorch model exported with
its BatchNorms kept (TrainingMode.PRESERVE) holds "layer1.0.conv.weight" at
"layer1_0_conv.weight"; the model's own state_dict, saved with safetensors, loads into the
graph at those keys, and the graph then computes what that PyTorch model computes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cnnmath import weights

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
safetensors_torch = pytest.importorskip("safetensors.torch")
from cnnmath.onnx import load  # noqa: E402


class _Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(c)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)) + x)


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.layer1 = torch.nn.Sequential(_Block(4), _Block(4))
        self.fc = torch.nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(self.layer1(self.stem(x)).mean((2, 3)))


def _net(seed):
    torch.manual_seed(seed)
    net = _Net()
    with torch.no_grad():  # statistics away from 0 and 1, so that a BatchNorm left out shows
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def test_a_pytorch_state_dict_loads_into_the_exported_graph(tmp_path):
    first, second = _net(0), _net(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            first,
            (torch.zeros(1, 3, 6, 6),),
            str(tmp_path / "net.onnx"),
            dynamo=False,
            training=torch.onnx.TrainingMode.PRESERVE,
        )
    graph = load(tmp_path / "net.onnx")
    assert "layer1_0_conv.weight" in graph.state_dict()  # the graph's own key for it
    safetensors_torch.save_file(  # num_batches_tracked included, as models.md saves it
        {k: v.contiguous() for k, v in second.state_dict().items()},
        str(tmp_path / "second.safetensors"),
    )
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    with torch.no_grad():
        want = second(torch.from_numpy(x)).numpy()
        before = first(torch.from_numpy(x)).numpy()
    assert np.abs(graph(x) - before).max() <= 1e-5
    loaded = weights.load(graph, tmp_path / "second.safetensors")  # strict
    assert loaded.missing_keys == [] and loaded.unexpected_keys == []
    assert np.abs(graph(x) - want).max() <= 1e-5
    assert np.abs(want - before).max() > 0.1  # the two models differ: the load did something


def test_a_file_of_other_names_still_names_the_mismatch(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _net(0), (torch.zeros(1, 3, 6, 6),), str(tmp_path / "net.onnx"), dynamo=False,
            training=torch.onnx.TrainingMode.PRESERVE,
        )  # fmt: skip
    graph = load(tmp_path / "net.onnx")
    safetensors_torch.save_file({"head.weight": torch.zeros(5, 4)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match=r"does not match the model: .*head\.weight"):
        weights.load(graph, tmp_path / "x.safetensors")
