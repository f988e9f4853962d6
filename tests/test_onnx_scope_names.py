"""cnnmath.onnx.load names the nodes of a PyTorch export by their module path, as the exporter's
scopes give it ("/layer1/layer1.0/conv1/Conv" -> "layer1_0_conv1"), so a PyTorch user finds a
layer by the name they know. Witnesses: torch's own parameter names (each initializer a
convolution reads is held by the node of that convolution's module) and a forward hook on
torchvision's resnet18."""

import numpy as np
import pytest

from helpers import rel_error, torch_onnx_export
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from cnnmath.attribution import feature_maps  # noqa: E402
from cnnmath.onnx import load  # noqa: E402

tnn = torch.nn


class Inner(tnn.Module):
    def __init__(self):
        super().__init__()
        self.seq = tnn.Sequential(
            tnn.Sequential(tnn.Conv2d(3, 3, 1), tnn.ReLU()), tnn.Conv2d(3, 3, 1)
        )
        self.c = tnn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.c(self.seq(x)) + x


class Nested(tnn.Module):
    """Modules at several depths: a ModuleList, Sequentials in Sequentials, a block in a
    Sequential."""

    def __init__(self):
        super().__init__()
        self.block = tnn.ModuleList([tnn.Conv2d(3, 3, 1), Inner()])
        self.layer1 = tnn.Sequential(Inner(), Inner())

    def forward(self, x):
        return self.layer1(self.block[1](self.block[0](x)))


def test_nodes_are_named_by_the_module_path_torch_names():
    torch.manual_seed(0)
    model = Nested().eval()
    graph = load(torch_onnx_export(model, torch.randn(1, 3, 4, 4)))
    names = {n.name for n in graph.nodes}
    convs = [path for path, m in model.named_modules() if isinstance(m, tnn.Conv2d)]
    assert len(convs) == 10
    for path in convs:
        node = path.replace(".", "_")  # "layer1.1.seq.0.0" -> "layer1_1_seq_0_0"
        assert node in names, (node, sorted(names))
        assert graph.initializer_names[f"{path}.weight"] == f"{node}.weight"
    assert {"block_1", "layer1_0", "layer1_1"} <= names  # each block's Add: the block's name
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    assert rel_error(graph(x), model(torch.from_numpy(x)).detach().numpy()) <= 1e-5


def test_resnet18_layer3_is_found_by_its_name():
    torchvision = import_torchvision()
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    graph = load(torch_onnx_export(model, x))
    layer3 = [n.name for n in graph.nodes if n.name.startswith("layer3_")]
    assert layer3[0] == "layer3_0_conv1" and layer3[-1] == "layer3_1_relu_1"
    seen = []
    handle = model.layer3.register_forward_hook(lambda m, a, y: seen.append(y.detach().numpy()))
    model(x)
    handle.remove()
    maps = feature_maps(graph, x.numpy(), [layer3[-1]])  # the block's last ReLU: layer3's output
    assert rel_error(maps[layer3[-1]], seen[0]) <= 1e-5
    assert graph.get_submodule("layer3_0_downsample_0").out_channels == 256
