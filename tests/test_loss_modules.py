"""The loss classes of cnnmath.losses against torch.nn's loss modules of the same names and
options: value and autograd gradient, repr, options read back, and their use in fit."""

import numpy as np
import pytest

from cnnmath import losses, nn, optim
from cnnmath.train import fit

torch = pytest.importorskip("torch")


def _classes(shape, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape)
    y = rng.integers(0, shape[1], size=(shape[0], *shape[2:]))
    return z, y


def _pair(shape, seed, low=None):
    rng = np.random.default_rng(seed)
    x, t = rng.normal(size=shape), rng.normal(size=shape)
    if low == "probabilities":
        x, t = 1 / (1 + np.exp(-x)), rng.uniform(size=shape)
    if low == "masks":
        t = (t > 0).astype(np.float64)
    if low == "log-probabilities":
        x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
        t = np.exp(t) / np.exp(t).sum(axis=1, keepdims=True)
    return x, t


W3, W4 = np.array([0.2, 1.0, 3.0]), np.linspace(0.5, 2.0, 4)
CASES = [
    ("CrossEntropyLoss", {}, _classes((5, 3), 0)),
    ("CrossEntropyLoss", {"label_smoothing": 0.2, "reduction": "sum"}, _classes((4, 3, 2, 2), 1)),
    ("CrossEntropyLoss", {"weight": W3, "ignore_index": 1}, _classes((6, 3), 2)),
    ("NLLLoss", {"weight": W3, "reduction": "none"}, _classes((6, 3), 3)),
    ("L1Loss", {}, _pair((3, 4), 4)),
    ("MSELoss", {"reduction": "sum"}, _pair((3, 4), 5)),
    ("SmoothL1Loss", {"beta": 0.4}, _pair((3, 4), 6)),
    ("HuberLoss", {"delta": 0.3, "reduction": "none"}, _pair((3, 4), 7)),
    ("BCELoss", {"weight": W4}, _pair((3, 4), 8, "probabilities")),
    ("BCEWithLogitsLoss", {"pos_weight": W4, "reduction": "sum"}, _pair((3, 4), 9, "masks")),
    ("KLDivLoss", {"reduction": "batchmean"}, _pair((3, 4), 10, "log-probabilities")),
]
IDS = [f"{name}-{'-'.join(options) or 'defaults'}" for name, options, _ in CASES]


@pytest.mark.parametrize(("name", "options", "data"), CASES, ids=IDS)
def test_value_and_gradient_are_the_torch_modules(name, options, data):
    x, t = data
    loss, grad = getattr(losses, name)(**options)(x, t)
    torch_options = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in options.items()
    }
    tx = torch.from_numpy(x.copy()).requires_grad_()
    want = getattr(torch.nn, name)(**torch_options)(tx, torch.from_numpy(t))
    want.sum().backward()
    np.testing.assert_allclose(loss, want.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("name", "options", "data"), CASES, ids=IDS)
def test_reprs_and_options_read_back_as_torchs(name, options, data):
    ours = getattr(losses, name)(**options)
    theirs = getattr(torch.nn, name)(
        **{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    )
    assert repr(ours) == repr(theirs)
    for key, value in options.items():
        np.testing.assert_array_equal(getattr(ours, key), value)
    assert ours.reduction == theirs.reduction
    x, t = data
    np.testing.assert_array_equal(ours.forward(x, t)[1], ours(x, t)[1])


def test_fit_trains_with_a_loss_object_as_torch_with_its_module():
    # one SGD step per epoch on a linear model, the same run written in PyTorch
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 5)), rng.integers(0, 3, size=16)
    model = nn.Sequential(nn.Linear(5, 3, rng=1, dtype=np.float64))
    w0, b0 = model[0].weight.data.copy(), model[0].bias.data.copy()
    criterion = losses.CrossEntropyLoss(label_smoothing=0.1, weight=W3)
    history = fit(
        model,
        optim.SGD(model.parameters(), lr=0.5),
        (X, y),
        epochs=3,
        batch_size=16,
        loss=criterion,
        progress=False,
    )
    layer = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w0))
        layer.bias.copy_(torch.from_numpy(b0))
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    torch_criterion = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(W3), label_smoothing=0.1)
    for record in history:
        opt.zero_grad()
        loss = torch_criterion(layer(torch.from_numpy(X)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        assert record["loss"] == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(model[0].weight.data, layer.weight.detach().numpy(), rtol=1e-12)


def test_huber_loss_takes_reduction_and_delta_by_position_as_torch():
    x, t = np.linspace(-2, 2, 6), np.zeros(6)
    loss, _ = losses.HuberLoss("sum", 0.5)(x, t)
    want = torch.nn.HuberLoss("sum", 0.5)(torch.from_numpy(x), torch.from_numpy(t)).item()
    assert loss == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: losses.MSELoss(reduction="avg"), ValueError, ["MSELoss", "reduction", "'avg'"]),
        (
            lambda: losses.KLDivLoss(reduction="batch"),
            ValueError,
            ["KLDivLoss", "'batchmean'", "'batch'"],
        ),
        (lambda: losses.L1Loss("mean"), TypeError, ["positional"]),
        (lambda: losses.CrossEntropyLoss(None, -100), TypeError, ["positional"]),
        (
            lambda: losses.HuberLoss(delta=-1.0)(np.zeros(2), np.zeros(2)),
            ValueError,
            ["huber_loss", "delta"],
        ),
        (lambda: losses.MSELoss().weight, AttributeError, ["MSELoss", "'weight'"]),
    ],
)
def test_bad_options_are_named(make, error, words):
    with pytest.raises(error) as caught:
        make()
    for word in words:
        assert word in str(caught.value)
