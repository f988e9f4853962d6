"""nn.RMSNorm against torch.nn.RMSNorm: arguments, repr, state_dict keys, the forward and
every gradient inside a small network (float64 to rounding; float32 with PyTorch's default
ε, which depends on the dtype), and the constructor's refusals."""

import numpy as np
import pytest

from cnnmath import nn
from helpers import rel_error

torch = pytest.importorskip("torch")


def _pair(dtype, eps=None, affine=True):
    ours = nn.Sequential(
        nn.Linear(5, 12, dtype=dtype),
        nn.Unflatten(1, (3, 4)),
        nn.RMSNorm((3, 4), eps=eps, elementwise_affine=affine, dtype=dtype),
        nn.Flatten(),
        nn.ReLU(),
        nn.Linear(12, 2, dtype=dtype),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(5, 12),
        torch.nn.Unflatten(1, (3, 4)),
        torch.nn.RMSNorm((3, 4), eps=eps, elementwise_affine=affine),
        torch.nn.Flatten(),
        torch.nn.ReLU(),
        torch.nn.Linear(12, 2),
    ).to(torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(7)
    if affine:  # γ away from its initial ones, so that its gradient matters
        ours[2].weight.data[...] = rng.uniform(0.5, 1.5, (3, 4)).astype(dtype)
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("eps", [None, 1e-3])
def test_forward_and_gradients_are_torchs(eps, affine):
    ours, theirs = _pair(np.float64, eps, affine)
    rng = np.random.default_rng(0)
    x, G = rng.standard_normal((6, 5)), rng.standard_normal((6, 2))
    y = ours(x)
    xt = torch.from_numpy(x).requires_grad_()
    yt = theirs(xt)
    yt.backward(torch.from_numpy(G))
    assert rel_error(y, yt.detach().numpy()) <= 1e-13
    gx = ours.backward(G)
    assert rel_error(gx, xt.grad.numpy()) <= 1e-12
    grads = {name: p.grad.numpy() for name, p in theirs.named_parameters()}
    assert sorted(grads) == sorted(name for name, _ in ours.named_parameters())
    for name, p in ours.named_parameters():
        assert rel_error(p.grad, grads[name]) <= 1e-12, name


def test_float32_with_the_default_eps_is_torchs():
    """ε None is the dtype's machine epsilon (float32's 1.19e-7): rows of small values, where
    ε is a visible part of the mean square, come out as PyTorch's float32."""
    ours, theirs = _pair(np.float32)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32) * 1e-4
    with nn.no_grad():
        y = ours(x)
    want = theirs(torch.from_numpy(x)).detach().numpy()
    assert y.dtype == np.float32
    assert np.abs(y - want).max() <= 1e-5 * np.abs(want).max()
    one = nn.RMSNorm(2)
    with nn.no_grad():  # a tiny row: ε is float32's epsilon, not float64's
        tiny = one(np.array([[1e-4, 0.0]], np.float32))
    assert abs(tiny[0, 0] - 1e-4 / np.sqrt(0.5e-8 + np.finfo(np.float32).eps)) <= 1e-5


def test_repr_and_state_dict_are_torchs():
    for args, kwargs in [(([2, 3],), {}), ((4,), {"eps": 1e-6, "elementwise_affine": False})]:
        ours, theirs = nn.RMSNorm(*args, **kwargs), torch.nn.RMSNorm(*args, **kwargs)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    assert nn.RMSNorm(3).weight.shape == (3,)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"normalized_shape": 0}, ValueError, r"RMSNorm: normalized_shape: expected"),
        ({"normalized_shape": ()}, TypeError, r"RMSNorm: normalized_shape: expected an int or a"),
        ({"normalized_shape": 2.5}, TypeError, r"RMSNorm: normalized_shape: expected an int or a"),
        ({"normalized_shape": 3, "eps": -1e-6}, ValueError, r"RMSNorm: eps: expected a finite"),
        ({"normalized_shape": 3, "eps": "1e-6"}, TypeError, r"RMSNorm: eps: expected a real"),
        ({"normalized_shape": 3, "elementwise_affine": 1}, TypeError, r"elementwise_affine"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        nn.RMSNorm(**kwargs)


def test_a_wrong_input_is_named():
    with pytest.raises(ValueError, match=r"rms_norm: normalized_shape: expected the trailing"):
        nn.RMSNorm(4)(np.zeros((2, 3)))


def _conv_rms(affine=True, eps=None, dtype=np.float32):
    """A conv net that normalises each image's (C, H, W) by RMSNorm."""
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, rng=0, dtype=dtype),
        nn.RMSNorm((3, 5, 5), eps=eps, elementwise_affine=affine, dtype=dtype),
        nn.ReLU(),
    )
    if affine:
        model[1].weight.data[...] = np.random.default_rng(2).uniform(0.5, 1.5, (3, 5, 5))
    return model.eval()


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("eps", [None, 2.0**-10])
def test_onnx_save_writes_rms_normalization_that_onnxruntime_and_load_run(tmp_path, affine, eps):
    """opset 23: one RMSNormalization node, onnxruntime's output the model's; cnnmath's load
    reads it back as an RMSNorm layer (the weight a parameter), the same output."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import load, save

    model = _conv_rms(affine, eps)
    x = np.random.default_rng(3).standard_normal((2, 2, 5, 5)).astype(np.float32)
    path = tmp_path / "m.onnx"
    save(model, path, x, opset=23)
    ops = [n.op_type for n in onnx.load(path).graph.node]
    assert (
        ops == ["Conv", "RMSNormalization", "Relu"]
        if affine
        else ["Conv", "Constant", "RMSNormalization", "Relu"]
    )
    with nn.no_grad():
        want = model(x)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.abs(got - want).max() <= 1e-5
    back = load(path)
    layers = [type(n.module).__name__ for n in back.walk()]
    assert layers == ["Conv2d", "RMSNorm", "ReLU"]
    (norm,) = [n.module for n in back.walk() if isinstance(n.module, nn.RMSNorm)]
    if affine:  # the file's initializer is the layer's parameter
        assert any(p is norm.weight for p in back.parameters())
        np.testing.assert_array_equal(norm.weight.data, model[1].weight.data)
    else:
        assert norm.weight is None and not norm.elementwise_affine
    np.testing.assert_allclose(back(x), want, rtol=1e-6, atol=1e-6)


def test_onnx_save_before_opset_23_names_the_opset(tmp_path):
    pytest.importorskip("onnx")
    from cnnmath.onnx import save

    x = np.zeros((1, 2, 5, 5), np.float32)
    with pytest.raises(ValueError, match=r"RMSNorm \(node '1'\) needs opset 23 or later"):
        save(_conv_rms(), tmp_path / "m.onnx", x)
    assert not (tmp_path / "m.onnx").exists()


def test_a_loaded_rms_norm_trains_as_the_original(tmp_path):
    """float64 round trip: the loaded graph's ∂ℓ/∂x and every parameter's gradient are the
    original model's."""
    pytest.importorskip("onnx")
    from cnnmath.onnx import load, save

    model = _conv_rms(eps=2.0**-10, dtype=np.float64).train()  # ε a float32 (ONNX's FLOAT)
    rng = np.random.default_rng(4)
    x, G = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 3, 5, 5))
    save(model, tmp_path / "m.onnx", x, opset=23)
    back = load(tmp_path / "m.onnx").train()
    for m in (model, back):
        m.zero_grad()
        m(x)
    assert rel_error(back.backward(G), model.backward(G)) <= 1e-12
    pairs = list(zip(model.parameters(), back.parameters(), strict=True))
    assert len(pairs) == 3  # the convolution's weight and bias, the RMSNorm's weight
    for p, q in pairs:
        assert p.shape == q.shape and rel_error(q.grad, p.grad) <= 1e-12
