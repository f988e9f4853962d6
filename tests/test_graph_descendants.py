"""nn.Graph.add on a descendant of the graph (a member of a ModuleList or ModuleDict it holds):
the node applies the module by its path and does not register it again, so a PyTorch model
whose forward calls ``self.blocks[0](x)`` ports as a Graph subclass with PyTorch's keys.
Witnesses: a hand-written torch.nn.Module (float64 outputs, autograd's gradients, its
``load_state_dict``), and onnxruntime for the ONNX export."""

import numpy as np
import pytest

import cnnmath
from cnnmath import nn as cnn
from cnnmath.attribution import feature_maps
from cnnmath.summary import summary
from helpers import rel_error

torch = pytest.importorskip("torch")
tnn = torch.nn

SHAPE = (2, 3, 8, 8)


class TorchNet(tnn.Module):
    """Blocks in a ModuleList and heads in a ModuleDict, a residual sum and a torch.cat."""

    def __init__(self):
        super().__init__()
        self.stem = tnn.Conv2d(3, 8, 3, padding=1)
        self.blocks = tnn.ModuleList(
            [
                tnn.Sequential(tnn.Conv2d(8, 8, 3, padding=1), tnn.BatchNorm2d(8), tnn.ReLU()),
                tnn.Conv2d(8, 8, 3, padding=1),
            ]
        )
        self.heads = tnn.ModuleDict(
            {"left": tnn.Conv2d(8, 4, 1), "right": tnn.Sequential(tnn.ReLU(), tnn.Conv2d(8, 6, 1))}
        )
        self.pool = tnn.AdaptiveAvgPool2d(1)
        self.flatten = tnn.Flatten()
        self.fc = tnn.Linear(10, 5)

    def forward(self, x):
        s = self.stem(x)
        r = self.blocks[1](self.blocks[0](s)) + s
        y = torch.cat([self.heads["left"](r), self.heads["right"](r)], 1)
        return self.fc(self.flatten(self.pool(y)))


class Net(cnn.Graph):
    """TorchNet ported: the same attributes, the forward wired with add()."""

    def __init__(self, dtype=np.float64):
        super().__init__()
        kw = {"dtype": dtype}
        self.stem = cnn.Conv2d(3, 8, 3, padding=1, **kw)
        self.blocks = cnn.ModuleList(
            [
                cnn.Sequential(
                    cnn.Conv2d(8, 8, 3, padding=1, **kw), cnn.BatchNorm2d(8, **kw), cnn.ReLU()
                ),
                cnn.Conv2d(8, 8, 3, padding=1, **kw),
            ]
        )
        self.heads = cnn.ModuleDict(
            {
                "left": cnn.Conv2d(8, 4, 1, **kw),
                "right": cnn.Sequential(cnn.ReLU(), cnn.Conv2d(8, 6, 1, **kw)),
            }
        )
        self.pool = cnn.AdaptiveAvgPool2d(1)
        self.flatten = cnn.Flatten()
        self.fc = cnn.Linear(10, 5, **kw)
        s = self.add(self.stem, "x")
        b = self.add(self.blocks[1], self.add(self.blocks[0], s))
        r = self.add(cnn.Add(), b, s)
        y = self.add(
            cnn.Concat(1), self.add(self.heads["left"], r), self.add(self.heads["right"], r)
        )
        self.set_output(self.add(self.fc, self.add(self.flatten, self.add(self.pool, y))))


def torch_net():
    """TorchNet in float64 and eval mode, with running statistics that are not 0 and 1."""
    torch.manual_seed(0)
    model = TorchNet().double().eval()
    bn = model.blocks[0][1]
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return model


def ported(model, dtype=np.float64):
    net = Net(dtype)
    net.load_state_dict(model.state_dict())  # strict, PyTorch's tensors as they are
    return net.eval()


def image(dtype=torch.float64):
    return torch.randn(*SHAPE, generator=torch.Generator().manual_seed(1), dtype=dtype)


def test_keys_modules_and_repr_are_torchs():
    model, net = torch_net(), Net()
    assert list(net.state_dict()) == list(model.state_dict())
    assert [n for n, _ in net.named_modules()] == [n for n, _ in model.named_modules()]
    assert net.num_parameters() == sum(p.numel() for p in model.parameters())
    assert "(conv2d)" not in repr(net) and repr(net).count("Conv2d(8, 8") == 2


def test_default_node_names_are_the_paths():
    names = [n.name for n in Net().nodes]
    assert names[:3] == ["stem", "blocks_0", "blocks_1"]
    assert "heads_left" in names and "heads_right" in names


def test_strict_load_outputs_and_gradients_equal_torchs():
    model = torch_net()
    net = ported(model)
    x = image()
    want = model(x).detach().numpy()
    assert rel_error(net(x.numpy()), want) <= 1e-12
    G = torch.randn(want.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    xt = x.clone().requires_grad_()
    (model(xt) * G).sum().backward()
    net.zero_grad()
    net(x.numpy())
    assert rel_error(net.backward(G.numpy()), xt.grad.numpy()) <= 1e-12
    ours = dict(net.named_parameters())
    assert list(ours) == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert rel_error(ours[name].grad, p.grad.numpy()) <= 1e-12, name


def test_weights_save_loads_strictly_into_torch(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = torch_net()
    net = ported(model)
    for p in net.parameters():  # new numbers, so the load is seen to carry them
        p.data[...] = p.data * 2 + 0.25
    cnnmath.weights.save(net, tmp_path / "net.safetensors")
    other = TorchNet().double().eval()
    other.load_state_dict(safetensors_torch.load_file(tmp_path / "net.safetensors"))  # strict
    x = image()
    assert rel_error(net(x.numpy()), other(x).detach().numpy()) <= 1e-12


def test_onnx_export_agrees_with_onnxruntime(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = torch_net().float()
    net = ported(model, np.float32)
    x = image(torch.float32).numpy()
    cnnmath.onnx.save(net, tmp_path / "net.onnx", x)
    session = ort.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    assert rel_error(got, model(torch.from_numpy(x)).detach().numpy()) <= 1e-5
    initializers = {
        t.name for t in __import__("onnx").load(tmp_path / "net.onnx").graph.initializer
    }
    assert "blocks.1.weight" in initializers and "conv2d.weight" not in initializers


def test_walk_get_submodule_feature_maps_and_summary():
    model = torch_net()
    net = ported(model)
    walked = [n.name for n in net.walk()]
    assert walked[:4] == ["stem", "blocks_0.0", "blocks_0.1", "blocks_0.2"]
    assert "heads_right.1" in walked
    assert net.get_submodule("blocks.1") is net.blocks[1]
    x = image()
    seen = {}
    hooks = [
        model.get_submodule(p).register_forward_hook(lambda m, a, y, p=p: seen.update({p: y}))
        for p in ("blocks.0", "heads.left")
    ]
    model(x)
    for h in hooks:
        h.remove()
    maps = feature_maps(net, x.numpy(), ["blocks.0", "heads.left"])
    for path, y in seen.items():
        assert rel_error(maps[path], y.detach().numpy()) <= 1e-12, path
    table = summary(net, SHAPE)
    assert table.total_parameters == sum(p.numel() for p in model.parameters())
    assert [r.name for r in table.rows][:2] == ["stem", "blocks_0.0"]


def test_a_module_put_at_a_path_is_what_the_node_applies():
    model = torch_net()
    net = ported(model)
    x = image()
    net(x.numpy())  # the nodes have run with the old modules
    torch.manual_seed(3)
    model.blocks[1] = tnn.Conv2d(8, 8, 3, padding=1).double()
    model.heads["left"] = tnn.Conv2d(8, 4, 1).double()
    net.blocks[1] = cnn.Conv2d(8, 8, 3, padding=1, dtype=np.float64)
    net.heads["left"] = cnn.Conv2d(8, 4, 1, dtype=np.float64)
    net.load_state_dict(model.state_dict())
    assert rel_error(net(x.numpy()), model(x).detach().numpy()) <= 1e-12
    assert dict(net.named_modules())["blocks.1"] is net.nodes[2].module
    # a new container: its members at the same paths
    model.blocks = tnn.ModuleList([tnn.Identity(), tnn.Conv2d(8, 8, 1).double()])
    net.blocks = cnn.ModuleList([cnn.Identity(), cnn.Conv2d(8, 8, 1, dtype=np.float64)])
    net.load_state_dict(model.state_dict())
    assert rel_error(net(x.numpy()), model(x).detach().numpy()) <= 1e-12


def test_paths_nodes_read_are_kept():
    net = Net()
    with pytest.raises(AttributeError, match=r"\['blocks_0', 'blocks_1'\].*cannot be deleted"):
        del net.blocks
    with pytest.raises(ValueError, match=r"node 'blocks_1' applies 'blocks.1'.*holding '1'"):
        net.blocks = cnn.ModuleList([cnn.Identity()])
    assert len(net.blocks) == 2  # refused: nothing changed
    with pytest.raises(TypeError, match="expected a cnnmath.nn.Module"):
        net.heads = None
    del net.blocks[1]
    with pytest.raises(AttributeError, match=r"node 'blocks_1' applies the module at 'blocks.1'"):
        net(image().numpy())


def test_fold_batch_norm_of_a_list_member_folds_once():
    torch.manual_seed(4)
    model = tnn.Sequential(tnn.Conv2d(3, 4, 3), tnn.BatchNorm2d(4)).double().eval()
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    net = cnn.Graph()
    net.layers = cnn.ModuleList(
        [cnn.Conv2d(3, 4, 3, dtype=np.float64), cnn.BatchNorm2d(4, dtype=np.float64)]
    )
    net.set_output(net.add(net.layers[1], net.add(net.layers[0], "x")))
    net.layers.load_state_dict(model.state_dict())
    folded = cnn.fold_batch_norm(net)
    assert all(key.startswith("layers.") for key in folded.state_dict())  # no alias
    assert isinstance(folded.nodes[1].module, cnn.Identity)
    x = image()
    assert rel_error(folded(x.numpy()), model(x).detach().numpy()) <= 1e-12


class HandWrittenNet(cnn.Module):
    """Net's computation in a forward of its own (np.concatenate for torch.cat)."""

    def __init__(self):
        super().__init__()
        self.stem = cnn.Conv2d(3, 4, 1, dtype=np.float64)
        self.heads = cnn.ModuleList([cnn.Conv2d(4, 2, 1, dtype=np.float64), cnn.ReLU()])

    def forward(self, x):
        s = self.stem(x)
        return np.concatenate([self.heads[0](s), self.heads[1](s)], axis=1)


def test_onnx_export_of_a_hand_written_module_points_at_a_graph_subclass(tmp_path):
    pytest.importorskip("onnx")
    x = image().numpy()
    model = cnn.Sequential(HandWrittenNet())
    assert model(x).shape == (2, 6, 8, 8)  # it runs; only its export is refused
    with pytest.raises(ValueError) as info:
        cnnmath.onnx.save(model, tmp_path / "m.onnx", x)
    message = str(info.value)
    assert "node '0' is a hand-written module (HandWrittenNet" in message
    assert "nn.Graph subclass" in message and "self.add(" in message
    assert "nn.Concat(1) for torch.cat" in message and "nn.Add()" in message
    assert 'docs/porting.md\'s section "A model class of your own"' in message
    assert not (tmp_path / "m.onnx").exists()
