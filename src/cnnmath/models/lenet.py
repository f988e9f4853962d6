"""The LeNet-style CNN for the 8×8 digits (``cnnmath train``'s network)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from .._checks import positive_int

__all__ = ["CHANNELS", "HIDDEN", "lenet"]

#: Default widths of the three convolutions and of the hidden dense layer (the digits recipe's).
CHANNELS: tuple[int, int, int] = (16, 32, 64)
HIDDEN = 64


def lenet(
    seed: int = 0,
    *,
    channels: tuple[int, int, int] = CHANNELS,
    hidden: int = HIDDEN,
    classes: int = 10,
    dtype: Any = np.float32,
) -> nn.Sequential:
    """The digits CNN: a LeNet-style stack for 1×8×8 images (3×3 convolutions, padding 1)::

        Conv2d(1, c1, 3, padding=1) → ReLU → Conv2d(c1, c2, 3, padding=1) → ReLU → MaxPool2d(2)
        → Conv2d(c2, c3, 3, padding=1) → ReLU → MaxPool2d(2) → Flatten       (c3·2·2 features)
        → Linear(4·c3, hidden) → ReLU → Linear(hidden, classes)

    Shapes: (B, 1, 8, 8) → (B, c1, 8, 8) → (B, c2, 4, 4) → (B, c3, 2, 2) → (B, classes).
    Padding keeps the 8×8 border pixels in play; two poolings leave 2×2. Initialisation is
    PyTorch's default, drawn from ``np.random.default_rng(seed)``; the same architecture in
    ``torch.nn.Sequential`` has the same ``state_dict`` keys and shapes.

    >>> lenet(0)(np.zeros((2, 1, 8, 8), np.float32)).shape
    (2, 10)
    """
    seed = positive_int("seed", seed, func="lenet", minimum=0)
    c1, c2, c3 = (positive_int(f"channels[{i}]", c, func="lenet") for i, c in enumerate(channels))
    hidden = positive_int("hidden", hidden, func="lenet")
    classes = positive_int("classes", classes, func="lenet")
    rng = np.random.default_rng(seed)
    kw = {"rng": rng, "dtype": dtype}
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1, **kw),
        nn.ReLU(),
        nn.Conv2d(c1, c2, 3, padding=1, **kw),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c2, c3, 3, padding=1, **kw),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * c3, hidden, **kw),
        nn.ReLU(),
        nn.Linear(hidden, classes, **kw),
    )
