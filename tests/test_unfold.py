"""unfold / fold beyond the op records: the identities that make them im2col and col2im
(a convolution is a product with the unfolded image; fold is unfold's adjoint; fold∘unfold
counts windows), the layers against torch.nn.Unfold / Fold (forward, backward, repr), and
ONNX both ways (PyTorch's export loads; cnnmath's save runs in onnxruntime)."""

import numpy as np
import pytest

from cnnmath import nn, ops, receptive_field
from helpers import loads_as_onnxruntime, rel_error, torch_onnx_export

torch = pytest.importorskip("torch")

GEOMETRIES = [
    dict(kernel_size=3),
    dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
    dict(kernel_size=2, stride=2),
]


def _x(shape=(2, 3, 7, 6), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_a_convolution_is_a_product_with_the_unfolded_image(geometry):
    x = _x()
    weight = np.random.default_rng(1).standard_normal(
        (4, 3, *np.broadcast_to(geometry["kernel_size"], 2))
    )
    conv = {k: v for k, v in geometry.items() if k != "kernel_size"}
    y = ops.conv2d(x, weight, **conv)
    U = ops.unfold(x, **geometry)
    Y = weight.reshape(4, -1) @ U  # (O, C·k1·k2) @ (N, C·k1·k2, L)
    assert rel_error(Y.reshape(y.shape), y) < 1e-13


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_fold_is_the_adjoint_of_unfold(geometry):
    x = _x()
    U = ops.unfold(x, **geometry)
    V = np.random.default_rng(2).standard_normal(U.shape)
    lhs = np.sum(U * V)
    rhs = np.sum(x * ops.fold(V, x.shape[2:], **geometry))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_fold_of_unfold_counts_the_windows_covering_each_pixel(geometry):
    x = _x()
    count = ops.fold(ops.unfold(np.ones_like(x), **geometry), x.shape[2:], **geometry)
    np.testing.assert_allclose(
        ops.fold(ops.unfold(x, **geometry), x.shape[2:], **geometry), x * count, rtol=1e-14
    )
    if (
        geometry.get("stride") == geometry["kernel_size"] == 2
    ):  # tiles: every pixel once, or not at all
        assert set(np.unique(count)) <= {0.0, 1.0}


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_layers_are_torchs(geometry):
    x = _x()
    unfold, t_unfold = nn.Unfold(**geometry), torch.nn.Unfold(**geometry)
    fold, t_fold = nn.Fold(x.shape[2:], **geometry), torch.nn.Fold(x.shape[2:], **geometry)
    assert repr(unfold) == repr(t_unfold) and repr(fold) == repr(t_fold)
    tx = torch.from_numpy(x).requires_grad_()
    tu = t_unfold(tx)
    ty = t_fold(tu)
    G = np.random.default_rng(3).standard_normal(ty.shape)
    (ty * torch.from_numpy(G)).sum().backward()
    model = nn.Sequential(unfold, fold)
    np.testing.assert_array_equal(model(x), ty.detach().numpy())
    np.testing.assert_array_equal(model.backward(G), tx.grad.numpy())
    assert model(x.astype(np.float32)).dtype == np.float32


def test_a_patch_linear_layer_trains_as_a_convolution():
    # Unfold → Linear over each column (a transpose between) equals Conv2d with that weight
    x = _x((2, 3, 6, 6))
    conv = nn.Conv2d(3, 5, 3, rng=0, dtype=np.float64)
    U = nn.Unfold(3)(x)  # (N, 27, 16)
    y = (conv.weight.data.reshape(5, -1) @ U + conv.bias.data[:, None]).reshape(2, 5, 4, 4)
    assert rel_error(y, conv(x)) < 1e-13


@pytest.mark.parametrize("opset", [13, 17])
def test_torchs_unfold_export_loads(opset):
    from cnnmath.onnx import load

    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 1), torch.nn.Unfold((2, 3), stride=2, padding=1)
    ).double()
    x = torch.from_numpy(_x((2, 2, 7, 6)))
    graph = load(torch_onnx_export(model, x, opset_version=opset))
    with torch.no_grad():
        assert rel_error(graph(x.numpy()), model(x).numpy()) < 1e-13
    loads_as_onnxruntime(model, x, opset_version=opset)


def test_torchs_fold_export_loads_as_col2im():
    from cnnmath.onnx import load

    model = torch.nn.Fold((5, 6), 3, padding=1, stride=(1, 2)).double()
    x = torch.from_numpy(_x((2, 9, 15)))
    graph = load(torch_onnx_export(model, x, opset_version=18))
    assert any(isinstance(m, nn.Fold) for m in graph.modules())
    np.testing.assert_array_equal(graph(x.numpy()), model(x).numpy())


@pytest.mark.parametrize(
    ("layer", "shape", "opset"),
    [
        (nn.Unfold(3, padding=1), (2, 2, 6, 7), 14),
        (nn.Unfold((2, 3), dilation=(2, 1), padding=(1, 0), stride=2), (2, 2, 7, 6), 17),
        (nn.Fold((6, 7), 3, padding=1), (2, 18, 42), 18),
    ],
)
def test_saved_layers_run_in_onnxruntime_and_load_back(layer, shape, opset, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    x = _x(shape).astype(np.float32)
    x.reshape(-1)[5] = np.nan  # copies: a NaN stays where the layer puts it
    path = tmp_path / "m.onnx"
    model = nn.Sequential(layer)
    save(model, path, x, opset=opset)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = model(x)
    np.testing.assert_array_equal(session.run(None, {session.get_inputs()[0].name: x})[0], want)
    np.testing.assert_array_equal(load(path)(x), want)


def test_fold_below_opset_18_is_refused(tmp_path):
    from cnnmath.onnx import save

    with pytest.raises(ValueError, match="Fold .* needs opset 18"):
        save(
            nn.Sequential(nn.Fold(4, 2)),
            tmp_path / "m.onnx",
            np.zeros((1, 4, 9), np.float32),
            opset=17,
        )
    assert not (tmp_path / "m.onnx").exists()


def test_receptive_fields_refuse_them():
    for layer in (nn.Unfold(3), nn.Fold(4, 2)):
        with pytest.raises(ValueError, match=f"{type(layer).__name__} turns images into columns"):
            receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), layer), (1, 8, 8))


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: nn.Unfold(0), ValueError, ["Unfold", "kernel_size", "0"]),
        (lambda: nn.Unfold(2, padding=-1), ValueError, ["Unfold", "padding"]),
        (lambda: nn.Fold((4, 0), 2), ValueError, ["Fold", "output_size"]),
        (lambda: nn.Fold(4, 2, stride=1.5), TypeError, ["Fold", "stride", "1.5"]),
        (lambda: nn.Fold(4, 2)(np.zeros((1, 4, 8))), ValueError, ["fold", "L = 3·3 = 9", "8"]),
        (lambda: nn.Unfold(3)(np.zeros((2, 2))), ValueError, ["unfold", "x", "(2, 2)"]),
    ],
)
def test_bad_arguments_are_named(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)
