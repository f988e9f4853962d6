"""A spatial transformer (localisation network → AffineGrid → GridSample) built as a Graph,
against the same network in PyTorch: outputs and every gradient; PyTorch's ONNX export of it
loaded (and trained) by cnnmath; cnnmath's ONNX file run by onnxruntime and read back."""

import numpy as np
import pytest

from cnnmath import nn
from cnnmath.onnx import load, save
from helpers import loads_as_onnxruntime, rel_error, torch_onnx_export, trains_as_torch

torch = pytest.importorskip("torch")


class TorchSTN(torch.nn.Module):
    def __init__(self, mode="bilinear", padding_mode="zeros", align_corners=False):
        super().__init__()
        self.loc = torch.nn.Sequential(
            torch.nn.Conv2d(2, 4, 3),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(4, 6),
        )
        self.head = torch.nn.Conv2d(2, 3, 3, padding=1)
        self.options = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)

    def forward(self, x):
        theta = self.loc(x).view(-1, 2, 3)
        grid = torch.nn.functional.affine_grid(
            theta, x.size(), align_corners=self.options["align_corners"]
        )
        return self.head(torch.nn.functional.grid_sample(x, grid, **self.options))


def cnnmath_stn(torch_model, dtype=np.float64, size=None):
    """The same network as a Graph, with the torch model's weights; the grid of the image's
    size, or of a fixed ``size``."""
    loc = nn.Sequential(
        nn.Conv2d(2, 4, 3, dtype=dtype),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 6, dtype=dtype),
    )
    head = nn.Conv2d(2, 3, 3, padding=1, dtype=dtype)
    options = torch_model.options
    g = nn.Graph()
    g.add(loc, "x", name="loc")
    g.add(nn.Unflatten(1, (2, 3)), "loc", name="theta")
    if size is None:
        g.add(nn.AffineGrid(align_corners=options["align_corners"]), "theta", "x", name="grid")
    else:
        g.add(nn.AffineGrid(size, options["align_corners"]), "theta", name="grid")
    g.add(nn.GridSample(**options), "x", "grid", name="warped")
    g.add(head, "warped", name="head")
    g.set_output("head")
    state = {k: v.detach().numpy().astype(dtype) for k, v in torch_model.state_dict().items()}
    g.load_state_dict(state)
    return g


def _model(seed, **options):
    torch.manual_seed(seed)
    model = TorchSTN(**options).double()
    with torch.no_grad():  # a clear warp: near the identity plus a shift and a shear
        model.loc[4].bias.copy_(torch.tensor([1.0, 0.3, 0.2, -0.2, 0.9, -0.1]))
    return model


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"align_corners": True},
        {"mode": "nearest", "padding_mode": "border"},
        {"padding_mode": "reflection", "align_corners": True},
        {"mode": "bicubic", "padding_mode": "reflection"},
        {"mode": "bicubic", "padding_mode": "border", "align_corners": True},
        {"mode": "bicubic"},
    ],
)
def test_the_graph_computes_and_trains_as_torch(options):
    model = _model(0, **options)
    graph = cnnmath_stn(model)
    x = torch.randn(3, 2, 9, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(graph(x.numpy()), model(x).detach().numpy(), rtol=1e-12, atol=1e-13)
    G = torch.randn(3, 3, 9, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    xt = x.clone().requires_grad_()
    (model(xt) * G).sum().backward()
    graph.zero_grad()
    graph(x.numpy())
    # ∂ℓ/∂X sums the sampler's share and the localisation network's
    assert rel_error(graph.backward(G.numpy()), xt.grad.numpy()) <= 1e-10
    ours = dict(graph.named_parameters())
    assert sorted(ours) == sorted(n for n, _ in model.named_parameters())
    for name, p in model.named_parameters():
        assert rel_error(ours[name].grad, p.grad.numpy()) <= 1e-10, name


def test_the_wiring_ops_are_not_children_and_print_their_options():
    graph = cnnmath_stn(_model(0))
    assert "GridSample" not in repr(graph) and "AffineGrid" not in repr(graph)
    assert repr(nn.AffineGrid((2, 1, 4, 4), True)) == (
        "AffineGrid(size=(2, 1, 4, 4), align_corners=True)"
    )
    assert repr(nn.GridSample("nearest", "reflection")) == (
        "GridSample(mode='nearest', padding_mode='reflection', align_corners=False)"
    )
    assert repr(nn.GridSample("bicubic", align_corners=True)) == (
        "GridSample(mode='bicubic', padding_mode='zeros', align_corners=True)"
    )


@pytest.mark.parametrize("options", [{}, {"mode": "bicubic", "padding_mode": "reflection"}])
def test_pytorchs_onnx_export_loads_runs_and_trains(options):
    model = _model(3, **options)
    x = torch.randn(2, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    loads_as_onnxruntime(model, x, opset_version=20)
    data = torch_onnx_export(model, x, opset_version=20)
    if options:  # ONNX's name from opset 20
        assert b"cubic" in data and b"bicubic" not in data
    graph = load(data)
    np.testing.assert_allclose(graph(x.numpy()), model(x).detach().numpy(), rtol=1e-10)
    trains_as_torch(model, x, graph)


@pytest.mark.parametrize(("opset", "fixed_size"), [(20, False), (20, True), (21, False)])
def test_saved_files_run_in_onnxruntime_and_load_back(tmp_path, opset, fixed_size):
    ort = pytest.importorskip("onnxruntime")
    size = (2, 2, 7, 6) if fixed_size else None
    graph = cnnmath_stn(_model(5, padding_mode="border"), dtype=np.float32, size=size)
    x = np.random.default_rng(6).normal(size=(2, 2, 7, 6)).astype(np.float32)
    path = tmp_path / "stn.onnx"
    save(graph, path, x, opset=opset)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    witness = session.run(None, {"x": x})[0]
    assert rel_error(graph(x), witness) <= 1e-5
    back = load(path)
    np.testing.assert_allclose(back(x), graph(x), rtol=1e-6, atol=1e-6)
    if not fixed_size:  # Shape(image): any batch runs
        x1 = x[:1]
        assert rel_error(back(x1), session.run(None, {"x": x1})[0]) <= 1e-5


def test_grid_sample_alone_saves_before_opset_20_as_bilinear(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    g = nn.Graph(("x", "grid"))
    g.add(nn.GridSample(align_corners=True), "x", "grid", name="sample")
    g.set_output("sample")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 2, 5, 5)).astype(np.float32)
    grid = rng.uniform(-1.2, 1.2, size=(1, 3, 4, 2)).astype(np.float32)
    path = tmp_path / "sample.onnx"
    save(g, path, (x, grid), opset=16)
    data = path.read_bytes()
    assert b"bilinear" in data
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    witness = session.run(None, {"x": x, "grid": grid})[0]
    assert rel_error(g(x, grid), witness) <= 1e-5


class TorchFlow(torch.nn.Module):
    """A grid computed from the image by a convolution (a flow field), sampled bicubically:
    no AffineGrid, so PyTorch exports it before opset 20 too."""

    def __init__(self, **options):
        super().__init__()
        self.flow = torch.nn.Conv2d(2, 2, 3, padding=1)
        self.options = options

    def forward(self, x):
        grid = 1.5 * torch.tanh(self.flow(x)).permute(0, 2, 3, 1)
        return torch.nn.functional.grid_sample(x, grid, mode="bicubic", **self.options)


@pytest.mark.parametrize("opset", [16, 20])
def test_pytorchs_bicubic_export_loads_runs_and_trains_at_either_name(opset):
    """PyTorch writes the mode "bicubic" before opset 20 and "cubic" from 20."""
    torch.manual_seed(9)
    model = TorchFlow(padding_mode="border", align_corners=True).double()
    x = torch.randn(2, 2, 6, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    loads_as_onnxruntime(model, x, opset_version=opset)
    data = torch_onnx_export(model, x, opset_version=opset)
    assert (b"bicubic" in data) == (opset < 20) and b"cubic" in data
    graph = load(data)
    np.testing.assert_allclose(graph(x.numpy()), model(x).detach().numpy(), rtol=1e-10)
    trains_as_torch(model, x, graph)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("opset", [16, 20])
def test_bicubic_saves_as_cubic_runs_in_onnxruntime_and_loads_back(
    tmp_path, opset, padding_mode, align_corners
):
    """ONNX's cubic is PyTorch's (A = −0.75, each tap padded alone): onnxruntime agrees on
    points inside, on the edges and outside. The mode is "bicubic" before opset 20, "cubic"
    from 20; the loader reads each name at its own opsets only."""
    ort = pytest.importorskip("onnxruntime")
    g = nn.Graph(("x", "grid"))
    g.add(nn.GridSample("bicubic", padding_mode, align_corners), "x", "grid", name="sample")
    g.set_output("sample")
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 3, 5, 6)).astype(np.float32)
    grid = rng.uniform(-2.5, 2.5, size=(2, 4, 7, 2)).astype(np.float32)
    grid[0, 0, :4] = [[-1, -1], [1, 1], [0, 0], [1, -1]]
    path = tmp_path / "sample.onnx"
    save(g, path, (x, grid), opset=opset)
    data = path.read_bytes()
    name = b"bicubic" if opset < 20 else b"cubic"
    assert name in data and (b"bicubic" in data) == (opset < 20)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    witness = session.run(None, {"x": x, "grid": grid})[0]
    assert rel_error(g(x, grid), witness) <= 1e-5
    back = load(data)
    np.testing.assert_array_equal(back(x, grid), g(x, grid))
    onnx = pytest.importorskip("onnx")
    model = onnx.load_from_string(data)
    (mode,) = [a for n in model.graph.node for a in n.attribute if a.name == "mode"]
    mode.s = b"cubic" if opset < 20 else b"bicubic"  # the other opsets' name
    names = "'bilinear', 'nearest' or 'bicubic'" if opset < 20 else "'linear', 'nearest' or 'cubic'"
    with pytest.raises(ValueError, match=f"attribute 'mode': expected {names} at opset {opset}"):
        load(model.SerializeToString())


@pytest.mark.parametrize(
    ("module", "opset", "words"),
    [
        (nn.AffineGrid((1, 1, 3, 3)), 19, ["AffineGrid", "needs opset 20", "got 19"]),
        (nn.GridSample(), 15, ["GridSample", "needs opset 16", "got 15"]),
    ],
)
def test_saving_below_the_ops_opset_is_refused_by_name(tmp_path, module, opset, words):
    g = nn.Graph(("a", "b"))
    if isinstance(module, nn.AffineGrid):
        g.add(module, "a", name="node")
        args = (np.zeros((1, 2, 3)), np.zeros((1, 1, 3, 3)))
    else:
        g.add(module, "a", "b", name="node")
        args = (np.zeros((1, 1, 3, 3)), np.zeros((1, 2, 2, 2)))
    g.set_output("node")
    path = tmp_path / "m.onnx"
    with pytest.raises(ValueError) as caught:
        save(g, path, args, opset=opset)
    for word in words:
        assert word in str(caught.value)
    assert not path.exists()


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (
            lambda: nn.GridSample("area"),
            ValueError,
            ["GridSample: mode: expected 'bilinear', 'nearest' or 'bicubic', got 'area'"],
        ),
        (lambda: nn.GridSample(padding_mode="wrap"), ValueError, ["padding_mode", "'wrap'"]),
        (lambda: nn.AffineGrid(align_corners=1), TypeError, ["AffineGrid", "align_corners"]),
        (lambda: nn.AffineGrid((1, 2, 3)), ValueError, ["AffineGrid", "size", "(1, 2, 3)"]),
        (
            lambda: nn.AffineGrid()(np.zeros((1, 2, 3))),
            ValueError,
            ["AffineGrid.forward", "the image to sample"],
        ),
        (
            lambda: nn.AffineGrid((1, 1, 2, 2))(np.zeros((1, 2, 3)), np.zeros((1, 1, 2, 2))),
            ValueError,
            ["θ alone"],
        ),
    ],
)
def test_bad_arguments_are_named(make, error, words):
    with pytest.raises(error) as caught:
        make()
    for word in words:
        assert word in str(caught.value)
