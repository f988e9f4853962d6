"""cnnmath.nn.utils against torch.nn.utils: gradient clipping by norm and by value, and flat
parameter vectors, on the gradients of a real backward pass."""

import math

import numpy as np
import pytest

from cnnmath import nn
from cnnmath.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)

torch = pytest.importorskip("torch")


def _model_with_grads(dtype=np.float64, scale=1.0):
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, rng=0, dtype=dtype),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(48, 4, rng=1, dtype=dtype),
    )
    x = np.random.default_rng(2).normal(size=(5, 2, 6, 6)).astype(dtype)
    model(x)
    model.backward(np.full((5, 4), scale, dtype=dtype))
    return model


def _torch_params(model):
    params = []
    for p in model.parameters():
        t = torch.from_numpy(p.data.copy()).requires_grad_()
        t.grad = torch.from_numpy(p.grad.copy())
        params.append(t)
    return params


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 1e6])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, math.inf])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_is_torchs(max_norm, norm_type, dtype):
    model = _model_with_grads(dtype)
    theirs = _torch_params(model)
    total = clip_grad_norm_(model.parameters(), max_norm, norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert total == pytest.approx(float(their_total), rel=rtol)
    for p, t in zip(model.parameters(), theirs, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=rtol, atol=0)
    if max_norm < total:  # the clipped gradients' joint norm is max_norm (up to the 1e-6)
        after = np.linalg.norm(
            [np.linalg.norm(p.grad.ravel(), norm_type) for p in model.parameters()], norm_type
        )
        assert after == pytest.approx(max_norm, rel=1e-5)


def test_clip_grad_norm_of_non_finite_gradients_is_torchs():
    for bad in (math.inf, math.nan):
        model = _model_with_grads()
        model[0].weight.grad[0, 0, 0, 0] = bad
        theirs = _torch_params(model)
        total = clip_grad_norm_(model.parameters(), 1.0)
        their_total = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
        assert repr(total) == repr(float(their_total))
        for p, t in zip(model.parameters(), theirs, strict=True):
            np.testing.assert_array_equal(p.grad, t.grad.numpy())
        model = _model_with_grads()
        model[0].weight.grad[0, 0, 0, 0] = bad
        before = [p.grad.copy() for p in model.parameters()]
        with pytest.raises(FloatingPointError, match="error_if_nonfinite"):
            clip_grad_norm_(model.parameters(), 1.0, error_if_nonfinite=True)
        for p, g in zip(model.parameters(), before, strict=True):
            np.testing.assert_array_equal(p.grad, g)


@pytest.mark.parametrize("clip_value", [0.0, 0.05, 10.0])
def test_clip_grad_value_is_torchs(clip_value):
    model = _model_with_grads(scale=3.0)
    theirs = _torch_params(model)
    clip_grad_value_(model.parameters(), clip_value)
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    for p, t in zip(model.parameters(), theirs, strict=True):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


def test_one_parameter_and_none():
    model = _model_with_grads()
    w = model[3].weight
    their = _torch_params(model)[2]
    assert clip_grad_norm_(w, 0.1) == pytest.approx(
        float(torch.nn.utils.clip_grad_norm_(their, 0.1))
    )
    np.testing.assert_allclose(w.grad, their.grad.numpy(), rtol=1e-12)
    assert clip_grad_norm_([], 1.0) == 0.0


def test_parameters_to_vector_and_back_are_torchs():
    model = _model_with_grads()
    theirs = _torch_params(model)
    vec = parameters_to_vector(model.parameters())
    np.testing.assert_array_equal(vec, torch.nn.utils.parameters_to_vector(theirs).detach().numpy())
    new = np.arange(vec.size, dtype=np.float64)
    vector_to_parameters(new, model.parameters())
    torch.nn.utils.vector_to_parameters(torch.from_numpy(new), theirs)
    for p, t in zip(model.parameters(), theirs, strict=True):
        np.testing.assert_array_equal(p.data, t.detach().numpy())


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda m: clip_grad_norm_(m, 1.0), TypeError, ["parameters", "Sequential"]),
        (lambda m: clip_grad_norm_(m.parameters(), -1.0), ValueError, ["max_norm", "-1.0"]),
        (lambda m: clip_grad_norm_(m.parameters(), "1"), TypeError, ["max_norm", "'1'"]),
        (lambda m: clip_grad_norm_(m.parameters(), 1.0, 0), ValueError, ["norm_type", "0"]),
        (lambda m: clip_grad_value_(m.parameters(), -0.1), ValueError, ["clip_value", "-0.1"]),
        (lambda m: clip_grad_value_(5, 0.1), TypeError, ["parameters", "int"]),
        (lambda m: vector_to_parameters(np.zeros(3), m.parameters()), ValueError, ["vec", "(3,)"]),
        (
            lambda m: vector_to_parameters(np.zeros(3, int), m.parameters()),
            TypeError,
            ["vec", "int"],
        ),
        (
            lambda m: parameters_to_vector([m[0].weight, nn.Parameter(np.zeros(2, np.float32))]),
            TypeError,
            ["parameters", "float32", "float64"],
        ),
    ],
)
def test_bad_arguments_are_named(call, error, words):
    model = _model_with_grads()
    with pytest.raises(error) as caught:
        call(model)
    for word in words:
        assert word in str(caught.value)
