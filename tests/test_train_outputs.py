"""fit, predict and evaluate on a model of several outputs: the weighted loss
ℓ = Σ_k w_k loss(z_k, y) trains as PyTorch's autograd of the same sum, the main (first)
output is the one predicted and scored, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath import nn, optim
from cnnmath.train import evaluate, fit, predict
from helpers import rel_error

torch = pytest.importorskip("torch")


def _two_heads(seed: int = 0) -> nn.Graph:
    g = nn.Graph()
    g.trunk = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=seed, dtype=np.float64), nn.Tanh())
    g.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 5 * 5, 3, rng=seed + 1, dtype=np.float64))
    g.aux = nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3, rng=seed + 2, dtype=np.float64)
    )
    t = g.add(g.trunk, "x")
    g.set_output(g.add(g.head, t), g.add(g.aux, t))
    return g


def _data(n: int = 12, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 5, 5)), rng.integers(0, 3, n)


def test_one_full_batch_step_equals_autograd_of_the_weighted_losses():
    """One SGD step on the whole set (the permutation does not change a mean over it): every
    parameter after fit equals PyTorch's after backward of CE(out) + 0.4·CE(aux)."""
    g = _two_heads()
    X, y = _data()
    tn = torch.nn
    trunk = tn.Sequential(tn.Conv2d(1, 4, 3, padding=1), tn.Tanh()).double()
    head = tn.Sequential(tn.Flatten(), tn.Linear(100, 3)).double()
    aux = tn.Sequential(tn.AdaptiveAvgPool2d(1), tn.Flatten(), tn.Linear(4, 3)).double()
    model = tn.ModuleDict({"trunk": trunk, "head": head, "aux": aux})
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in g.state_dict().items()})
    t = trunk(torch.from_numpy(X))
    labels = torch.from_numpy(y)
    ce = tn.functional.cross_entropy
    loss = ce(head(t), labels) + 0.4 * ce(aux(t), labels)
    loss.backward()
    lr = 0.5
    history = fit(
        g,
        optim.SGD(g.parameters(), lr=lr),
        (X, y),
        epochs=1,
        batch_size=len(X),
        output_weights=(1, 0.4),
        progress=False,
    )
    assert abs(history[0]["loss"] - loss.item()) <= 1e-12
    for key, p in model.named_parameters():
        want = (p - lr * p.grad).detach().numpy()
        assert rel_error(g.state_dict()[key], want) <= 1e-12, key


def test_a_zero_weight_leaves_its_head_untrained():
    g = _two_heads(seed=3)
    before = g.aux[2].weight.data.copy()
    fit(g, optim.SGD(g.parameters(), lr=0.1), _data(), epochs=1, output_weights=(1, 0),
        progress=False)  # fmt: skip
    np.testing.assert_array_equal(g.aux[2].weight.data, before)


def test_predict_and_evaluate_read_the_main_output():
    g = _two_heads(seed=5)
    X, y = _data(20, seed=6)
    g.eval()
    main = g(X)[0].argmax(1)
    g.train()
    np.testing.assert_array_equal(predict(g, X), main)
    assert evaluate(g, X, y) == np.mean(main == y)
    assert g.training  # the mode is put back


def test_the_refusals():
    X, y = _data()
    g = _two_heads()
    sgd = optim.SGD(g.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"model: it returns 2 outputs; pass output_weights"):
        fit(g, sgd, (X, y), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"one weight per model output \(2\), got 3"):
        fit(g, sgd, (X, y), epochs=1, output_weights=(1, 0.3, 0.3), progress=False)
    with pytest.raises(ValueError, match=r"output_weights: expected one or more finite"):
        fit(g, sgd, (X, y), epochs=1, output_weights=(1, -0.5), progress=False)
    with pytest.raises(TypeError, match=r"output_weights: expected a sequence of numbers"):
        fit(g, sgd, (X, y), epochs=1, output_weights=0.4, progress=False)
