"""torchvision's swin_t and maxvit_t (random weights, evaluation mode) exported to ONNX at
opset 17 load in cnnmath, agree with onnxruntime and PyTorch in float32, and train as
PyTorch's autograd. swin_t's shifted windows need ConstantOfShape of a shape computed at run
time and ScatterND (its attention masks); maxvit_t's attention is Einsum. One test per model
(its export traces a forward: seconds): the witnesses are onnxruntime's run of the file and
PyTorch's own forward and autograd."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import rel_error, torch_onnx_export
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from cnnmath.onnx import load  # noqa: E402

#: float32 agreement, relative to the output's (or gradient's) scale
FORWARD_RTOL = 1e-5
GRADIENT_RTOL = 2e-5


def _agrees_and_trains(
    arch: str, size: int, ops: set[str], names: list[str], input_gradient: bool
) -> None:
    """torchvision's ``arch`` (random weights, seeded) exported at opset 17 on one
    (1, 3, size, size) input and loaded: the graph holds ``ops``; its logits are onnxruntime's
    and PyTorch's; one backward of ⟨model(x), G⟩ gives PyTorch's gradients of the parameters
    ``names`` (ONNX initializer names) and, with ``input_gradient``, of x. PyTorch runs one
    forward, its autograd only as far back as those need."""
    tv = import_torchvision()
    torch.manual_seed(0)
    model = getattr(tv.models, arch)(weights=None).eval()
    x = torch.randn(1, 3, size, size)
    data = torch_onnx_export(model, x, opset_version=17)
    graph = load(data)
    assert ops <= {getattr(n.module, "onnx_op", None) for n in graph.walk()}
    assert set(names) <= set(graph.initializer_names)

    got = graph(x.numpy())
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    witness = session.run(None, {"x": x.numpy()})[0]
    params = dict(model.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in names)
    xt = x.clone().requires_grad_(input_gradient)
    want = model(xt)
    assert got.shape == (1, 1000) and got.dtype == np.float32
    assert rel_error(got, witness) <= FORWARD_RTOL
    assert rel_error(got, want.detach().numpy()) <= FORWARD_RTOL

    G = np.random.default_rng(1).standard_normal(got.shape).astype(np.float32)
    (want * torch.from_numpy(G)).sum().backward()
    grad_x = graph.backward(G)
    if input_gradient:
        assert rel_error(grad_x, xt.grad.numpy()) <= GRADIENT_RTOL
    ours = dict(graph.named_parameters())
    for name in names:
        got_grad = ours[graph.initializer_names[name]].grad
        assert rel_error(got_grad, params[name].grad.numpy()) <= GRADIENT_RTOL, name


def test_swin_t_agrees_with_onnxruntime_and_pytorch_and_trains_as_pytorch(one_torch_thread):
    """At 112×112 (swin_t pads its feature maps to whole windows; its first two stages shift
    them, so the masks are built) to keep the test short. The whole backward (x's gradient
    too) through shifted-window attention: the stem,
    the first block's attention and MLP, the last stage's and the head (parameters the
    exporter keeps under their own names)."""
    names = [
        "features.0.0.weight",
        "features.1.0.attn.qkv.bias",
        "features.1.1.attn.qkv.bias",  # in the file an Identity of 1.0's (both zero)
        "features.1.0.mlp.0.bias",
        "features.7.0.attn.qkv.bias",
        "features.7.0.mlp.0.bias",
        "head.weight",
        "head.bias",
    ]
    ops = {"ConstantOfShape", "ScatterND"}
    _agrees_and_trains("swin_t", 112, ops, names, input_gradient=True)


def test_maxvit_t_agrees_with_onnxruntime_and_pytorch_and_trains_as_pytorch(one_torch_thread):
    """At 224×224, the size maxvit_t is built for. The backward through the last stage's two
    blocks (their window and grid attention:
    Einsum's gradients), parameters there against PyTorch's, whose autograd stops there (a
    full PyTorch backward of maxvit_t takes seconds more; cnnmath's runs whole)."""
    last = "blocks.3.layers"
    names = [
        f"{last}.0.layers.MBconv.proj.1.weight",
        f"{last}.0.layers.window_attention.attn_layer.1.to_qkv.bias",
        f"{last}.1.layers.MBconv.layers.squeeze_excitation.fc1.weight",
        f"{last}.1.layers.MBconv.layers.conv_c.weight",
        "classifier.3.weight",
    ]
    _agrees_and_trains("maxvit_t", 224, {"Einsum"}, names, input_gradient=False)
