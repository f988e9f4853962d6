"""``nn.no_grad``: inference that keeps nothing for a backward pass (PyTorch's
``torch.no_grad``): the same outputs, bit for bit, a fraction of the memory (NumPy reports
its arrays to tracemalloc), and a backward after it refused by name."""

import threading
import tracemalloc

import numpy as np
import pytest

from cnnmath import models, nn
from cnnmath.train import predict


def _peak(f):
    """The peak of traced memory while f runs (bytes above what was allocated before)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        out = f()
        return out, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def _deep_sequential():
    layers = [nn.Conv2d(1, 8, 3, padding=1, dtype=np.float64)]
    for _ in range(7):
        layers += [nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, dtype=np.float64)]
    return nn.Sequential(*layers, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())


def _two_outputs():
    """a = conv(x), b = relu(a), c = a + b; outputs (a, c): a is an output read later."""
    g = nn.Graph()
    g.add(nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64), "x", name="a")
    g.add(nn.ReLU(), "a", name="b")
    g.add(nn.Add(), "a", "b", name="c")
    g.set_output("a", "c")
    return g


@pytest.mark.parametrize(
    "make, shape",
    [
        (_deep_sequential, (2, 1, 16, 16)),
        (lambda: models.resnet18(num_classes=7, seed=0, dtype=np.float64), (2, 3, 32, 32)),
        (_two_outputs, (2, 3, 8, 8)),
    ],
    ids=["sequential", "resnet18", "two-outputs"],
)
def test_the_outputs_are_the_same_bits(make, shape):
    model = make().eval()
    x = np.random.default_rng(0).standard_normal(shape)
    want = model(x)
    with nn.no_grad():
        got = model(x)
    for a, b in zip(
        want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)
    ):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "make, shape, share",
    [
        (_deep_sequential, (4, 1, 64, 64), 0.4),
        (lambda: models.resnet18(num_classes=7, seed=0), (4, 3, 64, 64), 0.5),
    ],
    ids=["sequential", "resnet18"],
)
def test_inference_holds_a_fraction_of_the_activations(make, shape, share):
    """The peak memory of a forward under no_grad is below ``share`` of the peak of the
    same forward keeping its contexts (which hold every layer's input)."""
    model = make().eval()
    x = np.random.default_rng(1).standard_normal(shape).astype(model.parameters()[0].dtype)
    model(x)  # work buffers made once, kept from call to call
    model._last_ctx = None

    def forward():
        return model(x)

    def forward_no_grad():
        with nn.no_grad():
            return model(x)

    _, kept = _peak(forward)
    model._last_ctx = None
    _, dropped = _peak(forward_no_grad)
    assert dropped < share * kept, (dropped, kept)


def test_a_backward_after_it_is_refused_and_works_again_after_a_plain_forward():
    model = _deep_sequential()
    x = np.random.default_rng(2).standard_normal((1, 1, 8, 8))
    with nn.no_grad():
        y = model(x)
    with pytest.raises(RuntimeError, match=r"Sequential.backward: the last forward ran under"):
        model.backward(np.ones_like(y))
    model(x)
    assert model.backward(np.ones_like(y)).shape == x.shape


def test_it_is_restored_after_an_error_nested_and_per_thread():
    seen = []
    with nn.no_grad():
        worker = threading.Thread(target=lambda: seen.append(nn.grad_enabled()))
        worker.start()
        worker.join()
        with nn.no_grad():
            assert not nn.grad_enabled()
        assert not nn.grad_enabled()
    assert seen == [True] and nn.grad_enabled()
    with pytest.raises(ValueError, match="x: expected"), nn.no_grad():
        model = nn.Linear(3, 2)
        model(np.ones((1, 4), np.float32))
    assert nn.grad_enabled()


def test_predict_runs_under_it():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, dtype=np.float64))
    X = np.random.default_rng(3).standard_normal((5, 1, 2, 2))
    assert predict(model, X).tolist() == np.argmax(model(X), axis=1).tolist()
    predict(model, X)
    with pytest.raises(RuntimeError, match="no_grad"):
        model.backward(np.ones((5, 3)))
