"""nn.Hardtanh's deprecated keywords min_value / max_value, as PyTorch 2.13 takes them: each
overrides min_val / max_val and warns with the same FutureWarning as torch's; and the
signatures of this session's new layers (RReLU, AlphaDropout, FeatureAlphaDropout) beside
torch's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cnnmath import nn
from helpers import rel_error

torch = pytest.importorskip("torch")

CASES = [
    {"min_value": -2.0},
    {"max_value": 3},
    {"min_value": -0.5, "max_value": 0.5},
    {"min_val": -5.0, "max_val": 5.0, "min_value": -2.0},  # the old name wins, as torch
    {"min_val": -5.0, "max_val": 5.0, "max_value": 0.25},
    {"min_value": None, "max_value": None},  # None: not given, no warning
]


def _warned(build):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = build()
    return layer, [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize("kwargs", CASES)
def test_old_keywords_warn_and_override_as_torch(kwargs):
    ours, our_warnings = _warned(lambda: nn.Hardtanh(**kwargs))
    theirs, their_warnings = _warned(lambda: torch.nn.Hardtanh(**kwargs))
    assert our_warnings == their_warnings
    assert all(category is FutureWarning for category, _ in our_warnings)
    assert len(our_warnings) == sum(v is not None for k, v in kwargs.items() if "value" in k)
    assert repr(ours) == repr(theirs)
    assert (ours.min_val, ours.max_val) == (theirs.min_val, theirs.max_val)
    x = np.linspace(-6, 6, 97)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    assert rel_error(ours(x), yt.detach().numpy()) == 0
    G = np.random.default_rng(0).standard_normal(x.shape)
    yt.backward(torch.from_numpy(G))
    assert rel_error(ours.backward(G), xt.grad.numpy()) == 0


def test_the_warning_points_at_the_caller():
    with pytest.warns(
        FutureWarning, match=r"`min_value` is deprecated and renamed to `min_val`"
    ) as w:
        nn.Hardtanh(min_value=-2.0)
    assert w[0].filename == __file__


def test_bad_old_keywords_are_named():
    with (
        pytest.warns(FutureWarning),
        pytest.raises(TypeError, match=r"^Hardtanh: min_value: expected a real"),
    ):
        nn.Hardtanh(min_value="-2")
    with (
        pytest.warns(FutureWarning),
        pytest.raises(
            ValueError, match=r"^Hardtanh: max_value: expected a number above min_val=-1.0, got -3"
        ),
    ):
        nn.Hardtanh(max_value=-3)


@pytest.mark.parametrize("name", ["Hardtanh", "RReLU", "AlphaDropout", "FeatureAlphaDropout"])
def test_signature_is_torchs(name):
    """torch's parameters in torch's order and defaults; cnnmath's extras keyword-only."""
    import inspect

    theirs = inspect.signature(getattr(torch.nn, name)).parameters
    ours = inspect.signature(getattr(nn, name)).parameters
    assert list(ours)[: len(theirs)] == list(theirs)
    for arg, param in theirs.items():
        assert ours[arg].default == param.default, arg
    assert all(p.kind is p.KEYWORD_ONLY for p in list(ours.values())[len(theirs) :])
