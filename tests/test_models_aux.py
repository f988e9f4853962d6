"""GoogLeNet's and Inception v3's auxiliary classifiers (``aux_logits=True``) against
torchvision 0.28.0 built the same way: the same repr, parameter count and state_dict (loaded
strictly both ways), initialisation laws; with torchvision's weights (BatchNorm randomised),
float64 and dropout off on both sides, the same outputs in training mode ((logits, aux2,
aux1); (logits, aux)) and evaluation mode (the logits; the heads not run), and one training
step of torchvision's reference loss — CE(out) + 0.3·(CE(aux1) + CE(aux2)) for GoogLeNet,
CE(out) + 0.4·CE(aux) for Inception v3 — whose every parameter gradient, from
``backward`` of the tuple of cnnmath.losses gradients, is autograd's. ONNX writes the eval
output only."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import losses, models, nn
from helpers import randomise_batchnorm, rel_error
from torchvision_helper import import_torchvision

torch = pytest.importorskip("torch")
F = torch.nn.functional

CLASSES = 5
TOL64 = 1e-10  # float64 outputs and running statistics
GRAD_TOL = 1e-8  # float64 parameter gradients, relative to each parameter's largest

ERRORS = [
    (lambda: models.googlenet(aux_logits=1), TypeError, r"GoogLeNet: aux_logits: expected a bool"),
    (
        lambda: models.inception_v3(aux_logits="yes"),
        TypeError,
        r"Inception3: aux_logits: expected a bool",
    ),
    (lambda: models.googlenet(dropout_aux="a"), TypeError, r"dropout_aux: expected a real"),
    (
        lambda: models.googlenet(aux_logits=True, dropout_aux=2.0),
        ValueError,
        r"Dropout: p: expected a probability",
    ),
    (  # in training the head's 5×5/3 pool needs Mixed_6e at 17×17: 299×299 images
        lambda: models.inception_v3(aux_logits=True)(np.zeros((2, 3, 75, 75), np.float32)),
        ValueError,
        r"avg_pool2d: kernel_size: effective kernel height 5 .* larger than the padded input",
    ),
]


@pytest.mark.parametrize(("call", "error", "match"), ERRORS)
def test_bad_inputs_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _torchvision(name, **kw):
    """torchvision's model with its auxiliary classifiers, initialised as when trained."""
    tv = import_torchvision()
    torch.manual_seed(0)
    return getattr(tv.models, name)(aux_logits=True, init_weights=True, **kw)


def _want_repr(module):
    # cnnmath's ReLU prints no inplace flag, its Dropout inplace=False
    text = repr(module).replace(", inplace=True)\n", ", inplace=False)\n")
    return text.replace("inplace=True", "")


def _numpy_state(module):
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _pair(name, **kw):
    """torchvision's float64 model (aux on, dropout off, BatchNorm randomised) and cnnmath's
    with its state_dict loaded strictly; every dropout of both is p = 0."""
    theirs = randomise_batchnorm(_torchvision(name, num_classes=CLASSES, **kw)).double()
    ours = getattr(models, name)(CLASSES, aux_logits=True, seed=1, dtype=np.float64, **kw)
    ours.load_state_dict(_numpy_state(theirs))  # strict: the same keys, shapes and dtypes
    assert all(m.p == 0 for m in theirs.modules() if isinstance(m, torch.nn.Dropout))
    assert all(m.p == 0 for m in ours.modules() if isinstance(m, nn.Dropout))
    return theirs, ours


def _train_step(theirs, ours, x, target, weights):
    """One training forward and backward on both sides of Σ_k weights[k]·CE(output k):
    outputs, loss, every parameter's gradient and the running statistics compared."""
    xt = torch.from_numpy(x)
    outs_t = theirs.train()(xt)
    loss_t = sum(w * F.cross_entropy(y, torch.from_numpy(target)) for w, y in zip(weights, outs_t))
    loss_t.backward()
    outs = ours.train()(x)
    assert isinstance(outs, tuple) and len(outs) == len(weights)
    terms = [losses.cross_entropy(y, target) for y in outs]
    loss = sum(w * value for w, (value, _) in zip(weights, terms))
    ours.zero_grad()
    ours.backward(tuple(w * g for w, (_, g) in zip(weights, terms)), input_grad=False)
    for mine, want in zip(outs, outs_t, strict=True):
        assert rel_error(mine, want.detach().numpy()) <= TOL64
    assert abs(loss - loss_t.item()) <= TOL64 * abs(loss_t.item())
    grads = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    for key, p in ours.named_parameters():
        assert rel_error(p.grad, grads[key]) <= GRAD_TOL, key
    want_state = _numpy_state(theirs)
    for key, value in ours.state_dict().items():
        assert rel_error(value, want_state[key]) <= TOL64, key
    return outs, terms


class _Boom(nn.Module):
    """A stand-in head that fails if it is run."""

    def forward_ctx(self, x):
        raise AssertionError("an auxiliary head ran in evaluation mode")


# -- layout and initialisation -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "count"), [("googlenet", 13_004_888), ("inception_v3", None)])
def test_layout_matches_torchvision(name, count):
    """repr, parameter count and state_dict keys (in order), shapes and dtypes of the model
    with its heads are torchvision's; Inception v3's count is torchvision's published figure
    for its trained weights, which include the head."""
    ours, theirs = getattr(models, name)(aux_logits=True), _torchvision(name)
    assert repr(ours) == _want_repr(theirs)
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    if count is None:
        published = next(iter(import_torchvision().models.get_model_weights(name)))
        count = published.meta["num_params"]
    assert ours.num_parameters() == count
    got = {k: (v.shape, v.dtype) for k, v in ours.state_dict().items()}
    want = {k: (v.shape, v.dtype) for k, v in _numpy_state(theirs).items()}
    assert list(got) == list(want)
    assert got == want
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_initialisation_of_the_heads_is_torchvisions(name):
    """Each weight of the heads has the spread of torchvision's (GoogLeNet: σ = 0.01;
    Inception v3: σ = 0.1 for both convolutions — torchvision's 0.01 for conv1 is set where
    its loop does not read it — and 0.001 for the fc); biases PyTorch's default; the rest of
    the network is, weight for weight, the model without heads of the same seed."""
    prefix = "aux" if name == "googlenet" else "AuxLogits."
    ours = getattr(models, name)(aux_logits=True, seed=3).state_dict()
    theirs = _numpy_state(_torchvision(name))
    head = [k for k in ours if k.startswith(prefix)]
    assert len(head) >= 10
    for key in head:
        value = ours[key]
        if key.endswith(".weight") and value.ndim >= 2:
            assert abs(value.std() / theirs[key].std() - 1) < 0.05, key
            assert abs(value.mean()) < 0.05 * value.std(), key
        elif key.endswith("fc.bias") or key.endswith("fc1.bias") or key.endswith("fc2.bias"):
            fan_in = ours[key[: -len("bias")] + "weight"].shape[1]
            assert np.abs(value).max() <= 1 / np.sqrt(fan_in) and np.any(value != 0), key
    plain = getattr(models, name)(seed=3).state_dict()
    assert set(plain) == set(ours) - set(head)
    assert all(np.array_equal(ours[k], v) for k, v in plain.items())


# -- GoogLeNet ----------------------------------------------------------------------------------


def test_googlenet_heads_compute_and_train_as_torchvision():
    """Training mode returns (logits, aux2, aux1) as torchvision; a step of torchvision's
    reference loss CE(out) + 0.3·(CE(aux1) + CE(aux2)) gives autograd's gradients; evaluation
    mode returns torchvision's logits alone and does not run the heads."""
    theirs, ours = _pair("googlenet", dropout=0.0, dropout_aux=0.0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 64, 64))
    target = np.array([1, 3])
    assert ours.train().outputs == ("fc", "aux2", "aux1")
    outs, terms = _train_step(theirs, ours, x, target, (1.0, 0.3, 0.3))

    # a loss that reads the logits alone: the heads get no gradient, fc the same as before
    fc_grad = ours.fc.weight.grad.copy()
    ours.zero_grad()
    ours.backward((terms[0][1], None, None), input_grad=False)
    assert not ours.aux1.fc2.weight.grad.any() and not ours.aux2.conv.conv.weight.grad.any()
    assert rel_error(ours.fc.weight.grad, fc_grad) <= 1e-15

    theirs.eval()
    ours.eval()
    x = rng.standard_normal((1, 3, 48, 48))
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    got = ours(x)
    assert isinstance(got, np.ndarray) and rel_error(got, want) <= TOL64
    assert ours.outputs == ("fc",)
    assert not any(n.name.startswith("aux") for n in ours.walk())
    ours.aux1 = ours.aux2 = _Boom()  # the nodes now apply a head that fails when run
    assert rel_error(ours(x), want) <= TOL64
    with pytest.raises(AssertionError, match="auxiliary head ran"):
        ours.train()(x)


def test_googlenet_aux_logits_attribute_turns_the_heads_off():
    """As torchvision's ``eager_outputs``: the heads' outputs need training mode *and*
    ``aux_logits``; setting it False keeps the heads' weights but returns the logits."""
    model = models.googlenet(CLASSES, aux_logits=True, dropout=0.0, seed=2, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32))
    logits, _, _ = model(x)
    model.aux_logits = False
    assert model.outputs == ("fc",) and rel_error(model(x), logits) <= 1e-15
    assert "aux1.fc2.weight" in model.state_dict()


def test_googlenet_with_heads_saves_its_eval_output_to_onnx(tmp_path):
    """cnnmath.onnx.save writes what the model returns in evaluation mode — the logits: one
    graph output, which onnxruntime computes as cnnmath; the model stays in training mode."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from cnnmath.onnx import save

    model = models.googlenet(CLASSES, aux_logits=True, seed=4)
    x = np.random.default_rng(2).standard_normal((2, 3, 64, 64)).astype(np.float32)
    path = tmp_path / "googlenet_aux.onnx"
    save(model, path, x)
    assert model.training
    proto = onnx.load(str(path))
    assert [o.name for o in proto.graph.output] == ["fc"]
    assert not any("aux" in init.name for init in proto.graph.initializer)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    assert rel_error(got, model.eval()(x)) <= 1e-5


# -- Inception v3 -------------------------------------------------------------------------------


def test_inception_v3_head_computes_and_trains_as_torchvision():
    """Evaluation mode (75×75, the smallest input) returns torchvision's logits alone; on
    299×299 images (the head's smallest) training mode returns (logits, aux) and a step of
    CE(out) + 0.4·CE(aux) gives autograd's gradients."""
    theirs, ours = _pair("inception_v3", dropout=0.0)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 3, 75, 75))
    with torch.no_grad():
        want = theirs.eval()(torch.from_numpy(x)).numpy()
    got = ours.eval()(x)
    assert isinstance(got, np.ndarray) and rel_error(got, want) <= TOL64
    assert not any(n.name.startswith("AuxLogits") for n in ours.walk())

    x = rng.standard_normal((2, 3, 299, 299))
    assert ours.train().outputs == ("fc", "AuxLogits")
    _train_step(theirs, ours, x, np.array([0, 4]), (1.0, 0.4))
