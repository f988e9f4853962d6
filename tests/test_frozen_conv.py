"""A convolution whose parameters are all frozen computes ∂ℓ/∂X alone (the transposed
convolution of G), skipping the filter gradient: the same input gradient, bit for bit, as
the layer's whole backward pass, and its parameters' grads left alone."""

import numpy as np
import pytest

from cnnmath import nn

GEOMETRIES = [
    {},
    {"stride": 2, "padding": 1},
    {"stride": 2, "padding": (0, 2)},  # odd sizes: rows no window reaches (output_padding)
    {"stride": 3, "padding": 1, "dilation": 2},
    {"groups": 2, "padding": 1, "bias": False},
]


def _model(geometry, seed):
    return nn.Sequential(
        nn.Conv2d(4, 6, 3, **geometry, dtype=np.float64, rng=seed),
        nn.ReLU(),
        nn.Conv2d(6, 4, 2, dtype=np.float64, rng=seed + 1),
    )


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_the_input_gradient_is_the_whole_backward_s(geometry):
    x = np.random.default_rng(0).standard_normal((3, 4, 11, 13))
    whole, frozen = _model(geometry, 1), _model(geometry, 1)
    frozen.requires_grad_(False)
    G = np.random.default_rng(1).standard_normal(whole(x).shape)
    frozen(x)
    want = whole.backward(G)
    got = frozen.backward(G)
    assert np.array_equal(got, want)
    assert not any(p.grad.any() for p in frozen.parameters())


def test_the_filter_gradient_is_not_computed(monkeypatch):
    """With every parameter frozen the layer never calls conv2d_backward (which computes the
    filter gradient); with one trainable it does."""
    from cnnmath.nn import conv

    model = _model({"stride": 2, "padding": 1}, 3)
    x = np.random.default_rng(2).standard_normal((2, 4, 9, 9))
    G = np.ones_like(model(x))
    model.requires_grad_(False)
    calls = []
    real = conv.ops.conv2d_backward
    monkeypatch.setattr(
        conv.ops, "conv2d_backward", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    model(x)
    model.backward(G)
    assert calls == []
    model[0].bias.requires_grad = True
    model(x)
    model.backward(G)
    assert len(calls) == 1
    assert model[0].bias.grad.any() and not model[0].weight.grad.any()


def test_a_wrong_gradient_is_still_refused():
    model = _model({}, 4).requires_grad_(False)
    model[0](np.zeros((2, 4, 8, 8)))
    with pytest.raises(ValueError, match="grad_output"):
        model[0].backward(np.zeros((2, 6, 5, 6)))
