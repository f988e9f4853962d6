"""A file exported without dynamic axes whose Shape nodes read the input: the sizes they
compute are fixed when cnnmath loads it, so the graph holds its input to the declared sizes
and refuses others by name, as onnxruntime refuses them, instead of computing with the
declared sizes (a batch of two images came back as one map, the mean of the two). Files
without such nodes, and files with dynamic axes, still run at any batch size, against
PyTorch."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

from cnnmath import nn

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
from cnnmath.onnx import load  # noqa: E402

F = torch.nn.functional


class _Upsampling(torch.nn.Module):
    """A segmentation head's ending: the logits resized to the input's own size."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return F.interpolate(self.conv(x), size=x.shape[-2:], mode="bilinear", align_corners=False)


class _Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


def _export(net, path, shape, dynamic=False):
    torch.manual_seed(0)
    net.eval()
    kwargs = {"dynamic_axes": {"x": {0: "b", 2: "h", 3: "w"}}} if dynamic else {}
    with warnings.catch_warnings():  # the TorchScript exporter says it is the legacy one
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (torch.zeros(shape),), str(path), dynamo=False, input_names=["x"], **kwargs
        )
    return load(path)


def _torch(net, x):
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def test_a_shape_read_at_load_time_holds_the_input_to_the_declared_sizes(tmp_path):
    torch.manual_seed(0)
    net = _Upsampling()
    graph = _export(net, tmp_path / "m.onnx", (1, 3, 16, 16))
    (name,) = graph.fixed_input_sizes
    assert graph.fixed_input_sizes[name] == (1, 3, 16, 16)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(graph(x), _torch(net, x), rtol=1e-5, atol=1e-5)
    for shape in [(2, 3, 16, 16), (1, 3, 20, 16), (3, 16, 16)]:
        bad = rng.standard_normal(shape).astype(np.float32)
        with pytest.raises(ValueError, match=r"input 'x': expected shape \(1, 3, 16, 16\), got"):
            graph(bad)
    ort = pytest.importorskip("onnxruntime")  # the witness refuses the batch of two as well
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="dimensions"):
        session.run(None, {"x": np.zeros((2, 3, 16, 16), np.float32)})


def test_the_hold_survives_copies_and_refuses_tiles(tmp_path):
    da = pytest.importorskip("dask.array")
    from cnnmath import tiled

    graph = _export(_Upsampling(), tmp_path / "m.onnx", (1, 3, 16, 16))
    for other in (copy.deepcopy(graph), pickle.loads(pickle.dumps(graph))):
        assert other.fixed_input_sizes == graph.fixed_input_sizes
        with pytest.raises(ValueError, match=r"expected shape \(1, 3, 16, 16\)"):
            other(np.zeros((2, 3, 16, 16), np.float32))
    with pytest.raises(ValueError, match=r"tiled.apply: model_or_op: its input 'x' is held"):
        tiled.apply(graph, da.zeros((1, 3, 32, 32), chunks=(1, 3, 16, 16), dtype=np.float32))


def test_with_dynamic_axes_nothing_is_held_and_every_size_is_torchs(tmp_path):
    torch.manual_seed(0)
    net = _Upsampling()
    graph = _export(net, tmp_path / "m.onnx", (1, 3, 16, 16), dynamic=True)
    assert graph.fixed_input_sizes == {}
    x = np.random.default_rng(1).standard_normal((3, 3, 20, 12)).astype(np.float32)
    np.testing.assert_allclose(graph(x), _torch(net, x), rtol=1e-5, atol=1e-5)


def test_a_file_without_shape_nodes_still_runs_at_any_batch_size(tmp_path):
    torch.manual_seed(0)
    net = _Classifier()
    graph = _export(net, tmp_path / "m.onnx", (1, 3, 8, 8))
    assert graph.fixed_input_sizes == {}
    x = np.random.default_rng(2).standard_normal((4, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(graph(x), _torch(net, x), rtol=1e-5, atol=1e-5)


def test_fix_input_sizes_checks_its_arguments_and_lifts():
    g = nn.Graph(["x"])
    g.set_output(g.add(nn.ReLU(), "x"))
    with pytest.raises(ValueError, match=r"fix_input_sizes: sizes: 'y' is not an input"):
        g.fix_input_sizes({"y": (1,)}, "why")
    with pytest.raises(TypeError, match=r"sizes\['x'\]: expected a tuple of sizes"):
        g.fix_input_sizes({"x": [1, 2]}, "why")
    g.fix_input_sizes({"x": (None, 2)}, "the reason")
    with pytest.raises(
        ValueError, match=r"input 'x': expected shape \(any, 2\), got \(3, 4\): the reason"
    ):
        g(np.zeros((3, 4)))
    assert g(np.ones((5, 2))).shape == (5, 2)
    g.fix_input_sizes({}, "")
    assert g.fixed_input_sizes == {} and g(np.zeros((3, 4))).shape == (3, 4)


class _ViewClassifier(torch.nn.Module):
    """``x.reshape(x.shape[0], -1)``: the tracer writes the batch of the export, 1, into the
    file as a constant (no Shape node), so a batch of 3 breaks the Reshape."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).reshape(x.shape[0], -1))


def test_predict_runs_a_file_of_a_declared_batch_of_one_image_by_image(tmp_path, capsys):
    """The file declares a batch of 1: predict runs its three images one at a time (the
    default --batch-size of 16 would break the Reshape) and reports PyTorch's classes."""
    import json

    from PIL import Image

    from cnnmath.cli import main

    torch.manual_seed(3)
    net = _ViewClassifier()
    graph = _export(net, tmp_path / "m.onnx", (1, 3, 8, 8))
    assert graph.fixed_input_sizes == {}  # no Shape node: nothing held by the loader
    x = np.random.default_rng(4).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    files = []
    for k, image in enumerate(x):
        files.append(str(tmp_path / f"i{k}.png"))
        Image.fromarray(image).save(files[-1])
    with pytest.raises(ValueError):  # what a batch of three does to the graph itself
        graph(np.zeros((3, 3, 8, 8), np.float32))
    status = main(["predict", str(tmp_path / "m.onnx"), *files, "--size", "8", "8", "--json",
                   "--quiet", "--mean", "0", "--std", "1"])  # fmt: skip
    out = capsys.readouterr()
    assert status == 0, out.err
    reports = [json.loads(line) for line in out.out.splitlines()]
    want = _torch(net, (np.moveaxis(x, -1, 1) / 255.0).astype(np.float32)).argmax(1)
    assert [r["top"][0]["class"] for r in reports] == want.tolist()
