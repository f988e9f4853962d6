"""The value a loss returns: a float with PyTorch's ``item()``, whose ``backward()`` says
where the gradient is instead of failing with an AttributeError."""

import json

import numpy as np
import pytest

from cnnmath import losses

CALLS = [
    lambda z, y: losses.cross_entropy(z, y),
    lambda z, y: losses.CrossEntropyLoss(label_smoothing=0.1)(z, y),
    lambda z, y: losses.softmax_cross_entropy(z, y),
    lambda z, y: losses.mse(z, np.zeros_like(z)),
    lambda z, y: losses.mse_loss(z, np.zeros_like(z), reduction="sum"),
    lambda z, y: losses.nll_loss(losses.log_softmax(z), y),
    lambda z, y: losses.binary_cross_entropy_with_logits(z, np.ones_like(z)),
    lambda z, y: losses.smooth_l1_loss(z, np.zeros_like(z)),
]


@pytest.mark.parametrize("call", CALLS)
def test_a_loss_is_a_float_with_item(call):
    z = np.random.default_rng(0).standard_normal((4, 3))
    loss, _ = call(z, np.array([0, 2, 1, 1]))
    assert isinstance(loss, float) and loss > 0
    assert type(loss.item()) is float and loss.item() == loss
    running = 0.0
    running += loss.item()
    assert running == float(loss)
    assert json.loads(json.dumps({"loss": loss}))["loss"] == loss
    assert repr(loss) == repr(float(loss))
    with pytest.raises(RuntimeError, match=r"no autograd.*model.backward\(grad\)"):
        loss.backward()
    assert type(loss + 1.0) is float  # arithmetic gives plain floats


def test_reduction_none_is_still_an_array():
    per, _ = losses.mse_loss(np.ones(3), np.zeros(3), reduction="none")
    assert isinstance(per, np.ndarray) and per.shape == (3,)
