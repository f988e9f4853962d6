"""cnnmath.models: the digits LeNet against the same stack in torch.nn (names, shapes, count);
its home is the models package, and the old import path still works."""

from __future__ import annotations

import numpy as np
import pytest

from cnnmath.models import lenet


def test_lenet_shapes_and_torch_parameter_count():
    torch = pytest.importorskip("torch")
    model = lenet(0)
    assert model(np.zeros((3, 1, 8, 8), np.float32)).shape == (3, 10)
    tnn = torch.nn
    tm = tnn.Sequential(
        tnn.Conv2d(1, 16, 3, padding=1),
        tnn.ReLU(),
        tnn.Conv2d(16, 32, 3, padding=1),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3, padding=1),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(256, 64),
        tnn.ReLU(),
        tnn.Linear(64, 10),
    )
    assert model.num_parameters() == sum(p.numel() for p in tm.parameters())
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: tuple(v.shape) for k, v in tm.state_dict().items()
    }


def test_lenet_is_seeded_and_still_importable_from_train():
    import cnnmath.train

    assert cnnmath.train.lenet is lenet
    a, b, c = lenet(3), lenet(3), lenet(4)
    assert all(np.array_equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    assert not all(np.array_equal(a.state_dict()[k], v) for k, v in c.state_dict().items())
    assert lenet(0, dtype=np.float64)(np.zeros((1, 1, 8, 8))).dtype == np.float64


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"seed": -1}, ValueError, "lenet: seed: expected an int >= 0, got -1"),
        ({"channels": (16, 0, 64)}, ValueError, r"lenet: channels\[1\]: expected an int >= 1"),
        ({"hidden": 2.5}, TypeError, "lenet: hidden: expected an int >= 1"),
        ({"classes": True}, TypeError, "lenet: classes: expected an int >= 1"),
    ],
)
def test_lenet_bad_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        lenet(**kwargs)
