"""PyTorch models exported with ``torch.onnx.export`` load in cnnmath and agree with
onnxruntime and with PyTorch itself (float32, ≤ 1e-4 relative to the logits' scale; the
same top-1 class for each of 100 random inputs). LeNet is written here; ResNet-18 and
MobileNetV2 are torchvision's, with random weights and randomised BatchNorm statistics so
that the normalisation is not the identity. The exporter is the TorchScript one
(``dynamo=False``): the dynamo exporter needs onnxscript, which is not a dependency.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import (
    loads_as_onnxruntime,
    randomise_batchnorm,
    rel_error,
    torch_onnx_export,
    trains_as_torch,
)
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from cnnmath import nn  # noqa: E402
from cnnmath.onnx import load  # noqa: E402

N = 100


class LeNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1 = torch.nn.Linear(16 * 5 * 5, 120)
        self.fc2 = torch.nn.Linear(120, 84)
        self.fc3 = torch.nn.Linear(84, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)  # the Shape→Gather→Unsqueeze→Concat→Reshape chain
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def _export(model, x, **kwargs):
    return torch_onnx_export(model, x, **kwargs)


def _check(model, x, **export_kwargs):
    """The three runs agree; returns the cnnmath graph."""
    model.eval()
    data = _export(model, x, **export_kwargs)
    with torch.no_grad():
        want = model(x).numpy()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    witness = session.run(None, {"x": x.numpy()})[0]
    graph = load(data)
    got = graph(x.numpy())
    assert got.dtype == np.float32
    assert rel_error(got, want) <= 1e-4
    assert rel_error(got, witness) <= 1e-4
    np.testing.assert_array_equal(got.argmax(1), want.argmax(1))
    np.testing.assert_array_equal(got.argmax(1), witness.argmax(1))
    return graph


def test_lenet_dynamic_batch_agrees_and_trains():
    torch.manual_seed(0)
    model = LeNet()
    x = torch.randn(N, 1, 28, 28)
    graph = _check(model, x, dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    # a dynamic batch: the flatten's shape chain runs per call; other batch sizes work
    x7 = torch.randn(7, 1, 28, 28)
    with torch.no_grad():
        assert rel_error(graph(x7.numpy()), model(x7).numpy()) <= 1e-4
    # it trains: the gradients of the loaded graph are PyTorch's (float32 scale)
    g = np.random.default_rng(0).standard_normal((7, 10)).astype(np.float32)
    graph.zero_grad()
    grad_x = graph.backward(g)
    xt = x7.clone().requires_grad_(True)
    model.zero_grad()
    (model(xt) * torch.from_numpy(g)).sum().backward()
    assert rel_error(grad_x, xt.grad.numpy()) <= 1e-4
    params = dict(graph.named_parameters())
    for onnx_name, key in graph.initializer_names.items():
        torch_grad = dict(model.named_parameters())[onnx_name].grad.numpy()
        assert rel_error(params[key].grad, torch_grad) <= 1e-4, onnx_name


def test_lenet_static_shapes_fold_the_shape_chain():
    torch.manual_seed(1)
    graph = _check(LeNet(), torch.randn(N, 1, 28, 28))
    kinds = [n.module.onnx_op for n in graph.walk() if hasattr(n.module, "onnx_op")]
    assert "Shape" not in kinds and "Gather" not in kinds and "Concat" not in kinds
    assert [type(n.module).__name__ for n in graph.walk()][:3] == ["Conv2d", "ReLU", "MaxPool2d"]


def test_resnet18_agrees_with_pytorch_and_onnxruntime():
    tv = import_torchvision()
    torch.manual_seed(2)
    model = randomise_batchnorm(tv.models.resnet18(num_classes=10), seed=2)
    graph = _check(model, torch.randn(N, 3, 64, 64))
    kinds = {type(n.module).__name__ for n in graph.walk()}
    assert {"Conv2d", "MaxPool2d", "Add", "AdaptiveAvgPool2d", "Linear"} <= kinds


def test_mobilenet_v2_keeps_batchnorm_and_agrees():
    tv = import_torchvision()
    torch.manual_seed(3)
    model = randomise_batchnorm(tv.models.mobilenet_v2(num_classes=10), seed=3)
    # without constant folding the BatchNorm nodes stay, with torchvision's names
    graph = _check(model, torch.randn(N, 3, 64, 64), do_constant_folding=False)
    kinds = {type(n.module).__name__ for n in graph.walk()}
    assert {"Conv2d", "BatchNorm2d", "ReLU6"} <= kinds
    depthwise = [
        n.module for n in graph.walk() if isinstance(n.module, nn.Conv2d) and n.module.groups > 1
    ]
    assert depthwise and all(m.groups == m.in_channels for m in depthwise)
    assert graph.initializer_names["features.0.1.running_mean"].endswith("running_mean")


class Zoo(torch.nn.Module):
    """Every activation and the geometry options PyTorch exports, in one small net."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, dilation=1)
        self.prelu = torch.nn.PReLU(8)
        self.up = torch.nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.dw = torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 5)
        self.acts = torch.nn.ModuleList(
            [
                torch.nn.LeakyReLU(0.2),
                torch.nn.Hardswish(),
                torch.nn.Hardsigmoid(),
                torch.nn.ELU(0.7),
                torch.nn.SELU(),
                torch.nn.CELU(1.3),
                torch.nn.GELU(),
                torch.nn.Mish(),
                torch.nn.Softsign(),
                torch.nn.Softplus(),
                torch.nn.SiLU(),
                torch.nn.ReLU6(),
                torch.nn.Hardtanh(-0.5, 0.5),
            ]
        )

    def forward(self, x):
        x = self.prelu(self.conv(x))
        x = torch.nn.functional.pad(x, (0, 1, 1, 0))  # asymmetric: an explicit Pad
        x = torch.nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True)
        x = self.bn(self.dw(self.up(x)))
        for act in self.acts:
            x = act(x) + 0.1 * x
        x = torch.nn.functional.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
        x = x.mean(dim=(2, 3))  # ReduceMean over the spatial axes
        return torch.softmax(self.fc(x), dim=1)


def test_activation_and_geometry_zoo_agrees():
    torch.manual_seed(4)
    model = randomise_batchnorm(Zoo(), seed=4)
    _check(model, torch.randn(N, 3, 20, 18), opset_version=17)


class _Interpolate(torch.nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return torch.nn.functional.interpolate(x, scale_factor=self.factor, mode="nearest")


@pytest.mark.parametrize("factor", [0.6, 0.7, 0.9, 1 / 3, 7 / 3, 2.4, 1.1, 1.2])
def test_exported_nearest_interpolate_picks_onnxruntimes_pixels(factor):
    """Regression: Resize's coordinates were computed in float64 from the float32 scale;
    ``interpolate(scale_factor=0.6)`` on 9 rows then read row 4 where PyTorch and
    onnxruntime read row 5, and 0.7 on 10 rows gave 6 rows for their 7. cnnmath must give
    onnxruntime's output bit for bit, for every height (and PyTorch's where onnxruntime
    agrees with PyTorch)."""
    for n in (3, 5, 7, 9, 10, 13, 32):
        if int(np.float32(factor) * np.float32(n)) < 1:
            continue
        x = torch.randn(1, 2, n, 6)
        data = _export(_Interpolate(factor), x, opset_version=17)
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        witness = session.run(None, {"x": x.numpy()})[0]
        got = load(data)(x.numpy())
        assert got.shape == witness.shape, (factor, n)
        np.testing.assert_array_equal(got, witness)
        with torch.no_grad():
            want = _Interpolate(factor)(x).numpy()
        if want.shape == witness.shape and np.array_equal(want, witness):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "norm, trained",
    [
        (lambda: torch.nn.GroupNorm(2, 4), []),  # γ, β under exporter-made names
        (lambda: torch.nn.InstanceNorm2d(4, affine=True), ["1.weight", "1.bias"]),
    ],
    ids=["group_norm", "instance_norm_affine"],
)
def test_exported_norms_have_torchs_parameters_and_train_as_torch(norm, trained):
    """Regression: GroupNorm's export normalises with InstanceNormalization whose scale and
    B are Constant nodes (ones, zeros); they came back as trainable parameters. They are
    buffers now: the loaded graph has PyTorch's parameter count, and after SGD steps side
    by side (float64) computes what PyTorch does. InstanceNorm2d(affine=True)'s scale and
    B are initializers and stay trained."""
    from cnnmath import optim

    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), norm()).double()
    x = torch.randn(2, 2, 7, 7, dtype=torch.float64)
    graph = load(_export(model, x, opset_version=17))
    assert graph.num_parameters() == sum(p.numel() for p in model.parameters())
    for key in trained:
        assert key in graph.initializer_names
    G = torch.randn_like(model(x))
    torch_sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    sgd = optim.SGD(graph.parameters(), lr=0.1)
    graph.train()
    for _ in range(3):
        torch_sgd.zero_grad()
        (model(x) * G).sum().backward()
        torch_sgd.step()
        graph.zero_grad()
        graph(x.numpy())
        graph.backward(G.numpy())
        sgd.step()
    graph.eval()
    with torch.no_grad():
        want = model(x).numpy()
    assert rel_error(graph(x.numpy()), want) <= 1e-10


class _Elementary(torch.nn.Module):
    """The elementary ops of an export, each on values in its domain: Sqrt, Reciprocal, Exp,
    Log, Neg, and Pow with a constant and with a trained exponent."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3)
        self.p = torch.nn.Parameter(torch.tensor([1.5, 0.5, 2.0]).reshape(3, 1, 1))

    def forward(self, x):
        z = self.conv(x)
        s = torch.sigmoid(z) + 0.25  # in (0.25, 1.25): positive
        return (
            torch.sqrt(s)
            + torch.reciprocal(s)
            + torch.exp(-z.abs())
            + torch.log(s)
            + s**self.p
            + z**2
        )


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_elementary_ops_agree_and_train_as_torch(opset):
    torch.manual_seed(6)
    model = _Elementary().double()
    x = torch.randn(2, 2, 6, 5, dtype=torch.float64)
    graph = load(_export(model, x, opset_version=opset))
    ops = {m.onnx_op for m in graph.modules() if hasattr(m, "onnx_op")}
    assert {"Sqrt", "Reciprocal", "Exp", "Log", "Neg", "Pow"} <= ops
    with torch.no_grad():
        want = model(x).numpy()
    assert rel_error(graph(x.numpy()), want) <= 1e-12
    trains_as_torch(model, x, graph)


class _ZeroPower(torch.nn.Module):
    """relu(x)^p with a trained exponent that reaches 0 while relu(x) holds exact zeros."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.tensor([0.0, 2.0, 0.0]).reshape(1, 3, 1))

    def forward(self, x):
        return torch.relu(x) ** self.p


def test_pow_with_a_zero_exponent_at_zero_has_torchs_finite_gradient():
    """∂(x^p)/∂x at p = 0 is 0, also at x = 0 (not 0·0⁻¹ = NaN), as PyTorch's."""
    model = _ZeroPower().double()
    x = torch.tensor([[[-1.0, 0.0, 2.0]] * 3], dtype=torch.float64)
    graph = load(_export(model, x, opset_version=17))
    trains_as_torch(model, x, graph)


def test_an_integer_pow_to_a_negative_power_is_refused_naming_the_node():
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Pow", ["x", "p"], ["y"], name="power")],
        "pow",
        [helper.make_tensor_value_info("x", TensorProto.INT32, [3])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [3])],
        [helper.make_tensor("p", TensorProto.INT32, [1], [-1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    loaded = load(model.SerializeToString())
    with pytest.raises(ValueError, match=r"node 'power' \(Pow\): .* negative integer power"):
        loaded(np.array([2, 1, -1], np.int32))


@pytest.mark.parametrize("opset", [13, 17])
def test_convnext_block_agrees_and_trains_as_torch(opset):
    """torchvision's ConvNeXt block: before opset 17 its LayerNorm is exported as ReduceMean,
    Sub, Pow, Add, Sqrt and Div (from 17 as LayerNormalization); both load, agree with
    PyTorch and onnxruntime, and train as PyTorch."""
    CNBlock = import_torchvision().models.convnext.CNBlock

    torch.manual_seed(7)
    model = CNBlock(8, 0.5, 0.0).double().eval()
    x = torch.randn(2, 8, 7, 6, dtype=torch.float64)
    graph = load(_export(model, x, opset_version=opset))
    with torch.no_grad():
        want = model(x).numpy()
    assert rel_error(graph(x.numpy()), want) <= 1e-12
    loads_as_onnxruntime(model, x, opset_version=opset)
    trains_as_torch(model, x, graph)


def _exported_agrees_and_trains(model, x, opset, ops):
    """The float64 ``model`` exported at ``opset`` uses ``ops``; its graph gives PyTorch's
    output (1e-12) and onnxruntime's, and trains as PyTorch's autograd. Returns the graph."""
    import onnx

    data = _export(model, x, opset_version=opset)
    used = {n.op_type for n in onnx.load_from_string(data).graph.node}
    assert ops <= used, used
    graph = load(data)
    with torch.no_grad():
        want = model(x).numpy()
    assert rel_error(graph(x.numpy()), want) <= 1e-12
    loads_as_onnxruntime(model, x, opset_version=opset)
    trains_as_torch(model, x, graph)
    return graph


class _Interpolating(torch.nn.Module):
    def __init__(self, mode, align_corners, **geometry):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3)
        self.mode, self.align_corners, self.geometry = mode, align_corners, geometry

    def forward(self, x):
        y = torch.nn.functional.interpolate(
            self.conv(x), mode=self.mode, align_corners=self.align_corners, **self.geometry
        )
        return torch.tanh(y)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("opset", [11, 13, 17])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(
    "geometry", [dict(scale_factor=2.0), dict(scale_factor=(1.5, 0.5)), dict(size=(7, 3))], ids=str
)
def test_interpolate_agrees_and_trains_as_torch(opset, align_corners, geometry, mode):
    """F.interpolate(mode="bilinear" / "bicubic") is exported as a linear / cubic Resize
    (pytorch_half_pixel or align_corners, by scales or sizes; cubic_coeff_a = −0.75): it
    loads, agrees with PyTorch (float64) and with onnxruntime (float32), and its backward is
    PyTorch's autograd."""
    torch.manual_seed(8)
    model = _Interpolating(mode, align_corners, **geometry).double()
    x = torch.randn(2, 2, 6, 7, dtype=torch.float64)
    graph = _exported_agrees_and_trains(model, x, opset, {"Resize"})
    assert any(getattr(m, "onnx_op", None) == "Resize" for m in graph.modules())


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialiased_interpolate_export_refused_by_torch_or_agrees(mode):
    """F.interpolate(antialias=True): PyTorch 2.13's TorchScript exporter (dynamo=False)
    refuses aten::_upsample_bilinear2d_aa / _upsample_bicubic2d_aa at opset 18 (there is no
    file to load). Should a later PyTorch export it, the file must load and agree with
    PyTorch (float64) and onnxruntime, and this test then checks it."""
    from torch.onnx.errors import UnsupportedOperatorError

    torch.manual_seed(9)
    model = _Interpolating(mode, False, size=(3, 4), antialias=True).double()
    x = torch.randn(2, 2, 9, 11, dtype=torch.float64)
    try:
        _export(model, x, opset_version=18)
    except UnsupportedOperatorError as e:
        assert f"_upsample_{mode}2d_aa" in str(e)
        return
    _exported_agrees_and_trains(model, x, 18, {"Resize"})


class _Splits(torch.nn.Module):
    """x.split into uneven parts and x.chunk, the parts recombined (a squeeze-excite-like
    gate from one part, a residual from another)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 7, 3, padding=1)

    def forward(self, x):
        a, b, c = self.conv(x).split([2, 4, 1], dim=1)
        p, q = b.chunk(2, dim=1)
        return torch.tanh(a) * p + torch.sigmoid(q) * c


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_and_chunk_load_as_narrows_and_train_as_torch(opset):
    """PyTorch exports x.split / x.chunk as ONNX Split (sizes an attribute before opset 13,
    an input from 13; opset 18's num_outputs): each output becomes an nn.Narrow, and the
    graph agrees with PyTorch (float64) and onnxruntime and trains as PyTorch's autograd."""
    torch.manual_seed(11)
    model = _Splits().double()
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    graph = _exported_agrees_and_trains(model, x, opset, {"Split"})
    assert sum(isinstance(n.module, nn.Narrow) for n in graph.walk()) >= 5


class _Reductions(torch.nn.Module):
    """Features L2-normalised over the channels, a max-pooled and a summed summary: the
    reductions PyTorch exports as ReduceL2, ReduceMax and ReduceSum."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        f = self.conv(x)
        f = f / f.norm(dim=1, keepdim=True)
        return f.amax(dim=(2, 3)) + f.sum(dim=(2, 3)) + torch.logsumexp(f, dim=3).mean(dim=2)


@pytest.mark.parametrize("opset", [13, 18])
def test_reductions_load_and_train_as_torch(opset):
    torch.manual_seed(12)
    model = _Reductions().double()
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    _exported_agrees_and_trains(
        model, x, opset, {"ReduceL2", "ReduceMax", "ReduceSum", "ReduceLogSumExp"}
    )


class _Broadcasts(torch.nn.Module):
    """torch.maximum of two feature maps, a channel gate expanded over the image, and a
    pattern repeated (x.repeat): PyTorch exports Max, Expand and Tile."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.other = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        f = torch.maximum(self.conv(x), self.other(x))
        gate = torch.sigmoid(f.mean(dim=(2, 3), keepdim=True)).expand(-1, -1, 6, 4)
        return f * gate + f[:, :, :3, :2].repeat(1, 1, 2, 2)


@pytest.mark.parametrize("opset", [13, 17])
def test_maximum_expand_and_repeat_load_and_train_as_torch(opset):
    torch.manual_seed(13)
    model = _Broadcasts().double()
    x = torch.randn(2, 3, 6, 4, dtype=torch.float64)
    _exported_agrees_and_trains(model, x, opset, {"Max", "Expand", "Tile"})


class _Labels(torch.nn.Module):
    """Per-pixel class labels, as a segmentation network's last step: argmax over the
    channels of its scores (an int64 map)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 5, 3, padding=1)

    def forward(self, x):
        return self.conv(x).argmax(dim=1)


@pytest.mark.parametrize("opset", [11, 17])
def test_argmax_labels_are_torchs(opset):
    torch.manual_seed(14)
    model = _Labels().eval()
    x = torch.randn(2, 3, 6, 5)
    graph = load(_export(model, x, opset_version=opset))
    got = graph(x.numpy())
    assert got.dtype == np.int64
    with torch.no_grad():
        np.testing.assert_array_equal(got, model(x).numpy())


class _WithLoss(torch.nn.Module):
    """A per-pixel classifier and its loss in one graph (a training export): class weights,
    an ignored label (−1), and the chosen reduction."""

    def __init__(self, loss, reduction):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        labels = torch.tensor([[[0, 1, 2, 3, -1]] * 6, [[3, 3, 2, 1, 0]] * 6])
        self.register_buffer("labels", labels)
        self.register_buffer("w", torch.tensor([1.0, 2.0, 0.5, 1.5]))
        self.loss, self.reduction = loss, reduction

    def forward(self, x):
        z = self.conv(x)
        if self.loss == "nll":  # (log_softmax then nll_loss would be exported fused)
            z = torch.log(torch.softmax(z, dim=1))
        f = (
            torch.nn.functional.nll_loss
            if self.loss == "nll"
            else torch.nn.functional.cross_entropy
        )
        return f(z, self.labels, weight=self.w, ignore_index=-1, reduction=self.reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", ["cross_entropy", "nll"])
def test_losses_in_the_graph_train_as_torch(loss, reduction):
    """F.cross_entropy and F.nll_loss are exported as SoftmaxCrossEntropyLoss and
    NegativeLogLikelihoodLoss: the loaded graph's loss is PyTorch's, and its backward gives
    PyTorch's gradients of the input and the convolution's parameters."""
    torch.manual_seed(15)
    model = _WithLoss(loss, reduction).double()
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    op = "NegativeLogLikelihoodLoss" if loss == "nll" else "SoftmaxCrossEntropyLoss"
    _exported_agrees_and_trains(model, x, 13, {op})


def test_segmentation_network_agrees():
    """torchvision's LR-ASPP (MobileNetV3 backbone, its head upsampling bilinearly), random
    weights and BatchNorm statistics: the loaded graph gives PyTorch's and onnxruntime's
    per-pixel class scores."""
    segmentation = import_torchvision().models.segmentation

    class Out(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)["out"]

    torch.manual_seed(9)
    net = segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=4)
    model = Out(randomise_batchnorm(net, seed=9)).eval()
    x = torch.randn(2, 3, 64, 48)
    graph = _check(model, x, opset_version=17)
    assert graph(x.numpy()).shape == (2, 4, 64, 48)


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("axes", [{0: "batch"}, {0: "batch", 2: "height", 3: "width"}])
def test_segmentation_network_with_dynamic_axes_runs_at_other_sizes(opset, axes):
    """torchvision's LR-ASPP exported with a dynamic batch (and size): its upsampling reads
    the input's size at run time (Shape, Gather, Concat, a Cast of that int64 to int64,
    Resize). The loaded graph gives onnxruntime's scores at other batch sizes (and image
    sizes), and PyTorch's."""
    segmentation = import_torchvision().models.segmentation

    class Out(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)["out"]

    torch.manual_seed(10)
    net = segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3)
    model = Out(randomise_batchnorm(net, seed=10)).eval()
    data = _export(model, torch.randn(2, 3, 64, 48), opset_version=opset, dynamic_axes={"x": axes})
    graph = load(data)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    sizes = [(1, 64, 48), (3, 64, 48)] + ([(2, 40, 56)] if 2 in axes else [])
    for n, h, w in sizes:
        x = torch.randn(n, 3, h, w)
        got = graph(x.numpy())
        with torch.no_grad():
            want = model(x).numpy()
        assert got.shape == (n, 3, h, w)
        assert rel_error(got, session.run(None, {"x": x.numpy()})[0]) <= 1e-4
        assert rel_error(got, want) <= 1e-4


class _ESPCN(torch.nn.Module):
    """ESPCN, as the super-resolution network of PyTorch's ONNX export tutorial but with
    the paper's tanh: features at low resolution, then r² channels per output channel
    shuffled into r×r blocks (a smaller width, for speed)."""

    def __init__(self, r=3):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(16, 8, 3, padding=1)
        self.conv3 = torch.nn.Conv2d(8, r * r, 3, padding=1)
        self.shuffle = torch.nn.PixelShuffle(r)

    def forward(self, x):
        x = torch.tanh(self.conv2(torch.tanh(self.conv1(x))))
        return self.shuffle(self.conv3(x))


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_espcn_super_resolution_agrees_and_trains_as_torch(opset):
    """PyTorch exports PixelShuffle as DepthToSpace(mode="CRD"): it loads as the
    nn.PixelShuffle layer; the network gives PyTorch's output (float64) and onnxruntime's
    (float32), three times the input's size, and its gradients are PyTorch's autograd's."""
    torch.manual_seed(10)
    model = _ESPCN(3).double().eval()
    x = torch.randn(2, 1, 7, 6, dtype=torch.float64)
    graph = load(_export(model, x, opset_version=opset))
    assert [type(n.module).__name__ for n in graph.walk()][-1] == "PixelShuffle"
    with torch.no_grad():
        want = model(x).numpy()
    got = graph(x.numpy())
    assert got.shape == (2, 1, 21, 18)
    assert rel_error(got, want) <= 1e-12
    loads_as_onnxruntime(model, x, opset_version=opset)
    trains_as_torch(model, x, graph)


class _Unshuffle(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)
        self.unshuffle = torch.nn.PixelUnshuffle(2)
        self.head = torch.nn.Conv2d(12, 4, 1)

    def forward(self, x):
        return self.head(torch.tanh(self.unshuffle(self.conv(x))))


@pytest.mark.parametrize("opset", [11, 13, 17])
def test_pixel_unshuffle_export_agrees_and_trains_as_torch(opset):
    """PyTorch exports PixelUnshuffle as Reshape, Transpose, Reshape (ONNX's SpaceToDepth
    orders the channels otherwise until opset 28): the three load, agree with PyTorch and
    onnxruntime, and train as PyTorch."""
    torch.manual_seed(11)
    model = _Unshuffle().double()
    x = torch.randn(2, 2, 6, 8, dtype=torch.float64)
    graph = load(_export(model, x, opset_version=opset))
    with torch.no_grad():
        want = model(x).numpy()
    assert rel_error(graph(x.numpy()), want) <= 1e-12
    loads_as_onnxruntime(model, x, opset_version=opset)
    trains_as_torch(model, x, graph)


def test_a_loaded_network_trained_here_saves_as_onnx_with_its_new_weights(tmp_path):
    """ONNX in and out: torchvision's ShuffleNetV2 exported with a dynamic batch (its channel
    shuffle a Reshape, Transpose, Reshape chain on sizes read at run time), loaded, one SGD
    step taken here, saved (its ops written as read, at the file's opset) — onnxruntime's
    logits of the written file are cnnmath's after the step, at another batch size."""
    from cnnmath import optim
    from cnnmath.onnx import save

    tv = import_torchvision()
    torch.manual_seed(11)
    model = randomise_batchnorm(tv.models.shufflenet_v2_x0_5(num_classes=5), seed=11).eval()
    data = _export(model, torch.randn(2, 3, 64, 64), dynamic_axes={"x": {0: "batch"}})
    graph = load(data)
    kinds = {type(n.module).__name__ for n in graph.walk()}
    assert {"_Reshape", "_Transpose"} <= kinds  # ops written back as read, not as layers
    x = np.random.default_rng(12).standard_normal((2, 3, 64, 64)).astype(np.float32)
    before = graph(x)
    graph.zero_grad()
    graph.backward(np.random.default_rng(13).standard_normal(before.shape).astype(np.float32))
    optim.SGD(graph.parameters(), lr=0.5).step()
    x3 = np.random.default_rng(14).standard_normal((3, 3, 64, 64)).astype(np.float32)
    after = graph(x3)
    assert rel_error(after, session_run(data, x3)) > 1e-3  # the step changed the logits
    save(graph, tmp_path / "tuned.onnx", x)
    assert rel_error(session_run((tmp_path / "tuned.onnx").read_bytes(), x3), after) <= 1e-5


def session_run(data, x):
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_ops_written_as_read_keep_the_opset_they_were_read_at(tmp_path):
    """A graph read from an opset-13 file cannot be written at 13 (cnnmath writes 14 on) nor
    at 17 (its ops' meaning is 13's): both refused, naming the opset; an opset-17 file's graph
    is written at 17 by default and refused at 18, naming the node. The file's input
    declarations are kept: its fixed axes (exported with a fixed batch, whose constants may
    hold it) stay fixed and must be the example's; its symbolic ones keep their names."""
    from cnnmath.onnx import save

    class Shuffle(torch.nn.Module):
        def forward(self, x):
            n, c, h, w = x.shape
            return x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)

    x = torch.randn(2, 4, 3, 3)
    old = load(_export(Shuffle(), x, opset_version=13, dynamic_axes={"x": {0: "batch"}}))
    with pytest.raises(ValueError, match=r"read from an opset-13 ONNX file.*opsets 14 to"):
        save(old, tmp_path / "a.onnx", x.numpy())
    with pytest.raises(ValueError, match=r"was read from an opset-13 file .*writes opsets 14 on"):
        save(old, tmp_path / "a.onnx", x.numpy(), opset=17)
    new = load(_export(Shuffle(), x, opset_version=17, dynamic_axes={"x": {0: "batch"}}))
    with pytest.raises(ValueError, match=r"opset-17 file .*expected opset=17.*got 18"):
        save(new, tmp_path / "a.onnx", x.numpy(), opset=18)
    assert not (tmp_path / "a.onnx").exists()
    save(new, tmp_path / "b.onnx", x.numpy())
    y = session_run((tmp_path / "b.onnx").read_bytes(), x.numpy())
    np.testing.assert_array_equal(y, Shuffle()(x).numpy())
    import onnx

    dims = onnx.load(tmp_path / "b.onnx").graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 4, 3, 3]
    fixed = load(_export(Shuffle(), x, opset_version=17))  # batch 2 fixed in the file
    with pytest.raises(ValueError, match=r"fixed size 2 on axis 0 .*got shape \(3, 4, 3, 3\)"):
        save(fixed, tmp_path / "c.onnx", np.zeros((3, 4, 3, 3), np.float32))
    save(fixed, tmp_path / "c.onnx", x.numpy())
    dims = onnx.load(tmp_path / "c.onnx").graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [2, 4, 3, 3]


class _Indexing(torch.nn.Module):
    """After a convolution: TopK's values and indices (as a float and to gather by:
    GatherElements), CumSum, fmod (Mod), and Tan, Asin, Acos, Atan on their domains."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3)

    def forward(self, x):
        z = self.conv(x)
        t = 0.9 * torch.tanh(z)  # in (−0.9, 0.9)
        values, indices = z.topk(2, dim=1)
        return torch.cat(
            [
                values,
                torch.gather(z, 1, indices) * indices.to(z.dtype),
                torch.cumsum(z, 2),
                torch.fmod(z, 0.7),
                torch.tan(t),
                torch.asin(t),
                torch.acos(t),
                torch.atan(z),
            ],
            dim=1,
        )


@pytest.mark.parametrize("opset", [11, 17])
def test_topk_gather_cumsum_fmod_and_trigonometry_agree_and_train_as_torch(opset):
    torch.manual_seed(8)
    model = _Indexing().double().eval()
    x = torch.randn(2, 2, 6, 5, dtype=torch.float64)
    ops = {"TopK", "GatherElements", "CumSum", "Mod", "Tan", "Asin", "Acos", "Atan"}
    _exported_agrees_and_trains(model, x, opset, ops)


class _Positions(torch.nn.Module):
    """x weighted by its column index, ``torch.arange(width)``: with a dynamic width the
    export computes the Range from the input's Shape at run time."""

    def forward(self, x):
        return x * torch.arange(x.shape[-1], dtype=x.dtype)


@pytest.mark.parametrize("opset", [11, 17])
def test_a_range_of_a_dynamic_size_runs_at_other_sizes(opset):
    model = _Positions()
    x = torch.randn(2, 3, 5, dtype=torch.float64)
    graph = load(_export(model, x, opset_version=opset, dynamic_axes={"x": {2: "width"}}))
    assert "Range" in {m.onnx_op for m in graph.modules() if hasattr(m, "onnx_op")}
    for width in (5, 8, 1):
        xw = torch.randn(2, 3, width, dtype=torch.float64)
        np.testing.assert_array_equal(graph(xw.numpy()), model(xw).numpy())
    trains_as_torch(model, x, graph)


def test_a_written_back_graph_reads_and_writes_again_with_its_fixed_values_fixed(tmp_path):
    """A clamp (Clip with Constant bounds) and an interpolate (Resize with Constant scales),
    loaded, saved, loaded, saved: the bounds and scales stay fixed values (Constant nodes,
    not initializers that would come back trainable), so the parameters are the network's
    four and the second save writes the ops as read again; onnxruntime agrees throughout."""
    import torch.nn.functional as F

    from cnnmath.onnx import save

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
            self.head = torch.nn.Conv2d(4, 2, 1)

        def forward(self, x):
            y = self.head(self.conv(x).clamp(-1.0, 2.0))
            return F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)

    torch.manual_seed(15)
    x = torch.randn(2, 3, 8, 8)
    data = _export(Head().eval(), x, opset_version=17, dynamic_axes={"x": {0: "batch"}})
    save(load(data), tmp_path / "once.onnx", x.numpy())
    again = load(tmp_path / "once.onnx")
    assert sorted(k for k, _ in again.named_parameters()) == [
        "conv.bias", "conv.weight", "head.bias", "head.weight"
    ]  # fmt: skip
    save(again, tmp_path / "twice.onnx", x.numpy())
    # converted to float64, its Resize's scales (float32 in ONNX) would no longer be read as
    # they are written: refused, naming the input and the dtype it was read in
    with pytest.raises(ValueError, match=r"input 'x' is float32 in the file .* got float64"):
        save(load(data).to(np.float64), tmp_path / "f64.onnx", x.numpy().astype(np.float64))
    assert not (tmp_path / "f64.onnx").exists()
    x3 = np.random.default_rng(16).standard_normal((3, 3, 8, 8)).astype(np.float32)
    want = session_run(data, x3)
    assert rel_error(session_run((tmp_path / "twice.onnx").read_bytes(), x3), want) <= 1e-6
    assert rel_error(load(tmp_path / "twice.onnx")(x3), want) <= 1e-5
